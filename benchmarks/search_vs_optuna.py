"""Better networks per hour? ``snas search`` with its defaults against the Optuna peer, equal wall clock.

For every data set, budget and seed, runs ``snas search <data> --time-budget
B --seed S`` (all other options at their defaults) and
``benchmarks/optuna_peer.py --budget B --seed S``, each in a fresh process
timed from its start, one after the other (the order alternates with the
seed, so drift in the machine's load hits both alike). Both split the data
the same way (the same data-set plugin, the same seed). The number compared
is the test accuracy of the network each picks by validation accuracy.

    python benchmarks/search_vs_optuna.py --datasets cifar10 fashion_mnist --budgets 300 900 \\
        --seeds 0 1 2 [--write]

Every finished pair is appended to ``--results`` (JSON lines), so a long
matrix can be stopped and resumed (``--resume`` skips pairs already there);
``--write`` puts the table of everything in the results file into its own
subsection of "snas search against an Optuna loop" in docs/benchmarks.md,
leaving the curated subsections there alone. Each record also keeps every
snas trial (``per_trial``) and the CPU time other processes used while the
tool ran (``others_cpu_s``, ``steal_s``), to tell a quiet run from a
disturbed one afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import snas

import bench_data
from report import BENCHMARKS_MD, OtherLoad, write_subsection  # benchmarks/report.py, beside this script

HERE = Path(__file__).resolve().parent
HEADING = "## snas search against an Optuna loop"
SUBHEADING = "### The latest `--write` run of this script"


def run_snas(dataset: str, budget: float, seed: int, extra: list[str] = ()) -> dict:
    """``snas search`` with its defaults (plus ``extra`` options) and ``--time-budget``; the best trial's numbers."""
    command = shutil.which("snas") or str(Path(sys.executable).with_name("snas"))
    with tempfile.TemporaryDirectory() as tmp:
        argv = [command, "search", *bench_data.cli_args(dataset), "--time-budget", str(budget), "--seed", str(seed),
                "--output-dir", tmp, "--run-name", "run", "--quiet", *extra]
        start = time.time()
        proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        seconds = time.time() - start
        out = {"tool": " ".join(["snas", *extra]), "dataset": dataset, "seed": seed, "budget": budget,
               "seconds": seconds, "returncode": proc.returncode}
        if proc.returncode != 0:
            out["error"] = proc.stderr[-2000:]
        try:
            result = snas.load_run(Path(tmp) / "run")
        except Exception as exc:  # report what happened, whatever it was
            out.setdefault("error", f"{type(exc).__name__}: {exc}")
            return out
        statuses = [t.status for t in result.trials]
        out.update(trials=len(result.trials), complete=statuses.count("ok"),
                   stopped=len(statuses) - statuses.count("ok") - statuses.count("failed"),
                   failed=statuses.count("failed"),
                   first_result=min((t.started + t.duration - start for t in result.trials if t.ok), default=None))
        out["per_trial"] = [{"id": t.trial_id, "family": t.arch.family, "status": t.status, "protocol": t.protocol,
                             "epochs": t.metrics.get("epochs"), "stopped_by": t.metrics.get("stopped_by"),
                             "started_s": round(t.started - start, 1), "seconds": round(t.duration, 1),
                             "val_acc": t.score, "test_acc": t.metrics.get("test_accuracy")}
                            for t in result.trials]  # to explain a result afterwards: the run file is gone
        best = result.best
        if best is not None:
            out.update(val_acc=best.score, test_acc=best.metrics.get("test_accuracy"), best_family=best.arch.family,
                       best_params=best.metrics.get("params"), best_arch=best.arch.to_dict(),
                       best_protocol=best.protocol)
        searched = [t for t in result.trials if not t.meta.get("final") and t.ok]
        if searched:  # what the search alone would have returned
            top = max(searched, key=lambda t: t.rank())
            out.update(search_val_acc=top.score, search_test_acc=top.metrics.get("test_accuracy"))
        final = [t for t in result.trials if t.protocol == snas.EXTENDED]
        if final:
            out.update(final_training={"status": final[0].status, "epochs": final[0].meta.get("epochs"),
                                       "extends": final[0].meta.get("extends"), "val_acc": final[0].score,
                                       "test_acc": final[0].metrics.get("test_accuracy"),
                                       "started_s": final[0].started - start, "seconds": final[0].duration})
        return out


