"""The run configuration and the conversion of user settings into component options."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping

import attrs
import cattrs

from snas.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

#: families searched when a run names none: quick to train, strong on small images
DEFAULT_NETWORK_TYPES = ("cnn", "mlp")

converter = cattrs.Converter(forbid_extra_keys=True)


def _check_run_name(name: str | None) -> None:
    """A run name is one folder name: it stays inside the output folder."""
    if name is None:
        return
    if not name.strip() or name in (".", "..") or "/" in name or "\\" in name or Path(name).is_absolute() \
            or name != name.strip() or "\0" in name:
        raise ConfigError(f"run_name {name!r} must be a plain folder name (no '/', '..' or absolute path): the run "
                          "folder is created inside --output-dir")


def _positive(name: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if value is not None and value <= 0:
            raise ConfigError(f"{name} must be positive, got {value}")

    return check


def _fraction(name: str):
    def check(_instance: Any, _attribute: Any, value: Any) -> None:
        if not 0 < value <= 1:
            raise ConfigError(f"{name} must be a fraction in (0, 1], got {value}")

    return check


@attrs.define
class RunConfig:
    """Everything that defines a run; stored in the run file and read back on resume."""

    dataset: str = "digits"
    dataset_options: dict[str, Any] = attrs.field(factory=dict)
    strategy: str = "evolutionary"
    strategy_options: dict[str, Any] = attrs.field(factory=dict)
    network_types: list[str] = attrs.field(factory=lambda: list(DEFAULT_NETWORK_TYPES))
    #: highest complexity level searched; None: the lowest level that offers every named family
    max_complexity: int | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.in_((1, 2, 3)))
    )
    complexity_level: int | None = None
    evaluator: str = "train"
    evaluator_options: dict[str, Any] = attrs.field(factory=dict)
    executor: str = "auto"
    executor_options: dict[str, Any] = attrs.field(factory=dict)
    num_workers: int = attrs.field(default=1, validator=_positive("num_workers"))
    #: trials that may be in flight at once (the window); None: the executor's number of slots
    max_in_flight: int | None = attrs.field(default=None, validator=_positive("max_in_flight"))
    #: torch threads per trial; None: the CPU's cores shared out among the workers
    threads_per_trial: int | None = attrs.field(default=None, validator=_positive("threads_per_trial"))
    device: str = "auto"
    gpu_ids: list[int] = attrs.field(factory=list)
    seed: int = attrs.field(default=0, validator=attrs.validators.ge(0))
    #: objectives as NAME:max / NAME:min; the first is primary; none: the evaluator's score
    objectives: list[str] = attrs.field(factory=list)
    max_trials: int | None = attrs.field(default=None, validator=_positive("max_trials"))
    time_budget: float | None = attrs.field(default=None, validator=_positive("time_budget"))
    output_dir: str | None = None
    run_name: str | None = attrs.field(default=None, validator=lambda _i, _a, v: _check_run_name(v))
    #: fold the journal into a new run.h5 every N trials; None: every few minutes
    checkpoint_frequency: int | None = attrs.field(default=None, validator=_positive("checkpoint_frequency"))
    retrain_top: int = attrs.field(default=3, validator=attrs.validators.ge(0))
    export_formats: list[str] = attrs.field(factory=list)
    #: pruner plugin that stops trials that are behind (median, asha, …); None: none
    pruner: str | None = None
    pruner_options: dict[str, Any] = attrs.field(factory=dict)
    prescreen: str | None = None
    prescreen_keep: float = attrs.field(default=0.25, validator=_fraction("prescreen_keep"))

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
