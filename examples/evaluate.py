"""Train one architecture with the full protocol and print every metric.

    python examples/evaluate.py                        # a small CNN written below
    python examples/evaluate.py runs/search/best_architecture.json
"""

import argparse
import json

import snas

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("architecture", nargs="?", help="a best_architecture.json (default: the CNN below)")
parser.add_argument("--dataset", default="digits")
args = parser.parse_args()

if args.architecture:
    arch = args.architecture
else:
    arch = snas.Architecture("cnn", {
        "num_layers": 2, "filters": (32, 64), "kernel_sizes": (3, 3), "activation": "relu",
        "skip_connections": False, "head": "pool_4x4", "use_batch_norm": True, "dropout": 0.2,
        "learning_rate": 0.001, "optimizer": "adam",
    })

metrics = snas.evaluate(arch, dataset=args.dataset, evaluator_options={"max_epochs": 15}, seed=0)
print(f"status {metrics['status']}, validation {metrics['val_accuracy']:.3f}, test {metrics['test_accuracy']:.3f}")
for name in ("f1_macro", "precision_macro", "recall_macro", "roc_auc", "top3_accuracy", "params", "flops"):
    print(f"  {name:<16} {metrics.get(name)}")
print("confusion matrix (rows: true class):")
print(json.dumps(metrics["confusion_matrix"]))
