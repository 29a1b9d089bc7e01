"""STL-10: labelled 96x96 colour images (3x96x96, 10 classes) through ``torchvision.datasets.STL10``.

Only the labelled train (5,000) and test (8,000) splits are read; the
unlabelled 100,000 images are not needed. Decoded as float32 they take
about 1.4 GB, over the default ``memory_limit_mb``, so STL-10 streams
through a DataLoader unless you raise the limit (or shrink ``image_size``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from snas import hookimpl
from snas_plugins.datasets.vision import TorchvisionDataset


class STL10(TorchvisionDataset):
    """STL-10 from ``<data-dir>/stl10_binary``; random crop (padding 12) and flip."""

    name = "stl10"
    description = "STL-10 colour images (3x96x96, 10 classes, 5k train + 8k test)"
    torchvision_class = "STL10"
    source_url = "https://cs.stanford.edu/~acoates/stl10/"
    native_size = (96, 96)
    crop_padding = 12
    flip = True
    class_names = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
    mean = (0.4467, 0.4398, 0.4066)
    std = (0.2603, 0.2566, 0.2713)

    def folder(self, root: Path) -> Path:
        return root / "stl10_binary"

    def expected_files(self) -> list[str]:
        return ["train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin"]

    def open_split(self, root: Path, split: str) -> Any:
        import torchvision.datasets

        base = torchvision.datasets.STL10
        local = type(base.__name__, (base,), {"_check_integrity": lambda _self: True})
        return local(str(root), split=split, download=False)

    def download(self, root: Path) -> None:
        import torchvision.datasets

        torchvision.datasets.STL10(str(root), split="train", download=True)

    def arrays(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(dataset.data).contiguous(), torch.as_tensor(dataset.labels, dtype=torch.long)


@hookimpl
def snas_register_datasets():
    return [STL10]
