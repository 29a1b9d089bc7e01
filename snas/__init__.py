"""snas: neural architecture search for image classification, built from plugins.

The public API for users is :func:`search`, :func:`resume`, :func:`load_run`
and :func:`follow`; for plugin authors, :data:`hookimpl`, :func:`option`,
:func:`current_trial`, the component base classes and the search-space types
re-exported here. Names are imported when first used, so ``import snas`` is
quick and the command line starts (and answers Ctrl-C) at once.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "COMPLEXITY_LEVELS": ("snas.space", "COMPLEXITY_LEVELS"),
    "Architecture": ("snas.space", "Architecture"),
    "Choice": ("snas.space", "Choice"),
    "IntRange": ("snas.space", "IntRange"),
    "JointSpace": ("snas.space", "JointSpace"),
    "LayerList": ("snas.space", "LayerList"),
    "SearchSpace": ("snas.space", "SearchSpace"),
    "describe_architecture": ("snas.space", "describe_architecture"),
    "BatchStrategy": ("snas.interfaces", "BatchStrategy"),
    "Component": ("snas.interfaces", "Component"),
    "Dataset": ("snas.interfaces", "Dataset"),
    "EvaluationTask": ("snas.interfaces", "EvaluationTask"),
    "Evaluator": ("snas.interfaces", "Evaluator"),
    "Executor": ("snas.interfaces", "Executor"),
    "Exporter": ("snas.interfaces", "Exporter"),
    "NetworkFamily": ("snas.interfaces", "NetworkFamily"),
    "NoOptions": ("snas.interfaces", "NoOptions"),
    "Objective": ("snas.interfaces", "Objective"),
    "PendingTrial": ("snas.interfaces", "PendingTrial"),
    "Proposal": ("snas.interfaces", "Proposal"),
    "Pruner": ("snas.interfaces", "Pruner"),
    "Strategy": ("snas.interfaces", "Strategy"),
    "StrategyContext": ("snas.interfaces", "StrategyContext"),
    "Trial": ("snas.interfaces", "Trial"),
    "TrialProgress": ("snas.interfaces", "TrialProgress"),
    "TrialResult": ("snas.interfaces", "TrialResult"),
    "ConfigError": ("snas.errors", "ConfigError"),
    "DataError": ("snas.errors", "DataError"),
    "InvalidArchitecture": ("snas.errors", "InvalidArchitecture"),
    "PluginConflictError": ("snas.errors", "PluginConflictError"),
    "RunFileError": ("snas.errors", "RunFileError"),
    "SnasError": ("snas.errors", "SnasError"),
    "UnknownPluginError": ("snas.errors", "UnknownPluginError"),
    "hookimpl": ("snas.hookspecs", "hookimpl"),
    "DataBundle": ("snas.data", "DataBundle"),
    "StreamingSplit": ("snas.data", "StreamingSplit"),
    "TensorSplit": ("snas.data", "TensorSplit"),
    "compose_augment": ("snas.data", "compose_augment"),
    "horizontal_flip": ("snas.data", "horizontal_flip"),
    "random_crop": ("snas.data", "random_crop"),
    "TrialContext": ("snas.trial", "TrialContext"),
    "current_trial": ("snas.trial", "current_trial"),
    "describe_options": ("snas.settings", "describe_options"),
    "option": ("snas.settings", "option"),
    "autocast": ("snas.devices", "autocast"),
    "resolve_device": ("snas.devices", "resolve_device"),
    "RunConfig": ("snas.config", "RunConfig"),
    "PluginManager": ("snas.plugins", "PluginManager"),
    "get_plugin_manager": ("snas.plugins", "get_plugin_manager"),
    "RunResult": ("snas.result", "RunResult"),
    "load_run": ("snas.api", "load_run"),
    "resume": ("snas.api", "resume"),
    "search": ("snas.api", "search"),
    "RunEvent": ("snas.follow", "RunEvent"),
    "follow": ("snas.follow", "follow"),
    "evaluate": ("snas.evaluation", "evaluate_architecture"),
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'snas' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    from snas.space import COMPLEXITY_LEVELS, Architecture, Choice, IntRange, JointSpace, LayerList, SearchSpace, describe_architecture  # noqa: F401
    from snas.interfaces import Pruner, BatchStrategy, Component, Dataset, EvaluationTask, Evaluator, Executor, Exporter, NetworkFamily, NoOptions, Objective, PendingTrial, Proposal, Strategy, StrategyContext, Trial, TrialProgress, TrialResult  # noqa: F401
    from snas.errors import ConfigError, DataError, InvalidArchitecture, PluginConflictError, RunFileError, SnasError, UnknownPluginError  # noqa: F401
    from snas.hookspecs import hookimpl  # noqa: F401
    from snas.data import DataBundle, StreamingSplit, TensorSplit, compose_augment, horizontal_flip, random_crop  # noqa: F401
    from snas.trial import TrialContext, current_trial  # noqa: F401
    from snas.settings import describe_options, option  # noqa: F401
    from snas.devices import autocast, resolve_device  # noqa: F401
    from snas.config import RunConfig  # noqa: F401
    from snas.plugins import PluginManager, get_plugin_manager  # noqa: F401
    from snas.result import RunResult  # noqa: F401
    from snas.api import load_run, resume, search  # noqa: F401
    from snas.follow import RunEvent, follow  # noqa: F401
    from snas.evaluation import evaluate_architecture as evaluate  # noqa: F401
