"""DTD: the Describable Textures Dataset (47 classes) through ``torchvision.datasets.DTD``.

Images vary in size (300x300 to 640x640) and are resized to ``image_size``
(default 64x64). DTD ships its own validation split, used as is (option
``partition``, 1-10, picks which of the ten official splits).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs

from snas import hookimpl
from snas import ConfigError
from snas_plugins.datasets.vision import TorchvisionDataset, VisionOptions, _check_image_size


def _partition(_instance: Any, _attribute: Any, value: int) -> None:
    if not 1 <= value <= 10:
        raise ConfigError(f"partition must be between 1 and 10, got {value}")


@attrs.frozen
class DTDOptions(VisionOptions):
    """The shared torchvision options plus DTD's ``partition``; images resized to 64x64 by default."""

    image_size: str | None = attrs.field(default="64x64", validator=_check_image_size)
    partition: int = attrs.field(default=1, validator=_partition)


class DTD(TorchvisionDataset):
    """DTD from ``<data-dir>/dtd/dtd``; decoded once when it fits, random crop and flip."""

    name = "dtd"
    description = "Describable Textures (3x64x64 by default, 47 classes, 1,880 train/val/test images each)"
    Options = DTDOptions
    torchvision_class = "DTD"
    source_url = "https://www.robots.ox.ac.uk/~vgg/data/dtd/"
    native_size = (64, 64)
    crop_padding = 8
    flip = True
    official_val = True
    names_from_files = True
    class_names = [
        "banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked",
        "crosshatched", "crystalline", "dotted", "fibrous", "flecked", "freckled", "frilly", "gauzy",
        "grid", "grooved", "honeycombed", "interlaced", "knitted", "lacelike", "lined", "marbled",
        "matted", "meshed", "paisley", "perforated", "pitted", "pleated", "polka-dotted", "porous",
        "potholed", "scaly", "smeared", "spiralled", "sprinkled", "stained", "stratified", "striped",
        "studded", "swirly", "veined", "waffled", "woven", "wrinkled", "zigzagged",
    ]
    # ImageNet statistics: textures have no canonical constants of their own
    mean = (0.485, 0.456, 0.406)
    std = (0.229, 0.224, 0.225)

    def folder(self, root: Path) -> Path:
        return root / "dtd" / "dtd"

    def expected_files(self) -> list[str]:
        p = self.options.partition
        return ["images", f"labels/train{p}.txt", f"labels/val{p}.txt", f"labels/test{p}.txt"]

    def open_split(self, root: Path, split: str) -> Any:
        import torchvision.datasets

        return torchvision.datasets.DTD(str(root), split=split, partition=self.options.partition, download=False)

    def download(self, root: Path) -> None:
        import torchvision.datasets

        torchvision.datasets.DTD(str(root), download=True)

    def file_targets(self, dataset: Any) -> list[int]:
        return list(dataset._labels)


@hookimpl
def snas_register_datasets():
    return [DTD]
