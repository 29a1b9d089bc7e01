"""Kuzushiji-MNIST: 70,000 cursive Japanese characters (1x28x28, 10 classes) through ``torchvision.datasets.KMNIST``."""

from __future__ import annotations

from snas import hookimpl
from snas_plugins.datasets.vision import IdxDataset


class KMNIST(IdxDataset):
    """Kuzushiji-MNIST; in memory, random crop (padding 2), no flips (characters)."""

    name = "kmnist"
    description = "Kuzushiji-MNIST Japanese characters (1x28x28, 10 classes, 60k train + 10k test)"
    torchvision_class = "KMNIST"
    source_url = "https://github.com/rois-codh/kmnist"
    class_names = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]
    mean = (0.1918,)
    std = (0.3483,)

    def expected_files(self) -> list[str]:
        return ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@hookimpl
def snas_register_datasets():
    return [KMNIST]
