"""PNAS against random search on NAS-Bench-201 (CIFAR-10, 150 queries), seed by seed, same process.

Each seed runs both strategies through ``snas_plugins.commands.benchmark.run_engine``
(real engine runs: cache hits are free, best by 12-epoch validation accuracy);
the number is the 200-epoch test accuracy of the architecture returned.
Results are appended to a JSON-lines file as they finish, so a run cut short
by ``--deadline`` still reports the seeds it completed (the count is printed).

    .venv/bin/python benchmarks/pnas_nb201.py --seeds 100 [--deadline SECONDS] [-S key=value ...]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import numpy as np
import torch

from snas_plugins.commands.benchmark import run_engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--deadline", type=float, default=None, help="stop starting seeds after this many seconds")
    parser.add_argument("--out", default="pnas_nb201.jsonl")
    parser.add_argument("--strategies", default="random,pnas")
    parser.add_argument("-S", dest="options", action="append", default=[], help="PNAS option KEY=VALUE")
    args = parser.parse_args()
    torch.set_num_threads(1)
    pnas_options = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.options)}
    names = args.strategies.split(",")
    start = time.perf_counter()
    results: dict[str, list[dict]] = {n: [] for n in names}
    with open(args.out, "w") as out:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if args.deadline is not None and time.perf_counter() - start > args.deadline:
                break
            for name in names:
                t0 = time.process_time()
                record = run_engine(name, seed, args.queries, strategy_options=pnas_options if name != "random" else {})
                record["cpu_seconds"] = time.process_time() - t0
                record["strategy"] = name
                results[name].append(record)
                out.write(json.dumps(record) + "\n")
                out.flush()
    print(f"machine: {platform.machine()} {platform.processor() or ''}, torch threads 1; "
          f"{len(results[names[-1]])} seeds, {args.queries} queries, CIFAR-10; PNAS options {pnas_options}")
    print("| strategy | seeds | mean ± std test acc (200 ep) | CPU s per search |")
    print("|---|---|---|---|")
    for name in names:
        accs = np.array([r["test_accuracy"] for r in results[name]])
        cpu = np.mean([r["cpu_seconds"] for r in results[name]])
        print(f"| {name} | {len(accs)} | {accs.mean():.2f} ± {accs.std():.2f} | {cpu:.2f} |")
    wins = sum(p["test_accuracy"] > r["test_accuracy"] for p, r in zip(results[names[-1]], results[names[0]]))
    ties = sum(p["test_accuracy"] == r["test_accuracy"] for p, r in zip(results[names[-1]], results[names[0]]))
    print(f"{names[-1]} beats {names[0]} on {wins} seeds, ties on {ties}, of {len(results[names[-1]])}")
    for name in names:
        curves = [r["curve"] for r in results[name] if len(r["curve"]) == args.queries]
        if curves:
            mean = np.mean(curves, axis=0)
            marks = [q for q in (10, 25, 50, 75, 100, 125, 150) if q <= args.queries]
            print(f"best-so-far {name}: " + ", ".join(f"{q}: {mean[q - 1]:.2f}" for q in marks))


if __name__ == "__main__":
    main()
