"""Search for a network with the Python API and look at what was found.

    python examples/search.py                      # 20 trials on digits
    python examples/search.py --budget 40 --strategy random --run-dir runs/random
"""

import argparse

import snas

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--dataset", default="digits")
parser.add_argument("--strategy", default="evolutionary")
parser.add_argument("--budget", type=int, default=20, help="architectures to train")
parser.add_argument("--run-dir", default="runs/search")
args = parser.parse_args()

result = snas.search(
    dataset=args.dataset,
    strategy=args.strategy,
    max_trials=args.budget,
    seed=0,
    run_dir=args.run_dir,
    network_types=["cnn", "mlp"],
    strategy_options={"population_size": 8} if args.strategy == "evolutionary" else None,
    evaluator_options={"max_epochs": 15, "patience": 3},
)

print(f"{len(result.trials)} trials, status {result.status}, run folder {args.run_dir}")
for row in sorted(result.table(), key=lambda r: r["score"] or 0, reverse=True)[:5]:
    print(f"  trial {row['trial']:>3}  {row['family']:<4} {row['status']:<10} validation {row['score'] or 0:.3f}")
best = result.best
print(f"best: trial {best.trial_id}, validation {best.score:.3f}, test {best.metrics['test_accuracy']:.3f}, "
      f"{best.metrics['params']:,} parameters")
print("\n".join(snas.describe_architecture(best.arch)))
