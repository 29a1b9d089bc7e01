"""From user settings (CLI, TOML, API) to a :class:`~snas.runtime.config.RunPlan`: parsed once, checked once."""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from snas.contracts.errors import ConfigError
from snas.runtime.config import ALIASES, COMPONENT_FIELDS, Chosen, RunConfig, RunPlan, make_options, options_to_dict
from snas.runtime.objectives import parse_objectives
from snas.runtime.plugins import get_plugin_manager


def _normalize(settings: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        key = str(key).replace("-", "_")
        out[ALIASES.get(key, key)] = value
    return out


def _names(value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else list(value or [])
    return [n.strip() for item in items for n in str(item).split(",") if n.strip()]


def plan_run(settings: Mapping[str, Any] | RunConfig, manager: Any = None) -> RunPlan:
    """Parse user settings into a :class:`RunPlan`; one :class:`ConfigError` names whatever is wrong.

    ``settings`` mixes run-level keys (the fields of :class:`RunConfig`,
    S-NAS's spellings accepted), per-kind option tables (``strategy_options``)
    and component options by name (``population_size``): each of those goes
    to the one chosen component that has it. A setting of a component the
    run does not use is an error that says which component has it.
    """
    manager = manager or get_plugin_manager()
    data = _normalize(settings.to_dict() if isinstance(settings, RunConfig) else settings)
    run_fields = {f.name for f in attrs.fields(RunConfig)}
    base = {k: v for k, v in data.items() if k in run_fields}
    loose = {k: v for k, v in data.items() if k not in run_fields}
    for key in ("network_types", "objectives", "export_formats"):
        if key in base:
            base[key] = _names(base[key]) if key != "objectives" else list(base[key] or [])
    if "gpu_ids" in base:
        try:
            base["gpu_ids"] = [int(i) for i in _names(base["gpu_ids"])]
        except ValueError:
            raise ConfigError(f"gpu_ids expects comma-separated integers, got {base['gpu_ids']!r}") from None
    config = RunConfig.from_dict(base, where="settings")  # types and ranges of the run-level settings

    workers = max(config.num_workers, len(config.gpu_ids))
    names = {
        "dataset": config.dataset or manager.default("dataset"),
        "strategy": config.strategy or manager.default("strategy"),
        "evaluator": config.evaluator or manager.default("evaluator"),
        "executor": config.executor if config.executor not in (None, "auto") else
        manager.default("executor", parallel=workers > 1),
        "pruner": config.pruner,
    }
    classes = {kind: manager.get(kind, name) for kind, name in names.items() if name}
    options: dict[str, dict[str, Any]] = {kind: dict(getattr(config, COMPONENT_FIELDS[kind][1]) or {})
                                          for kind in classes}
    for key, value in loose.items():
        owners = [kind for kind, cls in classes.items() if key in attrs.fields_dict(cls.Options)]
        if len(owners) == 1:
            options[owners[0]][key] = value
            continue
        if len(owners) > 1:
            which = " and ".join(f"the {kind} {names[kind]!r}" for kind in owners)
            raise ConfigError(f"setting {key!r} is an option of {which}: give it per kind "
                              f"({', '.join(COMPONENT_FIELDS[k][1] for k in owners)}; on the command line "
                              "-S/-E/-D/-X/-P KEY=VALUE)")
        elsewhere = [(info.kind, info.name) for kind in COMPONENT_FIELDS for info in manager.components(kind).values()
                     if key in attrs.fields_dict(info.cls.Options)]
        if elsewhere:
            kind, name = elsewhere[0]
            raise ConfigError(f"setting {key!r} is an option of the {kind} {name!r}, which this run does not use "
                              f"(its {kind} is {names.get(kind)!r}); choose that {kind} or drop the setting")
        valid = sorted(run_fields | {f for cls in classes.values() for f in attrs.fields_dict(cls.Options)})
        raise ConfigError(f"unknown setting {key!r}; valid settings: {', '.join(valid)}")

    chosen = {}
    for kind, cls in classes.items():
        typed = make_options(cls.Options, options[kind], f"options of {kind} {names[kind]!r}")
        chosen[kind] = Chosen(kind, names[kind], cls, typed)
    families = _names(config.network_types) or manager.defaults("family")
    if families == ["all"]:
        level = config.max_complexity or 3
        families = [name for name, info in sorted(manager.components("family").items())
                    if info.cls().space().available_at(level) and not getattr(info.cls, "benchmark_only", False)]
    for family in families:
        manager.get("family", family)  # an unknown family fails here, listing the known ones
    resolved = attrs.evolve(
        config, network_types=families,
        **{COMPONENT_FIELDS[kind][0]: c.name for kind, c in chosen.items()},
        **{COMPONENT_FIELDS[kind][1]: options_to_dict(c.options) for kind, c in chosen.items()},
    )
    parse_objectives(resolved.objectives)  # a malformed objective fails before anything runs
    return RunPlan(resolved, chosen)
