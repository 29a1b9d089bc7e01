"""Plugin discovery and lookup by name.

Every plugin — the built-ins included — is found through the entry-point
group ``snas``. Two environment variables help when debugging plugins:

``SNAS_LOAD_PLUGINS``
    A comma-separated list of entry-point names; only those are loaded
    (an empty value loads none). Unset: every entry point loads.
``SNAS_TRACE_PLUGINS``
    Set to ``1`` to print every hook call, its arguments and its results to
    standard error.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import threading
import warnings
from typing import Any, Iterable

import attrs
import pluggy

from snas.contracts import hookspecs
from snas.contracts.errors import PluginConflictError, UnknownPluginError
from snas.contracts.components import component_kinds

ENTRY_POINT_GROUP = "snas"
LOAD_ENV = "SNAS_LOAD_PLUGINS"
TRACE_ENV = "SNAS_TRACE_PLUGINS"

#: hook name that registers each kind of component
REGISTRATION_HOOKS = {
    "family": "snas_register_families",
    "strategy": "snas_register_strategies",
    "dataset": "snas_register_datasets",
    "evaluator": "snas_register_evaluators",
    "executor": "snas_register_executors",
    "exporter": "snas_register_exporters",
    "pruner": "snas_register_pruners",
}

_reported_failures: set[tuple[str, str]] = set()


@attrs.frozen
class PluginLoadFailure:
    """A plugin that could not be imported (``stage="import"``) or whose registration hook misbehaved."""

    entry_point: str
    value: str
    distribution: str
    error: str
    stage: str = "import"

    def __str__(self) -> str:
        if self.stage == "import":
            return f"plugin {self.entry_point!r} ({self.value}) from {self.distribution} failed to load: {self.error}"
        return f"plugin {self.entry_point!r} from {self.distribution}: {self.error}"


@attrs.frozen
class ComponentInfo:
    """A registered component: its kind, name, class and where it came from."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str
    version: str

    @property
    def description(self) -> str:
        doc = getattr(self.cls, "description", "") or (self.cls.__doc__ or "")
        return doc.strip().splitlines()[0] if doc.strip() else ""


