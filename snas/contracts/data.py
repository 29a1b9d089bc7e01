"""What a dataset plugin hands to evaluators: splits that yield batches.

Two kinds of split share one interface, :meth:`Split.batches`:

* :class:`TensorSplit` keeps decoded images as one tensor (moved once to the
  training device) and batches by index, with optional batched augmentation;
  this is the fast path for every data set that fits in memory.
* :class:`StreamingSplit` wraps a ``torch.utils.data.Dataset`` and streams
  through a ``DataLoader`` with workers, for data sets that do not fit.
"""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Iterator, Protocol, Sequence

import attrs
import torch

#: A batched augmentation: ``(images, generator) -> images``, all on one device.
BatchAugment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


class Split(Protocol):
    """A train, validation or test split."""

    def __len__(self) -> int: ...

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        augment: BatchAugment | None = None,
        max_batches: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield ``(images, labels)`` batches on ``device``."""
        ...

    def labels(self) -> torch.Tensor:
        """All labels of the split, in order, as a 1-D int64 tensor on the CPU."""
        ...


@attrs.define(eq=False)
class TensorSplit:
    """A split held in memory: ``x`` is ``(N, C, H, W)`` float, ``y`` is ``(N,)`` int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __attrs_post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(f"split has {self.x.shape[0]} images but {self.y.shape[0]} labels")
        if self.x.ndim != 4:
            raise ValueError(f"split images must be (N, C, H, W), got shape {tuple(self.x.shape)}")

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def to(self, device: torch.device | str) -> "TensorSplit":
        """This split with both tensors on ``device`` (itself when already there)."""
        device = torch.device(device)
        if self.x.device == device:
            return self
        return TensorSplit(self.x.to(device), self.y.to(device))

    def labels(self) -> torch.Tensor:
        return self.y.cpu()

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        augment: BatchAugment | None = None,
        max_batches: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        data = self.to(device)
        n = len(data)
        if shuffle:
            order = torch.randperm(n, generator=generator).to(data.x.device)
        else:
            order = None
        count = 0
        for start in range(0, n, batch_size):
            if max_batches is not None and count >= max_batches:
                return
            if order is None:
                xb, yb = data.x[start : start + batch_size], data.y[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                xb, yb = data.x[idx], data.y[idx]
            if augment is not None:
                xb = augment(xb, generator if generator is not None else torch.default_generator)
            count += 1
            yield xb, yb


@attrs.define(eq=False)
class StreamingSplit:
    """A split read through a ``DataLoader`` (for data sets too large to hold in memory).

    ``dataset`` yields ``(image tensor, int label)``; per-sample transforms
    (including augmentation) belong to the dataset itself.
    """

    dataset: Any
    num_workers: int = 2
    targets: Sequence[int] | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    def labels(self) -> torch.Tensor:
        if self.targets is not None:
            return torch.as_tensor(list(self.targets), dtype=torch.long)
        return torch.as_tensor([int(self.dataset[i][1]) for i in range(len(self.dataset))], dtype=torch.long)

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
        augment: BatchAugment | None = None,
        max_batches: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        device = torch.device(device)
        loader = torch.utils.data.DataLoader(
            self.dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            num_workers=self.num_workers,
            pin_memory=device.type == "cuda",
            persistent_workers=False,
        )
        for count, (xb, yb) in enumerate(loader):
            if max_batches is not None and count >= max_batches:
                return
            xb = xb.to(device, non_blocking=True)
            yb = yb.to(device, non_blocking=True)
            if augment is not None:
                xb = augment(xb, generator if generator is not None else torch.default_generator)
            yield xb, yb


@attrs.define(eq=False)
class DataBundle:
    """A loaded data set: three splits plus what a model needs to know about them.

    ``input_shape`` is ``(C, H, W)``. ``mean``/``std`` are the per-channel
    normalization already applied to the tensors (recorded so exported models
    can document their preprocessing). ``train_augment`` is applied to training
    batches only — never to validation or test batches.
    """

    name: str
    train: Split
    val: Split
    test: Split
    input_shape: tuple[int, int, int]
    num_classes: int
    class_names: list[str] = attrs.field(factory=list)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    train_augment: BatchAugment | None = None
    info: dict[str, Any] = attrs.field(factory=dict)
    _fingerprint: str | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not self.class_names:
            self.class_names = [str(i) for i in range(self.num_classes)]
        if len(self.class_names) != self.num_classes:
            raise ValueError(f"{self.name}: {len(self.class_names)} class names for {self.num_classes} classes")

    def to(self, device: torch.device | str) -> "DataBundle":
        """The bundle with every in-memory split moved to ``device`` once."""
        moved = {
            k: (s.to(device) if isinstance(s, TensorSplit) else s)
            for k, s in (("train", self.train), ("val", self.val), ("test", self.test))
        }
        return attrs.evolve(self, **moved)

    def fingerprint(self) -> str:
        """A hash of the splits' contents: images and labels of in-memory splits; labels and sizes of streamed ones.

        ``snas resume`` compares it with the one the run recorded, so a run is
        never continued on changed data by accident.
        """
        if self._fingerprint is None:
            digest = hashlib.blake2b(digest_size=16)
            for split in (self.train, self.val, self.test):
                digest.update(f"{type(split).__name__}:{len(split)};".encode())
                if isinstance(split, TensorSplit):
                    for tensor in (split.x, split.y):
                        array = tensor.detach().cpu().contiguous().numpy()
                        digest.update(f"{array.dtype}{array.shape}".encode())
                        digest.update(memoryview(array).cast("B"))
                else:
                    digest.update(split.labels().numpy().tobytes())
            self._fingerprint = digest.hexdigest()
        return self._fingerprint

    def describe(self) -> dict[str, Any]:
        """A JSON-able summary for the run file."""
        return {
            "fingerprint": self.fingerprint(),
            "name": self.name,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "sizes": {"train": len(self.train), "val": len(self.val), "test": len(self.test)},
            "mean": list(self.mean),
            "std": list(self.std),
            **self.info,
        }
