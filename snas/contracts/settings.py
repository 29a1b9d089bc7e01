"""Declaring a component's settings once: :func:`option` fields on its ``Options`` class.

A component (family, strategy, data set, evaluator, executor, exporter,
pruner) declares its settings as an attrs class whose fields come from
:func:`option`. That one declaration carries the default, the help text,
the allowed range or choices, and the command-line flag; the CLI flags, TOML
keys, API keyword arguments, web forms and documentation tables are all
derived from it (:func:`describe_options`)::

    @attrs.frozen
    class EvolutionOptions:
        population_size: int = snas.option(10, low=2, help="Individuals per generation.",
                                           flag="--population-size")
        aging: bool = snas.option(False, help="Remove the oldest member, not the worst.")
"""

from __future__ import annotations

from typing import Any, Sequence

import attrs

from snas.contracts.errors import ConfigError

METADATA_KEY = "snas"


def _range_check(name_low: Any, low: Any, high: Any, low_open: bool, high_open: bool):
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if value is None or isinstance(value, bool):
            return
        if low is not None and (value < low or (low_open and value == low)):
            raise ConfigError(f"{attribute.name} must be {'>' if low_open else '>='} {low}, got {value!r}")
        if high is not None and (value > high or (high_open and value == high)):
            raise ConfigError(f"{attribute.name} must be {'<' if high_open else '<='} {high}, got {value!r}")

    return check


def _choice_check(choices: Sequence[Any]):
    def check(_instance: Any, attribute: Any, value: Any) -> None:
        if value is not None and value not in choices:
            raise ConfigError(f"{attribute.name} must be one of {', '.join(map(repr, choices))}, got {value!r}")

    return check


def option(default: Any = attrs.NOTHING, *, help: str, flag: str | None = None, aliases: Sequence[str] = (),
           low: float | None = None, high: float | None = None, low_open: bool = False, high_open: bool = False,
           choices: Sequence[Any] | None = None, factory: Any = None, validator: Any = None,
           metavar: str | None = None, cli: bool = True) -> Any:
    """A setting of a component: an attrs field with its help, range or choices, and command-line flag.

    ``flag`` is the long option (default ``--<name with dashes>``);
    ``aliases`` are other accepted spellings (S-NAS's names). ``low`` /
    ``high`` bound numbers (``low_open``/``high_open`` exclude the bound);
    ``choices`` lists the allowed values. ``cli=False`` keeps a setting out
    of the command line (TOML and the API still reach it).
    """
    validators = [v for v in (validator,) if v is not None]
    if low is not None or high is not None:
        validators.append(_range_check(None, low, high, low_open, high_open))
    if choices is not None:
        validators.append(_choice_check(tuple(choices)))
    metadata = {METADATA_KEY: {"help": help, "flag": flag, "aliases": tuple(aliases), "low": low, "high": high,
                               "low_open": low_open, "high_open": high_open,
                               "choices": tuple(choices) if choices is not None else None, "metavar": metavar,
                               "cli": cli}}
    kwargs: dict[str, Any] = {"metadata": metadata, "validator": validators or None}
    if factory is not None:
        kwargs["factory"] = factory
    else:
        kwargs["default"] = default
    return attrs.field(**kwargs)


def describe_options(cls: type) -> list[dict[str, Any]]:
    """Every setting of an ``Options`` class: name, type, default, help, flag, aliases, range, choices.

    Fields declared without :func:`option` are described from their name and
    default alone (help ``""``).
    """
    out = []
    for field in attrs.fields(cls):
        meta = dict(field.metadata.get(METADATA_KEY, {}))
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        elif default is attrs.NOTHING:
            default = None
        out.append({
            "name": field.name,
            "type": field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type)),
            "default": default,
            "required": field.default is attrs.NOTHING,
            "help": meta.get("help", ""),
            "flag": meta.get("flag") or "--" + field.name.replace("_", "-"),
            "aliases": list(meta.get("aliases", ())),
            "low": meta.get("low"),
            "high": meta.get("high"),
            "low_open": meta.get("low_open", False),
            "high_open": meta.get("high_open", False),
            "choices": list(meta["choices"]) if meta.get("choices") is not None else None,
            "metavar": meta.get("metavar"),
            "cli": meta.get("cli", True),
        })
    return out


__all__ = ["describe_options", "option"]
