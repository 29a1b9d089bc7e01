"""The peer snas is measured against: Optuna's TPE over a small CNN space with a plain PyTorch loop.

What a competent user writes in an afternoon instead of adopting snas: the
same data split as ``snas search`` (the data sets are loaded through snas's
own data-set plugins with the run's seed, so train / validation / test are
the very same images), in-memory tensors, Adam, a log-uniform learning rate,
Optuna's TPE sampler and median pruner (each epoch's validation accuracy is
reported), and a wall-clock budget for the search that starts once the
data is in memory, as ``snas search --time-budget`` does (the process's
whole wall time, imports and loading included, is reported too). A trial
that is still training at the deadline stops there and counts with the
epochs it finished. The model chosen is the trial with the best
validation accuracy (at its best epoch); its test accuracy is the result.

The space: 1-3 blocks of convolution (16-128 filters, kernel 3 or 5),
optional batch norm, ReLU and 2x2 max pooling; then flatten, dropout and a
linear layer. Batch size 64, 128 or 256; up to ``--epochs`` epochs per trial.

    python benchmarks/optuna_peer.py --dataset cifar10 --budget 300 --seed 0 [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

START = time.time()  # the process's wall clock, before the imports

import optuna  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

import bench_data  # noqa: E402


def build(trial: optuna.Trial, input_shape: tuple[int, int, int], num_classes: int) -> nn.Module:
    """The network ``trial`` asks for."""
    c, h, w = input_shape
    layers: list[nn.Module] = []
    for i in range(trial.suggest_int("num_layers", 1, 3)):
        filters = trial.suggest_categorical(f"filters_{i}", [16, 32, 64, 128])
        kernel = trial.suggest_categorical(f"kernel_{i}", [3, 5])
        batch_norm = trial.suggest_categorical(f"batch_norm_{i}", [False, True])
        layers += [nn.Conv2d(c, filters, kernel, padding=kernel // 2, bias=not batch_norm)]
        layers += [nn.BatchNorm2d(filters)] if batch_norm else []
        layers += [nn.ReLU()]
        if min(h, w) >= 4:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = filters
    dropout = trial.suggest_float("dropout", 0.0, 0.5)
    return nn.Sequential(*layers, nn.Flatten(), nn.Dropout(dropout), nn.Linear(c * h * w, num_classes))


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(x[i:i + 512]).argmax(1) == y[i:i + 512]).sum()) for i in range(0, len(y), 512))
    return correct / len(y)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="cifar10", choices=bench_data.DATASETS)
    parser.add_argument("--budget", type=float, default=300.0, help="wall-clock seconds of search, after loading")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per trial at most")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--json", default=None, help="write the result here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = bench_data.load(args.dataset, seed=args.seed, augment=False)
    deadline = time.time() + args.budget
    xtr, ytr = data.train.x, data.train.y
    xva, yva = data.val.x, data.val.y
    best: dict = {"val_acc": -1.0}

    def objective(trial: optuna.Trial) -> float:
        model = build(trial, data.input_shape, data.num_classes)
        lr = trial.suggest_float("lr", 1e-4, 1e-2, log=True)
        batch_size = trial.suggest_categorical("batch_size", [64, 128, 256])
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        trial_best = -1.0
        for epoch in range(args.epochs):
            model.train()
            order = torch.randperm(len(ytr))
            for i in range(0, len(ytr), batch_size):
                if time.time() >= deadline:
                    break
                idx = order[i:i + batch_size]
                loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            else:
                val_acc = accuracy(model, xva, yva)
                if val_acc > trial_best:
                    trial_best = val_acc
                    if val_acc > best["val_acc"]:
                        best.update(val_acc=val_acc, trial=trial.number, epoch=epoch + 1, params=dict(trial.params),
                                    state={k: v.clone() for k, v in model.state_dict().items()})
                        best["model"] = model
                trial.report(val_acc, epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()
                continue
            break  # the deadline passed in the middle of this epoch: keep what the finished epochs gave
        if trial_best < 0:
            raise optuna.TrialPruned()  # not one epoch finished before the deadline
        return trial_best

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=args.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler,
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1))
    study.optimize(objective, timeout=max(1.0, deadline - time.time()))
    finished = time.time() - START
    result = {"tool": "optuna", "dataset": args.dataset, "seed": args.seed, "budget": args.budget,
              "seconds": finished, "trials": len(study.trials),
              "complete": sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials),
              "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)}
    if best["val_acc"] >= 0:
        model = best["model"]
        model.load_state_dict(best["state"])
        result.update(val_acc=best["val_acc"], test_acc=accuracy(model, data.test.x, data.test.y),
                      best_trial=best["trial"], best_epoch=best["epoch"], best_params=best["params"])
    else:
        result.update(val_acc=None, test_acc=None)
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
