"""Shared code of the torchvision data-set plugins and the custom image sets (not a plugin).

Each torchvision plugin is a small subclass of :class:`TorchvisionDataset`
that says where torchvision keeps its files under ``--data-dir``, how to open
the train and test splits with torchvision's own class, and the data set's
normalization constants and augmentation. This module does the rest: the
clear error when files are missing, the seeded validation split, decoding
once into tensors (or streaming when the decoded set would be too large),
and the batched augmentation.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Sequence

import attrs
import numpy as np
import torch

from snas import DataBundle, Dataset, StreamingSplit, TensorSplit, option
from snas_plugins.datasets.augment import compose_augment, horizontal_flip, random_crop
from snas import ConfigError, DataError


def default_data_dir() -> Path:
    """Where data sets live unless ``--data-dir`` says otherwise.

    ``$SNAS_DATA_DIR`` when set, else ``$XDG_CACHE_HOME/snas/data``, else
    ``~/.cache/snas/data``.
    """
    env = os.environ.get("SNAS_DATA_DIR")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "snas" / "data"


#: the largest side ``image_size`` accepts: 4096x4096 RGB is 200 MB per image as float32 already
MAX_IMAGE_SIDE = 4096


def parse_image_size(text: str | None) -> tuple[int, int] | None:
    """``"32x32"`` (or ``"32"``) as ``(height, width)``; ``None`` stays ``None``.

    Each side must lie in 1..:data:`MAX_IMAGE_SIDE`.
    """
    if text is None or text == "":
        return None
    parts = str(text).lower().replace(" ", "").split("x")
    try:
        if len(parts) == 1:
            h = w = int(parts[0])
        elif len(parts) == 2:
            h, w = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"image_size must look like HxW (e.g. 32x32), got {text!r}") from None
    if h <= 0 or w <= 0:
        raise ConfigError(f"image_size must be positive, got {text!r}")
    if h > MAX_IMAGE_SIDE or w > MAX_IMAGE_SIDE:
        raise ConfigError(f"image_size {text!r} is too large: each side may be at most {MAX_IMAGE_SIDE} pixels")
    return h, w


def _check_image_size(_instance: Any, _attribute: Any, value: Any) -> None:
    parse_image_size(value)


@attrs.frozen
class VisionOptions:
    """Options shared by the torchvision data sets: where the files are, the splits, size and pipeline."""

    data_dir: str | None = option(None, metavar="DIR",
                                  help="Root folder of the data files, in torchvision's layout (default: "
                                       "$SNAS_DATA_DIR, else $XDG_CACHE_HOME/snas/data or ~/.cache/snas/data).")
    download: bool = option(False, help="Let torchvision download missing files (needs internet).")
    val_fraction: float = option(0.1, low=0, low_open=True, high=0.5, high_open=True,
                                 help="Fraction of the training split held out for validation, stratified with the "
                                      "run's seed (dtd uses its official validation split instead).")
    max_train_samples: int | None = option(None, low=1, help="Train on at most this many images (a seeded, "
                                                             "stratified subset); none: all.")
    max_eval_samples: int | None = option(None, low=1, help="At most this many images in each of the validation "
                                                            "and test splits (seeded, stratified); none: all.")
    augment: bool = option(False, help="Random crop (and a horizontal flip where it keeps the class) on training "
                                       "batches; off by default, as in the runs measured against an Optuna loop "
                                       "(in 10-epoch trials it hurt on Fashion-MNIST, helped on CIFAR-10: "
                                       "docs/benchmarks.md, 'Augmentation in short trials'); worth it for long "
                                       "training.")
    image_size: str | None = option(None, validator=_check_image_size, metavar="HxW",
                                    help="Resize every image to HxW pixels, e.g. 32x32; none: the set's own size.")
    memory_limit_mb: int = option(1024, low=1, help="Hold the splits as float32 tensors when they fit in this many "
                                                    "MiB, else stream them through a DataLoader.")
    num_workers: int = option(2, low=0, help="DataLoader worker processes that decode image files and feed "
                                             "streamed splits (0: in this process).")


# -- splitting -------------------------------------------------------------------


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(kept, held_out)``: ``fraction`` of each class held out, chosen with ``seed``.

    A class keeps at least one item on the kept side.
    """
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(len(idx))]
        n_held = min(int(round(fraction * len(idx))), len(idx) - 1)
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def stratified_subset(labels: np.ndarray, count: int | None, seed: int) -> np.ndarray:
    """Sorted indices of exactly ``min(count, N)`` items, class proportions kept, chosen with ``seed``."""
    n = len(labels)
    if count is None or count >= n:
        return np.arange(n)
    classes, sizes = np.unique(labels, return_counts=True)
    exact = sizes * count / n
    quota = np.floor(exact).astype(int)
    for k in np.argsort(-(exact - quota), kind="stable")[: count - quota.sum()]:
        quota[k] += 1  # largest remainders get the leftover places
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == cls))[:q] for cls, q in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


