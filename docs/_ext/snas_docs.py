"""Sphinx extension for the snas docs: option tables generated from each component's ``Options``.

``snas-options KIND NAME``
    The settings table of one component, from :func:`snas.describe_options`.
``snas-components KIND``
    One section per built-in component of that kind: its description, module,
    the ``Options`` docstring and the settings table.

It also adds the commands plugins register (``snas benchmark``…) to the
click group, and gives the commands whose flags depend on the components a
command line chooses (``snas search``) their run-level flags, so sphinx-click
documents the command line a user really has; the components' own flags are
in their settings tables.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from docutils import nodes
from sphinx.util.docutils import SphinxDirective

import snas
from snas.contracts.components import NoOptions
from snas.runtime.plugins import get_plugin_manager, iter_components

#: components whose module starts with this are the built-ins documented here
BUILTIN_PREFIX = "snas_plugins."
KINDS = ("family", "strategy", "dataset", "evaluator", "executor", "exporter", "pruner")
#: how a user passes a component's settings, by kind
SETTING_ROUTES = {
    "strategy": "its flag when the strategy is chosen, ``-S key=value``, ``[strategy_options]`` in a TOML "
                "file, or a keyword of ``snas.search``",
    "dataset": "its flag when the data set is chosen, ``-D key=value``, ``[dataset_options]`` in a TOML file, "
               "or a keyword of ``snas.search``",
    "evaluator": "its flag when the evaluator is chosen, ``-E key=value``, ``[evaluator_options]`` in a TOML "
                 "file, or a keyword of ``snas.search``",
    "executor": "its flag when the executor is chosen, ``-X key=value``, ``[executor_options]`` in a TOML "
                "file, or a keyword of ``snas.search``",
    "exporter": "``-O FORMAT.key=value`` on ``snas export``; ``options={FORMAT: {...}}`` in ``export_run``",
    "pruner": "its flag when the pruner is chosen, ``-P key=value``, ``[pruner_options]`` in a TOML file, or a "
              "keyword of ``snas.search``",
}
#: kinds whose settings become flags of ``snas search`` when a command line chooses them
FLAG_KINDS = ("strategy", "dataset", "evaluator", "executor", "pruner")
_INLINE = re.compile(r"``(.+?)``|:[a-z:]+:`~?([^`]+)`|`([^`]+)`")


def inline(text: str) -> list[nodes.Node]:
    """Text with ``code`` and :role:`target` spans as docutils nodes (literals for both)."""
    out: list[nodes.Node] = []
    pos = 0
    for match in _INLINE.finditer(text):
        if match.start() > pos:
            out.append(nodes.Text(text[pos:match.start()]))
        out.append(nodes.literal(text=next(g for g in match.groups() if g is not None)))
        pos = match.end()
    if pos < len(text):
        out.append(nodes.Text(text[pos:]))
    return out


def paragraphs(text: str) -> list[nodes.Node]:
    """A docstring as paragraphs (blank lines separate them)."""
    blocks = [" ".join(block.split()) for block in re.split(r"\n\s*\n", text.strip()) if block.strip()]
    return [nodes.paragraph("", "", *inline(block)) for block in blocks]


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _allowed(row: dict[str, Any]) -> str:
    if row["choices"] is not None:
        return ", ".join(_value(c) for c in row["choices"])
    low, high = row["low"], row["high"]
    if low is not None and high is not None:
        return f"{low} … {high}"
    if low is not None:
        return f"≥ {low}"
    if high is not None:
        return f"≤ {high}"
    return ""


def table(headers: list[str], rows: list[list[list[nodes.Node] | str]], widths: list[int]) -> nodes.table:
    """A docutils table; each cell is a string or a list of inline nodes."""
    tgroup = nodes.tgroup(cols=len(headers))
    for width in widths:
        tgroup += nodes.colspec(colwidth=width)

    def row_node(cells: list[Any]) -> nodes.row:
        row = nodes.row()
        for cell in cells:
            content = [nodes.Text(cell)] if isinstance(cell, str) else cell
            row += nodes.entry("", nodes.paragraph("", "", *content))
        return row

    thead = nodes.thead()
    thead += row_node(headers)
    tbody = nodes.tbody()
    for cells in rows:
        tbody += row_node(cells)
    tgroup += thead
    tgroup += tbody
    return nodes.table("", tgroup, classes=["snas-options"])


def options_table(kind: str, cls: type) -> nodes.Node:
    """The settings of ``cls.Options`` as a table, or a sentence when it has none."""
    import attrs

    described = snas.describe_options(cls.Options)
    if not described:
        return nodes.paragraph(text="No settings.")
    # fields declared before snas.option carried their meaning as metadata["doc"]
    older = {f.name: f.metadata.get("doc", "") for f in attrs.fields(cls.Options)}
    taken = run_flags() if kind in FLAG_KINDS else None
    rows = []
    for row in described:
        row = {**row, "help": row["help"] or older.get(row["name"], "")}
        spellings = [row["flag"], *row["aliases"]]
        flag: list[nodes.Node] = []
        if taken is not None and row["cli"] and not any(f in taken for f in spellings):
            for spelling in spellings:
                flag += [nodes.Text(", ")] if flag else []
                flag.append(nodes.literal(text=spelling))
        default = "required" if row["required"] else _value(row["default"])
        rows.append([[nodes.literal(text=row["name"])], str(row["type"]), [nodes.literal(text=default)],
                     _allowed(row), flag, inline(row["help"])])
    return table(["setting", "type", "default", "allowed", "flag", "meaning"], rows,
                 [14, 10, 10, 12, 16, 38])


def run_flags() -> set[str]:
    """The flags ``snas search`` has whatever it chooses: a component's flag among them stays KEY=VALUE only."""
    from snas.frontends.cli import cli

    command = cli.commands["search"]
    command.build([])
    return {opt for param in command.params if not param.name.startswith(COMPONENT_PREFIXES)
            for opt in (*param.opts, *param.secondary_opts)}


