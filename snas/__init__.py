"""snas: neural architecture search for image classification, built from plugins.

The public API for users is :func:`search`, :func:`resume`, :func:`load_run`
and :func:`follow`; for plugin authors, :data:`hookimpl`, :func:`option`,
:func:`current_trial`, the component base classes and the search-space types
re-exported here. Names are imported when first used, so ``import snas`` is
quick and the command line starts (and answers Ctrl-C) at once.

The kernel's folders show its parts: ``snas.contracts`` (what plugins
implement and exchange), ``snas.runtime`` (how a run runs) and
``snas.frontends`` (the API and the command line).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: public name -> (module, attribute)
_EXPORTS: dict[str, tuple[str, str]] = {
    "hookimpl": ("snas.contracts.hookspecs", "hookimpl"),
    "COMPLEXITY_LEVELS": ("snas.contracts.space", "COMPLEXITY_LEVELS"),
    "Architecture": ("snas.contracts.space", "Architecture"),
    "Choice": ("snas.contracts.space", "Choice"),
    "ConditionalChoice": ("snas.contracts.space", "ConditionalChoice"),
    "IntRange": ("snas.contracts.space", "IntRange"),
    "JointSpace": ("snas.contracts.space", "JointSpace"),
    "LayerList": ("snas.contracts.space", "LayerList"),
    "SearchSpace": ("snas.contracts.space", "SearchSpace"),
    "describe_architecture": ("snas.contracts.space", "describe_architecture"),
    "DataBundle": ("snas.contracts.data", "DataBundle"),
    "StreamingSplit": ("snas.contracts.data", "StreamingSplit"),
    "TensorSplit": ("snas.contracts.data", "TensorSplit"),
    "BatchStrategy": ("snas.contracts.components", "BatchStrategy"),
    "Component": ("snas.contracts.components", "Component"),
    "Dataset": ("snas.contracts.components", "Dataset"),
    "Evaluator": ("snas.contracts.components", "Evaluator"),
    "Executor": ("snas.contracts.components", "Executor"),
    "Exporter": ("snas.contracts.components", "Exporter"),
    "NetworkFamily": ("snas.contracts.components", "NetworkFamily"),
    "NoOptions": ("snas.contracts.components", "NoOptions"),
    "Pruner": ("snas.contracts.components", "Pruner"),
    "Strategy": ("snas.contracts.components", "Strategy"),
    "StrategyContext": ("snas.contracts.components", "StrategyContext"),
    "Constraint": ("snas.contracts.records", "Constraint"),
    "EvaluationTask": ("snas.contracts.records", "EvaluationTask"),
    "INHERITED": ("snas.contracts.records", "INHERITED"),
    "EXTENDED": ("snas.contracts.records", "EXTENDED"),
    "InheritedWeights": ("snas.contracts.records", "InheritedWeights"),
    "Objective": ("snas.contracts.records", "Objective"),
    "PendingTrial": ("snas.contracts.records", "PendingTrial"),
    "Proposal": ("snas.contracts.records", "Proposal"),
    "Trial": ("snas.contracts.records", "Trial"),
    "TrialProgress": ("snas.contracts.records", "TrialProgress"),
    "TrialResult": ("snas.contracts.records", "TrialResult"),
    "describe_options": ("snas.contracts.settings", "describe_options"),
    "option": ("snas.contracts.settings", "option"),
    "ConfigError": ("snas.contracts.errors", "ConfigError"),
    "DataError": ("snas.contracts.errors", "DataError"),
    "InvalidArchitecture": ("snas.contracts.errors", "InvalidArchitecture"),
    "PluginConflictError": ("snas.contracts.errors", "PluginConflictError"),
    "RunFileError": ("snas.contracts.errors", "RunFileError"),
    "SnasError": ("snas.contracts.errors", "SnasError"),
    "UnknownPluginError": ("snas.contracts.errors", "UnknownPluginError"),
    "TrialContext": ("snas.runtime.trial", "TrialContext"),
    "current_trial": ("snas.runtime.trial", "current_trial"),
    "autocast": ("snas.runtime.devices", "autocast"),
    "count_flops": ("snas.runtime.devices", "count_flops"),
    "resolve_device": ("snas.runtime.devices", "resolve_device"),
    "RunConfig": ("snas.runtime.config", "RunConfig"),
    "make_options": ("snas.runtime.config", "make_options"),
    "options_to_dict": ("snas.runtime.config", "options_to_dict"),
    "PluginManager": ("snas.runtime.plugins", "PluginManager"),
    "get_plugin_manager": ("snas.runtime.plugins", "get_plugin_manager"),
    "EvaluationJob": ("snas.runtime.engine", "EvaluationJob"),
    "RunResult": ("snas.runtime.result", "RunResult"),
    "constrained_dominates": ("snas.runtime.objectives", "constrained_dominates"),
    "RunEvent": ("snas.runtime.follow", "RunEvent"),
    "follow": ("snas.runtime.follow", "follow"),
    "load_run": ("snas.frontends.api", "load_run"),
    "resume": ("snas.frontends.api", "resume"),
    "search": ("snas.frontends.api", "search"),
    "evaluate": ("snas.frontends.evaluation", "evaluate_architecture"),
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
    from snas.contracts.hookspecs import hookimpl  # noqa: F401
    from snas.contracts.space import COMPLEXITY_LEVELS, Architecture, Choice, ConditionalChoice, IntRange, JointSpace, LayerList, SearchSpace, describe_architecture  # noqa: F401
    from snas.contracts.data import DataBundle, StreamingSplit, TensorSplit  # noqa: F401
    from snas.contracts.components import BatchStrategy, Component, Dataset, Evaluator, Executor, Exporter, NetworkFamily, NoOptions, Pruner, Strategy, StrategyContext  # noqa: F401
    from snas.contracts.records import EXTENDED, INHERITED, Constraint, EvaluationTask, InheritedWeights, Objective, PendingTrial, Proposal, Trial, TrialProgress, TrialResult  # noqa: F401
    from snas.contracts.settings import describe_options, option  # noqa: F401
    from snas.contracts.errors import ConfigError, DataError, InvalidArchitecture, PluginConflictError, RunFileError, SnasError, UnknownPluginError  # noqa: F401
    from snas.runtime.trial import TrialContext, current_trial  # noqa: F401
    from snas.runtime.devices import autocast, count_flops, resolve_device  # noqa: F401
    from snas.runtime.config import RunConfig, make_options, options_to_dict  # noqa: F401
    from snas.runtime.plugins import PluginManager, get_plugin_manager  # noqa: F401
    from snas.runtime.engine import EvaluationJob  # noqa: F401
    from snas.runtime.result import RunResult  # noqa: F401
    from snas.runtime.objectives import constrained_dominates  # noqa: F401
    from snas.runtime.follow import RunEvent, follow  # noqa: F401
    from snas.frontends.api import load_run, resume, search  # noqa: F401
    from snas.frontends.evaluation import evaluate_architecture as evaluate  # noqa: F401
