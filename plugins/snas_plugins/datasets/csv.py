"""The ``csv`` data set: a CSV file listing image files and their labels (``--custom-csv-dataset FILE``).

Columns are named by ``image_column`` / ``label_column`` (default ``image``
and ``label``; ``--image-column`` / ``--label-column``). Relative image paths
are resolved against the CSV file's folder (not the working directory).
Labels may be strings or integers: when every label is an integer the
classes are ordered numerically, otherwise alphabetically; class index =
position in that order.

Every row must have as many fields as the header, an image and a label;
the first that does not stops loading with a :class:`DataError` naming the
file and the line.
"""

from __future__ import annotations

import csv as csv_module
from pathlib import Path

import attrs

from snas import hookimpl, option
from snas import DataError
from snas_plugins.datasets.custom import CustomOptions, Entry, ImageSet


@attrs.frozen
class CsvOptions(CustomOptions):
    """The custom-set options plus the two column names."""

    image_column: str = option("image", metavar="NAME", help="CSV column holding each image's file path.")
    label_column: str = option("label", metavar="NAME", help="CSV column holding each image's class label.")


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
                    extra = row.pop(None, None)  # DictReader's place for fields beyond the header
                    values = [v for v in row.values() if v is not None]
                    if not extra and not any(v.strip() for v in values):
                        continue  # a blank line (or only separators)
                    if extra or len(values) < len(columns):
                        count = len(values) + len(extra or [])
                        raise DataError(f"{path} line {line}: {count} field{'s' if count != 1 else ''}, but the "
                                        f"header (line 1) has {len(columns)}: {', '.join(map(repr, columns))}")
                    image = row[opts.image_column].strip()
                    label = row[opts.label_column].strip()
                    if not image:
                        raise DataError(f"{path} line {line}: empty {opts.image_column!r} cell")
                    if not label:
                        raise DataError(f"{path} line {line}: empty {opts.label_column!r} cell (an image without a class)")
                    rows.append((image, label, line))
        except (UnicodeDecodeError, csv_module.Error) as exc:
            raise DataError(f"{path}: not a readable CSV file: {exc}") from None
        if not rows:
            raise DataError(f"{path}: no rows after the header (line 1); list one image and its label per line")
        labels = {label for _, label, _ in rows}
        if len(labels) == 1:
            raise DataError(f"{path} lines {rows[0][2]}-{rows[-1][2]}: every row has the label {rows[0][1]!r}; "
                            "a classification data set needs at least two classes")
        names = sorted(labels, key=_label_key(labels))
        index = {name: i for i, name in enumerate(names)}
        folder = path.absolute().parent
        entries = []
        for image, label, line in rows:
            file = Path(image).expanduser()
            if not file.is_absolute():
                file = folder / file
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