def run_peer(dataset: str, budget: float, seed: int) -> dict:
    """The Optuna peer in a fresh process; its JSON result."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "peer.json"
        start = time.time()
        proc = subprocess.run([sys.executable, str(HERE / "optuna_peer.py"), "--dataset", dataset, "--budget",
                               str(budget), "--seed", str(seed), "--json", str(path)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=HERE,
                              env={**os.environ, "SNAS_TEST_DATA": str(bench_data.data_root())})  # absolute: cwd moves
        if proc.returncode != 0 or not path.exists():
            return {"tool": "optuna", "dataset": dataset, "seed": seed, "budget": budget,
                    "seconds": time.time() - start, "error": proc.stderr[-2000:]}
        return json.loads(path.read_text())


def load_results(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _mean_std(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def _mean(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f}" if values else "-"


def table(results: list[dict]) -> list[str]:
    """One row per (data set, budget): both tools' test accuracy, trials and wall time."""
    rows = ["| data set | budget (s) | snas | seeds | snas test acc. | Optuna test acc. | snas ≥ Optuna | snas trials "
            "(finished / stopped), mean | Optuna trials (complete / pruned), mean | snas wall s | Optuna wall s | "
            "snas first result s |", "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    keys = sorted({(r["dataset"], r["budget"], r["tool"]) for r in results if r["tool"] != "optuna"})
    for dataset, budget, tool in keys:
        pairs: dict[int, dict] = {}
        for r in results:
            if (r["dataset"], r["budget"]) == (dataset, budget) and r["tool"] in (tool, "optuna"):
                pairs.setdefault(r["seed"], {})["snas" if r["tool"] == tool else "optuna"] = r
        both = [p for p in pairs.values() if "snas" in p and "optuna" in p]
        s = [p["snas"] for p in both]
        o = [p["optuna"] for p in both]
        acc = lambda rs: [r["test_acc"] for r in rs if r.get("test_acc") is not None]  # noqa: E731
        wins = sum((p["snas"].get("test_acc") or 0) >= (p["optuna"].get("test_acc") or 0) for p in both)
        firsts = [r["first_result"] for r in s if r.get("first_result") is not None]
        variant = "defaults" if tool == "snas" else f"`{tool[5:]}`"
        rows.append(
            f"| {dataset} | {budget:g} | {variant} | {len(both)} | {_mean_std(acc(s))} | {_mean_std(acc(o))} | "
            f"{wins} of {len(both)} | {_mean([r.get('complete', 0) for r in s])} / "
            f"{_mean([r.get('stopped', 0) for r in s])} | "
            f"{_mean([r.get('complete', 0) for r in o])} / {_mean([r.get('pruned', 0) for r in o])} | "
            f"{_mean_std([r['seconds'] for r in s], 0)} | {_mean_std([r['seconds'] for r in o], 0)} | "
            f"{_mean_std(firsts, 0)} |")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["cifar10", "fashion_mnist"], choices=bench_data.DATASETS)
    parser.add_argument("--budgets", nargs="+", type=float, default=[300.0, 900.0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--results", default=str(HERE / "results" / "search_vs_optuna.jsonl"))
    parser.add_argument("--resume", action="store_true", help="skip pairs already in --results")
    parser.add_argument("--snas-options", default="", help="extra `snas search` options (a variant, not the "
                        "defaults), e.g. '--threads-per-trial 1'; recorded as its own tool")
    parser.add_argument("--only", choices=("snas", "optuna"), default=None, help="run one side only")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    extra = args.snas_options.split()
    snas_tool = " ".join(["snas", *extra])
    results_path = Path(args.results)
    results_path.parent.mkdir(parents=True, exist_ok=True)
    if not args.resume and results_path.exists():
        results_path.unlink()
    done = {(r["tool"], r["dataset"], r["budget"], r["seed"]) for r in load_results(results_path)
            if "error" not in r}  # a run that crashed is run again
    for dataset in args.datasets:
        for budget in args.budgets:
            for seed in args.seeds:
                runners = [(snas_tool, lambda d, b, s: run_snas(d, b, s, extra)), ("optuna", run_peer)]
                for tool, runner in runners if seed % 2 == 0 else runners[::-1]:
                    if (tool, dataset, budget, seed) in done or args.only not in (None, tool.split()[0]):
                        continue
                    load = OtherLoad()
                    record = runner(dataset, budget, seed)
                    others_cpu_s, steal_s = load.read() or (None, None)
                    record.update(others_cpu_s=others_cpu_s, steal_s=steal_s)  # was the machine quiet?
                    print(json.dumps({k: v for k, v in record.items()
                                      if k not in ("best_arch", "best_params", "per_trial")}),
                          file=sys.stderr)
                    with results_path.open("a") as f:
                        f.write(json.dumps(record) + "\n")
    results = load_results(results_path)
    others = [r["others_cpu_s"] for r in results if r.get("others_cpu_s") is not None]
    command = (f"python benchmarks/search_vs_optuna.py --datasets {' '.join(args.datasets)} --budgets "
               f"{' '.join(f'{b:g}' for b in args.budgets)} --seeds {' '.join(map(str, args.seeds))} --write")
    lines = [
        SUBHEADING,
        "",
        f"Command: `{command}`; raw records in `{os.path.relpath(results_path, HERE.parent)}`.",
        f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}; "
        f"other processes used {_mean(others)} CPU s per run on the mean while the tools ran, in the "
        f"{len(others)} runs that measured it (`others_cpu_s` in the records; near zero on a quiet machine). "
        "Each tool runs in its own process; the budget B is search time, counted "
        "by each tool from the moment its data is in memory; the wall times below count from the process "
        "start (imports, data loading and final steps included).",
        "",
        "snas: `snas search <data> --time-budget B --seed S`, every other option at its default. Optuna: "
        "`benchmarks/optuna_peer.py` (TPE, median pruner, 1-3 conv blocks, Adam, plain loop on in-memory "
        "tensors), the same split. Test accuracy of the network each picks by validation accuracy, mean ± std "
        "over the seeds.",
        "",
        *table(results),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write:
        write_subsection(BENCHMARKS_MD, HEADING, SUBHEADING, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
