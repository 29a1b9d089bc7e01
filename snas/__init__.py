"""snas: neural architecture search for image classification, built from plugins.

The public API for users is :func:`search`, :func:`resume`,
:func:`load_run` and :func:`follow`; for plugin authors, :data:`hookimpl`, the component base
classes and the search-space types re-exported here.
"""

from snas.hookspecs import hookimpl
from snas.space import (
    COMPLEXITY_LEVELS,
    Architecture,
    Choice,
    IntRange,
    JointSpace,
    LayerList,
    SearchSpace,
    describe_architecture,
)
from snas.data import DataBundle, StreamingSplit, TensorSplit, compose_augment, horizontal_flip, random_crop
from snas.interfaces import (
    BatchStrategy,
    Component,
    Dataset,
    EvaluationTask,
    Evaluator,
    Executor,
    Exporter,
    NetworkFamily,
    NoOptions,
    Objective,
    PendingTrial,
    Proposal,
    Strategy,
    StrategyContext,
    Trial,
    TrialProgress,
    TrialResult,
)
from snas.trial import TrialContext, current_trial
from snas.settings import describe_options, option
from snas.errors import (
    ConfigError,
    DataError,
    InvalidArchitecture,
    PluginConflictError,
    RunFileError,
    SnasError,
    UnknownPluginError,
)
from snas.devices import autocast, resolve_device
from snas.config import RunConfig
from snas.plugins import PluginManager, get_plugin_manager

__version__ = "0.1.0"

from snas.result import RunResult  # noqa: E402
from snas.api import load_run, resume, search  # noqa: E402
from snas.follow import RunEvent, follow  # noqa: E402
from snas.evaluation import evaluate_architecture as evaluate  # noqa: E402

__all__ = [
    "COMPLEXITY_LEVELS",
    "Architecture",
    "BatchStrategy",
    "Choice",
    "Component",
    "ConfigError",
    "DataBundle",
    "DataError",
    "Dataset",
    "EvaluationTask",
    "Evaluator",
    "Executor",
    "Exporter",
    "IntRange",
    "InvalidArchitecture",
    "JointSpace",
    "LayerList",
    "NetworkFamily",
    "NoOptions",
    "Objective",
    "PendingTrial",
    "PluginConflictError",
    "PluginManager",
    "Proposal",
    "RunConfig",
    "RunFileError",
    "RunEvent",
    "RunResult",
    "SearchSpace",
    "SnasError",
    "Strategy",
    "StrategyContext",
    "StreamingSplit",
    "TensorSplit",
    "Trial",
    "TrialContext",
    "TrialProgress",
    "TrialResult",
    "UnknownPluginError",
    "autocast",
    "compose_augment",
    "current_trial",
    "describe_architecture",
    "describe_options",
    "evaluate",
    "follow",
    "get_plugin_manager",
    "hookimpl",
    "horizontal_flip",
    "load_run",
    "option",
    "random_crop",
    "resolve_device",
    "resume",
    "search",
]
