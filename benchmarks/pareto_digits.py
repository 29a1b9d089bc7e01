"""Multi-objective search on digits: snas's NSGA-II (evolutionary) against Optuna's NSGAIISampler.

The problem, the same for both: validation accuracy (maximized) against the
parameter count (minimized) of cnn and mlp networks at complexity level 1 on
the digits data set, each architecture trained by snas's ``train`` evaluator
with the same options, data split and per-trial seed rule
(``trial_seed(run seed, trial number)``), one torch thread. Both get the same
budget: ``--trials`` distinct trained architectures (snas's engine answers a
repeated architecture from its cache without counting it; the Optuna
objective does the same from a dictionary, and the study runs until that many
distinct architectures were trained).

Optuna sees the same space as Optuna parameters: the family as a categorical,
and every parameter of every family (per-layer lists at their longest) always
suggested, so the space is static and NSGAIISampler's crossover and mutation
act on all of it (a define-by-run encoding would leave everything but the
family to its random fallback); the architecture takes the chosen family's
parameters and the first ``num_layers`` elements of each list.

A search is judged by the hypervolume of the front of the architectures it
trained, in the plane (validation accuracy, log10(REFERENCE_PARAMS / params))
above (0, 0).

    .venv/bin/python benchmarks/pareto_digits.py [--seeds 3] [--trials 30] [--write]

Needs the ``bench`` extra (``pip install -e '.[bench]'``: Optuna). ``--write``
replaces the "Digits: accuracy against parameters, snas and Optuna" section of
docs/benchmarks.md; per-seed results go to benchmarks/results/pareto_digits.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

import snas
from snas import Choice, EvaluationJob, EvaluationTask, IntRange, JointSpace, LayerList, get_plugin_manager
from snas.contracts.space import Architecture
from snas.runtime.engine import trial_seed
from snas_plugins.strategies.pareto import hypervolume_2d

from report import BENCHMARKS_MD, write_section  # benchmarks/report.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Digits: accuracy against parameters, snas and Optuna (issue 17)"
OBJECTIVES = ["val_accuracy:max", "params:min"]
FAMILIES = ["cnn", "mlp"]
LEVEL = 1
#: the trainer's options for both: a short protocol with early stopping
TRAIN = {"max_epochs": 6, "patience": 2, "full_metrics": False}
#: above every network of the space (the largest level-1 cnn has about 1.6 million parameters)
REFERENCE_PARAMS = 1e7
#: snas's NSGA-II variants (those of the NAS-Bench-201 comparison), population 10 like Optuna's
SNAS_VARIANTS = {
    "snas steady state": {"population_size": 10, "steady_state": True, "offspring": 1, "generations": 10_000},
    "snas generational": {"population_size": 10, "offspring": 10, "generations": 10_000},
}
#: Optuna's NSGA-II: the same population size, its defaults otherwise
OPTUNA_POPULATION = 10


def point(accuracy: float, params: float) -> tuple[float, float]:
    """A result in the hypervolume's plane: accuracy, and decades of parameters below the reference."""
    if params >= REFERENCE_PARAMS:
        raise ValueError(f"a network of {params} parameters is beyond the reference point; raise REFERENCE_PARAMS")
    return accuracy, math.log10(REFERENCE_PARAMS / params)


def hypervolume(results: list[tuple[float, float]]) -> float:
    """Hypervolume of the (accuracy, parameters) front of ``results`` above (0, 0)."""
    return hypervolume_2d([point(a, p) for a, p in results], (0.0, 0.0))


def space() -> JointSpace:
    """The searched space: cnn and mlp at complexity level 1."""
    manager = get_plugin_manager()
    return JointSpace({name: manager.get_family(name).space() for name in FAMILIES}, max_level=LEVEL)


# -- snas ------------------------------------------------------------------------------------------


def run_snas(seed: int, trials: int, options: dict[str, Any]) -> dict[str, Any]:
    """One snas search: NSGA-II over the space, ``trials`` trained architectures."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="snas-pareto-digits-") as tmp:
        result = snas.search(dataset="digits", strategy="evolutionary", max_trials=trials, seed=seed,
                             run_dir=Path(tmp) / "run", network_types=FAMILIES, max_complexity=LEVEL,
                             objectives=OBJECTIVES, threads_per_trial=1, evaluator_options=TRAIN,
                             strategy_options=options)
    trained = [t for t in result.trials if t.cached_from is None]
    results = [(t.metrics["val_accuracy"], t.metrics["params"]) for t in trained if t.ok]
    return {"seed": seed, "hypervolume": hypervolume(results), "trained": len(trained),
            "proposals": len(result.trials), "front": len(result.front), "results": results,
            "seconds": time.perf_counter() - start}


# -- Optuna ----------------------------------------------------------------------------------------


def suggest(trial: optuna.Trial, joint: JointSpace) -> Architecture:
    """The architecture an Optuna trial describes (static encoding: every parameter, every time)."""
    family = trial.suggest_categorical("family", joint.families(LEVEL))
    chosen = None
    for name in joint.families(LEVEL):
        family_space = joint.space(name, LEVEL)
        values: dict[str, Any] = {}
        for p in family_space.parameters:
            key = f"{name}.{p.name}"
            if isinstance(p, LayerList):
                longest = family_space.parameter(p.length).high if isinstance(p.length, str) else int(p.length)
                items = [_suggest(trial, f"{key}[{i}]", p.item) for i in range(longest)]
                n = values[p.length] if isinstance(p.length, str) else longest
                values[p.name] = tuple(items[:n])
            else:
                values[p.name] = _suggest(trial, key, p)
        if name == family:
            chosen = Architecture(name, values)
    joint.validate(chosen, LEVEL)
    return chosen


def _suggest(trial: optuna.Trial, key: str, p: Any) -> Any:
    if isinstance(p, Choice):
        return trial.suggest_categorical(key, list(p.values))
    if isinstance(p, IntRange):
        return trial.suggest_int(key, p.low, p.high)
    raise TypeError(f"unexpected parameter type {type(p).__name__}")


def run_optuna(seed: int, trials: int) -> dict[str, Any]:
    """One Optuna study: NSGAIISampler over the same space and trainer, until ``trials`` distinct architectures."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    start = time.perf_counter()
    joint = space()
    job = EvaluationJob(dataset="digits", dataset_options={}, evaluator="train", evaluator_options=TRAIN,
                        families=FAMILIES, device="cpu", data_seed=seed)
    cache: dict[str, tuple[float, float] | None] = {}  # None: the architecture failed

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        arch = suggest(trial, joint)
        if arch.fingerprint not in cache:
            result = job.evaluate(EvaluationTask(trial.number, arch, seed=trial_seed(seed, trial.number)))
            cache[arch.fingerprint] = (result.metrics["val_accuracy"], result.metrics["params"]) if result.ok \
                else None
        if cache[arch.fingerprint] is None:
            raise optuna.TrialPruned("training failed")  # Optuna leaves it out of the front
        return cache[arch.fingerprint]

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        study = optuna.create_study(directions=["maximize", "minimize"],
                                    sampler=optuna.samplers.NSGAIISampler(population_size=OPTUNA_POPULATION,
                                                                          seed=seed))
        while len(cache) < trials and len(study.trials) < 10 * trials:
            study.optimize(objective, n_trials=1)
    finally:
        torch.set_num_threads(previous)
    results = [r for r in cache.values() if r is not None]
    return {"seed": seed, "hypervolume": hypervolume(results), "trained": len(cache),
            "proposals": len(study.trials), "front": len(study.best_trials), "results": results,
            "seconds": time.perf_counter() - start}


