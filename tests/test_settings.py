"""Settings declared with snas.option."""

from __future__ import annotations

import attrs
import pytest

import snas
from snas.runtime.config import make_options


@attrs.frozen
class Shouting:
    name: str | None = snas.option(None, converter=lambda v: None if v is None else str(v).upper(),
                                   help="A name, upper-cased.")
    size: int = snas.option(3, low=1, converter=int, help="A size.")


def test_a_converter_runs_before_the_checks():
    assert Shouting().name is None
    assert Shouting(name="ab").name == "AB"
    assert make_options(Shouting, {"name": "x", "size": "4"}, "test").size == 4
    with pytest.raises(snas.ConfigError, match="size must be >= 1, got 0"):
        Shouting(size="0")
    described = {s["name"]: s for s in snas.describe_options(Shouting)}
    assert described["name"]["help"] == "A name, upper-cased." and described["size"]["low"] == 1
