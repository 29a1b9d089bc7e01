"""CIFAR-100: 60,000 colour images (3x32x32, 100 fine classes) in torchvision's ``cifar-100-python`` layout.

Read like CIFAR-10 (:mod:`snas_plugins.datasets.cifar10`): the pickled files are
opened by an unpickler that rebuilds only arrays, lists and strings.
"""

from __future__ import annotations

from snas import hookimpl
from snas_plugins.datasets.cifar10 import CIFAR10


class CIFAR100(CIFAR10):
    """CIFAR-100 (fine labels) from ``<data-dir>/cifar-100-python``; in memory, crop and flip."""

    name = "cifar100"
    description = "CIFAR-100 colour images (3x32x32, 100 classes, 50k train + 10k test)"
    torchvision_class = "CIFAR100"
    source_url = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    base_folder = "cifar-100-python"
    mean = (0.5071, 0.4865, 0.4409)
    std = (0.2673, 0.2564, 0.2762)

    class_names = [str(i) for i in range(100)]
    names_from_files = True  # the fine label names in ``meta`` replace the numbers once loaded
    split_files = {"train": ["train"], "test": ["test"]}
    meta_file, meta_key, label_key = "meta", "fine_label_names", "fine_labels"


@hookimpl
def snas_register_datasets():
    return [CIFAR100]
