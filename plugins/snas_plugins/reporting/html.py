"""One self-contained HTML report of a run: summary, every figure inline, the trial table, the configuration.

The file needs nothing else to be viewed: figures are inline PNG images
(base64 data URIs), the style sheet is inline, and there is no script and
no reference to any other file or address.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import math
from typing import Any

from snas import __version__, get_plugin_manager
from snas_plugins.reporting.analysis import (
    FigureUnavailable,
    accuracy_of,
    distinct,
    generation_of,
    importance_method,
    successful,
    comparable,
)
from snas_plugins.reporting.figures import FIGURES, figure_bytes

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { font-size: 1.25em; margin-top: 1.8em;
     border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f5f8; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #a33; } tr.best td { background: #fff7d6; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.caption { color: #444; font-size: 0.92em; } .unavailable { color: #a33; font-style: italic; }
.method { background: #f6f8fa; border-left: 3px solid #4c72b0; padding: 0.5em 0.8em; font-size: 0.9em; }
pre { background: #f6f8fa; padding: 0.7em; overflow-x: auto; font-size: 0.82em; }
nav a { margin-right: 0.9em; } details summary { cursor: pointer; }
"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "\u2013"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return _esc(value)


def _describe(result: Any) -> list[str]:
    from snas import describe_architecture

    arch = result.best.arch
    try:
        return get_plugin_manager().get_family(arch.family).describe(arch)
    except Exception:  # a family no longer installed
        return describe_architecture(arch)


def summary_rows(result: Any) -> list[tuple[str, str]]:
    """``(label, HTML value)`` rows: status, trials, data, search, and the best trial's numbers."""
    cfg = result.config
    ok = successful(result)
    failed = sum(1 for t in result.trials if t.status != "ok")
    cached = sum(1 for t in result.trials if t.cached_from is not None)
    data = result.data_info
    sizes = data.get("sizes") or {}
    rows = [
        ("status", _esc(result.status)),
        ("trials", f"{len(result.trials)} ({len(ok)} successful, {failed} failed, {cached} answered from the cache)"),
        ("data set", _esc(f"{data.get('name', cfg.get('dataset'))}: {data.get('num_classes', '?')} classes, input "
                          + "\u00d7".join(map(str, data.get("input_shape") or ["?"]))
                          + (", " + ", ".join(f"{k} {v}" for k, v in sizes.items()) if sizes else ""))),
        ("search", _esc(f"{cfg.get('strategy')} over {', '.join(cfg.get('network_types') or [])}, evaluator "
                        f"{cfg.get('evaluator')}, seed {cfg.get('seed')}")),
        ("time in trials", f"{sum(t.duration for t in result.trials):.1f} s"),
    ]
    best = result.best
    if best is None:
        rows.append(("best architecture", "none: no trial succeeded"))
        return rows
    m = best.metrics
    rows += [
        ("best trial", _esc(f"{best.trial_id} ({best.fingerprint})")),
        ("best architecture", "<pre>" + _esc("\n".join(_describe(result))) + "</pre>"),
        ("validation accuracy", _num(accuracy_of(best))),
        ("test accuracy", _num(m.get("test_accuracy"))),
        ("parameters", _num(m.get("params"))),
        ("FLOPs per image", _num(m.get("flops"))),
    ]
    return rows


