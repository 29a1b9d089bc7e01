"""Command-line flags derived from settings declarations: the run's and each chosen component's.

Every setting is declared once, on :class:`snas.RunConfig` or on a plugin
component's ``Options`` (:func:`snas.option`: help, range, choices, flag).
:class:`SettingsCommand` reads which components a command line chooses
(``--search-method pnas``, a ``--config`` file, the defaults) before parsing
it, adds those components' flags, groups them by component in ``--help``,
and turns a flag that belongs to a component the run does not use into one
clear error naming that component.
"""

from __future__ import annotations

import json
import typing
from typing import Any, Iterable, Mapping

import attrs
import click

from snas.contracts.errors import ConfigError
from snas.contracts.settings import describe_options
from snas.runtime.config import COMPONENT_FIELDS, RunConfig, field_types, read_toml

#: kinds whose options become flags, in the order their flags are claimed when two want the same one
FLAG_KINDS = ("evaluator", "dataset", "strategy", "executor", "pruner")
#: the names of the run-level settings (a component option of the same name never replaces one)
RUN_FIELDS = {f.name for f in attrs.fields(RunConfig)}
#: the generic KEY=VALUE options per kind
PAIR_FLAGS = {"strategy": ("-S", "--strategy-option"), "evaluator": ("-E", "--evaluator-option"),
              "dataset": ("-D", "--dataset-option"), "executor": ("-X", "--executor-option"),
              "pruner": ("-P", "--pruner-option")}


