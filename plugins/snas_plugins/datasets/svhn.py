"""SVHN: street-view house numbers (3x32x32, 10 classes) through ``torchvision.datasets.SVHN``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from snas import hookimpl
from snas_plugins.datasets.vision import TorchvisionDataset


class SVHN(TorchvisionDataset):
    """SVHN ``train_32x32.mat`` / ``test_32x32.mat`` directly in ``<data-dir>`` (torchvision's layout).

    In memory; random crop (padding 4), no flips (digits). The ``extra``
    split is not used. Files are checked for presence, not MD5 sums.
    """

    name = "svhn"
    description = "SVHN house-number digits (3x32x32, 10 classes, 73k train + 26k test)"
    torchvision_class = "SVHN"
    source_url = "http://ufldl.stanford.edu/housenumbers/"
    class_names = [str(i) for i in range(10)]
    mean = (0.4377, 0.4438, 0.4728)
    std = (0.1980, 0.2010, 0.1970)

    def folder(self, root: Path) -> Path:
        return root

    def expected_files(self) -> list[str]:
        return ["train_32x32.mat", "test_32x32.mat"]

    def open_split(self, root: Path, split: str) -> Any:
        import torchvision.datasets

        base = torchvision.datasets.SVHN
        local = type(base.__name__, (base,), {"_check_integrity": lambda _self: True})
        return local(str(root), split=split, download=False)

    def download(self, root: Path) -> None:
        import torchvision.datasets

        for split in ("train", "test"):
            torchvision.datasets.SVHN(str(root), split=split, download=True)

    def arrays(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(dataset.data).contiguous(), torch.as_tensor(dataset.labels, dtype=torch.long)


@hookimpl
def snas_register_datasets():
    return [SVHN]