def trial_rows(result: Any) -> str:
    """The trial table's body: one row per trial, failed trials with their error."""
    generations = generation_of(result)
    best_id = result.best.trial_id if result.best else None
    out = []
    for t in sorted(result.trials, key=lambda t: t.trial_id):
        m = t.metrics
        status = t.status if t.cached_from is None else f"cached ({t.cached_from})"
        error = ""
        if t.error:
            first = t.error.strip().splitlines()[0] if t.error.strip() else t.error
            error = f"<details><summary>{_esc(first[:120])}</summary><pre>{_esc(t.error)}</pre></details>"
        css = "best" if t.trial_id == best_id else ("failed" if not t.ok else "")
        cells = [
            f'<td class="num">{t.trial_id}</td>',
            f'<td class="num">{_num(generations.get(t.trial_id))}</td>',
            f"<td>{_esc(t.arch.family)}</td>",
            f"<td>{_esc(status)}</td>",
            f"<td>{_esc(t.protocol)}</td>",
            f'<td class="num">{_num(t.score)}</td>',
            f'<td class="num">{_num(m.get("test_accuracy"))}</td>',
            f'<td class="num">{_num(m.get("params"))}</td>',
            f'<td class="num">{_num(m.get("flops"))}</td>',
            f'<td class="num">{_num(m.get("epochs"))}</td>',
            f'<td class="num">{t.duration:.1f}</td>',
            f"<td><code>{_esc(t.fingerprint)}</code></td>",
            f"<td>{error}</td>",
        ]
        out.append(f'<tr class="{css}">' + "".join(cells) + "</tr>")
    return "\n".join(out)


TRIAL_COLUMNS = ("trial", "generation", "family", "status", "protocol", "score", "test accuracy", "parameters",
                 "FLOPs", "epochs", "seconds", "fingerprint", "error")


def figure_sections(result: Any) -> tuple[list[str], dict[str, str]]:
    """An HTML section per figure, and ``{kind: reason}`` for the figures the run cannot give."""
    sections, missing = [], {}
    for kind in FIGURES.values():
        parts = [f'<section id="{kind.name}"><h2>{_esc(kind.title)}</h2>', f'<p class="caption">{_esc(kind.caption)}</p>']
        try:
            fig = kind.draw(result)
        except FigureUnavailable as exc:
            missing[kind.name] = str(exc)
            parts.append(f'<p class="unavailable">Not available: {_esc(exc)}</p>')
        else:
            data = base64.b64encode(figure_bytes(fig, "png")).decode("ascii")
            del fig
            parts.append(f'<img id="figure-{kind.name}" alt="{_esc(kind.title)}" src="data:image/png;base64,{data}">')
        if kind.name == "importance":
            n = len(comparable(distinct(successful(result))))
            parts.append(f'<p class="method"><b>How importance is computed.</b> {_esc(importance_method(n))}</p>')
        parts.append("</section>")
        sections.append("\n".join(parts))
    return sections, missing


def _json_block(value: Any) -> str:
    return "<pre>" + _esc(json.dumps(value, indent=2, sort_keys=True, default=str)) + "</pre>"


def render_report(result: Any) -> tuple[str, dict[str, str]]:
    """The report of ``result`` as one HTML page, and ``{figure: reason}`` for figures left out."""
    name = result.config.get("run_name") or result.path.parent.name
    sections, missing = figure_sections(result)
    summary = "\n".join(f"<tr><th>{_esc(label)}</th><td>{value}</td></tr>" for label, value in summary_rows(result))
    nav = " ".join(f'<a href="#{k}">{_esc(kind.title)}</a>' for k, kind in FIGURES.items())
    created = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>snas report: {_esc(name)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>snas report: {_esc(name)}</h1>
<p class="meta">Run file {_esc(result.path)} &middot; written by snas {_esc(result.snas_version)}, report by snas
{_esc(__version__)} on {_esc(created)}</p>
<nav>{nav} <a href="#trials">Trials</a> <a href="#configuration">Configuration</a></nav>
<h2 id="summary">Summary</h2>
<table>{summary}</table>
{chr(10).join(sections)}
<section id="trials"><h2>Trials</h2>
<table><thead><tr>{"".join(f"<th>{c}</th>" for c in TRIAL_COLUMNS)}</tr></thead>
<tbody>
{trial_rows(result)}
</tbody></table></section>
<section id="configuration"><h2>Configuration</h2>
<p class="caption">The run's configuration, as stored in its run file.</p>
{_json_block(result.config)}
<h3>Data</h3>
{_json_block(result.data_info)}
<h3>Plugins</h3>
{_json_block(result.plugins)}
</section>
</body>
</html>
"""
    return page, missing
