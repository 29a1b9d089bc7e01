"""What a machine with an NVIDIA GPU runs to check snas on CUDA (the work of ``benchmarks/gpu_check.sh``).

    bash benchmarks/gpu_check.sh [--device cuda] [--write]      # on a GPU machine, under 8 minutes
    bash benchmarks/gpu_check.sh --device cpu --dataset digits --trials 4 --epochs 1   # the CPU path

Four checks, each printed as a table and, with ``--write``, written as the
"GPU check" section of docs/benchmarks.md:

1. **Trainer, bf16 against fp32**: the same architectures trained with the
   ``train`` evaluator with mixed precision on (bfloat16 autocast on CUDA) and
   off, interleaved; seconds per trial and accuracy.
2. **Packing trials on one device**: one random search, trained on the process
   executor with 1 and with 4 workers on the first device (``trials_per_gpu``),
   the same seed and window (so the same architectures); trials per hour.
3. **The process executor over every GPU** (``--gpu-ids 0,1,…``): one worker
   per GPU; trials per hour and which device trained each trial. On the CPU
   path, two workers.
4. **ENAS on the device**: the shared-weight phase and the training of its
   proposals; wall time and best accuracy.

The data set (``--dataset auto``) is Fashion-MNIST where its files are found (``$SNAS_TEST_DATA``
/fashion-mnist, or Debian's ``/usr/share/datasets/fashion-mnist``; at most
``--train-samples`` training images and a quarter as many validation and
test images), else the embedded digits set.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import snas

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

HEADING = "## GPU check (issue 11)"


def fashion_mnist_folder() -> Path | None:
    """A folder holding the Fashion-MNIST files, if this machine has one."""
    shared = Path(os.environ.get("SNAS_TEST_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")
    for folder in (shared / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist")):
        if folder.is_dir() and any(folder.glob("train-images-idx3-ubyte*")):
            return folder
    return None


def data_settings(choice: str, train_samples: int) -> tuple[str, dict]:
    folder = fashion_mnist_folder() if choice != "digits" else None
    if folder is None:
        if choice == "fashion_mnist":
            raise SystemExit("error: Fashion-MNIST files not found (set SNAS_TEST_DATA)")
        return "digits", {}
    return "fashion_mnist", {"data_dir": str(folder), "max_train_samples": train_samples,
                             "max_eval_samples": max(1000, train_samples // 4)}


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return f"CPU ({os.cpu_count()} cores)"


def check_trainer(device: str, dataset: str, dataset_options: dict, epochs: int, archs: int) -> list[str]:
    """bf16 autocast against fp32: the same architectures, interleaved."""
    manager = snas.get_plugin_manager()
    dataset_cls = manager.get_dataset(dataset)
    torch_device = snas.resolve_device(device)
    data = dataset_cls(dataset_cls.Options(**dataset_options)).load(seed=0).to(torch_device)
    family = manager.get_family("cnn")
    rng = np.random.default_rng(0)
    space = family.space().at_level(2)
    chosen = [space.sample(rng) for _ in range(archs)]
    trainer = manager.get_evaluator("train")
    times: dict[bool, list[float]] = {True: [], False: []}
    accuracy: dict[bool, list[float]] = {True: [], False: []}
    for arch in chosen:
        for mixed in (True, False):
            options = trainer.Options(max_epochs=epochs, patience=None, full_metrics=False, mixed_precision=mixed)
            start = time.perf_counter()
            result = trainer(options).evaluate(arch, family, data, seed=0, device=torch_device)
            times[mixed].append(time.perf_counter() - start)
            accuracy[mixed].append(result.metrics.get("test_accuracy", float("nan")) if result.ok else float("nan"))
    bf16 = "bf16 autocast" if torch_device.type == "cuda" else "mixed precision on (no effect on the CPU)"
    rows = [(bf16, True), ("fp32", False)]
    return [
        f"**1. Trainer**: {archs} cnn architectures (levels 1-2), {epochs} epochs each, on {device}.",
        "",
        "| precision | median s/trial | mean test accuracy |",
        "|---|---|---|",
        *[f"| {name} | {statistics.median(times[m]):.2f} | {np.nanmean(accuracy[m]):.4f} |" for name, m in rows],
        "",
        f"fp32 / bf16 time: {statistics.median(times[False]) / statistics.median(times[True]):.2f}x.",
        "",
    ]


def timed_search(tmp: str, name: str, trials: int, epochs: int, dataset: str, dataset_options: dict,
                 **kwargs) -> tuple[float, snas.RunResult]:
    start = time.perf_counter()
    result = snas.search(dataset, "random", max_trials=trials, seed=7, run_dir=Path(tmp) / name,
                         dataset_options=dataset_options, evaluator_options={"max_epochs": epochs, "patience": None,
                                                                             "full_metrics": False},
                         **kwargs)
    return time.perf_counter() - start, result


def check_packing(device: str, dataset: str, dataset_options: dict, trials: int, epochs: int) -> list[str]:
    """One device, 1 worker against 4 packed workers, the same trials."""
    placement = {"config": {"gpu_ids": [0], "max_in_flight": 4}} if device.startswith("cuda") else \
        {"device": device, "config": {"max_in_flight": 4}}
    rows = []
    prints = []
    with tempfile.TemporaryDirectory(prefix="snas-gpu-check-") as tmp:
        for packed in (1, 4):
            seconds, result = timed_search(tmp, f"packed-{packed}", trials, epochs, dataset, dataset_options,
                                           executor="process", executor_options={"trials_per_gpu": packed},
                                           **placement)
            rows.append((packed, seconds, trials / seconds * 3600))
            prints.append([t.fingerprint for t in result.trials])
    where = "cuda:0" if device.startswith("cuda") else device
    return [
        f"**2. Packing**: {trials} random-search trials of the default space ({epochs} epochs each) on {where}, "
        f"process executor, window 4 for both (same architectures: {'yes' if prints[0] == prints[1] else 'NO'}).",
        "",
        "| trials per device | wall (s) | trials/hour |",
        "|---|---|---|",
        *[f"| {k} | {s:.1f} | {tph:.0f} |" for k, s, tph in rows],
        "",
        f"4 packed / 1: **{rows[1][2] / rows[0][2]:.2f}x** trials per hour.",
        "",
    ]


def check_gpu_ids(device: str, dataset: str, dataset_options: dict, trials: int, epochs: int) -> list[str]:
    """The process executor over every GPU of the machine (two CPU workers on the CPU path)."""
    if device.startswith("cuda"):
        ids = list(range(torch.cuda.device_count()))
        placement = {"config": {"gpu_ids": ids}}
        what = f"--gpu-ids {','.join(map(str, ids))}"
    else:
        placement = {"device": device, "num_workers": 2}
        what = f"--device {device} --num-workers 2"
    with tempfile.TemporaryDirectory(prefix="snas-gpu-check-") as tmp:
        seconds, result = timed_search(tmp, "gpu-ids", trials, epochs, dataset, dataset_options,
                                       executor="process", **placement)
    ok = sum(1 for t in result.trials if t.ok)
    return [
        f"**3. Process executor** with `{what}`: {trials} trials in {seconds:.1f} s "
        f"({trials / seconds * 3600:.0f} trials/hour), {ok} ok; best test accuracy "
        f"{result.best.metrics.get('test_accuracy', float('nan')):.4f}.",
        "",
    ]


def check_enas(device: str, dataset: str, dataset_options: dict, trials: int, epochs: int) -> list[str]:
    """ENAS: the shared-weight phase on the device, then its proposals trained."""
    with tempfile.TemporaryDirectory(prefix="snas-gpu-check-") as tmp:
        start = time.perf_counter()
        result = snas.search(dataset, "enas", max_trials=trials, seed=3, run_dir=Path(tmp) / "enas", device=device,
                             dataset_options=dataset_options,
                             strategy_options={"shared_epochs": 2, "controller_steps": 10, "final_count": trials},
                             evaluator_options={"max_epochs": epochs, "patience": None, "full_metrics": False})
        seconds = time.perf_counter() - start
    return [
        f"**4. ENAS** on {device}: shared-weight phase (2 epochs) and {trials} proposals trained, "
        f"{seconds:.1f} s in all; best test accuracy {result.best.metrics.get('test_accuracy', float('nan')):.4f}.",
        "",
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--trials", type=int, default=12, help="trials per search")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per trial")
    parser.add_argument("--dataset", choices=("auto", "fashion_mnist", "digits"), default="auto",
                        help="auto: Fashion-MNIST where its files are, else digits")
    parser.add_argument("--train-samples", type=int, default=20000, help="Fashion-MNIST training images at most")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: no CUDA device here; run with --device cpu for the CPU path", file=sys.stderr)
        return 2
    dataset, dataset_options = data_settings(args.dataset, args.train_samples)
    start = time.perf_counter()
    body: list[str] = []
    for check in (
        lambda: check_trainer(args.device, dataset, dataset_options, args.epochs, archs=4),
        lambda: check_packing(args.device, dataset, dataset_options, args.trials, args.epochs),
        lambda: check_gpu_ids(args.device, dataset, dataset_options, args.trials, args.epochs),
        lambda: check_enas(args.device, dataset, dataset_options, max(2, args.trials // 4), args.epochs),
    ):
        part = check()
        print("\n".join(part), flush=True)
        body += part
    total = time.perf_counter() - start
    gpus = torch.cuda.device_count() if args.device.startswith("cuda") else 0
    text = "\n".join([
        HEADING,
        "",
        f"Command: `bash benchmarks/gpu_check.sh --device {args.device} --dataset {args.dataset} "
        f"--trials {args.trials} --epochs {args.epochs} --write`",
        f"Machine: {device_name(args.device)}{f' ×{gpus}' if gpus > 1 else ''}, {os.cpu_count()} CPU cores, "
        f"torch {torch.__version__}, Python {platform.python_version()}; data set {dataset}"
        f"{' (' + str(args.train_samples) + ' training images at most)' if dataset != 'digits' else ''}; "
        f"{total:.0f} s in all.",
        "",
        *body,
    ])
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    print(f"\ngpu check done in {total:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
