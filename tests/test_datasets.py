"""Data sets on real files: MNIST (IDX), Fashion-MNIST (IDX files in the real format, written here),
the custom folder and CSV sets (CIFAR-10 JPEGs).

MNIST and the CIFAR-10 JPEGs come from ``$SNAS_TEST_DATA`` (see ``conftest.real_data``).

Also the batched augmentation helpers of ``snas.contracts.data`` and every error case
of the custom sets.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from snas_plugins.datasets.augment import horizontal_flip, random_crop
from snas.runtime.config import make_options
from snas.contracts.errors import DataError

from conftest import real_data

MNIST_FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
#: Fashion-MNIST's class names, in label order (from Zalando's README)
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def make(manager, name, **options):
    cls = manager.get_dataset(name)
    return cls(make_options(cls.Options, options, name))


def idx_array(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file independently of torchvision."""
    data = gzip.open(path).read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def arrange(source: Path, root: Path, folder: str) -> Path:
    """Symlink the gzipped IDX files into torchvision's ``<root>/<folder>/raw`` layout."""
    raw = root / folder / "raw"
    raw.mkdir(parents=True)
    for name in MNIST_FILES:
        gz = source / f"{name}.gz"
        assert gz.is_file(), f"missing {gz}"
        (raw / f"{name}.gz").symlink_to(gz)
    return root


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as a gzipped IDX file: the format of MNIST and Fashion-MNIST.

    Magic number: two zero bytes, the type code 0x08 (unsigned byte), the
    number of dimensions; then each dimension as a big-endian 32-bit integer;
    then the values in C order (http://yann.lecun.com/exdb/mnist/).
    """
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def write_fashion_files(folder: Path, n_train: int = 300, n_test: int = 60) -> dict[str, np.ndarray]:
    """Fashion-MNIST's four files under torchvision's names, with seeded random 28x28 images and labels."""
    rng = np.random.default_rng(7)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(n_train) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.permutation(np.arange(n_test) % 10).astype(np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        write_idx_gz(folder / f"{name}.gz", array)
    return arrays


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SNAS_DATA_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def mnist_files() -> Path:
    """The real MNIST IDX files (gzipped, torchvision's names)."""
    return real_data("mnist")


@pytest.fixture(scope="module")
def mnist_root(mnist_files, tmp_path_factory):
    return arrange(mnist_files, tmp_path_factory.mktemp("mnist"), "MNIST")


@pytest.fixture(scope="module")
def cifar_jpeg() -> Path:
    """The 10,000 CIFAR-10 test images as JPEGs, one subfolder per class."""
    return real_data("cifar10-test-jpeg")


@pytest.fixture(scope="module")
def mnist_bundle(mnist_root):
    from snas.runtime.plugins import get_plugin_manager

    return make(get_plugin_manager(), "mnist", data_dir=str(mnist_root), augment=True).load(seed=3)


# -- MNIST and Fashion-MNIST on the real files -------------------------------------


@pytest.mark.slow
def test_mnist_real_files_splits_and_normalization(mnist_bundle, mnist_root, mnist_files):
    b = mnist_bundle
    assert b.input_shape == (1, 28, 28) and b.num_classes == 10
    assert len(b.train) + len(b.val) == 60000 and len(b.test) == 10000
    assert abs(len(b.val) - 6000) <= 5
    # test split is the official test file, in order, normalized with MNIST's constants
    test_images = idx_array(mnist_files / "t10k-images-idx3-ubyte.gz")
    test_labels = idx_array(mnist_files / "t10k-labels-idx1-ubyte.gz")
    assert torch.equal(b.test.labels(), torch.from_numpy(test_labels.astype(np.int64)))
    expected = (torch.from_numpy(test_images[:50].astype(np.float32)) / 255 - 0.1307) / 0.3081
    assert torch.allclose(b.test.x[:50, 0], expected, atol=1e-5)
    # train + val is exactly the official training set, stratified (every class in val)
    train_labels = idx_array(mnist_files / "train-labels-idx1-ubyte.gz")
    counts = torch.bincount(torch.cat([b.train.labels(), b.val.labels()]), minlength=10)
    assert torch.equal(counts, torch.bincount(torch.from_numpy(train_labels.astype(np.int64)), minlength=10))
    assert set(b.val.labels().tolist()) == set(range(10))
    # the unpacked files went into the data dir's torchvision layout, not elsewhere
    assert all((mnist_root / "MNIST" / "raw" / n).is_file() for n in MNIST_FILES)


@pytest.mark.slow
def test_mnist_validation_is_not_augmented_and_train_augment_never_flips(mnist_bundle, mnist_files):
    b = mnist_bundle
    assert "flip" not in b.info["augmentation"]
    # validation images are exactly normalized training-file images (no crop, no shift)
    train_images = idx_array(mnist_files / "train-images-idx3-ubyte.gz")
    known = {img.tobytes() for img in train_images}
    val = ((b.val.x[:200, 0] * 0.3081 + 0.1307) * 255).round().to(torch.uint8).numpy()
    assert all(img.tobytes() in known for img in val)
    # the train augmentation moves pixels but keeps the shape
    g = torch.Generator().manual_seed(0)
    x = b.train.x[:64]
    out = b.train_augment(x, g)
    assert out.shape == x.shape and not torch.equal(out, x)


def test_mnist_seed_decides_the_validation_split(mnist_root, manager):
    a = make(manager, "mnist", data_dir=str(mnist_root), max_train_samples=500, max_eval_samples=200).load(seed=1)
    b = make(manager, "mnist", data_dir=str(mnist_root), max_train_samples=500, max_eval_samples=200).load(seed=1)
    c = make(manager, "mnist", data_dir=str(mnist_root), max_train_samples=500, max_eval_samples=200).load(seed=2)
    assert torch.equal(a.val.x, b.val.x) and torch.equal(a.train.y, b.train.y)
    assert not torch.equal(a.val.x, c.val.x)
    assert (len(a.train), len(a.val), len(a.test)) == (500, 200, 200)


def test_mnist_found_in_a_flat_read_only_folder_without_writing_there(manager, tmp_path, mnist_files):
    flat = tmp_path / "flat"
    flat.mkdir()
    for name in MNIST_FILES:
        (flat / f"{name}.gz").symlink_to(mnist_files / f"{name}.gz")
    flat.chmod(0o555)
    try:
        ds = make(manager, "mnist", data_dir=str(flat), max_train_samples=100, max_eval_samples=100)
        assert ds.available() and ds.summary()["available"] is True
        b = ds.load(seed=0)
    finally:
        flat.chmod(0o755)
    assert len(b.test) == 100
    assert sorted(p.name for p in flat.iterdir()) == sorted(f"{n}.gz" for n in MNIST_FILES)


def test_fashion_mnist_reads_idx_files(manager, tmp_path):
    arrays = write_fashion_files(tmp_path / "data" / "FashionMNIST" / "raw")
    assert idx_array(tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").shape == (60, 28, 28)
    plain = make(manager, "fashion_mnist", data_dir=str(tmp_path / "data")).load(seed=0)
    assert plain.train_augment is None and plain.info["augmentation"] == "none"  # off unless asked for
    b = make(manager, "fashion_mnist", data_dir=str(tmp_path / "data"), augment=True).load(seed=0)
    assert b.class_names == FASHION_CLASSES and b.num_classes == 10 and b.input_shape == (1, 28, 28)
    assert (len(b.train) + len(b.val), len(b.test)) == (300, 60) and len(b.val) == 30
    # the test split is the test file, in order, normalized with Fashion-MNIST's constants
    assert torch.equal(b.test.labels(), torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    expected = (torch.from_numpy(arrays["t10k-images-idx3-ubyte"].astype(np.float32)) / 255 - 0.2860) / 0.3530
    assert torch.allclose(b.test.x[:, 0], expected, atol=1e-5)
    # train + validation are exactly the training file's images, none lost or repeated
    pixels = ((torch.cat([b.train.x, b.val.x])[:, 0] * 0.3530 + 0.2860) * 255).round().to(torch.uint8).numpy()
    assert sorted(img.tobytes() for img in pixels) == sorted(img.tobytes() for img in arrays["train-images-idx3-ubyte"])
    assert "horizontal flip" in b.info["augmentation"]  # clothes may be mirrored


def test_fashion_mnist_found_in_a_system_folder_without_writing_there(manager, tmp_path, monkeypatch):
    # a distribution's package (Debian's dataset-fashion-mnist) installs the files in a read-only folder
    system = tmp_path / "usr-share-fashion-mnist"
    write_fashion_files(system, n_train=120, n_test=40)
    system.chmod(0o555)
    fashion = manager.get_dataset("fashion_mnist")
    monkeypatch.setattr(fashion, "system_folders", (str(system),))
    try:
        ds = make(manager, "fashion_mnist", data_dir=str(tmp_path / "empty"))
        assert ds.available() and ds.summary()["folder"] == str(system)
        assert len(ds.load(seed=0).test) == 40
    finally:
        system.chmod(0o755)
    assert sorted(p.name for p in system.iterdir()) == sorted(f"{n}.gz" for n in MNIST_FILES)


def test_missing_files_give_one_clear_error(manager, tmp_path):
    ds = make(manager, "mnist", data_dir=str(tmp_path / "nothing"))
    assert ds.available() is False and ds.summary()["available"] is False
    with pytest.raises(DataError) as info:
        ds.load()
    message = str(info.value)
    assert "'mnist'" in message and str(tmp_path / "nothing" / "MNIST" / "raw") in message
    assert "train-images-idx3-ubyte" in message and "--download" in message


def test_failed_download_is_a_data_error(manager, tmp_path, monkeypatch):
    import urllib.error

    import torchvision.datasets.mnist as tv_mnist

    def offline(*_args, **_kwargs):
        raise urllib.error.URLError("no network here")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", offline)
    ds = make(manager, "kmnist", data_dir=str(tmp_path / "d"), download=True)
    with pytest.raises(DataError, match=r"'kmnist'.*KMNIST.*download failed: .*no network here"):
        ds.load()


def test_datasets_command_lists_shape_classes_and_presence(mnist_root, monkeypatch):
    from snas.frontends.cli import cli

    monkeypatch.setenv("SNAS_DATA_DIR", str(mnist_root))
    result = CliRunner().invoke(cli, ["datasets", "--json"])
    assert result.exit_code == 0, result.output
    import json

    rows = {r["name"]: r for r in json.loads(result.output)}
    expected = {"cifar10", "cifar100", "svhn", "mnist", "kmnist", "qmnist", "emnist", "fashion_mnist",
                "stl10", "dtd", "gtsrb", "csv", "folder"}
    assert expected <= set(rows)
    assert rows["mnist"]["available"] is True and rows["mnist"]["input_shape"] == [1, 28, 28]
    assert rows["cifar10"]["available"] is False and rows["cifar100"]["num_classes"] == 100
    assert rows["csv"]["available"] is None


# -- batched augmentation -------------------------------------------------------------


def test_random_crop_is_a_seeded_translation():
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8) + 1
    a = random_crop(2)(x, torch.Generator().manual_seed(5))
    b = random_crop(2)(x, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.shape == x.shape
    for i in range(2):
        found = False
        padded = torch.nn.functional.pad(x[i], (2, 2, 2, 2))
        for dy in range(5):
            for dx in range(5):
                found |= torch.equal(padded[:, dy:dy + 8, dx:dx + 8], a[i])
        assert found
    assert torch.equal(random_crop(0)(x, torch.Generator()), x)


def test_horizontal_flip_probability():
    x = torch.randn(16, 1, 4, 5)
    assert torch.equal(horizontal_flip(1.0)(x, torch.Generator().manual_seed(0)), x.flip(3))
    assert torch.equal(horizontal_flip(0.0)(x, torch.Generator().manual_seed(0)), x)
    mixed = horizontal_flip(0.5)(x, torch.Generator().manual_seed(0))
    flipped = [torch.equal(mixed[i], x[i].flip(2)) for i in range(16)]
    assert 0 < sum(flipped) < 16


# -- custom folder and CSV sets on the real CIFAR-10 JPEGs ----------------------------------


def test_folder_set_on_real_jpegs(manager, cifar_jpeg):
    ds = make(manager, "folder", path=str(cifar_jpeg), max_per_class=10, image_size="16x20",
              custom_dataset_name="cifar-jpeg")
    b = ds.load(seed=0)
    assert b.name == "cifar-jpeg" and b.input_shape == (3, 16, 20)
    assert b.class_names == sorted(p.name for p in cifar_jpeg.iterdir())
    assert len(b.train) + len(b.val) + len(b.test) == 100
    assert torch.equal(torch.bincount(b.test.labels(), minlength=10), torch.full((10,), 2))
    assert abs(float(b.train.x.mean())) < 1e-4  # normalized with the training split's statistics
    assert ds.summary()["num_classes"] == 10


def test_csv_set_on_real_jpegs_with_relative_paths_and_string_labels(manager, tmp_path, cifar_jpeg):
    (tmp_path / "images").symlink_to(cifar_jpeg)
    rows = [(f"images/{cls}/{i:04d}.jpg", cls) for cls in ("cat", "dog", "ship") for i in range(20)]
    table = tmp_path / "sub" / "list.csv"
    table.parent.mkdir()
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "kind"])
        w.writerows((f"../{p}", c) for p, c in rows)
    b = make(manager, "csv", path=str(table), image_column="file", label_column="kind").load(seed=0)
    assert b.class_names == ["cat", "dog", "ship"] and b.input_shape == (3, 32, 32)
    assert len(b.train) + len(b.val) + len(b.test) == 60
    # the decoded pixels are the JPEG's, normalized with the recorded statistics
    first = np.asarray(Image.open(cifar_jpeg / "cat" / "0000.jpg").convert("RGB"), dtype=np.float32) / 255
    mean, std = torch.tensor(b.mean).view(3, 1, 1), torch.tensor(b.std).view(3, 1, 1)
    every = torch.cat([b.train.x, b.val.x, b.test.x]) * std + mean
    target = torch.from_numpy(first).permute(2, 0, 1)
    assert ((every - target).abs().amax(dim=(1, 2, 3)) < 1e-4).any()


def test_csv_integer_labels_are_ordered_numerically(manager, tmp_path):
    table = tmp_path / "t.csv"
    with table.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label"])
        for label, cls in (("10", "cat"), ("2", "dog")):
            for i in range(5):
                _png(tmp_path / cls / f"{i}.png", "RGB", value=20 * i)
                w.writerow([str(tmp_path / cls / f"{i}.png"), label])
    b = make(manager, "csv", path=str(table)).load(seed=0)
    assert b.class_names == ["2", "10"]


def _png(path: Path, mode: str, size=(6, 6), value=100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value if mode == "L" else (value, 0, 0)).save(path)


def test_grayscale_and_rgb_mixed_become_rgb_and_sizes_follow_the_majority(manager, tmp_path):
    for i in range(4):
        _png(tmp_path / "a" / f"{i}.png", "L")
        _png(tmp_path / "b" / f"{i}.png", "L", size=(6, 6) if i else (9, 7))
    b = make(manager, "folder", path=str(tmp_path)).load(seed=0)
    assert b.input_shape == (1, 6, 6)  # all grayscale; the odd-sized image resized to the common size
    _png(tmp_path / "b" / "color.png", "RGB")
    b = make(manager, "folder", path=str(tmp_path), image_size="8x8").load(seed=0)
    assert b.input_shape == (3, 8, 8)


def test_custom_set_errors_name_the_file_and_line(manager, tmp_path):
    table = tmp_path / "t.csv"
    _png(tmp_path / "cat.png", "RGB")
    good = str(tmp_path / "cat.png")
    table.write_text(f"image,label\n{good},cat\n{tmp_path / 'nope.jpg'},dog\n")
    with pytest.raises(DataError, match=r"t\.csv line 3: image .*nope\.jpg does not exist"):
        make(manager, "csv", path=str(table)).load()

    broken = tmp_path / "broken.jpg"
    broken.write_text("not an image")
    table.write_text(f"image,label\n{good},cat\nbroken.jpg,dog\n")
    with pytest.raises(DataError, match=r"t\.csv line 3: cannot read image .*broken\.jpg"):
        make(manager, "csv", path=str(table)).load()

    table.write_text(f"path,label\n{good},cat\n")
    with pytest.raises(DataError, match=r"t\.csv line 1: no column 'image'.*'path', 'label'"):
        make(manager, "csv", path=str(table)).load()

    table.write_text(f"image,label\n{good},cat\n{good},cat\n")
    with pytest.raises(DataError, match=r"t\.csv lines 2-3: every row has the label 'cat'.*at least two"):
        make(manager, "csv", path=str(table)).load()

    table.write_text(f"image,label\n{good},cat\n{good},dog,extra\n")
    with pytest.raises(DataError, match=r"t\.csv line 3: 3 fields, but the header \(line 1\) has 2"):
        make(manager, "csv", path=str(table)).load()

    table.write_text(f"image,label\n{good},cat\n{good},\n")
    with pytest.raises(DataError, match=r"t\.csv line 3: empty 'label'"):
        make(manager, "csv", path=str(table)).load()


def test_folder_errors(manager, tmp_path):
    _png(tmp_path / "a" / "0.png", "L")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder 'b' holds no image files"):
        make(manager, "folder", path=str(tmp_path)).load()
    (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError, match=r"cannot read image .*bad\.png"):
        make(manager, "folder", path=str(tmp_path)).load()
    only = tmp_path / "only"
    _png(only / "a" / "0.png", "L")
    with pytest.raises(DataError, match=r"found 1 class \('a'\)"):
        make(manager, "folder", path=str(only)).load()
    with pytest.raises(DataError, match=r"does not exist"):
        make(manager, "folder", path=str(tmp_path / "missing")).load()
    with pytest.raises(DataError, match=r"--custom-folder-dataset"):
        make(manager, "folder").load()


@pytest.mark.slow
def test_search_end_to_end_on_a_custom_folder(tmp_path, cifar_jpeg):
    from snas.frontends.cli import cli

    result = CliRunner().invoke(cli, [
        "search", "--custom-folder-dataset", str(cifar_jpeg), "--image-size", "16x16", "-D", "max_per_class=20",
        "--max-trials", "1", "--max-epochs", "1", "--quiet", "--output-dir", str(tmp_path / "runs"),
    ])
    assert result.exit_code == 0, result.output
