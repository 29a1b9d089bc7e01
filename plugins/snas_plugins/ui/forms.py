"""A settings form generated from a component's ``Options`` class, as :func:`snas.describe_options` describes it.

Every strategy, evaluator and data set gets its form for free, a
third-party one included: a check box for a flag, a drop-down for a setting
with choices, a number field for a number, and a text field for the rest
(an optional number left empty means "none"; other types are typed as JSON).
Only the values that differ from the defaults are returned, so the command
line a form becomes names what the user changed and nothing else.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from snas import ConfigError, describe_options

#: option types drawn as number fields
NUMBER_TYPES = ("int", "float")
#: fields side by side in a form
COLUMNS = 3


def base_type(type_name: Any) -> tuple[str, bool]:
    """``("int", True)`` for ``"int | None"``: the type a field holds, and whether it may be ``None``.

    Types other than ``bool``, ``int``, ``float`` and ``str`` come back as ``"json"``.
    """
    text = str(type_name).strip()
    match = re.fullmatch(r"(?:typing\.)?Optional\[(.+)\]", text)
    parts = [match.group(1)] if match else [p.strip() for p in text.split("|")]
    optional = bool(match) or any(p in ("None", "NoneType") for p in parts)
    rest = [p for p in parts if p not in ("None", "NoneType")]
    kind = rest[0] if len(rest) == 1 and rest[0] in ("bool", "int", "float", "str") else "json"
    return kind, optional


def parse_text(info: dict[str, Any], text: str) -> Any:
    """The value a text field holds for the option ``info`` (empty: ``None`` when the option allows it)."""
    kind, optional = base_type(info["type"])
    name = info["name"]
    text = text.strip()
    if not text:
        if optional:
            return None
        if kind == "str":
            return ""
        raise ConfigError(f"{name}: a value is required")
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            return {"true": True, "false": False}[text.lower()]
        if kind == "str":
            return text
        return json.loads(text)
    except (ValueError, KeyError):
        what = {"int": "a whole number", "float": "a number", "bool": "true or false"}.get(kind, "JSON")
        raise ConfigError(f"{name}: expected {what}{' or nothing' if optional else ''}, got {text!r}") from None


def shown_default(value: Any) -> str:
    """How a default is written in a text field (``None`` as an empty field)."""
    if value is None:
        return ""
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    return json.dumps(value)


def _label(info: dict[str, Any]) -> str:
    return info["name"]


def _help(info: dict[str, Any]) -> str | None:
    text = info.get("help") or ""
    bounds = []
    if info.get("low") is not None:
        bounds.append(f"at least {info['low']:g}")
    if info.get("high") is not None:
        bounds.append(f"at most {info['high']:g}")
    if bounds:
        text = f"{text} ({', '.join(bounds)})".strip()
    return text or None


def option_widget(info: dict[str, Any], key: str) -> Any:
    """Draw the widget for one option (as :func:`snas.describe_options` describes it) and return its value."""
    import streamlit as st

    kind, optional = base_type(info["type"])
    default = info["default"]
    label, help_text = _label(info), _help(info)
    if info.get("choices"):
        choices = list(info["choices"])
        if default not in choices:
            choices.insert(0, default)
        return st.selectbox(label, choices, index=choices.index(default), help=help_text, key=key,
                            format_func=lambda v: "(none)" if v is None else str(v))
    if kind == "bool" and isinstance(default, bool):
        return st.checkbox(label, value=default, help=help_text, key=key)
    if kind in NUMBER_TYPES and not optional and isinstance(default, (int, float)) and not isinstance(default, bool):
        cast = int if kind == "int" else float
        bounds = {"min_value": cast(info["low"]) if info.get("low") is not None else None,
                  "max_value": cast(info["high"]) if info.get("high") is not None else None}
        if kind == "int":
            return st.number_input(label, value=int(default), step=1, help=help_text, key=key, **bounds)
        return st.number_input(label, value=float(default), format="%g", step=_step(float(default)),
                               help=help_text, key=key, **bounds)
    placeholder = "none" if optional else ("JSON" if kind == "json" else None)
    text = st.text_input(label, value=shown_default(default), placeholder=placeholder, help=help_text, key=key)
    return parse_text(info, text)


def _step(value: float) -> float:
    """A step for a float field: a tenth of the value's order of magnitude (0.01 for 0)."""
    if value == 0:
        return 0.01
    from math import floor, log10

    return 10.0 ** (floor(log10(abs(value))) - 1)


def options_form(cls: type, key: str, skip: Iterable[str] = ()) -> tuple[dict[str, Any], list[str]]:
    """Widgets for every setting of the component ``cls`` but ``skip``.

    Returns the settings that differ from their defaults and the errors of
    the fields that could not be read (ranges and choices are checked when
    the whole request is, :func:`snas_plugins.ui.runs.check_request`).
    """
    values: dict[str, Any] = {}
    errors: list[str] = []
    skip = set(skip)
    options = [info for info in describe_options(cls.Options) if info["name"] not in skip and info.get("cli", True)]
    import streamlit as st

    if not options:
        st.caption("No settings.")
    for start in range(0, len(options), COLUMNS):
        for column, info in zip(st.columns(COLUMNS), options[start:start + COLUMNS]):
            with column:
                try:
                    value = option_widget(info, f"{key}.{info['name']}")
                except ConfigError as exc:
                    errors.append(str(exc))
                    continue
            if value != info["default"] or (info.get("required") and value is not None):
                values[info["name"]] = value
    return values, errors
