"""CIFAR-10: 60,000 colour images (3x32x32, 10 classes) in torchvision's ``cifar-10-batches-py`` layout.

CIFAR's "python version" files are pickles. torchvision opens them with
``pickle.load``, which runs whatever code a file names; these plugins read
them with an unpickler that rebuilds only what CIFAR files hold (dicts,
lists, strings, numbers and numpy arrays) and refuses any other object, so
loading a data file never runs code.
"""

from __future__ import annotations

import pickle  # CIFAR's own format; read only through _ArraysOnly below
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from snas import DataError, hookimpl
from snas_plugins.datasets.vision import TorchvisionDataset


def _multiarray() -> Any:
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    return multiarray


class _ArraysOnly(pickle.Unpickler):
    """An unpickler for CIFAR's files: numpy arrays are rebuilt, every other global is refused."""

    def find_class(self, module: str, name: str) -> Any:
        if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "_reconstruct":
            return _multiarray()._reconstruct
        if module == "numpy" and name in ("ndarray", "dtype"):
            return getattr(np, name)
        raise pickle.UnpicklingError(f"it refers to {module}.{name}, which a CIFAR file never holds; "
                                     "refusing to load it (loading it could run code)")


def read_cifar_file(path: Path) -> Any:
    """One CIFAR batch or meta file (a pickled dict), read without running code."""
    with open(path, "rb") as f:
        return _ArraysOnly(f, encoding="latin1").load()


@attrs.define
class CifarSplit:
    """One split as read from the batch files: uint8 images ``(N, 3, 32, 32)``, labels, class names."""

    data: np.ndarray
    targets: list[int]
    classes: list[str]


class CIFAR10(TorchvisionDataset):
    """CIFAR-10 from ``<data-dir>/cifar-10-batches-py``; in memory, random crop (padding 4) and flip.

    Files are checked for presence, not against the published MD5 sums; a
    damaged or foreign file is reported by name.
    """

    name = "cifar10"
    description = "CIFAR-10 colour images (3x32x32, 10 classes, 50k train + 10k test)"
    torchvision_class = "CIFAR10"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    base_folder = "cifar-10-batches-py"
    class_names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    mean = (0.4914, 0.4822, 0.4465)
    std = (0.2470, 0.2435, 0.2616)
    flip = True
    #: the batch files of each split, the meta file and its key of class names
    split_files = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
    meta_file, meta_key, label_key = "batches.meta", "label_names", "labels"

    def folder(self, root: Path) -> Path:
        return root / self.base_folder

    def expected_files(self) -> list[str]:
        return [*self.split_files["train"], *self.split_files["test"], self.meta_file]

    def open_split(self, root: Path, split: str) -> CifarSplit:
        folder = self.folder(root)
        images, labels = [], []
        for name in self.split_files[split]:
            entry = read_cifar_file(folder / name)
            try:
                data = np.asarray(entry["data"], dtype=np.uint8)
                batch_labels = [int(v) for v in entry[self.label_key]]
            except (KeyError, TypeError, ValueError) as exc:
                raise DataError(f"data set {self.name!r}: {folder / name} is not a CIFAR batch ({exc!r})") from None
            if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(batch_labels) != data.shape[0]:
                raise DataError(f"data set {self.name!r}: {folder / name} holds data of shape {data.shape} and "
                                f"{len(batch_labels)} labels; a CIFAR batch holds (N, 3072) and N labels")
            images.append(data.reshape(-1, 3, 32, 32))  # each row: the red plane, then green, then blue
            labels.extend(batch_labels)
        meta = read_cifar_file(folder / self.meta_file)
        classes = [str(c) for c in meta.get(self.meta_key, [])] if isinstance(meta, dict) else []
        return CifarSplit(np.concatenate(images), labels, classes)

    def download(self, root: Path) -> None:
        import torchvision.datasets
        from torchvision.datasets.utils import download_and_extract_archive

        base = getattr(torchvision.datasets, self.torchvision_class)
        download_and_extract_archive(base.url, str(root), filename=base.filename, md5=base.tgz_md5)

    def arrays(self, dataset: CifarSplit) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(dataset.data), torch.as_tensor(dataset.targets, dtype=torch.long)


@hookimpl
def snas_register_datasets():
    return [CIFAR10]
