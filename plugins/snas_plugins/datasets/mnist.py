"""MNIST: 70,000 handwritten digits (1x28x28, 10 classes) through ``torchvision.datasets.MNIST``."""

from __future__ import annotations

from snas import hookimpl
from snas_plugins.datasets.vision import IdxDataset


class MNIST(IdxDataset):
    """MNIST digits; in memory, random crop (padding 2), no flips."""

    name = "mnist"
    description = "MNIST handwritten digits (1x28x28, 10 classes, 60k train + 10k test)"
    torchvision_class = "MNIST"
    source_url = "http://yann.lecun.com/exdb/mnist/"
    class_names = [str(i) for i in range(10)]
    mean = (0.1307,)
    std = (0.3081,)

    def expected_files(self) -> list[str]:
        return ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@hookimpl
def snas_register_datasets():
    return [MNIST]