class PluginManager:
    """Loads plugins from entry points and finds their components by name."""

    def __init__(self, load_entry_points: bool = True):
        self.pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.failures: list[PluginLoadFailure] = []
        self._conflicts: dict[tuple[str, str], str] = {}
        self._origin: dict[str, tuple[str, str]] = {}
        self._components: dict[str, dict[str, ComponentInfo]] | None = None
        self._lock = threading.Lock()
        if os.environ.get(TRACE_ENV, "").strip() not in ("", "0", "false", "no"):
            self._enable_tracing()
        if load_entry_points:
            self.load_entry_points()

    # -- loading ------------------------------------------------------------

    def load_entry_points(self) -> None:
        """Import every entry point of the group ``snas`` (filtered by ``SNAS_LOAD_PLUGINS``)."""
        allowed = _allowed_names()
        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if allowed is not None and ep.name not in allowed:
                continue
            dist = ep.dist.metadata["Name"] if ep.dist is not None else "<unknown distribution>"
            version = ep.dist.version if ep.dist is not None else ""
            key = f"{dist}:{ep.name}"
            if key in seen:  # the same distribution found twice on sys.path
                continue
            seen.add(key)
            try:
                plugin = ep.load()
            except Exception as exc:  # a broken plugin must not take the others down
                failure = PluginLoadFailure(ep.name, ep.value, f"{dist} {version}".strip(), f"{type(exc).__name__}: {exc}")
                self.failures.append(failure)
                if (ep.name, ep.value) not in _reported_failures:
                    _reported_failures.add((ep.name, ep.value))
                    warnings.warn(f"snas: {failure}", RuntimeWarning, stacklevel=2)
                continue
            self.register(plugin, name=ep.name, distribution=dist, version=version)

    def register(self, plugin: Any, name: str | None = None, distribution: str = "<local>", version: str = "") -> str:
        """Register a plugin object (module, class or instance) directly; returns its name.

        Used for plugins that are not installed (tests, notebooks) and for
        runtime observers such as the CLI's progress bar.
        """
        name = self.pm.register(plugin, name=name)
        self._origin[name] = (distribution, version)
        self._components = None
        return name

    def unregister(self, plugin: Any = None, name: str | None = None) -> None:
        """Remove a plugin registered earlier."""
        plugin = self.pm.unregister(plugin=plugin, name=name)
        self._components = None

    @property
    def hook(self) -> Any:
        """The pluggy hook relay: ``manager.hook.snas_trial_finished(run=..., trial=...)``."""
        return self.pm.hook

    def plugins(self) -> list[tuple[str, str, str]]:
        """``(plugin name, distribution, version)`` for every registered plugin."""
        return [(n, *self._origin.get(n, ("<local>", ""))) for n, _ in self.pm.list_name_plugin()]

    # -- components ---------------------------------------------------------

    def components(self, kind: str) -> dict[str, ComponentInfo]:
        """Every registered component of ``kind`` (``family``, ``strategy``, …) by name."""
        if kind not in REGISTRATION_HOOKS:
            raise UnknownPluginError(f"unknown component kind {kind!r}; kinds are {sorted(REGISTRATION_HOOKS)}")
        with self._lock:
            if self._components is None:
                self._components = self._collect()
        return self._components[kind]

    def _collect(self) -> dict[str, dict[str, ComponentInfo]]:
        """Ask every plugin for its components; a broken registration costs only that plugin."""
        found: dict[str, dict[str, ComponentInfo]] = {k: {} for k in REGISTRATION_HOOKS}
        self._conflicts: dict[tuple[str, str], str] = {}
        bases = dict(component_kinds())
        all_plugins = [p for _, p in self.pm.list_name_plugin()]
        self.failures = [f for f in self.failures if f.stage == "import"]
        for kind, hook_name in REGISTRATION_HOOKS.items():
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                others = [p for p in all_plugins if p is not impl.plugin]
                caller = self.pm.subset_hook_caller(hook_name, remove_plugins=others)
                dist, version = self._origin.get(impl.plugin_name, ("<local>", ""))
                where = f"{dist} {version}".strip()
                try:
                    results = [list(classes or []) for classes in caller()]
                except Exception as exc:  # the hook itself raised
                    self._fail(impl.plugin_name, hook_name, where, f"{hook_name} raised {type(exc).__name__}: {exc}")
                    continue
                for cls in (c for classes in results for c in classes):
                    name = getattr(cls, "name", "") if isinstance(cls, type) else ""
                    if not isinstance(cls, type) or not issubclass(cls, bases[kind]) or not name:
                        self._fail(impl.plugin_name, hook_name, where,
                                   f"{hook_name} returned {cls!r}, which is not a named subclass of "
                                   f"snas.{bases[kind].__name__}; skipped")
                        continue
                    if name in found[kind] or (kind, name) in self._conflicts:
                        other = found[kind].pop(name, None)
                        if other is not None:
                            self._conflicts[(kind, name)] = f"{other.plugin!r} from {other.distribution}"
                        self._conflicts[(kind, name)] += f" and {impl.plugin_name!r} from {dist}"
                        self._fail(impl.plugin_name, hook_name, where,
                                   f"registers a {kind} named {name!r}, as {self._conflicts[(kind, name)]} do; "
                                   f"neither is used: uninstall one of them or restrict loading with {LOAD_ENV}")
                        continue
                    found[kind][name] = ComponentInfo(kind, name, cls, impl.plugin_name, dist, version)
        return found

    def _fail(self, plugin: str, hook: str, distribution: str, error: str) -> None:
        failure = PluginLoadFailure(plugin, hook, distribution, error, stage="registration")
        self.failures.append(failure)
        if (plugin, error) not in _reported_failures:
            _reported_failures.add((plugin, error))
            warnings.warn(f"snas: {failure}", RuntimeWarning, stacklevel=3)

    def get(self, kind: str, name: str) -> type:
        """The component class of ``kind`` called ``name``.

        An unknown name raises :class:`UnknownPluginError` listing the names
        that exist (and any plugin that failed to load); a name two plugins
        claim raises :class:`PluginConflictError` naming both.
        """
        available = self.components(kind)
        if name in available:
            return available[name].cls
        if (kind, name) in self._conflicts:
            raise PluginConflictError(f"two plugins register a {kind} named {name!r}: {self._conflicts[(kind, name)]}; "
                                      f"uninstall one of them or restrict loading with {LOAD_ENV}")
        names = ", ".join(sorted(available)) or "none"
        message = f"unknown {kind} {name!r}; available: {names}"
        if self.failures:
            message += "; plugins that failed to load: " + ", ".join(sorted({f.entry_point for f in self.failures}))
        raise UnknownPluginError(message)

    def default(self, kind: str, **where: Any) -> str:
        """The name of the component of ``kind`` its plugin marks ``default = True`` (matching ``where``'s attributes)."""
        found = [name for name, info in sorted(self.components(kind).items())
                 if getattr(info.cls, "default", False) and all(getattr(info.cls, k, None) == v for k, v in where.items())]
        if len(found) == 1:
            return found[0]
        names = ", ".join(sorted(self.components(kind))) or "none"
        if not found:
            raise UnknownPluginError(f"no installed {kind} is marked as the default one; name one ({names})")
        raise PluginConflictError(f"several plugins mark their {kind} as the default ({', '.join(found)}); name one")

    def defaults(self, kind: str) -> list[str]:
        """Every component of ``kind`` marked ``default = True`` (the families a run searches when it names none)."""
        return [name for name, info in sorted(self.components(kind).items()) if getattr(info.cls, "default", False)]

    def get_family(self, name: str) -> Any:
        """An instance of the network family called ``name``."""
        return self.get("family", name)()

    def get_strategy(self, name: str) -> type:
        """The strategy class called ``name``."""
        return self.get("strategy", name)

    def get_dataset(self, name: str) -> type:
        """The data-set class called ``name``."""
        return self.get("dataset", name)

    def get_evaluator(self, name: str) -> type:
        """The evaluator class called ``name``."""
        return self.get("evaluator", name)

    def get_executor(self, name: str) -> type:
        """The executor class called ``name``."""
        return self.get("executor", name)

    def get_pruner(self, name: str) -> type:
        return self.get("pruner", name)

    def get_exporter(self, name: str) -> type:
        """The exporter class called ``name``."""
        return self.get("exporter", name)

    def versions(self) -> dict[str, dict[str, dict[str, str]]]:
        """``{kind: {name: {plugin, distribution, version}}}`` for the run file."""
        return {
            kind: {
                name: {"plugin": info.plugin, "distribution": info.distribution, "version": info.version}
                for name, info in self.components(kind).items()
            }
            for kind in REGISTRATION_HOOKS
        }

    # -- tracing ------------------------------------------------------------

    def _enable_tracing(self) -> None:
        def before(hook_name: str, hook_impls: list, kwargs: dict) -> None:
            args = ", ".join(f"{k}={_short(v)}" for k, v in kwargs.items())
            plugins = ", ".join(i.plugin_name for i in hook_impls)
            print(f"snas trace: {hook_name}({args}) -> plugins [{plugins}]", file=sys.stderr)

        def after(outcome: Any, hook_name: str, hook_impls: list, kwargs: dict) -> None:
            try:
                result = outcome.get_result()
            except BaseException as exc:  # noqa: BLE001 - only reported here
                print(f"snas trace: {hook_name} raised {type(exc).__name__}: {exc}", file=sys.stderr)
                return
            print(f"snas trace: {hook_name} returned {_short(result)}", file=sys.stderr)

        self.pm.add_hookcall_monitoring(before, after)


def _short(value: Any, limit: int = 300) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _allowed_names() -> set[str] | None:
    raw = os.environ.get(LOAD_ENV)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _default
    if _default is None:
        _default = PluginManager()
    return _default


def reset_plugin_manager(manager: PluginManager | None = None) -> PluginManager | None:
    """Replace the process-wide manager (``None`` reloads on next use); returns the old one."""
    global _default
    old, _default = _default, manager
    return old


def iter_components(manager: PluginManager) -> Iterable[ComponentInfo]:
    """Every component of every kind, kind by kind, names sorted."""
    for kind in REGISTRATION_HOOKS:
        for name in sorted(manager.components(kind)):
            yield manager.components(kind)[name]
