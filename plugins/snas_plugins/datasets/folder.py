"""The ``folder`` data set: one subfolder per class (``--custom-folder-dataset DIR``).

Every image file (by extension, searched recursively) inside ``DIR/<class>/``
belongs to that class; classes are the subfolder names in alphabetical
order. Hidden files and folders and non-image files are ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from snas import hookimpl
from snas import DataError
from snas_plugins.datasets.custom import Entry, ImageSet, is_image_file


class FolderImages(ImageSet):
    """Images in class subfolders; decoded once into memory."""

    name = "folder"
    description = "your images in one subfolder per class (--custom-folder-dataset DIR)"
    flag = "--custom-folder-dataset DIR"
    selector = ("--custom-folder-dataset", "path")

    def _classes(self, path: Path) -> list[Path]:
        if not path.is_dir():
            raise DataError(f"image folder {path} does not exist or is not a folder")
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))

    def summary(self) -> dict[str, Any]:
        out = super().summary()
        if self.options.path and Path(self.options.path).is_dir():
            out["num_classes"] = len(self._classes(Path(self.options.path)))
        return out

    def entries(self, path: Path) -> tuple[list[Entry], list[str]]:
        class_dirs = self._classes(path)
        entries, names = [], []
        for label, class_dir in enumerate(class_dirs):
            files = sorted(f for f in class_dir.rglob("*") if f.is_file() and is_image_file(f)
                           and not any(part.startswith(".") for part in f.relative_to(class_dir).parts))
            if not files:
                raise DataError(f"{class_dir}: class folder {class_dir.name!r} holds no image files "
                                f"(looked for {', '.join(('.jpg', '.png', '.bmp', '...'))}); remove it or add images")
            names.append(class_dir.name)
            entries.extend(Entry(f, label, f"{path}") for f in files)
        return entries, names


@hookimpl
def snas_register_datasets():
    return [FolderImages]
