"""Bad input to the custom image sets: broken CSVs, oversized images and sizes, relative paths.

Every fault is a :class:`DataError` (or :class:`ConfigError` for an option)
that names the file and, in a CSV, the line; through the CLI it is one line
and a non-zero exit status.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import snas
from snas import ConfigError, DataError
from snas.runtime.config import make_options


def make(manager, name, **options):
    cls = manager.get_dataset(name)
    return cls(make_options(cls.Options, options, name))


def write_png(path: Path, value: int, size: int = 4) -> None:
    """A small grayscale image whose pixels differ from one another."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.arange(size * size).reshape(size, size) * 3 + value) % 256
    Image.fromarray(pixels.astype(np.uint8), "L").save(path)


def png_claiming(path: Path, width: int, height: int) -> None:
    """A PNG whose header claims ``width`` x ``height`` pixels (with a valid checksum), holding a 4x4 image."""
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    assert data[12:16] == b"IHDR"  # signature (8), length (4), then the IHDR chunk
    data[16:20] = width.to_bytes(4, "big")
    data[20:24] = height.to_bytes(4, "big")
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(data))


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)


# -- broken CSVs, generated -------------------------------------------------------------

FAULTS = ("missing image", "unreadable image", "extra field", "missing field", "empty label", "one class")
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789 _-", min_size=1, max_size=8).map(str.strip).filter(bool)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    count=st.integers(2, 8),
    labels=st.lists(LABEL, min_size=2, max_size=3, unique=True),
    fault=st.sampled_from(FAULTS),
    with_note_column=st.booleans(),
    absolute_paths=st.booleans(),
    data=st.data(),
)
def test_a_broken_csv_is_a_data_error_naming_the_file_and_line(manager, count, labels, fault, with_note_column,
                                                               absolute_paths, data):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        header = ["image", "label"] + (["note"] if with_note_column else [])
        rows = []
        for i in range(count):
            image = folder / "images" / f"{i}.png"
            write_png(image, i)
            rows.append([str(image) if absolute_paths else f"images/{i}.png", labels[i % len(labels)]]
                        + (["a note, with a comma"] if with_note_column else []))
        bad = data.draw(st.integers(0, count - 1), label="faulty row")
        line = bad + 2  # the header is line 1
        if fault == "missing image":
            rows[bad][0] = rows[bad][0].replace(f"{bad}.png", f"missing-{bad}.png")
            expected = f"line {line}: image .*missing-{bad}.png does not exist"
        elif fault == "unreadable image":
            (folder / "images" / f"{bad}.png").write_bytes(b"not an image" + data.draw(st.binary(max_size=64)))
            expected = f"line {line}: cannot read image .*{bad}.png"
        elif fault == "extra field":
            rows[bad].append(data.draw(st.sampled_from(["", "x", "1"])))
            expected = f"line {line}: {len(header) + 1} fields, but the header \\(line 1\\) has {len(header)}"
        elif fault == "missing field":
            rows[bad] = rows[bad][:1]
            expected = f"line {line}: 1 field, but the header \\(line 1\\) has {len(header)}"
        elif fault == "empty label":
            rows[bad][1] = data.draw(st.sampled_from(["", " ", "  "]))
            expected = f"line {line}: empty 'label' cell"
        else:
            for row in rows:
                row[1] = labels[0]
            expected = f"lines 2-{count + 1}: every row has the label '{labels[0]}'"
        table = folder / "list.csv"
        write_rows(table, header, rows)
        with pytest.raises(DataError) as info:
            make(manager, "csv", path=str(table)).load(seed=0)
        message = str(info.value)
        assert message.startswith(str(table)), message  # names the file first, then the line
        assert re.search(expected, message), (fault, message)


