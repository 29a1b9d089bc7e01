"""Export the trained best model of a run and use the exported file without snas.

    python examples/export.py runs/search          # after examples/search.py
"""

import argparse
import json
from pathlib import Path

import numpy as np

import snas
from snas_plugins.exporters.run_export import export_run

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("run", nargs="?", default="runs/search", help="a run folder (default: runs/search)")
parser.add_argument("--out", default="exported")
args = parser.parse_args()

if not Path(args.run).exists():  # no run yet: make a small one
    snas.search(max_trials=6, run_dir=args.run, evaluator_options={"max_epochs": 10})

report = export_run(args.run, ["onnx", "python"], args.out)
for fmt in report.formats:
    print(f"{fmt.format:<8} {'ok' if fmt.ok else 'failed: ' + str(fmt.error)}  {fmt.folder}")

# the ONNX file on its own: onnxruntime, the images and metadata written beside it
import onnxruntime  # noqa: E402

folder = Path(args.out) / "onnx"
metadata = json.loads((folder / "metadata.json").read_text())
images = np.load(folder / "sample_inputs.npy").astype(np.float32)
session = onnxruntime.InferenceSession(str(folder / "model.onnx"))
logits = session.run(None, {"input": images})[0]
names = metadata["class_names"]
print("predicted:", [names[i] for i in logits.argmax(axis=1)])
print("labels:   ", [names[i] for i in metadata["sample_labels"]])
