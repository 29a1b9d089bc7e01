"""One small trial trained with 2 torch threads and then with 1, in one process: what oversubscription costs.

The first trial of the CIFAR-10 comparison (``search_vs_optuna.py``) was an
MLP of 64-64 units; this trains it with the ``train`` evaluator's defaults
on the same data, once per thread count, and prints the wall and CPU
seconds of each epoch as the trainer reports it. On an idle machine the two
are close; on a machine whose cores are busy with other work, threads that
wait for a core cost more than they give.

    python benchmarks/threads_probe.py [--dataset cifar10]
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

import snas
from snas import Architecture, TrialContext
from snas.runtime.trial import running
from snas_plugins.evaluators.train import Train, TrainOptions

import bench_data

ARCH = Architecture("mlp", {"activation": "relu", "dropout": 0.1, "hidden_units": [64, 64], "learning_rate": 0.1,
                            "num_layers": 2, "optimizer": "sgd", "use_batch_norm": True})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", choices=bench_data.DATASETS)
    args = parser.parse_args()
    start, cpu = time.time(), time.process_time()
    data = bench_data.load(args.dataset, seed=0, augment=True)
    print(f"load: {time.time() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU", flush=True)
    family = snas.get_plugin_manager().get_family("mlp")
    for threads in (2, 1):
        torch.set_num_threads(threads)
        start, cpu = time.time(), time.process_time()

        def show(p, start=start, cpu=cpu):
            print(f"  {p.phase} {p.step or ''}: {time.time() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU",
                  flush=True)

        with running(TrialContext(0, on_progress=show)):
            result = Train(TrainOptions()).evaluate(ARCH, family, data, seed=0, device=torch.device("cpu"))
        print(f"{threads} thread(s): {time.time() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU, "
              f"{result.metrics.get('epochs')} epochs, val {result.score:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