# -- the comparison ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--write", action="store_true", help="replace the section in docs/benchmarks.md")
    args = parser.parse_args(argv)

    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs: dict[str, list[dict]] = {name: [] for name in [*SNAS_VARIANTS, "Optuna"]}
    for seed in seeds:  # interleaved, so every method sees the same machine load
        for name, options in SNAS_VARIANTS.items():
            runs[name].append(run_snas(seed, args.trials, options))
        runs["Optuna"].append(run_optuna(seed, args.trials))
        print(f"seed {seed}: " + ", ".join(f"{name} {r[-1]['hypervolume']:.4f} ({r[-1]['seconds']:.0f} s)"
                                          for name, r in runs.items()), flush=True)
    hv = {name: np.array([r["hypervolume"] for r in records]) for name, records in runs.items()}
    names = list(runs)
    rows = [f"| {seed} | " + " | ".join(f"{runs[n][i]['hypervolume']:.4f} ({runs[n][i]['front']})" for n in names)
            + " | " + " | ".join(f"{runs[n][i]['seconds']:.0f}" for n in names) + f" | {runs['Optuna'][i]['proposals']} |"
            for i, seed in enumerate(seeds)]
    verdicts = [f"{name}: larger than Optuna's on {int((hv[name] > hv['Optuna']).sum())} of {args.seeds} seeds, "
                f"ratio of the means {hv[name].mean() / hv['Optuna'].mean():.3f}" for name in SNAS_VARIANTS]
    text = "\n".join([
        HEADING, "",
        f"`.venv/bin/python benchmarks/pareto_digits.py --seeds {args.seeds} --trials {args.trials} "
        f"--first-seed {args.first_seed}{' --write' if args.write else ''}` on {platform.node() or 'this machine'} "
        f"({platform.processor() or platform.machine()}, Python {platform.python_version()}, torch "
        f"{torch.__version__}, Optuna {optuna.__version__}, {time.strftime('%Y-%m-%d')}; a shared 2-core machine, "
        "so the seconds are noisy: they follow the sizes of the networks each search chose to train).",
        "",
        f"Validation accuracy (max) against parameters (min) on digits, cnn and mlp at complexity level {LEVEL}, "
        f"{args.trials} distinct architectures trained per search with the same trainer (`{json.dumps(TRAIN)}`), "
        "split and seeds. Hypervolume of each search's front in the plane (validation accuracy, "
        "log10(10^7 / parameters)) above (0, 0), the front's size in brackets. snas: evolutionary with "
        + "; ".join(f"{name} `{json.dumps(o)}`" for name, o in SNAS_VARIANTS.items())
        + f". Optuna: `NSGAIISampler(population_size={OPTUNA_POPULATION}, seed=seed)`, its other settings default, "
        "the space encoded statically (see the script); \"Optuna trials\" counts its trials including repeated "
        "architectures, answered from a cache as snas's engine answers them.",
        "",
        "| seed | " + " | ".join(f"{n} hypervolume" for n in names) + " | " + " | ".join(f"{n} s" for n in names)
        + " | Optuna trials |",
        "| --- " * (2 * len(names) + 2) + "|",
        *rows,
        "| mean | " + " | ".join(f"{hv[n].mean():.4f} ± {hv[n].std():.4f}" for n in names) + " |" * (len(names) + 2),
        "",
        "; ".join(verdicts) + ".",
        "",
    ])
    print(text)
    out = ROOT / "benchmarks" / "results" / "pareto_digits.json"
    out.write_text(json.dumps({"trials": args.trials, "seeds": list(seeds), "train": TRAIN,
                               "snas_variants": SNAS_VARIANTS, "optuna_population": OPTUNA_POPULATION,
                               "reference_params": REFERENCE_PARAMS, "runs": runs}, indent=1) + "\n")
    if args.write:
        write_section(BENCHMARKS_MD, HEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
