"""EMNIST: handwritten letters and digits (1x28x28) through ``torchvision.datasets.EMNIST``.

Option ``split`` picks torchvision's split (default ``balanced``: 47
classes). EMNIST stores its images transposed; they are turned upright.
"""

from __future__ import annotations

from typing import Any

import attrs
import torch

from snas import hookimpl
from snas import ConfigError
from snas_plugins.datasets.vision import IdxDataset, VisionOptions

SPLITS = ("byclass", "bymerge", "balanced", "letters", "digits", "mnist")


def _split(_instance: Any, _attribute: Any, value: str) -> None:
    if value not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}, got {value!r}")


@attrs.frozen
class EMNISTOptions(VisionOptions):
    """The shared torchvision options plus EMNIST's ``split``."""

    split: str = attrs.field(default="balanced", validator=_split)


class EMNIST(IdxDataset):
    """EMNIST; in memory, random crop (padding 2), no flips (letters and digits)."""

    name = "emnist"
    description = "EMNIST handwritten letters and digits (1x28x28, 47 classes in the default 'balanced' split)"
    Options = EMNISTOptions
    torchvision_class = "EMNIST"
    source_url = "https://www.nist.gov/itl/products-and-services/emnist-dataset"
    mean = (0.1751,)
    std = (0.3332,)

    def classes(self) -> list[str]:
        import torchvision.datasets

        return list(torchvision.datasets.EMNIST.classes_split_dict[self.options.split])

    def expected_files(self) -> list[str]:
        split = self.options.split
        return [f"emnist-{split}-{part}-{kind}" for part in ("train", "test")
                for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]

    def tv_kwargs(self, split: str) -> dict[str, Any]:
        return {"split": self.options.split, "train": split == "train"}

    def arrays(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        images, targets = super().arrays(dataset)
        return images.transpose(2, 3).contiguous(), targets


@hookimpl
def snas_register_datasets():
    return [EMNIST]
