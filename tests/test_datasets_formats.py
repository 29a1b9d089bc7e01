"""The other torchvision data sets, on tiny files written in each set's real on-disk format.

Each writer puts a few images with known constant pixel values and known
labels where torchvision expects them; the test loads the plugin (so
torchvision's own reader runs) and checks sizes, labels, pixel values after
normalization, the validation split and the augmentation rule.
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


def values_for(n: int, offset: int) -> np.ndarray:
    """A distinct constant pixel value per image."""
    return ((np.arange(n) * 5 + offset) % 250 + 3).astype(np.uint8)


def constant_images(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(values.reshape(-1, *([1] * len(shape))), (len(values), *shape)).astype(np.uint8).copy()


def write_idx(path: Path, array: np.ndarray) -> None:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    dtype = np.dtype(">i4") if array.dtype.kind == "i" and array.dtype.itemsize == 4 else np.dtype(np.uint8)
    header = bytes([0, 0, codes[dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(dtype).tobytes())


def mnist_like(raw: Path, names: tuple[str, str, str, str], classes: int):
    for (img_name, lbl_name), n, off in (((names[0], names[1]), N_TRAIN, 0), ((names[2], names[3]), N_TEST, 1)):
        write_idx(raw / img_name, constant_images(values_for(n, off), (28, 28)))
        write_idx(raw / lbl_name, labels_for(n, classes, off).astype(np.uint8))


def write_kmnist(root: Path) -> dict:
    mnist_like(root / "KMNIST" / "raw", ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"), 10)
    return {}


def write_emnist(root: Path) -> dict:
    p = "emnist-digits"
    mnist_like(root / "EMNIST" / "raw", (f"{p}-train-images-idx3-ubyte", f"{p}-train-labels-idx1-ubyte",
                                         f"{p}-test-images-idx3-ubyte", f"{p}-test-labels-idx1-ubyte"), 10)
    return {"split": "digits"}


def write_qmnist(root: Path) -> dict:
    raw = root / "QMNIST" / "raw"
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        write_idx(raw / f"qmnist-{part}-images-idx3-ubyte", constant_images(values_for(n, off), (28, 28)))
        extended = np.zeros((n, 8), dtype=np.int32)
        extended[:, 0] = labels_for(n, 10, off)
        extended[:, 1] = 7  # writer id etc.: must not be taken for the class
        write_idx(raw / f"qmnist-{part}-labels-idx2-int", extended)
    return {}


def write_cifar(root: Path, folder: str, files: dict, label_key: str, meta: tuple[str, str, list[str]], classes: int):
    base = root / folder
    base.mkdir(parents=True)
    for name, (n, off) in files.items():
        data = constant_images(values_for(n, off), (3, 32, 32)).reshape(n, -1)
        entry = {"data": data, label_key: labels_for(n, classes, off).tolist()}
        with (base / name).open("wb") as f:
            pickle.dump(entry, f)
    with (base / meta[0]).open("wb") as f:
        pickle.dump({meta[1]: meta[2]}, f)


def write_cifar10(root: Path) -> dict:
    files = {f"data_batch_{i}": (8, i - 1) for i in range(1, 6)}
    files["test_batch"] = (N_TEST, 1)
    write_cifar(root, "cifar-10-batches-py", files, "labels", ("batches.meta", "label_names", [f"c{i}" for i in range(10)]), 10)
    return {}


def write_cifar100(root: Path) -> dict:
    write_cifar(root, "cifar-100-python", {"train": (N_TRAIN, 0), "test": (N_TEST, 1)}, "fine_labels",
                ("meta", "fine_label_names", [f"fine{i}" for i in range(100)]), 100)
    return {}


def write_svhn(root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        x = constant_images(values_for(n, off), (32, 32, 3)).transpose(1, 2, 3, 0)  # (32, 32, 3, N)
        y = labels_for(n, 10, off).copy()
        y[y == 0] = 10  # SVHN writes the digit 0 as class 10
        scipy.io.savemat(root / f"{part}_32x32.mat", {"X": x, "y": y.reshape(-1, 1).astype(np.uint8)})
    return {}


def write_stl10(root: Path) -> dict:
    base = root / "stl10_binary"
    base.mkdir(parents=True)
    for part, n, off in (("train", N_TRAIN, 0), ("test", N_TEST, 1)):
        constant_images(values_for(n, off), (3, 96, 96)).tofile(base / f"{part}_X.bin")
        (labels_for(n, 10, off) + 1).astype(np.uint8).tofile(base / f"{part}_y.bin")  # STL-10 counts from 1
    (base / "class_names.txt").write_text("\n".join(f"s{i}" for i in range(10)) + "\n")
    return {"memory_limit_mb": 1}  # forces the streaming path


def write_dtd(root: Path) -> dict:
    base = root / "dtd" / "dtd"
    classes = ["banded", "blotchy", "braided"]
    lists = {"train": [], "val": [], "test": []}
    for split, n, off in (("train", 9, 0), ("val", 6, 2), ("test", N_TEST, 1)):
        for i, (value, label) in enumerate(zip(values_for(n, off), labels_for(n, 3, off))):
            name = f"{classes[label]}_{split}{i}.png"
            path = base / "images" / classes[label] / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (40 + i, 30), (int(value),) * 3).save(path)
            lists[split].append(f"{classes[label]}/{name}")
    (base / "labels").mkdir()
    for split, rows in lists.items():
        (base / "labels" / f"{split}1.txt").write_text("\n".join(rows) + "\n")
    return {"image_size": "16x16"}


def write_gtsrb(root: Path) -> dict:
    base = root / "gtsrb"
    for i, (value, label) in enumerate(zip(values_for(N_TRAIN, 0), labels_for(N_TRAIN, 3, 0))):
        path = base / "GTSRB" / "Training" / f"{label:05d}" / f"{i:05d}_00000.ppm"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (20 + i % 7, 25), (int(value),) * 3).save(path)
    rows = ["Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId"]
    for i, (value, label) in enumerate(zip(values_for(N_TEST, 1), labels_for(N_TEST, 3, 1))):
        path = base / "GTSRB" / "Final_Test" / "Images" / f"{i:05d}.ppm"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (30, 30), (int(value),) * 3).save(path)
        rows.append(f"{path.name};30;30;0;0;29;29;{label}")
    (base / "GT-final_test.csv").write_text("\n".join(rows) + "\n")
    return {}


# name: (writer, channels, size, classes in the files, flips?, train+val count)
CASES = {
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


def batches(split) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = zip(*split.batches(64))
    return torch.cat(xs), torch.cat(ys)


@pytest.mark.parametrize("name", sorted(CASES))
def test_tiny_files_in_the_real_format_load(name, manager, tmp_path, monkeypatch):
    monkeypatch.setenv("SNAS_DATA_DIR", str(tmp_path / "cache"))
    writer, channels, size, classes, flips, train_val = CASES[name]
    root = tmp_path / "data"
    extra = writer(root)
    cls = manager.get_dataset(name)
    ds = cls(make_options(cls.Options, {"data_dir": str(root), "val_fraction": 0.25, "num_workers": 0, **extra}, name))
    assert ds.available() is True
    bundle = ds.load(seed=0)
    assert bundle.input_shape == (channels, *size)
    assert len(bundle.train) + len(bundle.val) == train_val and len(bundle.test) == N_TEST
    x_test, y_test = batches(bundle.test)
    assert torch.equal(y_test, torch.as_tensor(labels_for(N_TEST, classes, 1), dtype=torch.long))
    # every pixel of test image i is its written value, normalized with the set's constants
    mean = torch.tensor(bundle.mean).view(1, -1, 1, 1)
    std = torch.tensor(bundle.std).view(1, -1, 1, 1)
    pixels = x_test * std + mean
    expected = torch.from_numpy(values_for(N_TEST, 1).astype(np.float32) / 255).view(-1, 1, 1, 1)
    assert (pixels - expected).abs().max() < 2.5 / 255
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
def test_missing_files_name_set_folder_and_files(name, manager, tmp_path):
    cls = manager.get_dataset(name)
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
    small = cls(make_options(cls.Options, {**opts, "image_size": "400x400"}, "dtd")).load(seed=0)
    assert small.info["pipeline"] == "streaming"
    x_test, y_test = batches(small.test)
    assert x_test.shape == (N_TEST, 3, 400, 400)
    assert torch.equal(y_test, torch.as_tensor(labels_for(N_TEST, 3, 1), dtype=torch.long))
    assert torch.equal(small.test.labels(), y_test)
    pixels = x_test * torch.tensor(small.std).view(1, -1, 1, 1) + torch.tensor(small.mean).view(1, -1, 1, 1)
    expected = torch.from_numpy(values_for(N_TEST, 1).astype(np.float32) / 255).view(-1, 1, 1, 1)
    assert (pixels - expected).abs().max() < 2.5 / 255


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
