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

Bounds: an image file may hold at most :data:`MAX_SOURCE_PIXELS` pixels (its
header is checked before anything is decoded, so a file claiming to be
30000x30000 is refused, not decompressed), and the decoded set must fit in
the memory available.

``path`` is stored absolute, so a run resumed from another working
directory reads the same files.
"""

from __future__ import annotations

import collections
import struct
import warnings
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
import torch

from snas import DataBundle, Dataset, TensorSplit, option
from snas import DataError
from snas_plugins.datasets.vision import _check_image_size, make_augment, parse_image_size, stratified_split

#: file name endings read as images (case-insensitive)
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp")
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
#: the most pixels one image file may have (8192x8192); larger ones are refused before decoding
MAX_SOURCE_PIXELS = 8192 * 8192
#: bytes held per decoded pixel value: the uint8 image, its float32 split, the float32 copy for statistics
BYTES_PER_VALUE = 9


def _absolute(path: Any) -> str | None:
    """A data-set path made absolute (``~`` expanded), so a resumed run finds it from any folder."""
    if path is None or str(path) == "":
        return None
    return str(Path(str(path)).expanduser().absolute())


@attrs.frozen
class CustomOptions:
    """Options of a custom image set: where it is, its size and name, the splits, the augmentation."""

    path: str | None = option(None, converter=_absolute, metavar="PATH",
                              help="The CSV file or the image folder, stored absolute (also set by "
                                   "--custom-csv-dataset / --custom-folder-dataset).")
    image_size: str | None = option(None, validator=_check_image_size, metavar="HxW",
                                    help="Resize every image to HxW pixels, e.g. 32x32; none: the most common size "
                                         "among the images.")
    custom_dataset_name: str | None = option(None, help="Name of the set in the run file (default: the file or "
                                                        "folder name).")
    val_fraction: float = option(0.1, low=0, low_open=True, high=0.5, high_open=True,
                                 help="Fraction of the images held out for validation, stratified with the run's seed.")
    test_fraction: float = option(0.2, low=0, low_open=True, high=0.5, high_open=True,
                                  help="Fraction of the images held out for testing, stratified with the run's seed.")
    max_per_class: int | None = option(None, low=1, help="Use only the first N images of each class (quick runs); "
                                                         "none: all.")
    augment: bool = option(False, help="Random crop with zero padding of 1/8 of the image height on training "
                                       "batches; off by default, as in the runs measured against an Optuna loop "
                                       "(in 10-epoch trials it hurt on Fashion-MNIST, helped on CIFAR-10: "
                                       "docs/benchmarks.md, 'Augmentation in short trials'); worth it for long "
                                       "training.")
    horizontal_flip: bool = option(False, help="Also mirror training images left-right at random (wrong for digits, "
                                               "letters, signs).")


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

    # what a damaged file makes PIL raise, besides its own errors
    unreadable = (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error,
                  Image.DecompressionBombError)
    modes, sizes = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size is checked below
        for e in entries:
            if not e.path.is_file():
                raise DataError(f"{e.where}: image {e.path} does not exist")
            try:
                with Image.open(e.path) as im:
                    modes.append(im.mode)
                    sizes.append(im.size)
            except Image.DecompressionBombError as exc:
                raise DataError(f"{e.where}: image {e.path} is too large to read safely ({exc}); "
                                f"at most {MAX_SOURCE_PIXELS:,} pixels per image") from None
            except unreadable as exc:
                raise DataError(f"{e.where}: cannot read image {e.path}: {exc}") from None
            width, height = sizes[-1]
            if width * height > MAX_SOURCE_PIXELS:
                raise DataError(f"{e.where}: image {e.path} is {width}x{height} ({width * height:,} pixels); "
                                f"at most {MAX_SOURCE_PIXELS:,} pixels per image are read (8192x8192): shrink it first")
    mode = "RGB" if any(m not in _GRAY_MODES for m in modes) else "L"
    if size is None:
        w, h = collections.Counter(sizes).most_common(1)[0][0]
        size = (h, w)
    h, w = size
    channels = 3 if mode == "RGB" else 1
    _check_memory(len(entries), channels, h, w)
    out = np.empty((len(entries), h, w, channels), dtype=np.uint8)
    for i, e in enumerate(entries):
        try:
            with Image.open(e.path) as im:
                im = im.convert(mode)
                if im.size != (w, h):
                    im = im.resize((w, h), Image.BILINEAR)
                array = np.asarray(im, dtype=np.uint8)
        except unreadable as exc:
            raise DataError(f"{e.where}: cannot read image {e.path}: {exc}") from None
        out[i] = array.reshape(h, w, -1)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous(), mode, (h, w)


def _check_memory(count: int, channels: int, h: int, w: int) -> None:
    """Refuse a set whose decoded tensors would not fit in the memory available."""
    from snas.memory import available_memory, describe_bytes

    need = count * channels * h * w * BYTES_PER_VALUE
    try:
        free = available_memory("cpu")
    except OSError:
        return  # the machine does not say; decoding will tell
    if need > free:
        raise DataError(f"{count} images of {channels}x{h}x{w} need about {describe_bytes(need)} in memory once "
                        f"decoded, more than the {describe_bytes(free)} available: give a smaller --image-size "
                        f"or fewer images (max_per_class)")


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image extension and is not hidden."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")
