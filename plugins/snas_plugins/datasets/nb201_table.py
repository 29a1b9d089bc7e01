"""The ``nb201_table`` data set: a placeholder bundle for NAS-Bench-201 table lookups.

The engine loads a data set for every run, but the ``nb201`` evaluator reads
a table instead of images. This data set loads nothing: its splits hold one
blank image each, with the shape and class count of the benchmark data set it
names, and it records that name (``info["nb201_dataset"]``) so the evaluator
reads the matching columns. It costs nothing to load and keeps run files
honest: they say the run was a benchmark lookup, not a digits search.
Training on it is meaningless; use it with ``--evaluator nb201`` only.
"""

from __future__ import annotations

import attrs
import torch

from snas import DataBundle, Dataset, TensorSplit, hookimpl, option

#: input shape and classes of each NAS-Bench-201 data set
SHAPES = {"cifar10": ((3, 32, 32), 10), "cifar100": ((3, 32, 32), 100), "imagenet16": ((3, 16, 16), 120)}


@attrs.frozen
class NB201TableOptions:
    """Which NAS-Bench-201 data set the table lookups read (cifar10, cifar100, imagenet16)."""

    dataset: str = option("cifar10", choices=tuple(SHAPES), flag="--table-dataset",
                          help="Which of the table's data sets the search is scored on.")


class NB201Table(Dataset):
    """No images: the shape, classes and name of a NAS-Bench-201 data set, for the nb201 evaluator."""

    name = "nb201_table"
    description = "placeholder for NAS-Bench-201 table lookups (use with --evaluator nb201)"
    Options = NB201TableOptions

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return SHAPES[self.options.dataset][0]

    @property
    def num_classes(self) -> int:
        return SHAPES[self.options.dataset][1]

    def load(self, seed: int = 0) -> DataBundle:
        shape, classes = SHAPES[self.options.dataset]

        def blank() -> TensorSplit:
            return TensorSplit(torch.zeros(1, *shape), torch.zeros(1, dtype=torch.long))

        return DataBundle(
            name=self.name,
            train=blank(),
            val=blank(),
            test=blank(),
            input_shape=shape,
            num_classes=classes,
            info={"nb201_dataset": self.options.dataset, "note": "placeholder: scores come from the NAS-Bench-201 table"},
        )


@hookimpl
def snas_register_datasets():
    return [NB201Table]
