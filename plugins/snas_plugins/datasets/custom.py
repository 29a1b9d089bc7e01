"""Shared code of the custom image data sets, ``csv`` and ``folder`` (not a plugin).

Both turn a list of ``(image file, class)`` entries into a :class:`DataBundle`:
every image is checked first (exists, readable header), then decoded once,
converted to one colour mode, resized to one size, and split stratified into
train / validation / test with the run's seed. Any bad entry raises
:class:`DataError` naming the file (and the CSV line) before anything is used.

Colour rule: if any image is in colour (any mode other than grayscale
``1``/``L``/``LA``/``I``/``F``; palette images count as colour), every image
is converted to RGB; otherwise all are grayscale (1 channel). Alpha is dropped.

Size rule: ``image_size`` (``--image-size HxW``) resizes every image to HxW
(bilinear, antialiased; the aspect ratio is not kept). Without it, the most
common size among the images is used and the others are resized to it.
"""

from __future__ import annotations

import collections
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from snas import DataBundle, Dataset, TensorSplit
from snas import ConfigError, DataError
from snas_plugins.datasets.vision import _check_image_size, make_augment, parse_image_size, stratified_split

#: file name endings read as images (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def _fraction(_instance: Any, attribute: Any, value: float) -> None:
    if not 0.0 < value < 0.5:
        raise ConfigError(f"{attribute.name} must be between 0 and 0.5, got {value}")


def _positive_or_none(_instance: Any, attribute: Any, value: Any) -> None:
    if value is not None and value <= 0:
        raise ConfigError(f"{attribute.name} must be positive, got {value}")


@attrs.frozen
class CustomOptions:
    """Options of a custom image set.

    ``path``: the CSV file or the folder. ``image_size``: resize to HxW.
    ``custom_dataset_name``: the name recorded in the run file.
    ``val_fraction`` / ``test_fraction``: stratified shares held out with
    the run's seed. ``max_per_class``: use only the first N images of each
    class (quick runs). ``augment``: random crop with padding (1/8 of the
    height) on training batches. ``horizontal_flip``: also mirror them (off
    by default: wrong for digits, letters, signs).
    """

    path: str | None = None
    image_size: str | None = attrs.field(default=None, validator=_check_image_size)
    custom_dataset_name: str | None = None
    val_fraction: float = attrs.field(default=0.1, validator=_fraction)
    test_fraction: float = attrs.field(default=0.2, validator=_fraction)
    max_per_class: int | None = attrs.field(default=None, validator=_positive_or_none)
    augment: bool = True
    horizontal_flip: bool = False


@attrs.frozen
class Entry:
    """One image of a custom set: its file, its class index, and where it was listed (for errors)."""

    path: Path
    label: int
    where: str


class ImageSet(Dataset):
    """Base of the custom sets; subclasses list the entries."""

    Options: ClassVar[type] = CustomOptions
    #: the CLI flag that sets ``path``, for messages
    flag: ClassVar[str] = ""
    input_shape = None
    num_classes = None

    def entries(self, path: Path) -> tuple[list[Entry], list[str]]:
        """Every image with its class index, and the class names in index order."""
        raise NotImplementedError

    def _path(self) -> Path:
        if not self.options.path:
            raise DataError(f"data set {self.name!r} needs a path: give {self.flag}")
        return Path(self.options.path).expanduser()

    def available(self) -> bool:
        return bool(self.options.path) and Path(self.options.path).expanduser().exists()

    def summary(self) -> dict[str, Any]:
        if not self.options.path:
            return {"input_shape": None, "num_classes": None, "available": None, "note": f"give {self.flag}"}
        size = parse_image_size(self.options.image_size)
        return {"input_shape": None if size is None else (None, *size), "num_classes": None,
                "available": self.available()}

    def load(self, seed: int = 0) -> DataBundle:
        opts = self.options
        path = self._path()
        entries, class_names = self.entries(path)
        if len(class_names) < 2:
            raise DataError(
                f"{path}: found {len(class_names)} class{'es' if len(class_names) != 1 else ''}"
                f" ({', '.join(map(repr, class_names)) or 'none'}); a classification data set needs at least two"
            )
        if opts.max_per_class is not None:
            seen: collections.Counter = collections.Counter()
            kept = []
            for e in entries:
                if seen[e.label] < opts.max_per_class:
                    seen[e.label] += 1
                    kept.append(e)
            entries = kept
        images, mode, size = decode_images(entries, parse_image_size(opts.image_size))
        labels = torch.tensor([e.label for e in entries], dtype=torch.long)
        y = labels.numpy()
        rest, test = stratified_split(y, opts.test_fraction, seed)
        train_rel, val_rel = stratified_split(y[rest], opts.val_fraction / (1.0 - opts.test_fraction), seed + 1)
        train, val = rest[train_rel], rest[val_rel]
        x_train = images[torch.from_numpy(train)].to(torch.float32).div_(255.0)
        mean = x_train.mean(dim=(0, 2, 3))
        std = x_train.std(dim=(0, 2, 3)).clamp_min(1e-3)

        def split(idx: np.ndarray) -> TensorSplit:
            x = images[torch.from_numpy(idx)].to(torch.float32).div_(255.0)
            x = (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
            return TensorSplit(x.contiguous(), labels[torch.from_numpy(idx)])

        h, w = size
        padding = max(1, h // 8)
        channels = 3 if mode == "RGB" else 1
        return DataBundle(
            name=opts.custom_dataset_name or path.stem or self.name,
            train=split(train),
            val=split(val),
            test=split(test),
            input_shape=(channels, h, w),
            num_classes=len(class_names),
            class_names=class_names,
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            train_augment=make_augment(opts.augment, padding, opts.horizontal_flip),
            info={
                "source": f"{self.name} data set {path}",
                "pipeline": "in-memory",
                "color_mode": mode,
                "preprocessing": f"convert to {mode}, resize to {h}x{w}, pixel / 255, then (x - mean) / std "
                                 "with the training split's statistics",
                "validation": f"{opts.val_fraction:g} val / {opts.test_fraction:g} test, stratified, seed {seed}",
            },
        )


def decode_images(entries: list[Entry], size: tuple[int, int] | None) -> tuple[torch.Tensor, str, tuple[int, int]]:
    """Decode every entry into one uint8 ``(N, C, H, W)`` tensor; returns ``(images, mode, (H, W))``.

    A first pass reads every header (missing and unreadable files fail here,
    before any decoding), a second decodes, converts and resizes.
    """
    from PIL import Image, UnidentifiedImageError

    modes, sizes = [], []
    for e in entries:
        if not e.path.is_file():
            raise DataError(f"{e.where}: image {e.path} does not exist")
        try:
            with Image.open(e.path) as im:
                modes.append(im.mode)
                sizes.append(im.size)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise DataError(f"{e.where}: cannot read image {e.path}: {exc}") from None
    mode = "RGB" if any(m not in _GRAY_MODES for m in modes) else "L"
    if size is None:
        w, h = collections.Counter(sizes).most_common(1)[0][0]
        size = (h, w)
    h, w = size
    out = np.empty((len(entries), h, w, 3 if mode == "RGB" else 1), dtype=np.uint8)
    for i, e in enumerate(entries):
        try:
            with Image.open(e.path) as im:
                im = im.convert(mode)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                array = np.asarray(im, dtype=np.uint8)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"{e.where}: cannot read image {e.path}: {exc}") from None
        out[i] = array.reshape(h, w, -1)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), mode, (h, w)


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image extension and is not hidden."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
