"""Fashion-MNIST: 70,000 clothing images (1x28x28, 10 classes) through ``torchvision.datasets.FashionMNIST``.

Besides ``<data-dir>/FashionMNIST/raw``, the files installed by Debian's
``dataset-fashion-mnist`` package (``/usr/share/datasets/fashion-mnist``)
are found without any option.
"""

from __future__ import annotations

from snas import hookimpl
from snas_plugins.datasets.vision import IdxDataset


class FashionMNIST(IdxDataset):
    """Fashion-MNIST; in memory, random crop (padding 2) and horizontal flip."""

    name = "fashion_mnist"
    description = "Fashion-MNIST clothing images (1x28x28, 10 classes, 60k train + 10k test)"
    torchvision_class = "FashionMNIST"
    source_url = "https://github.com/zalandoresearch/fashion-mnist"
    system_folders = ("/usr/share/datasets/fashion-mnist",)
    class_names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    mean = (0.2860,)
    std = (0.3530,)
    flip = True  # garments are left-right symmetric classes

    def expected_files(self) -> list[str]:
        return ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


@hookimpl
def snas_register_datasets():
    return [FashionMNIST]
