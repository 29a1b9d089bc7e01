"""GTSRB: German traffic signs (43 classes) through ``torchvision.datasets.GTSRB``.

Images vary in size (15x15 to 250x250) and are resized to ``image_size``
(default 32x32), then decoded once into memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snas import hookimpl
from snas_plugins.datasets.vision import TorchvisionDataset


class GTSRB(TorchvisionDataset):
    """GTSRB from ``<data-dir>/gtsrb``; random crop (padding 4), never flipped (signs)."""

    name = "gtsrb"
    description = "German traffic signs (3x32x32 by default, 43 classes, 26.6k train + 12.6k test)"
    torchvision_class = "GTSRB"
    source_url = "https://benchmark.ini.rub.de/gtsrb_dataset.html"
    native_size = (32, 32)
    crop_padding = 4
    class_names = [str(i) for i in range(43)]
    mean = (0.3403, 0.3121, 0.3214)
    std = (0.2724, 0.2608, 0.2669)

    def folder(self, root: Path) -> Path:
        return root / "gtsrb"

    def expected_files(self) -> list[str]:
        return ["GTSRB/Training", "GTSRB/Final_Test/Images", "GT-final_test.csv"]

    def open_split(self, root: Path, split: str) -> Any:
        import torchvision.datasets

        return torchvision.datasets.GTSRB(str(root), split=split, download=False)

    def download(self, root: Path) -> None:
        import torchvision.datasets

        for split in ("train", "test"):
            torchvision.datasets.GTSRB(str(root), split=split, download=True)

    def file_targets(self, dataset: Any) -> list[int]:
        return [int(label) for _, label in dataset._samples]


@hookimpl
def snas_register_datasets():
    return [GTSRB]
