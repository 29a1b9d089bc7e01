"""What the default search's first proposals cost on CIFAR-sized images, before and after the level-1 change.

The default search (cnn and mlp) stays at complexity level 1, so level 1
decides what its first proposals cost. This samples architectures of level 1
as the default search does (family uniformly, then its parameters) with the
level table of before this change (128 filters / units at most, no batch
norm) and of now, counts each one's forward FLOPs on a 3x32x32 image, and
turns FLOPs into seconds per epoch on 7,000 images with the throughput the
trainer measured for the 32-64 reference CNN (``--seconds-per-epoch``, from
the "Trainer speed" section). No training: a model of cost, stated as such.

    python benchmarks/first_proposals.py [--samples 200] [--seconds-per-epoch 6.8]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from unittest import mock

import numpy as np
import torch

import snas
from snas import JointSpace
from snas import count_flops
from snas_plugins.families import common

from trainer_speed import ARCH

BEFORE = {**common.LEVELS, 1: {**common.LEVELS[1], "max_width": 128, "batch_norm": (False,)}}


def costs(levels: dict, samples: int) -> list[float]:
    """Forward MFLOPs of ``samples`` level-1 proposals on a 3x32x32 image, with ``levels`` as the level table."""
    manager = snas.get_plugin_manager()
    with mock.patch.dict(common.LEVELS, levels):
        space = JointSpace({n: manager.get_family(n).space() for n in ("cnn", "mlp")}, max_level=1)
        rng = np.random.default_rng(0)
        out = []
        for _ in range(samples):
            arch = space.sample(rng, level=1)
            model = manager.get_family(arch.family).build(arch, (3, 32, 32), 10)
            out.append(count_flops(model, (3, 32, 32), torch.device("cpu")) / 1e6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seconds-per-epoch", type=float, default=6.8,
                        help="CPU seconds of one epoch of the reference CNN (trainer_speed.py)")
    args = parser.parse_args()
    manager = snas.get_plugin_manager()
    reference = count_flops(manager.get_family("cnn").build(ARCH, (3, 32, 32), 10), (3, 32, 32),
                            torch.device("cpu")) / 1e6
    rows = []
    for name, levels, epochs in (("before (≤128 wide, 20 epochs)", BEFORE, 20), ("now (≤64 wide, 10 epochs)",
                                                                               dict(common.LEVELS), 10)):
        mflops = costs(levels, args.samples)
        cnn = sorted(m for m in mflops if m > 5)  # the MLPs cost well under 1 MFLOP
        seconds = [m / reference * args.seconds_per_epoch for m in cnn]
        q = statistics.quantiles(seconds, n=10)
        rows.append(f"| {name} | {statistics.median(cnn):.1f} | {max(cnn):.1f} | {statistics.median(seconds):.0f} | "
                    f"{q[-1]:.0f} | {max(seconds):.0f} | {max(seconds) * epochs / 60:.0f} |")
    print(f"Reference CNN: {reference:.1f} MFLOPs, {args.seconds_per_epoch} s per epoch.\n")
    print("| level 1 | median cnn MFLOPs | max MFLOPs | median s/epoch | 90th pct s/epoch | max s/epoch | "
          "longest trial (min) at max epochs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
