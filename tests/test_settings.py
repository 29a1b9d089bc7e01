"""Settings declared with snas.option: converters, ranges, and the help every built-in setting carries."""

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


@pytest.mark.parametrize("kind", ["dataset", "exporter"])
def test_every_builtin_setting_says_what_it_does(kind):
    manager = snas.get_plugin_manager()
    lacking = [f"{name}.{s['name']}" for name, info in sorted(manager.components(kind).items())
               if info.cls.__module__.startswith("snas_plugins.")
               for s in snas.describe_options(info.cls.Options) if not s["help"].strip()]
    assert not lacking, f"{kind} settings without help text: {', '.join(lacking)}"
