"""The real data sets the benchmarks train on, loaded through snas's own data-set plugins (not a benchmark).

``cifar10``: the CIFAR-10 JPEG folder (10,000 images, 32x32 RGB) through the
``folder`` data set, split 70 / 10 / 20 stratified by the seed, as ``snas
search --custom-folder-dataset`` splits it. ``mnist`` and ``fashion_mnist``:
the IDX files through their data sets (60,000 train less 10% validation,
10,000 test). ``digits``: scikit-learn's 8x8 digits. The folder is
``$SNAS_TEST_DATA`` (default ``../shared/data`` beside the repository).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import snas

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")


def data_root() -> Path:
    """The shared real-data folder."""
    return Path(os.environ.get("SNAS_TEST_DATA", ROOT.parent / "shared" / "data")).resolve()


def dataset_config(name: str, augment: bool = True, max_train_samples: int | None = None) -> tuple[str, dict[str, Any]]:
    """``(data-set plugin, options)`` for one of :data:`DATASETS`."""
    root = data_root()
    if name == "cifar10":
        return "folder", {"path": str(root / "cifar10-test-jpeg"), "image_size": "32x32", "augment": augment}
    if name in ("mnist", "fashion_mnist"):
        folder = root / name.replace("_", "-")
        return name, {"data_dir": str(folder), "augment": augment, "max_train_samples": max_train_samples}
    if name == "digits":
        return "digits", {}
    raise SystemExit(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")


def cli_args(name: str) -> list[str]:
    """The ``snas search`` options that load data set ``name`` as :func:`dataset_config` does."""
    root = data_root()
    if name == "cifar10":
        return ["--custom-folder-dataset", str(root / "cifar10-test-jpeg"), "--image-size", "32x32"]
    if name in ("mnist", "fashion_mnist"):
        return ["--dataset", name, "--data-dir", str(root / name.replace("_", "-"))]
    return ["--dataset", name]


def load(name: str, seed: int = 0, augment: bool = False, max_train_samples: int | None = None) -> snas.DataBundle:
    """Load data set ``name`` with the run's ``seed`` (its split), augmentation off unless asked."""
    plugin, options = dataset_config(name, augment, max_train_samples)
    cls = snas.get_plugin_manager().get_dataset(plugin)
    return cls(cls.Options(**options)).load(seed=seed)
