"""The other torchvision data sets, on tiny files written in each set's real on-disk format.

Each writer stores a few images with a different value at every row, column
and channel (and a different offset per image) where torchvision expects
them, in the set's own layout (CIFAR's channel planes, SVHN's HxWxCxN
array, STL-10's column-major planes, EMNIST's transposed images...). The
test loads the plugin (so torchvision's own reader runs) and checks that
every decoded pixel is the one the file put at that row, column and
channel; swapped axes, reversed channels or a mirrored image fail it. It
also checks labels, sizes, the validation split and the augmentation rule.
"""

from __future__ import annotations

import pickle  # CIFAR's own on-disk format is a pickle; written here only to build fixtures
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from snas.runtime.config import make_options
from snas.contracts.errors import DataError

N_TRAIN, N_TEST = 40, 12


def labels_for(n: int, classes: int, offset: int = 0) -> np.ndarray:
    return (np.arange(n) + offset) % classes


def patterns(n: int, offset: int, channels: int, h: int, w: int) -> np.ndarray:
    """uint8 images ``(n, channels, h, w)``: a value that changes with the image, row, column and channel.

    Steps of 17 per image, 85 per channel, 7 per row and 3 per column (mod 256): no two images are
    alike (for n < 256), and no transpose, mirror or channel permutation maps an image onto itself.
    """
    i, c, y, x = np.meshgrid(np.arange(n), np.arange(channels), np.arange(h), np.arange(w), indexing="ij")
    return ((17 * (i + offset) + 85 * c + 7 * y + 3 * x + 1) % 256).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    dtype = np.dtype(">i4") if array.dtype.kind == "i" and array.dtype.itemsize == 4 else np.dtype(np.uint8)
    header = bytes([0, 0, codes[dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(dtype).tobytes())


def mnist_like(raw: Path, names: tuple[str, str, str, str], classes: int, transposed: bool = False):
    """IDX files: (N, 28, 28) row-major; EMNIST stores every image transposed."""
    for (img_name, lbl_name), n, off in (((names[0], names[1]), N_TRAIN, 0), ((names[2], names[3]), N_TEST, 1)):
        images = patterns(n, off, 1, 28, 28)[:, 0]
        write_idx(raw / img_name, images.transpose(0, 2, 1) if transposed else images)
        write_idx(raw / lbl_name, labels_for(n, classes, off).astype(np.uint8))


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def write_mnist(root: Path) -> dict:
    mnist_like(root / "MNIST" / "raw", IDX_NAMES, 10)
    return {}


def write_fashion_mnist(root: Path) -> dict:
    mnist_like(root / "FashionMNIST" / "raw", IDX_NAMES, 10)
    return {}


def write_kmnist(root: Path) -> dict:
    mnist_like(root / "KMNIST" / "raw", IDX_NAMES, 10)
    return {}


def write_emnist(root: Path) -> dict:
    p = "emnist-digits"
    mnist_like(root / "EMNIST" / "raw", (f"{p}-train-images-idx3-ubyte", f"{p}-train-labels-idx1-ubyte",
                                         f"{p}-test-images-idx3-ubyte", f"{p}-test-labels-idx1-ubyte"), 10,
               transposed=True)
    return {"split": "digits"}


def write_qmnist(root: Path) -> dict:
    raw = root / "QMNIST" / "raw"
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        write_idx(raw / f"qmnist-{part}-images-idx3-ubyte", patterns(n, off, 1, 28, 28)[:, 0])
        extended = np.zeros((n, 8), dtype=np.int32)
        extended[:, 0] = labels_for(n, 10, off)
        extended[:, 1] = 7  # writer id etc.: must not be taken for the class
        write_idx(raw / f"qmnist-{part}-labels-idx2-int", extended)
    return {}


def write_cifar(root: Path, folder: str, files: dict, label_key: str, meta: tuple[str, str, list[str]], classes: int):
    """CIFAR's python batches: ``data`` is (N, 3072), each row the R plane, then G, then B, each row-major."""
    base = root / folder
    base.mkdir(parents=True)
    for name, (n, off) in files.items():
        entry = {"data": patterns(n, off, 3, 32, 32).reshape(n, -1), label_key: labels_for(n, classes, off).tolist()}
        with (base / name).open("wb") as f:
            pickle.dump(entry, f)
    with (base / meta[0]).open("wb") as f:
        pickle.dump({meta[1]: meta[2]}, f)


def write_cifar10(root: Path) -> dict:
    files = {f"data_batch_{i}": (8, 8 * (i - 1) + 100) for i in range(1, 6)}
    files["test_batch"] = (N_TEST, 1)
    write_cifar(root, "cifar-10-batches-py", files, "labels", ("batches.meta", "label_names", [f"c{i}" for i in range(10)]), 10)
    return {}


def write_cifar100(root: Path) -> dict:
    write_cifar(root, "cifar-100-python", {"train": (N_TRAIN, 0), "test": (N_TEST, 1)}, "fine_labels",
                ("meta", "fine_label_names", [f"fine{i}" for i in range(100)]), 100)
    return {}


def write_svhn(root: Path) -> dict:
    """SVHN's .mat: ``X`` is (32, 32, 3, N), that is height, width, channel, image."""
    root.mkdir(parents=True, exist_ok=True)
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        x = patterns(n, off, 3, 32, 32).transpose(2, 3, 1, 0)
        y = labels_for(n, 10, off).copy()
        y[y == 0] = 10  # SVHN writes the digit 0 as class 10
        scipy.io.savemat(root / f"{part}_32x32.mat", {"X": x, "y": y.reshape(-1, 1).astype(np.uint8)})
    return {}


def write_stl10(root: Path) -> dict:
    """STL-10's binaries: per image, three 96x96 planes stored column-major (MATLAB's order)."""
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        np.ascontiguousarray(patterns(n, off, 3, 96, 96).transpose(0, 1, 3, 2)).tofile(base / f"{part}_X.bin")
        (labels_for(n, 10, off) + 1).astype(np.uint8).tofile(base / f"{part}_y.bin")  # STL-10 counts from 1
    (base / "class_names.txt").write_text("\n".join(f"s{i}" for i in range(10)) + "\n")
    return {"memory_limit_mb": 1}  # forces the streaming path


def save_rgb(path: Path, image: np.ndarray) -> None:
    """A (3, H, W) uint8 image as a lossless file (PNG, PPM: by the suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0)), "RGB").save(path)


DTD_CLASSES = ["banded", "blotchy", "braided"]


def write_dtd(root: Path, size: tuple[int, int] = (16, 16)) -> dict:
    base = root / "dtd" / "dtd"
    lists = {"train": [], "val": [], "test": []}
    for split, n, off in (("train", 9, 0), ("val", 6, 100), ("test", N_TEST, 1)):
        for i, (image, label) in enumerate(zip(patterns(n, off, 3, *size), labels_for(n, 3, off))):
            name = f"{DTD_CLASSES[label]}_{split}{i}.png"
            save_rgb(base / "images" / DTD_CLASSES[label] / name, image)
            lists[split].append(f"{DTD_CLASSES[label]}/{name}")
    (base / "labels").mkdir()
    for split, rows in lists.items():
        (base / "labels" / f"{split}1.txt").write_text("\n".join(rows) + "\n")
    return {"image_size": f"{size[0]}x{size[1]}"}


def write_gtsrb(root: Path) -> dict:
    base = root / "gtsrb"
    for i, (image, label) in enumerate(zip(patterns(N_TRAIN, 0, 3, 32, 32), labels_for(N_TRAIN, 3, 0))):
        save_rgb(base / "GTSRB" / "Training" / f"{label:05d}" / f"{i:05d}_00000.ppm", image)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for i, (image, label) in enumerate(zip(patterns(N_TEST, 1, 3, 32, 32), labels_for(N_TEST, 3, 1))):
        save_rgb(base / "GTSRB" / "Final_Test" / "Images" / f"{i:05d}.ppm", image)
        rows.append(f"{i:05d}.ppm;32;32;0;0;31;31;{label}")
    (base / "GT-final_test.csv").write_text("\n".join(rows) + "\n")
    return {}


# name: (writer, channels, size, classes in the files, flips?, train+val count)
CASES = {
    "mnist": (write_mnist, 1, (28, 28), 10, False, N_TRAIN),
    "fashion_mnist": (write_fashion_mnist, 1, (28, 28), 10, True, N_TRAIN),
    "kmnist": (write_kmnist, 1, (28, 28), 10, False, N_TRAIN),
    "emnist": (write_emnist, 1, (28, 28), 10, False, N_TRAIN),
    "qmnist": (write_qmnist, 1, (28, 28), 10, False, N_TRAIN),
    "cifar10": (write_cifar10, 3, (32, 32), 10, True, N_TRAIN),
    "cifar100": (write_cifar100, 3, (32, 32), 100, True, N_TRAIN),
    "svhn": (write_svhn, 3, (32, 32), 10, False, N_TRAIN),
    "stl10": (write_stl10, 3, (96, 96), 10, True, N_TRAIN),
    "dtd": (write_dtd, 3, (16, 16), 3, True, 9 + 6),
    "gtsrb": (write_gtsrb, 3, (32, 32), 3, False, N_TRAIN),
}
#: where each writer put its training images: (count, offset) per file, in reading order
TRAIN_PARTS = {"cifar10": [(8, 100 + 8 * i) for i in range(5)], "dtd": [(9, 0), (6, 100)]}


def batches(split) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*split.batches(64))
    return torch.cat(xs), torch.cat(ys)


def pixels(x: torch.Tensor, bundle) -> torch.Tensor:
    """Normalized images back to the uint8 values of the files."""
    mean = torch.tensor(bundle.mean).view(1, -1, 1, 1)
    std = torch.tensor(bundle.std).view(1, -1, 1, 1)
    return ((x * std + mean) * 255).round().clamp(0, 255).to(torch.uint8)


def load_case(name: str, manager, tmp_path, monkeypatch):
    monkeypatch.setenv("SNAS_DATA_DIR", str(tmp_path / "cache"))
    writer = CASES[name][0]
    root = tmp_path / "data"
    extra = writer(root)
    cls = manager.get_dataset(name)
    options = {"data_dir": str(root), "val_fraction": 0.25, "num_workers": 0, "augment": True, **extra}
    ds = cls(make_options(cls.Options, options, name))
    assert ds.available() is True
    return ds, ds.load(seed=0)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_pixel_lands_where_the_file_put_it(name, manager, tmp_path, monkeypatch):
    _, channels, size, classes, _, _ = CASES[name]
    _, bundle = load_case(name, manager, tmp_path, monkeypatch)
    x_test, y_test = batches(bundle.test)
    # the test split is the test file, in order: image i is pattern i, pixel for pixel
    expected = torch.from_numpy(patterns(N_TEST, 1, channels, *size))
    got = pixels(x_test, bundle)
    assert got.shape == expected.shape
    assert torch.equal(got, expected), f"{name}: first differing pixel at {(got != expected).nonzero()[0].tolist()}"
    assert torch.equal(y_test, torch.as_tensor(labels_for(N_TEST, classes, 1), dtype=torch.long))
    # train and validation together hold every training image once, each with its own label
    parts = TRAIN_PARTS.get(name, [(N_TRAIN, 0)])
    written = {}
    for count, offset in parts:
        for image, label in zip(patterns(count, offset, channels, *size), labels_for(count, classes, offset)):
            written[image.tobytes()] = int(label)
    decoded = {}
    for split in (bundle.train, bundle.val):
        if len(split) == 0:
            continue  # CIFAR-100's 40 images in 100 classes leave nothing to hold out
        x, y = batches(split)
        for image, label in zip(pixels(x, bundle).numpy(), y.tolist()):
            decoded[image.tobytes()] = label
    assert decoded == written


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_files_in_the_real_format_load(name, manager, tmp_path, monkeypatch):
    _, channels, size, classes, flips, train_val = CASES[name]
    _, bundle = load_case(name, manager, tmp_path, monkeypatch)
    assert bundle.input_shape == (channels, *size)
    assert len(bundle.train) + len(bundle.val) == train_val and len(bundle.test) == N_TEST
    if name == "emnist":
        assert bundle.class_names == [str(i) for i in range(10)]
    if name == "cifar100":
        assert bundle.class_names[:2] == ["fine0", "fine1"]
    if name == "stl10":
        assert bundle.info["pipeline"] == "streaming"
    else:
        assert bundle.info["pipeline"] == "in-memory"
    assert ("horizontal flip" in bundle.info["augmentation"]) == flips
    x_train, _ = batches(bundle.train)
    assert bundle.train_augment(x_train, torch.Generator().manual_seed(0)).shape == x_train.shape


@pytest.mark.parametrize("name", sorted(CASES))
def test_missing_files_name_set_folder_and_files(name, manager, tmp_path, monkeypatch):
    cls = manager.get_dataset(name)
    monkeypatch.setattr(cls, "system_folders", (), raising=False)  # a machine with Debian's dataset-fashion-mnist has the files
    ds = cls(make_options(cls.Options, {"data_dir": str(tmp_path)}, name))
    assert ds.available() is False
    with pytest.raises(DataError) as info:
        ds.load()
    message = str(info.value)
    assert f"'{name}'" in message and str(tmp_path) in message and "--download" in message
    assert ds.expected_files()[0].split("/")[-1] in message


def test_corrupt_file_is_a_data_error_naming_the_folder(manager, tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"garbage")
    cls = manager.get_dataset("cifar10")
    with pytest.raises(DataError, match=r"'cifar10': cannot read the files in .*cifar-10-batches-py"):
        cls(make_options(cls.Options, {"data_dir": str(tmp_path)}, "cifar10")).load()


def test_file_backed_set_streams_when_it_does_not_fit(manager, tmp_path):
    extra = write_dtd(tmp_path)
    cls = manager.get_dataset("dtd")
    opts = {"data_dir": str(tmp_path), "num_workers": 0, "memory_limit_mb": 1, **extra}
    large = cls(make_options(cls.Options, {**opts, "image_size": "400x300"}, "dtd")).load(seed=0)
    assert large.info["pipeline"] == "streaming"
    x_test, y_test = batches(large.test)
    assert x_test.shape == (N_TEST, 3, 400, 300)
    assert torch.equal(y_test, torch.as_tensor(labels_for(N_TEST, 3, 1), dtype=torch.long))
    assert torch.equal(large.test.labels(), y_test)
    # each image is its file resized by PIL (bilinear) to 300 wide, 400 high: not transposed, not stretched wrong
    for i, image in enumerate(patterns(N_TEST, 1, 3, 16, 16)):
        resized = Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).resize((300, 400), Image.BILINEAR)
        expected = torch.from_numpy(np.asarray(resized).copy()).permute(2, 0, 1)
        assert torch.equal(pixels(x_test[i:i + 1], large)[0], expected)


def test_emnist_images_are_turned_upright(manager, tmp_path):
    write_emnist(tmp_path)
    path = tmp_path / "EMNIST" / "raw" / "emnist-digits-test-images-idx3-ubyte"
    images = np.zeros((N_TEST, 28, 28), dtype=np.uint8)
    images[:, 0, 5] = 255  # stored transposed: upright, this pixel is at row 5, column 0
    write_idx(path, images)
    cls = manager.get_dataset("emnist")
    b = cls(make_options(cls.Options, {"data_dir": str(tmp_path), "split": "digits"}, "emnist")).load(seed=0)
    bright = b.test.x[0, 0] > 0
    assert bright[5, 0] and int(bright.sum()) == 1


@pytest.mark.parametrize("name", ["folder", "csv"])
@pytest.mark.parametrize("channels", [3, 1])
def test_custom_sets_put_every_pixel_where_the_file_put_it(name, channels, manager, tmp_path):
    """PNG files of 12 rows by 10 columns (not square: rows and columns cannot be mistaken), RGB or grayscale."""
    images, labels = patterns(20, 0, channels, 12, 10), labels_for(20, 2, 0)
    rows = []
    for i, (image, label) in enumerate(zip(images, labels)):
        path = tmp_path / "set" / f"class{label}" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        if channels == 3:
            save_rgb(path, image)
        else:
            Image.fromarray(image[0], "L").save(path)
        rows.append(f"{path.relative_to(tmp_path)},class{label}")
    if name == "csv":
        (tmp_path / "list.csv").write_text("image,label\n" + "\n".join(rows) + "\n")
        options = {"path": str(tmp_path / "list.csv")}
    else:
        options = {"path": str(tmp_path / "set")}
    cls = manager.get_dataset(name)
    bundle = cls(make_options(cls.Options, {**options, "augment": False}, name)).load(seed=0)
    assert bundle.input_shape == (channels, 12, 10) and bundle.class_names == ["class0", "class1"]
    written = {image.tobytes(): int(label) for image, label in zip(images, labels)}
    decoded = {}
    for split in (bundle.train, bundle.val, bundle.test):
        x, y = batches(split)
        for image, label in zip(pixels(x, bundle).numpy(), y.tolist()):
            decoded[image.tobytes()] = label
    assert decoded == written


class _RunsCode:
    """What a hostile file would hold: unpickling it calls ``Path.touch`` on a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return Path.touch, (self.marker,)


@pytest.mark.parametrize("name,victim", [("cifar10", "data_batch_2"), ("cifar10", "batches.meta"),
                                         ("cifar100", "test")])
def test_a_cifar_file_that_would_run_code_is_refused_without_running_it(name, victim, manager, tmp_path):
    CASES[name][0](tmp_path)
    folder = tmp_path / ("cifar-10-batches-py" if name == "cifar10" else "cifar-100-python")
    marker = tmp_path / "code-ran"
    with (folder / victim).open("wb") as f:
        pickle.dump({"data": _RunsCode(marker), "labels": [0], "fine_labels": [0], "label_names": []}, f)
    cls = manager.get_dataset(name)
    with pytest.raises(DataError, match=rf"{name}.*cannot read the files in .*{folder.name}.*pathlib.*refusing"):
        cls(make_options(cls.Options, {"data_dir": str(tmp_path)}, name)).load()
    assert not marker.exists()