# -- tensors and streaming ---------------------------------------------------------


def normalize(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` to normalized float32."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    out = images.to(torch.float32).div_(255.0)
    return out.sub_(m).div_(s)


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize a uint8 ``(N, C, H, W)`` batch to ``size`` (antialiased bilinear), in chunks."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    chunks = []
    for start in range(0, images.shape[0], 4096):
        part = images[start : start + 4096].to(torch.float32)
        part = torch.nn.functional.interpolate(part, size=size, mode="bilinear", antialias=True, align_corners=False)
        chunks.append(part.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(chunks) if chunks else images.new_zeros((0, images.shape[1], *size))


class ArrayDataset(torch.utils.data.Dataset):
    """uint8 images held once in memory, normalized per item (for streaming large arrays)."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 size: tuple[int, int] | None = None):
        self.images, self.labels, self.mean, self.std, self.size = images, labels, tuple(mean), tuple(std), size

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index : index + 1]
        if self.size is not None:
            image = resize_uint8(image, self.size)
        return normalize(image, self.mean, self.std)[0], int(self.labels[index])


class PilToTensor:
    """A torchvision transform: PIL image to uint8 ``(C, H, W)`` at ``size``, in ``mode``."""

    def __init__(self, size: tuple[int, int], mode: str = "RGB"):
        self.size, self.mode = size, mode

    def __call__(self, image: Any) -> torch.Tensor:
        from PIL import Image

        image = image.convert(self.mode)
        if image.size != (self.size[1], self.size[0]):
            image = image.resize((self.size[1], self.size[0]), Image.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1)


class NormalizedFiles:
    """A torchvision transform: PIL image to a normalized float tensor (for streaming image files)."""

    def __init__(self, size: tuple[int, int], mean: Sequence[float], std: Sequence[float], mode: str = "RGB"):
        self.to_tensor, self.mean, self.std = PilToTensor(size, mode), tuple(mean), tuple(std)

    def __call__(self, image: Any) -> torch.Tensor:
        return normalize(self.to_tensor(image)[None], self.mean, self.std)[0]


def decode_all(dataset: Any, num_workers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every ``(uint8 image, label)`` of a torchvision dataset, stacked."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=num_workers)
    xs, ys = [], []
    for xb, yb in loader:
        xs.append(xb)
        ys.append(torch.as_tensor(yb, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def make_augment(enabled: bool, padding: int, flip: bool):
    """The batched train augmentation: random crop with ``padding``, then a flip when ``flip``."""
    if not enabled:
        return None
    return compose_augment(random_crop(padding) if padding > 0 else None, horizontal_flip() if flip else None)


# -- the base class ----------------------------------------------------------------


class TorchvisionDataset(Dataset):
    """Base of the torchvision data-set plugins; subclasses fill in the class attributes and hooks.

    A subclass defines either :meth:`arrays` (torchvision keeps the whole set
    as an array: decoded once, no file per image) or :meth:`file_targets`
    (one image file per item, decoded through torchvision's loader).
    """

    Options: ClassVar[type] = VisionOptions
    #: torchvision's class, by name, for messages
    torchvision_class: ClassVar[str] = ""
    #: where to get the files by hand
    source_url: ClassVar[str] = ""
    channels: ClassVar[int] = 3
    native_size: ClassVar[tuple[int, int]] = (32, 32)
    class_names: ClassVar[list[str]] = []
    mean: ClassVar[tuple[float, ...]] = ()
    std: ClassVar[tuple[float, ...]] = ()
    #: random-crop padding at the native size (scaled with --image-size)
    crop_padding: ClassVar[int] = 4
    #: whether left-right mirroring keeps the class (never for digits, letters, signs)
    flip: ClassVar[bool] = False
    #: whether the class names come from the data set's files (CIFAR-100's ``meta``)
    names_from_files: ClassVar[bool] = False
    #: whether the data set ships its own validation split (else carved from train)
    official_val: ClassVar[bool] = False

    def __init__(self, options: Any):
        super().__init__(options)
        self.size = parse_image_size(options.image_size) or self.native_size
        self.input_shape = (self.channels, *self.size)
        self.num_classes = len(self.classes())

    # -- hooks for subclasses --------------------------------------------------

    def classes(self) -> list[str]:
        """Class names in label order."""
        return list(self.class_names)

    def folder(self, root: Path) -> Path:
        """The folder torchvision reads, inside ``root``."""
        raise NotImplementedError

    def expected_files(self) -> list[str]:
        """File (or folder) names that must exist inside :meth:`folder`."""
        raise NotImplementedError

    def open_split(self, root: Path, split: str) -> Any:
        """torchvision's dataset object for ``split`` (``train``, ``test`` or ``val``), without downloading."""
        raise NotImplementedError

    def download(self, root: Path) -> None:
        """Let torchvision download the files into ``root``."""
        raise NotImplementedError

    def arrays(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor] | None:
        """uint8 ``(N, C, H, W)`` images and int64 labels, or ``None`` for a file-per-image set."""
        return None

    def file_targets(self, dataset: Any) -> list[int]:
        """Labels of a file-per-image torchvision dataset, without opening the images."""
        raise NotImplementedError

    # -- presence ----------------------------------------------------------------

    @property
    def root(self) -> Path:
        """The data folder in use."""
        return Path(self.options.data_dir).expanduser() if self.options.data_dir else default_data_dir()

    def available(self) -> bool:
        folder = self.folder(self.root)
        return all((folder / name).exists() for name in self.expected_files())

    def summary(self) -> dict[str, Any]:
        return {
            "input_shape": self.input_shape,
            "num_classes": self.num_classes,
            "available": self.available(),
            "folder": str(self.folder(self.root)),
        }

    def missing_message(self, root: Path, reason: str = "") -> str:
        """The one-paragraph error for files that are not there."""
        folder = self.folder(root)
        missing = [n for n in self.expected_files() if not (folder / n).exists()] or self.expected_files()
        text = (
            f"data set {self.name!r}: files not found in {folder} (expected {', '.join(missing)}). "
            f"{'Put' if reason else 'Run again with --download (needs internet), or put'} the files of {self.source_url} there "
            f"in torchvision's {self.torchvision_class} layout, or point --data-dir (or SNAS_DATA_DIR) "
            f"at the folder that holds them."
        )
        return f"{text} {reason}".strip()

    def ensure_files(self, root: Path) -> None:
        """Download when asked and needed; raise :class:`DataError` when the files are still missing."""
        if self.available():
            return
        if not self.options.download:
            raise DataError(self.missing_message(root))
        try:
            root.mkdir(parents=True, exist_ok=True)
            self.download(root)
        except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, ...
            detail = " ".join(str(exc).split())[:300] or type(exc).__name__
            raise DataError(self.missing_message(root, f"The download failed: {detail}")) from None
        if not self.available():
            raise DataError(self.missing_message(root, "The download did not produce them."))

    # -- loading -----------------------------------------------------------------

    def load(self, seed: int = 0) -> DataBundle:
        opts = self.options
        root = self.root
        self.ensure_files(root)
        try:
            train = self.open_split(root, "train")
            test = self.open_split(root, "test")
            val = self.open_split(root, "val") if self.official_val else None
            train_arrays = self.arrays(train)
        except DataError:
            raise
        except Exception as exc:
            raise DataError(
                f"data set {self.name!r}: cannot read the files in {self.folder(root)}: {exc}. "
                f"Delete them and run again with --download, or replace them with the files of {self.source_url}."
            ) from None
        h, w = self.size
        padding = max(1, round(self.crop_padding * h / self.native_size[0])) if self.crop_padding else 0
        augment = make_augment(opts.augment, padding, self.flip)
        if train_arrays is not None:
            splits, streaming = self._array_splits(train, test, train_arrays, seed)
        else:
            splits, streaming = self._file_splits(train, test, val, seed)
        return DataBundle(
            name=self.name,
            train=splits[0],
            val=splits[1],
            test=splits[2],
            input_shape=self.input_shape,
            num_classes=self.num_classes,
            class_names=self._loaded_names(train),
            mean=tuple(self.mean),
            std=tuple(self.std),
            train_augment=augment,
            info={
                "source": f"torchvision.datasets.{self.torchvision_class}",
                "folder": str(self.folder(root)),
                "pipeline": "streaming" if streaming else "in-memory",
                "validation": "official split" if self.official_val else f"{opts.val_fraction:g} of train, seed {seed}",
                "preprocessing": f"resize to {h}x{w}, pixel / 255, then (x - mean) / std",
                "augmentation": _describe_augment(opts.augment, padding, self.flip),
            },
        )

    def _loaded_names(self, train: Any) -> list[str]:
        names = getattr(train, "classes", None) if self.names_from_files else None
        if names and len(names) == self.num_classes:
            return [str(n) for n in names]
        return self.classes()

    def _fits(self, count: int) -> bool:
        c, (h, w) = self.channels, self.size
        return count * c * h * w * 4 <= self.options.memory_limit_mb * 2**20

    def _array_splits(self, train: Any, test: Any, train_arrays: tuple, seed: int):
        opts = self.options
        x_train, y_train = train_arrays
        x_test, y_test = self.arrays(test)
        kept, held = stratified_split(y_train.numpy(), opts.val_fraction, seed)
        kept = kept[stratified_subset(y_train.numpy()[kept], opts.max_train_samples, seed)]
        held = held[stratified_subset(y_train.numpy()[held], opts.max_eval_samples, seed)]
        test_idx = stratified_subset(y_test.numpy(), opts.max_eval_samples, seed)
        parts = [
            (x_train[torch.from_numpy(kept)], y_train[torch.from_numpy(kept)]),
            (x_train[torch.from_numpy(held)], y_train[torch.from_numpy(held)]),
            (x_test[torch.from_numpy(test_idx)], y_test[torch.from_numpy(test_idx)]),
        ]
        if self._fits(sum(len(y) for _, y in parts)):
            return [TensorSplit(normalize(resize_uint8(x, self.size), self.mean, self.std), y) for x, y in parts], False
        size = self.size if tuple(self.size) != tuple(x_train.shape[-2:]) else None
        return [
            StreamingSplit(ArrayDataset(x, y, self.mean, self.std, size), num_workers=opts.num_workers, targets=y.tolist())
            for x, y in parts
        ], True

    def _file_splits(self, train: Any, test: Any, val: Any, seed: int):
        opts = self.options
        y_train = np.asarray(self.file_targets(train), dtype=np.int64)
        y_test = np.asarray(self.file_targets(test), dtype=np.int64)
        if val is None:
            kept, held = stratified_split(y_train, opts.val_fraction, seed)
            val, y_val = train, y_train
        else:
            kept, held = np.arange(len(y_train)), None
            y_val = np.asarray(self.file_targets(val), dtype=np.int64)
        kept = kept[stratified_subset(y_train[kept], opts.max_train_samples, seed)]
        held = np.arange(len(y_val)) if held is None else held
        held = held[stratified_subset(y_val[held], opts.max_eval_samples, seed)]
        test_idx = stratified_subset(y_test, opts.max_eval_samples, seed)
        parts = [(train, kept, y_train), (val, held, y_val), (test, test_idx, y_test)]
        mode = "RGB" if self.channels == 3 else "L"
        if self._fits(sum(len(i) for _, i, _ in parts)):
            splits = []
            for dataset, idx, labels in parts:
                dataset.transform = PilToTensor(self.size, mode)
                try:
                    x, y = decode_all(torch.utils.data.Subset(dataset, idx.tolist()), opts.num_workers)
                except Exception as exc:
                    raise DataError(f"data set {self.name!r}: cannot decode an image in {self.folder(self.root)}: {exc}") from None
                splits.append(TensorSplit(normalize(x, self.mean, self.std), y))
            return splits, False
        splits = []
        for dataset, idx, labels in parts:
            dataset.transform = NormalizedFiles(self.size, self.mean, self.std, mode)
            splits.append(StreamingSplit(torch.utils.data.Subset(dataset, idx.tolist()), num_workers=opts.num_workers,
                                         targets=labels[idx].tolist()))
        return splits, True


def _describe_augment(enabled: bool, padding: int, flip: bool) -> str:
    if not enabled:
        return "none"
    parts = [f"random crop, padding {padding}"] if padding else []
    if flip:
        parts.append("horizontal flip")
    return ", ".join(parts) or "none"


# -- IDX (MNIST-style) sets ----------------------------------------------------------


class IdxDataset(TorchvisionDataset):
    """MNIST and its relatives: four IDX files, raw or gzipped.

    The files are looked for in ``<data-dir>/<Class>/raw`` (torchvision's
    layout), then in ``<data-dir>`` itself, then in :attr:`system_folders`.
    torchvision reads uncompressed files; gzipped ones are unpacked next to
    the data (or into the per-user cache when that folder is read-only).
    """

    channels = 1
    native_size = (28, 28)
    crop_padding = 2
    #: extra folders searched after the data folder (a distribution's package, say)
    system_folders: ClassVar[tuple[str, ...]] = ()

    def tv_class(self) -> type:
        """torchvision's dataset class."""
        import torchvision.datasets

        return getattr(torchvision.datasets, self.torchvision_class)

    def tv_kwargs(self, split: str) -> dict[str, Any]:
        """Keyword arguments for torchvision's class (besides root, download)."""
        return {"train": split == "train"}

    def candidates(self, root: Path) -> list[Path]:
        """Folders searched for the IDX files, in order."""
        return [root / self.torchvision_class / "raw", root, *(Path(p) for p in self.system_folders)]

    def _found_in(self, folder: Path) -> bool:
        return all((folder / n).is_file() or (folder / f"{n}.gz").is_file() for n in self.expected_files())

    def folder(self, root: Path) -> Path:
        for candidate in self.candidates(root):
            if self._found_in(candidate):
                return candidate
        return root / self.torchvision_class / "raw"

    def available(self) -> bool:
        return self._found_in(self.folder(self.root))

    def missing_message(self, root: Path, reason: str = "") -> str:
        folders = ", ".join(str(p) for p in self.candidates(root))
        text = (
            f"data set {self.name!r}: files not found; searched {folders} for "
            f"{', '.join(self.expected_files())} (each may be gzipped, .gz). "
            f"{'Copy' if reason else 'Run again with --download (needs internet), or copy'} the files of {self.source_url} into "
            f"{root / self.torchvision_class / 'raw'}, or point --data-dir (or SNAS_DATA_DIR) at the folder that holds them."
        )
        return f"{text} {reason}".strip()

    def download(self, root: Path) -> None:
        self.tv_class()(str(root), download=True, **self.tv_kwargs("train"))
        self.tv_class()(str(root), download=True, **self.tv_kwargs("test"))

    def _unpacked(self, root: Path) -> Path:
        """A folder holding every file uncompressed, unpacking ``.gz`` files when needed.

        Files in torchvision's own ``<data-dir>/<Class>/raw`` are unpacked in
        place, as torchvision's download does. Files found anywhere else (a
        flat folder, a distribution's read-only package) are never written
        to: they are unpacked into ``<default data dir>/.unpacked/``.
        """
        source = self.folder(root)
        if all((source / n).is_file() for n in self.expected_files()):
            return source
        if source == root / self.torchvision_class / "raw":
            target = source
        else:
            digest = hashlib.sha1(str(source.resolve()).encode()).hexdigest()[:10]
            target = default_data_dir() / ".unpacked" / f"{self.torchvision_class}-{digest}"
        try:
            target.mkdir(parents=True, exist_ok=True)
            for name in self.expected_files():
                if not (target / name).is_file():
                    packed = source / name if (source / name).is_file() else source / f"{name}.gz"
                    _gunzip(packed, target / name)
        except (OSError, EOFError) as exc:
            raise DataError(
                f"data set {self.name!r}: cannot unpack the .gz files of {source} into {target}: {exc}. "
                f"Unpack them yourself (gunzip), or set SNAS_DATA_DIR to a writable folder, or replace a "
                f"damaged file with a good copy from {self.source_url}."
            ) from None
        return target

    def open_split(self, root: Path, split: str) -> Any:
        folder = self._unpacked(root)
        base = self.tv_class()
        local = type(base.__name__, (base,), {
            "raw_folder": property(lambda _self: str(folder)),
            "_check_legacy_exist": lambda _self: False,
        })
        return local(str(root), download=False, **self.tv_kwargs(split))

    def arrays(self, dataset: Any) -> tuple[torch.Tensor, torch.Tensor]:
        images = torch.as_tensor(dataset.data).unsqueeze(1)
        targets = torch.as_tensor(dataset.targets, dtype=torch.long)
        if targets.ndim == 2:  # QMNIST's extended labels: the class is column 0
            targets = targets[:, 0]
        return images, targets


def _gunzip(packed: Path, target: Path) -> None:
    """Unpack ``packed`` into ``target`` atomically: a failure leaves no half-written file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out, gzip.open(packed, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def local_subclass(base: type, **attributes: Any) -> type:
    """A subclass of torchvision's ``base`` with some attributes replaced (integrity checks, say)."""
    return type(base.__name__, (base,), attributes)
