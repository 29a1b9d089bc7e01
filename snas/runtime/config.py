"""The run description: user settings (CLI, TOML, API) parsed once into a typed, validated plan.

:class:`RunConfig` holds the run-level settings and, per component, its
options as stored in the run file. :func:`plan_run` turns any mix of
settings — run-level keys, component options by name (``population_size``),
or per kind (``strategy_options``) — into a :class:`RunPlan`: the chosen
components with their typed ``Options``, every default filled in, every
name checked. The engine and the workers receive the plan, never raw
dictionaries. Defaults live in one place: the fields below, and the
components the plugins mark as the default of their kind.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any, Mapping

import attrs
import cattrs

from snas.contracts.errors import ConfigError
from snas.contracts.settings import option

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

converter = cattrs.Converter(forbid_extra_keys=True)

#: the kinds of component a run chooses, the RunConfig field naming each, and the field of its options
COMPONENT_FIELDS = {
    "dataset": ("dataset", "dataset_options"),
    "strategy": ("strategy", "strategy_options"),
    "evaluator": ("evaluator", "evaluator_options"),
    "executor": ("executor", "executor_options"),
    "pruner": ("pruner", "pruner_options"),
}
#: other spellings of run-level settings (S-NAS's names; the TOML and API accept them too)
ALIASES = {"search_method": "strategy", "network_type": "network_types", "budget": "max_trials"}


def _check_run_name(_instance: Any, _attribute: Any, name: str | None) -> None:
    """A run name is one folder name: it stays inside the output folder."""
    if name is None:
        return
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name or Path(name).is_absolute() \
            or name != name.strip() or "\0" in name:
        raise ConfigError(f"run_name {name!r} must be a plain folder name (no '/', '..' or absolute path): the run "
                          "folder is created inside --output-dir")


@attrs.define
class RunConfig:
    """Everything that defines a run; stored in the run file and read back on resume.

    A component name left ``None`` means the default of its kind (the
    component its plugin marks ``default = True``); :func:`plan_run` fills it in.
    """

    dataset: str | None = option(None, help="Data set to search on (default: the default data set; see `snas datasets`).")
    dataset_options: dict[str, Any] = option(factory=dict, cli=False, help="Options of the data set.")
    strategy: str | None = option(None, flag="--search-method", aliases=("--strategy",),
                                  help="Search strategy (default: the default strategy; see `snas plugins`).")
    strategy_options: dict[str, Any] = option(factory=dict, cli=False, help="Options of the search strategy.")
    network_types: list[str] = option(factory=list, flag="--network-type",
                                      help="Network families to search (repeat or comma-separate; 'all': every family "
                                           "at the chosen complexity; default: the default families).")
    max_complexity: int | None = option(None, choices=(1, 2, 3),
                                        help="Highest complexity level searched (default: the lowest level that "
                                             "offers every family named).")
    evaluator: str | None = option(None, help="How architectures are scored (default: the default evaluator).")
    evaluator_options: dict[str, Any] = option(factory=dict, cli=False, help="Options of the evaluator.")
    executor: str | None = option(None, help="Where trials run (default: this process, or worker processes with "
                                             "--num-workers > 1).")
    executor_options: dict[str, Any] = option(factory=dict, cli=False, help="Options of the executor.")
    pruner: str | None = option(None, help="Stop trials that are behind (median, asha, or a plugin's).")
    pruner_options: dict[str, Any] = option(factory=dict, cli=False, help="Options of the pruner.")
    num_workers: int = option(1, low=1, help="Trials evaluated in parallel (executor workers).")
    max_in_flight: int | None = option(None, low=1, help="Trials that may run at once (default: the number of "
                                                         "workers); with the seed, it alone decides which trials "
                                                         "a run proposes.")
    threads_per_trial: int | None = option(None, low=1, help="torch threads per trial (default: the CPU's cores "
                                                             "shared among the workers).")
    device: str = option("auto", help="auto, cpu or cuda:N.")
    gpu_ids: list[int] = option(factory=list, help="CUDA device ids to spread trials over (comma-separated).")
    seed: int = option(0, low=0, help="Random seed of the run.")
    objectives: list[str] = option(factory=list, flag="--objective",
                                   help="An objective NAME:max or NAME:min (repeat; the first is primary), e.g. "
                                        "val_accuracy:max params:min (default: the evaluator's score).")
    constraints: list[str] = option(factory=list, flag="--constraint",
                                    help="A bound a feasible trial meets, NAME<=NUMBER or NAME>=NUMBER on one of its "
                                         "metrics (repeat), e.g. params<=100000 latency_ms<=2; feasible trials "
                                         "dominate infeasible ones (Deb's rule).")
    max_trials: int | None = option(None, low=1, help="Budget: number of architectures to evaluate.")
    time_budget: float | None = option(None, low=0, low_open=True,
                                       help="Budget: seconds; trials running at the deadline are cut short.")
    output_dir: str | None = option(None, help="Folder for run folders (default ./snas-runs).")
    run_name: str | None = option(None, validator=_check_run_name,
                                  help="Name of this run's folder (default <dataset>-<strategy>-<time>).")
    checkpoint_frequency: int | None = option(None, low=1, help="Fold the run's journal into a new run.h5 every N "
                                                                "trials (default: every 10 minutes).")
    final_training: float = option(0.3, low=0, high=0.9,
                                   help="With --time-budget: the fraction of the budget kept for the final training, "
                                        "where the search's best architecture is trained again from scratch, for as "
                                        "many epochs as the time left allows, with the learning rate annealed to "
                                        "zero; it ranks with the search's trials (0: the search uses all the time).")
    retrain_top: int = option(3, low=0, help="Fast-protocol winners retrained with the full protocol at the end.")
    export_formats: list[str] = option(factory=list, flag="--export",
                                       help="After the search, export the best model in these formats (or 'all') "
                                            "into <run folder>/export.")
    weight_inheritance: bool = option(False, help="Start each child from the trained weights of its parent (or of "
                                                  "the most similar trained architecture): layers that fit are "
                                                  "copied, grown ones widened, new ones start as the identity; such "
                                                  "children are ranked as reduced-protocol trials and the best are "
                                                  "retrained from scratch at the end (--retrain-top).")
    weight_sharing_max_models: int = option(10, low=1, help="Trained networks per family kept for inheritance (the "
                                                            "best by score so far); bounds the run folder.")
    prescreen: str | None = option(None, help="Zero-cost proxy evaluator that screens proposals; only the best "
                                              "fraction is trained.")
    prescreen_keep: float = option(0.25, low=0, low_open=True, high=1,
                                   help="Fraction of proposals the proxy keeps for training.")

    def to_dict(self) -> dict[str, Any]:
        return converter.unstructure(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "configuration") -> "RunConfig":
        """Build a config, reporting unknown keys and wrong types by name."""
        return make_options(cls, data, where)

    def window(self, slots: int) -> int:
        """How many trials may be in flight: ``max_in_flight``, else the executor's ``slots``."""
        return self.max_in_flight or max(1, slots)

    def devices(self) -> list[str]:
        """The devices the executor spreads work over."""
        if self.gpu_ids:
            return [f"cuda:{i}" for i in self.gpu_ids]
        return [self.device]


