"""The embedded default data set: scikit-learn's 8x8 handwritten digits.

1,797 real images of 10 classes shipped inside scikit-learn, so it needs no
download. Split stratified into train / validation / test with a fixed seed,
normalized, and kept in memory as tensors.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from snas import DataBundle, Dataset, TensorSplit, hookimpl, option


@attrs.frozen
class DigitsOptions:
    """Fractions of the 1,797 images held out for validation and test."""

    val_fraction: float = option(0.2, low=0, low_open=True, high=0.5, high_open=True,
                                 help="Fraction of the images held out for validation.")
    test_fraction: float = option(0.2, low=0, low_open=True, high=0.5, high_open=True,
                                  help="Fraction of the images held out for testing.")


class Digits(Dataset):
    """scikit-learn's 1,797 handwritten digits, 1x8x8 grayscale, 10 classes."""

    name = "digits"
    description = "scikit-learn's 1,797 handwritten digits (1x8x8, 10 classes), no download"
    Options = DigitsOptions
    default = True
    input_shape = (1, 8, 8)
    num_classes = 10

    def load(self, seed: int = 0) -> DataBundle:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        x = digits.images.astype(np.float32) / 16.0  # pixel values are 0..16
        y = digits.target.astype(np.int64)
        opts = self.options
        held_out = opts.val_fraction + opts.test_fraction
        x_train, x_rest, y_train, y_rest = train_test_split(
            x, y, test_size=held_out, stratify=y, random_state=seed
        )
        x_val, x_test, y_val, y_test = train_test_split(
            x_rest, y_rest, test_size=opts.test_fraction / held_out, stratify=y_rest, random_state=seed
        )
        mean, std = float(x_train.mean()), float(x_train.std())

        def split(images: np.ndarray, labels: np.ndarray) -> TensorSplit:
            tensor = torch.from_numpy((images - mean) / std).unsqueeze(1).contiguous()
            return TensorSplit(tensor, torch.from_numpy(labels))

        return DataBundle(
            name=self.name,
            train=split(x_train, y_train),
            val=split(x_val, y_val),
            test=split(x_test, y_test),
            input_shape=(1, 8, 8),
            num_classes=10,
            class_names=[str(i) for i in range(10)],
            mean=(mean,),
            std=(std,),
            info={"source": "sklearn.datasets.load_digits", "preprocessing": "pixel / 16, then (x - mean) / std"},
        )


@hookimpl
def snas_register_datasets():
    return [Digits]
