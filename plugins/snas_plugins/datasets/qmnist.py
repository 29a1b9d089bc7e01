"""QMNIST: MNIST's reconstructed test set (1x28x28, 10 classes, 60k train + 60k test) through ``torchvision.datasets.QMNIST``."""

from __future__ import annotations

from typing import Any

from snas import hookimpl
from snas_plugins.datasets.vision import IdxDataset


class QMNIST(IdxDataset):
    """QMNIST (``what='train'`` / ``'test'``, class labels only); in memory, random crop, no flips."""

    name = "qmnist"
    description = "QMNIST digits (1x28x28, 10 classes, 60k train + 60k test)"
    torchvision_class = "QMNIST"
    source_url = "https://github.com/facebookresearch/qmnist"
    class_names = [str(i) for i in range(10)]
    mean = (0.1309,)
    std = (0.3084,)

    def expected_files(self) -> list[str]:
        return ["qmnist-train-images-idx3-ubyte", "qmnist-train-labels-idx2-int",
                "qmnist-test-images-idx3-ubyte", "qmnist-test-labels-idx2-int"]

    def tv_kwargs(self, split: str) -> dict[str, Any]:
        return {"what": "train" if split == "train" else "test", "compat": True}


@hookimpl
def snas_register_datasets():
    return [QMNIST]
