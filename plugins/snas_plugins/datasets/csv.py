"""The ``csv`` data set: a CSV file listing image files and their labels (``--custom-csv-dataset FILE``).

Columns are named by ``image_column`` / ``label_column`` (default ``image``
and ``label``; ``--image-column`` / ``--label-column``). Relative image paths
are resolved against the CSV file's folder. Labels may be strings or
integers: when every label is an integer the classes are ordered
numerically, otherwise alphabetically; class index = position in that order.
"""

from __future__ import annotations

import csv as csv_module
from pathlib import Path

import attrs

from snas import hookimpl
from snas import DataError
from snas_plugins.datasets.custom import CustomOptions, Entry, ImageSet


@attrs.frozen
class CsvOptions(CustomOptions):
    """The custom-set options plus the two column names."""

    image_column: str = "image"
    label_column: str = "label"


class CsvImages(ImageSet):
    """Images and labels listed in a CSV file; decoded once into memory."""

    name = "csv"
    description = "your images listed in a CSV file (--custom-csv-dataset FILE; columns image,label)"
    Options = CsvOptions
    flag = "--custom-csv-dataset FILE"
    selector = ("--custom-csv-dataset", "path")

    def entries(self, path: Path) -> tuple[list[Entry], list[str]]:
        opts = self.options
        if not path.is_file():
            raise DataError(f"CSV file {path} does not exist")
        rows = []
        try:
            with path.open(newline="", encoding="utf-8-sig") as f:
                reader = csv_module.DictReader(f)
                columns = reader.fieldnames or []
                missing = [c for c in (opts.image_column, opts.label_column) if c not in columns]
                if missing:
                    raise DataError(
                        f"{path} line 1: no column {' or '.join(map(repr, missing))} (columns: "
                        f"{', '.join(map(repr, columns)) or 'none'}); name them with --image-column / --label-column"
                    )
                for row in reader:
                    line = reader.line_num
                    image = (row.get(opts.image_column) or "").strip()
                    label = (row.get(opts.label_column) or "").strip()
                    if not image and not label and not any((v or "").strip() for v in row.values()):
                        continue  # a blank line
                    if not image:
                        raise DataError(f"{path} line {line}: empty {opts.image_column!r} cell")
                    if not label:
                        raise DataError(f"{path} line {line}: empty {opts.label_column!r} cell (an image without a class)")
                    rows.append((image, label, line))
        except (UnicodeDecodeError, csv_module.Error) as exc:
            raise DataError(f"{path}: not a readable CSV file: {exc}") from None
        names = sorted({label for _, label, _ in rows}, key=_label_key({label for _, label, _ in rows}))
        index = {name: i for i, name in enumerate(names)}
        entries = []
        for image, label, line in rows:
            file = Path(image).expanduser()
            if not file.is_absolute():
                file = path.parent / file
            entries.append(Entry(file, index[label], f"{path} line {line}"))
        return entries, names


def _label_key(labels: set[str]):
    """Numeric order when every label is an integer, else alphabetical."""
    try:
        for label in labels:
            int(label)
    except ValueError:
        return str
    return int


@hookimpl
def snas_register_datasets():
    return [CsvImages]
