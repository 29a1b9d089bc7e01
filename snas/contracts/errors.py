"""The exceptions snas raises. Each carries a message meant for a user."""

from __future__ import annotations


class SnasError(Exception):
    """Base class of every error snas raises on purpose.

    The CLI prints the message of any ``SnasError`` as one line and exits
    with a non-zero status instead of showing a traceback.
    """


class UnknownPluginError(SnasError, KeyError):
    """A plugin name was looked up that no loaded plugin provides."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class PluginConflictError(SnasError):
    """Two plugins register a component under the same kind and name."""


class InvalidArchitecture(SnasError, ValueError):
    """An architecture does not fit the search space it is used with."""


class ConfigError(SnasError, ValueError):
    """A run configuration or an option value is wrong."""


class RunFileError(SnasError):
    """A run file cannot be read: missing, corrupt, truncated or too new."""


class DataError(SnasError):
    """A data set cannot be loaded; the message names the file and the fix."""


class SearchInterrupted(SnasError):
    """Raised inside the engine when SIGINT or SIGTERM asks the run to stop."""
