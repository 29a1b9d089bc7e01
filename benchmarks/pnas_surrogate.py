"""Ranking quality of the PNAS surrogates on NAS-Bench-201: MLP ensemble against LSTM.

For each training-set size n, fit each surrogate on n random cells (12-epoch
CIFAR-10 validation accuracy as the target, as PNAS sees it) and measure
Kendall tau on 1,000 other cells, over several repeats; also the CPU seconds
per fit. Prints a markdown table (paste into docs/benchmarks.md).

    .venv/bin/python benchmarks/pnas_surrogate.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from snas import JointSpace, get_plugin_manager
from snas_plugins.evaluators.nb201 import load_table
from snas_plugins.families.nb201 import from_nb201_string
from snas_plugins.strategies.surrogate import LSTMSurrogate, MLPEnsemble, kendall_tau


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="20,50,100,150")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = JointSpace({"nb201": get_plugin_manager().get_family("nb201").space()}, max_level=3)
    table = load_table()
    cells = list(table)
    x_all = np.stack([space.encode(from_nb201_string(c)) for c in cells])
    y_all = np.asarray([table[c]["cifar10_valid_12ep"] for c in cells])
    rows = []
    for n in [int(s) for s in args.sizes.split(",")]:
        results: dict[str, list[tuple[float, float]]] = {"mlp_ensemble": [], "lstm": []}
        for r in range(args.repeats):
            rng = np.random.default_rng(1000 * n + r)
            idx = rng.permutation(len(cells))
            train, test = idx[:n], idx[n:n + 1000]
            for name, model in (("mlp_ensemble", MLPEnsemble(space.encoding_size)), ("lstm", LSTMSurrogate(space))):
                start = time.process_time()
                model.fit(x_all[train], y_all[train], seed=r)
                seconds = time.process_time() - start
                tau = kendall_tau(list(model.predict(x_all[test])), list(y_all[test]))
                results[name].append((tau, seconds))
        for name, vals in results.items():
            taus = np.array([v[0] for v in vals])
            secs = np.array([v[1] for v in vals])
            rows.append(f"| {n} | {name} | {taus.mean():.3f} ± {taus.std():.3f} | {secs.mean():.2f} |")
            print(rows[-1], flush=True)
    print("\n| train cells | surrogate | Kendall tau on 1,000 held-out cells | CPU s per fit |")
    print("|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