def search_in_a_subprocess(table: Path, output: Path, *args: str) -> str:
    """``snas search`` on the CSV in a new process, which must fail; the one line it printed."""
    proc = subprocess.run(
        [sys.executable, "-m", "snas", "search", "--custom-csv-dataset", str(table), *args, "--max-trials", "1",
         "--quiet", "--output-dir", str(output)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, proc.stdout + proc.stderr
    return lines[0]


def test_the_cli_reports_a_broken_csv_in_one_line_and_fails(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", i)
    table = tmp_path / "list.csv"
    write_rows(table, ["image", "label"], [["0.png", "a"], ["nope.png", "b"], ["2.png", "a"], ["3.png", "b"]])
    line = search_in_a_subprocess(table, tmp_path / "runs")
    assert f"{table} line 3: image {tmp_path / 'nope.png'} does not exist" in line


# -- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize("width,height,why", [
    (30000, 30000, "is too large to read safely"),  # beyond PIL's own decompression-bomb limit
    (10000, 10000, "is 10000x10000 \\(100,000,000 pixels\\)"),  # below PIL's limit, above ours
])
def test_an_image_whose_header_claims_a_huge_size_is_refused_before_decoding(manager, tmp_path, width, height, why):
    write_png(tmp_path / "a.png", 1)
    write_png(tmp_path / "b.png", 2)
    png_claiming(tmp_path / "huge.png", width, height)
    table = tmp_path / "list.csv"
    write_rows(table, ["image", "label"], [["a.png", "x"], ["huge.png", "y"], ["b.png", "y"]])
    with pytest.raises(DataError, match=f"list.csv line 3: image .*huge.png {why}"):
        make(manager, "csv", path=str(table)).load()
    for name, value in (("a/1.png", 1), ("b/1.png", 2)):
        write_png(tmp_path / "set" / name, value)
    png_claiming(tmp_path / "set" / "b" / "huge.png", width, height)
    with pytest.raises(DataError, match=f"huge.png {why}"):
        make(manager, "folder", path=str(tmp_path / "set")).load()


@pytest.mark.parametrize("name", ["csv", "folder", "cifar10"])
def test_an_absurd_image_size_is_refused_with_its_bound(manager, tmp_path, name):
    with pytest.raises(ConfigError, match=r"image_size '100000x100000' is too large: each side may be at most 4096"):
        make(manager, name, path=str(tmp_path), image_size="100000x100000") if name != "cifar10" else \
            make(manager, name, image_size="100000x100000")
    assert make(manager, "csv", path=str(tmp_path), image_size="4096x4096").options.image_size == "4096x4096"


def test_the_cli_refuses_an_absurd_image_size_in_one_line(tmp_path):
    for i in range(4):
        write_png(tmp_path / f"{i}.png", i)
    table = tmp_path / "list.csv"
    write_rows(table, ["image", "label"], [[f"{i}.png", "ab"[i % 2]] for i in range(4)])
    line = search_in_a_subprocess(table, tmp_path / "runs", "--image-size", "100000x100000")
    assert "image_size '100000x100000' is too large: each side may be at most 4096" in line
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_a_set_that_would_not_fit_in_memory_is_refused_before_decoding(manager, tmp_path, monkeypatch):
    import snas.memory

    for i in range(4):
        write_png(tmp_path / f"{i}.png", i)
    table = tmp_path / "list.csv"
    write_rows(table, ["image", "label"], [[f"{i}.png", "ab"[i % 2]] for i in range(4)])
    monkeypatch.setattr(snas.memory, "available_memory", lambda device: 1000)
    with pytest.raises(DataError, match=r"4 images of 1x512x512 need about 9.0 MiB in memory .* 1000 B available"):
        make(manager, "csv", path=str(table), image_size="512x512").load()


# -- relative paths ---------------------------------------------------------------------


def _relative_set(project: Path) -> None:
    """``project/data/list.csv`` naming its images relative to its own folder (two classes of 12)."""
    rows = []
    for i in range(24):
        write_png(project / "data" / "img" / f"{i}.png", 10 * i, size=8)
        rows.append([f"img/{i}.png", "ab"[i % 2]])
    write_rows(project / "data" / "list.csv", ["image", "label"], rows)


def test_relative_csv_image_paths_are_read_against_the_csv_folder(manager, tmp_path, monkeypatch):
    _relative_set(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    ds = make(manager, "csv", path="data/list.csv")
    assert ds.options.path == str(tmp_path / "project" / "data" / "list.csv")  # stored absolute
    monkeypatch.chdir(tmp_path / "elsewhere")  # the working directory no longer matters
    bundle = ds.load(seed=0)
    assert len(bundle.train) + len(bundle.val) + len(bundle.test) == 24


@pytest.mark.slow
def test_a_run_on_a_relative_csv_resumes_from_another_folder(tmp_path, monkeypatch):
    _relative_set(tmp_path / "project")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "project")
    snas.search("csv", "random", max_trials=1, run_dir=tmp_path / "run", network_types=["mlp"],
                dataset_options={"path": "data/list.csv"}, evaluator_options={"max_epochs": 1})
    monkeypatch.chdir(tmp_path / "elsewhere")
    resumed = snas.resume(tmp_path / "run", max_trials=2)
    assert len(resumed.trials) == 2 and all(t.ok for t in resumed.trials)