#: parameter names of the flags a component adds (``strategy__evolutionary__population_size``)
COMPONENT_PREFIXES = tuple(f"{kind}__" for kind in FLAG_KINDS)


def builtin_components(kind: str) -> list[Any]:
    """The built-in components of ``kind`` (entry points of the snas distribution), by name."""
    infos = [i for i in iter_components(get_plugin_manager()) if i.kind == kind]
    return sorted((i for i in infos if i.cls.__module__.startswith(BUILTIN_PREFIX)), key=lambda i: i.name)


def _component(kind: str, name: str) -> Any:
    for info in iter_components(get_plugin_manager()):
        if info.kind == kind and info.name == name:
            return info
    raise ValueError(f"no {kind} named {name!r} is registered")


class OptionsDirective(SphinxDirective):
    """``snas-options KIND NAME``: the settings table of one component."""

    required_arguments = 2

    def run(self) -> list[nodes.Node]:
        kind, name = self.arguments
        try:
            info = _component(kind, name)
        except ValueError as exc:
            raise self.error(str(exc)) from None
        return [options_table(kind, info.cls)]


class ComponentsDirective(SphinxDirective):
    """``snas-components KIND``: a section per built-in component, with its settings."""

    required_arguments = 1

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        if kind not in KINDS:
            raise self.error(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        out: list[nodes.Node] = []
        route = SETTING_ROUTES.get(kind)
        if route:
            out.append(nodes.paragraph("", "", nodes.Text("Set with "), *inline(route), nodes.Text(".")))
        for info in builtin_components(kind):
            section_id = nodes.make_id(f"{kind}-{info.name}")
            section = nodes.section(ids=[section_id], names=[nodes.fully_normalize_name(f"{kind} {info.name}")])
            section += nodes.title(text=info.name)
            section += nodes.paragraph("", "", *inline(info.description.rstrip(".") + "."))
            section += nodes.paragraph("", "", nodes.Text("Module "), nodes.literal(text=info.cls.__module__),
                                       nodes.Text(", class "), nodes.literal(text=info.cls.__name__), nodes.Text("."))
            if info.cls.Options is not NoOptions:
                doc = inspect.getdoc(info.cls.Options)
                if doc:
                    section += paragraphs(doc)
            section += options_table(kind, info.cls)
            self.state.document.note_implicit_target(section, section)
            out.append(section)
        return out


def prepare_cli(_app: Any) -> None:
    """Add the commands plugins register, as ``snas`` does when it starts; give ``snas search`` its run flags."""
    from snas.frontends.cli import cli
    from snas.frontends.flags import SettingsCommand

    get_plugin_manager().hook.snas_register_commands(cli=cli)
    for command in cli.commands.values():
        if isinstance(command, SettingsCommand):
            command.build([])  # the run's own flags, and those of the default components
            command.params = [p for p in command.params if not p.name.startswith(COMPONENT_PREFIXES)]


def setup(app: Any) -> dict[str, Any]:
    app.add_directive("snas-options", OptionsDirective)
    app.add_directive("snas-components", ComponentsDirective)
    app.connect("builder-inited", prepare_cli)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