def parse_value(text: str) -> Any:
    """A command-line value: JSON when it parses (numbers, true/false, lists), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def pairs(values: Iterable[str], flag: str) -> dict[str, Any]:
    """``KEY=VALUE`` items as a dict (keys with dashes become underscores)."""
    out: dict[str, Any] = {}
    for item in values:
        if "=" not in item:
            raise ConfigError(f"{flag} expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        out[key.strip().replace("-", "_")] = parse_value(value.strip())
    return out


def split_names(values: Iterable[str]) -> list[str]:
    """Repeated and comma-separated values as one list."""
    return [n.strip() for v in values for n in str(v).split(",") if n.strip()]


def _unwrap(hint: Any) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return args[0]
    return hint


def option_for(info: Mapping[str, Any], hint: Any, dest: str, flag: str) -> click.Option | None:
    """The click option of one declared setting (``None`` for settings the command line cannot hold)."""
    hint = _unwrap(hint)
    origin = typing.get_origin(hint) or hint
    help_text = info["help"] or ""
    if info["default"] not in (None, [], {}, ()) and "default" not in help_text:
        help_text += f" [default: {info['default']}]"
    aliases = [a for a in info["aliases"] if a.startswith("--")]
    if origin is dict:
        return None
    if hint is bool:
        negative = "--no-" + flag[2:]
        return click.Option([f"{flag}/{negative}", dest], default=None, help=help_text.strip())
    kwargs: dict[str, Any] = {"default": None, "help": help_text.strip()}
    if origin in (list, tuple):
        kwargs.update(multiple=True, default=None, type=str)
    elif hint is int or hint is float:
        low, high = info["low"], info["high"]
        kind = click.IntRange if hint is int else click.FloatRange
        kwargs["type"] = kind(min=low, max=high, min_open=bool(info.get("low_open")),
                              max_open=bool(info.get("high_open"))) if low is not None or high is not None else hint
    elif info["choices"] and all(isinstance(c, str) for c in info["choices"] if c is not None):
        kwargs["type"] = click.Choice([c for c in info["choices"] if c is not None])
    else:
        kwargs["type"] = str
    if info.get("metavar"):
        kwargs["metavar"] = info["metavar"]
    return click.Option([flag, *aliases, dest], **kwargs)


def settings_options(cls: type, prefix: str, taken: set[str]) -> list[tuple[click.Option, str]]:
    """Flags for the settings of ``cls`` (an attrs class), skipping flags already ``taken``: ``(option, name)`` pairs."""
    hints = field_types(cls)
    out = []
    for info in describe_options(cls):
        if not info["cli"]:
            continue
        flags = [info["flag"], *info["aliases"]]
        if any(f in taken for f in flags):
            continue  # another setting holds this flag; this one stays reachable as KEY=VALUE
        opt = option_for(info, hints.get(info["name"], str), f"{prefix}__{info['name']}", info["flag"])
        if opt is not None:
            taken.update(flags + (["--no-" + info["flag"][2:]] if hints.get(info["name"]) is bool else []))
            out.append((opt, info["name"]))
    return out


class SettingsCommand(click.Command):
    """A command whose flags are the run's settings plus those of the components it chooses.

    ``kinds`` lists the kinds of component whose options become flags;
    ``run_settings`` whether RunConfig's own settings do.
    """

    def __init__(self, *args: Any, kinds: tuple[str, ...] = FLAG_KINDS, run_settings: bool = True, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fixed = list(self.params)
        self.kinds = kinds
        self.run_settings = run_settings
        self.sections: list[tuple[str, list[click.Option]]] = []

    # -- which components, which flags ----------------------------------------------

    def chosen(self, args: list[str]) -> dict[str, str | None]:
        """The components a command line chooses: its flags, else its --config file, else the defaults."""
        from snas.runtime.plugins import get_plugin_manager

        manager = get_plugin_manager()
        given: dict[str, Any] = {}
        config = _flag_value(args, ["--config"])
        if config:
            try:
                raw = {str(k).replace("-", "_"): v for k, v in read_toml(config).items()}
            except ConfigError:
                raw = {}  # reported when the command runs
            given.update({"strategy": raw.get("search_method")} if "search_method" in raw else {})
            given.update({k: raw[k] for k in COMPONENT_FIELDS if k in raw})
        selector_flags = {"dataset": ["--dataset"], "strategy": ["--search-method", "--strategy"],
                          "evaluator": ["--evaluator"], "executor": ["--executor"], "pruner": ["--pruner"]}
        for kind, flags in selector_flags.items():
            value = _flag_value(args, flags)
            if value:
                given[kind] = value
        for name, info in manager.components("dataset").items():
            selector = getattr(info.cls, "selector", None)
            if selector and _flag_value(args, [selector[0]]):
                given["dataset"] = name
        parallel = _parallel(_flag_value(args, ["--num-workers"]), _flag_value(args, ["--gpu-ids"]))
        names: dict[str, str | None] = {}
        for kind in self.kinds:
            name = given.get(kind)
            if name in (None, "auto") and kind != "pruner":
                try:
                    name = (manager.default(kind, parallel=parallel) if kind == "executor"
                            else manager.default(kind))
                except Exception:  # no default installed: the command reports it when it runs
                    name = None
            names[kind] = name
        return names

    def build(self, args: list[str]) -> None:
        """Set this command's params for a command line ``args``."""
        from snas.runtime.plugins import get_plugin_manager

        manager = get_plugin_manager()
        taken = {d for p in self.fixed for d in p.opts + p.secondary_opts}
        params = list(self.fixed)
        self.sections = []
        if self.run_settings:
            run = [opt for opt, _ in settings_options(RunConfig, "run", taken)]
            params += run
            self.sections.append(("Run", run))
        for name, info in sorted(manager.components("dataset").items()):
            selector = getattr(info.cls, "selector", None)
            if selector and selector[0] not in taken and "dataset" in self.kinds:
                taken.add(selector[0])
                opt = click.Option([selector[0], f"select__{name}"], default=None, metavar="PATH",
                                   help=f"Use the data set {name!r} with this {selector[1]}.")
                params.append(opt)
                if self.sections:
                    self.sections[0][1].append(opt)
        self.chosen_names = self.chosen(args)
        for kind in self.kinds:
            name = self.chosen_names.get(kind)
            if not name:
                continue
            try:
                cls = manager.get(kind, name)
            except Exception:  # an unknown name is reported when the command runs
                continue
            opts = [opt for opt, _ in settings_options(cls.Options, f"{kind}__{name}", taken)]
            params += opts
            self.sections.append((f"Options of the {kind} {name!r}", opts))
        self.params = params

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        self.build(args)
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            owner = _owner_of(exc.option_name)
            if owner is None:
                raise
            kind, name = owner
            raise click.UsageError(f"{exc.option_name} is an option of the {kind} {name!r}, which this run does not "
                                   f"use (its {kind} is {self.chosen_names.get(kind)!r}); choose that {kind} or "
                                   "drop the option", ctx) from None

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        grouped = {id(opt) for _, opts in self.sections for opt in opts}
        general = [p.get_help_record(ctx) for p in self.get_params(ctx) if id(p) not in grouped]
        with formatter.section("Options"):
            formatter.write_dl([r for r in general if r])
        for title, opts in self.sections:
            records = [r for r in (o.get_help_record(ctx) for o in opts) if r]
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
        formatter.write_paragraph()
        formatter.write_text("Another strategy's or evaluator's flags appear once it is chosen, e.g. "
                             "`snas search --search-method pnas --help`.")

    # -- from parsed flags to settings -------------------------------------------------

    def settings(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The settings a parsed command line gives: its --config file, then its flags (flags win)."""
        settings: dict[str, Any] = {}
        if params.get("config_file"):
            settings.update(read_toml(params["config_file"]))
        options: dict[str, dict[str, Any]] = {}
        for key, value in params.items():
            if value is None or value == () or "__" not in key:
                continue
            prefix, _, name = key.partition("__")
            if prefix == "select":
                settings["dataset"] = name
                cls = _component("dataset", name)
                options.setdefault("dataset", {})[cls.selector[1]] = value
                continue
            if isinstance(value, tuple):
                value = split_names(value)
            if prefix == "run":
                settings[name] = value
            else:
                kind = prefix
                options.setdefault(kind, {})[name.split("__", 1)[1]] = value
        for kind, (short, long) in PAIR_FLAGS.items():
            given = params.get(f"{kind}_pairs") or ()
            if given:
                options.setdefault(kind, {}).update(pairs(given, long))
        for kind, values in options.items():
            field = COMPONENT_FIELDS[kind][1]
            settings[field] = {**(settings.get(field) or {}), **values}
            for key in values:  # a flag wins over the same setting given by name in the --config file
                if key not in RUN_FIELDS:
                    settings.pop(key, None)
        return settings


def _component(kind: str, name: str) -> type:
    from snas.runtime.plugins import get_plugin_manager

    return get_plugin_manager().get(kind, name)


def _owner_of(flag: str) -> tuple[str, str] | None:
    """The (kind, name) of a registered component that declares ``flag``, if any."""
    from snas.runtime.plugins import get_plugin_manager

    manager = get_plugin_manager()
    for kind in FLAG_KINDS:
        for name, info in sorted(manager.components(kind).items()):
            for setting in describe_options(info.cls.Options):
                if flag in (setting["flag"], *setting["aliases"], "--no-" + setting["flag"][2:]):
                    return kind, name
    return None


def _parallel(num_workers: str | None, gpu_ids: str | None) -> bool:
    """Whether the run needs a parallel executor: the rule of :func:`snas.runtime.planning.plan_run`."""
    try:
        workers = int(num_workers or 1)
    except ValueError:
        workers = 1  # reported when the command runs
    gpus = len([g for g in (gpu_ids or "").split(",") if g.strip()])
    return max(workers, gpus) > 1


def _flag_value(args: list[str], flags: list[str]) -> str | None:
    """The value given to any of ``flags`` (``--flag value`` or ``--flag=value``; the last one wins)."""
    value = None
    for i, arg in enumerate(args):
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
    return value


def pair_options(kinds: Iterable[str]) -> list[click.Option]:
    """The ``-S/-E/-D/-X/-P KEY=VALUE`` options of ``kinds``."""
    return [click.Option([short, long, f"{kind}_pairs"], multiple=True, metavar="KEY=VALUE",
                         help=f"Any option of the {kind}.") for kind, (short, long) in PAIR_FLAGS.items()
            if kind in kinds]


__all__ = ["SettingsCommand", "option_for", "pair_options", "pairs", "parse_value", "settings_options",
           "split_names"]
