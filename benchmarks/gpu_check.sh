#!/usr/bin/env bash
# The GPU check: what a machine with an NVIDIA GPU runs, in under 8 minutes, to measure snas on CUDA
# (bf16 training, trials packed on a GPU, the process executor over --gpu-ids, ENAS). It writes its
# figures as the "GPU check" section of docs/benchmarks.md with --write.
#
#   bash benchmarks/gpu_check.sh --write                 # on the GPU machine, from the repository root
#   bash benchmarks/gpu_check.sh --device cpu --dataset digits --trials 4 --epochs 1   # the CPU path
#
# Python: $PYTHON, else the repository's .venv, else python3 (snas must be installed in it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$here/../.venv/bin/python" ]]; then python="$here/../.venv/bin/python"; else python="python3"; fi
fi
cd "$here"
if [[ " $* " != *" --device cpu "* ]] && command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
fi
exec "$python" gpu_check.py "$@"