@attrs.frozen
class Chosen:
    """A component chosen for a run: its kind, name, class and typed options."""

    kind: str
    name: str
    cls: type
    options: Any

    def make(self, *args: Any, **kwargs: Any) -> Any:
        """An instance: ``cls(*args, options, **kwargs)`` for strategies' leading arguments, else ``cls(options)``."""
        return self.cls(*args, self.options, **kwargs)


@attrs.frozen
class RunPlan:
    """A run, parsed and checked: the config (names resolved, options complete) and the chosen components."""

    config: RunConfig
    components: dict[str, Chosen]

    def __getitem__(self, kind: str) -> Chosen | None:
        return self.components.get(kind)


def make_options(cls: type, data: Mapping[str, Any] | Any, where: str) -> Any:
    """Turn a mapping into ``cls`` (an attrs class), with one clear error on bad input."""
    if isinstance(data, cls):
        return data
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of options, got {type(data).__name__}")
    fields = {f.name for f in attrs.fields(cls)}
    unknown = sorted(set(data) - fields)
    if unknown:
        valid = ", ".join(sorted(fields)) or "none"
        raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)}; valid options: {valid}")
    try:
        return converter.structure(dict(data), cls)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    except Exception as exc:  # cattrs wraps field errors in an exception group
        # a validator's own message (raised after structuring, so without cattrs' notes) says it best
        own = [str(e) for e in getattr(exc, "exceptions", [])
               if isinstance(e, ConfigError) or (isinstance(e, (ValueError, TypeError)) and not getattr(e, "__notes__", None))]
        messages = cattrs.transform_error(exc) if isinstance(exc, cattrs.BaseValidationError) else [str(exc)]
        raise ConfigError(f"{where}: " + "; ".join(own[-1:] or messages)) from None


def options_to_dict(options: Any) -> dict[str, Any]:
    """The JSON-able form of an options instance."""
    return cattrs.Converter().unstructure(options)


def field_types(cls: type) -> dict[str, Any]:
    """The resolved annotation of each field of an attrs class."""
    try:
        return typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: treat it as text
        return {f.name: str for f in attrs.fields(cls)}


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML configuration file, with the file name in any error."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
