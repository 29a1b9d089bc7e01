"""The figures of a run, as matplotlib figures: what ``snas plot``, ``snas report`` and the UI show.

Each figure function takes a :class:`snas.RunResult` (from
:func:`snas.load_run`) and returns a :class:`matplotlib.figure.Figure` drawn
on its own Agg canvas: pyplot is never used, so no global figure state is
created or leaked, and a figure is freed with its last reference. A run that
lacks what a figure needs raises :class:`FigureUnavailable` with the reason.

The data artists carry a ``gid`` (``"scores"``, ``"front"``, …) so callers
and tests can find what a figure plots without reading pixels.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path
from typing import Any, Callable

import attrs
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.ticker import MaxNLocator

from snas import ConfigError, describe_architecture, get_plugin_manager
from snas_plugins.reporting.analysis import (
    IMPORTANCE_REPEATS,
    IMPORTANCE_TREES,
    FigureUnavailable,
    architecture_map,
    explored_values,
    parameter_importance,
    require_best,
    require_successful,
    run_space,
    search_progress,
    tradeoff,
)

#: file formats ``save_figure`` writes, by suffix
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: resolution of PNG files
DPI = 120
#: ROC figures draw a legend entry per class up to this many classes
MAX_LEGEND_CLASSES = 12
#: confusion matrices print the count in each cell up to this many classes
MAX_ANNOTATED_CLASSES = 20


def new_figure(width: float, height: float, *, layout: str | None = "constrained") -> Figure:
    """A figure on its own Agg canvas (no pyplot, no global state)."""
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    return fig


def note(ax: Any, text: str) -> None:
    """Write ``text`` in the middle of an empty ``ax`` (a panel the run has no data for)."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, "\n".join(textwrap.wrap(text, 48)), ha="center", va="center", transform=ax.transAxes,
            fontsize=9, color="#555555", gid="note")


def _score_label(result: Any) -> str:
    trials = [t for t in result.trials if t.ok]
    if trials and all(t.metrics.get("val_accuracy") == t.score for t in trials):
        return "validation accuracy"
    return f"score ({result.config.get('evaluator', 'evaluator')})"


def _title(result: Any, text: str) -> str:
    name = result.config.get("run_name") or Path(result.path).parent.name
    return f"{text} \u2014 {name}" if name else text


# --------------------------------------------------------------------------
# the figures


def progress(result: Any) -> Figure:
    """Best-so-far score against trial (every trial's score as a dot), and mean score per generation."""
    data = search_progress(result)
    label = _score_label(result)
    fig = new_figure(11, 4)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    left.scatter(data.trial_ids, data.scores, s=18, color="#4c72b0", alpha=0.7, label="trial", gid="scores")
    left.step(data.trial_ids, data.best_so_far, where="post", color="#c44e52", lw=2, label="best so far", gid="best")
    if data.failed_ids:
        left.plot(data.failed_ids, [0.02] * len(data.failed_ids), "x", color="#999999",
                  transform=left.get_xaxis_transform(), label=f"failed ({len(data.failed_ids)})", gid="failed")
    left.set(xlabel="trial", ylabel=label, title=f"Score by trial ({len(data.trial_ids)} successful)")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.legend(loc="best", fontsize=8)
    left.grid(alpha=0.3)
    if data.generations:
        right.plot(data.generations, data.generation_mean, "o-", color="#4c72b0", label="mean", gid="generation_mean")
        right.plot(data.generations, data.generation_best, "s--", color="#c44e52", label="best", gid="generation_best")
        right.set(xlabel="generation", ylabel=label, title="Per generation")
        if len(data.generations) <= 20:
            right.set_xticks(data.generations)
        right.legend(loc="best", fontsize=8)
        right.grid(alpha=0.3)
    else:
        note(right, "The run records no generations (its strategy proposes no batches of its own).")
    fig.suptitle(_title(result, "Search progress"))
    return fig


#: panels of the curves figure: title and the curves it holds (name in the run, legend label)
CURVE_PANELS = (
    ("Loss", (("train_loss", "train"), ("val_loss", "validation"))),
    ("Accuracy", (("train_acc", "train"), ("val_acc", "validation"))),
    ("Learning rate", (("lr", "learning rate"),)),
)


def curves(result: Any) -> Figure:
    """The best trial's per-epoch curves: train and validation loss and accuracy, learning rate."""
    best = require_best(result, "the training curves")
    known = {name for _, series in CURVE_PANELS for name, _ in series}
    panels = [(title, [(n, lbl) for n, lbl in series if best.curves.get(n)]) for title, series in CURVE_PANELS]
    others = [(n, n) for n, values in best.curves.items() if n not in known and values]
    if others:
        panels.append(("Other", others))
    panels = [(title, series) for title, series in panels if series]
    if not panels:
        raise FigureUnavailable(
            f"the best trial ({best.trial_id}) has no per-epoch curves: its evaluator "
            f"({result.config.get('evaluator', 'unknown')}) records none"
        )
    fig = new_figure(4 * len(panels), 3.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (title, series) in zip(axes, panels):
        for name, label in series:
            values = best.curves[name]
            ax.plot(range(1, len(values) + 1), values, "o-", ms=3, label=label, gid=name)
        ax.set(xlabel="epoch", title=title)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if title == "Learning rate" and min(best.curves["lr"]) > 0:
            ax.set_yscale("log")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    epoch = best.metrics.get("best_epoch")
    if isinstance(epoch, int):
        for ax in axes:
            ax.axvline(epoch, color="#999999", ls=":", lw=1)
    fig.suptitle(_title(result, f"Training curves of the best trial ({best.trial_id})"
                                + (f", best epoch {epoch}" if isinstance(epoch, int) else "")))
    return fig


def pareto(result: Any) -> Figure:
    """Validation accuracy against parameters and against FLOPs, every successful trial, Pareto front drawn."""
    require_successful(result, "the Pareto figure")
    tradeoffs = [tradeoff(result, "params"), tradeoff(result, "flops")]
    if not any(t.trial_ids for t in tradeoffs):
        raise FigureUnavailable(f"run {result.path} records neither parameter counts nor FLOPs of its trials")
    fig = new_figure(11, 4.2)
    labels = {"params": "parameters", "flops": "FLOPs per image"}
    for ax, data in zip(fig.subplots(1, 2), tradeoffs):
        if not data.trial_ids:
            note(ax, f"The run records no {labels[data.cost]} for its trials.")
            continue
        ax.scatter(data.costs, data.accuracies, s=20, color="#4c72b0", alpha=0.6, label="trial", gid="trials")
        front_x = [data.costs[i] for i in data.front]
        front_y = [data.accuracies[i] for i in data.front]
        ax.step(front_x, front_y, where="post", color="#c44e52", lw=1.5, marker="o", ms=5,
                label=f"Pareto front ({len(data.front)})", gid="front")
        for i in data.front:
            ax.annotate(str(data.trial_ids[i]), (data.costs[i], data.accuracies[i]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set(xlabel=labels[data.cost] + " (log scale)", ylabel="validation accuracy",
               title=f"Accuracy against {labels[data.cost]}")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3, which="both")
    fig.suptitle(_title(result, "Accuracy and cost (front labelled by trial id)"))
    return fig


def importance(result: Any, manager: Any = None) -> Figure:
    """Parameter importance: permutation importance of a random forest fitted on the encodings."""
    data = parameter_importance(result, manager=manager)
    fig = new_figure(8, 1.6 + 0.32 * len(data.names))
    ax = fig.subplots()
    positions = np.arange(len(data.names))[::-1]
    ax.barh(positions, data.mean, xerr=data.std, color="#4c72b0", ecolor="#555555", capsize=2, gid="importance")
    ax.set_yticks(positions, data.names, fontsize=8)
    ax.axvline(0, color="#333333", lw=0.8)
    ax.set(xlabel="mean drop in R\u00b2 when the parameter is shuffled")
    ax.grid(alpha=0.3, axis="x")
    ax.set_title(
        f"random forest ({IMPORTANCE_TREES} trees) on the encodings of {data.n_trials} trials, "
        f"permutation importance ({IMPORTANCE_REPEATS} shuffles); forest R\u00b2 {data.r2:.2f}",
        fontsize=8,
    )
    fig.suptitle(_title(result, f"Parameter importance ({data.n_trials} trials)"))
    return fig


def space(result: Any, manager: Any = None) -> Figure:
    """The search space as seen: a PCA map of the tried architectures by score, and the values tried."""
    require_successful(result, "the search-space figure")
    joint = run_space(result, manager)
    rows = explored_values(result, joint)
    width = max(len(r.labels) for r in rows)
    fig = new_figure(13, max(4.5, 1.2 + 0.3 * len(rows)))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, max(2, width / 4)]})
    try:
        arch_map = architecture_map(result, joint)
    except FigureUnavailable as exc:
        note(left, str(exc))
    else:
        ok = np.array([s is not None for s in arch_map.scores])
        if ok.any():
            points = left.scatter(arch_map.coords[ok, 0], arch_map.coords[ok, 1],
                                  c=[s for s in arch_map.scores if s is not None], cmap="viridis", s=30,
                                  edgecolors="#333333", linewidths=0.3, gid="architectures")
            fig.colorbar(points, ax=left, label=_score_label(result), shrink=0.8)
        if (~ok).any():
            left.scatter(arch_map.coords[~ok, 0], arch_map.coords[~ok, 1], marker="x", color="#999999",
                         label=f"failed ({int((~ok).sum())})", gid="failed")
            left.legend(fontsize=8)
        left.set(xlabel=f"PC1 ({arch_map.explained[0]:.0%} of variance)",
                 ylabel=f"PC2 ({arch_map.explained[1]:.0%} of variance)",
                 title=f"{len(arch_map.trial_ids)} distinct architectures (PCA of encodings)")
        left.grid(alpha=0.3)
    counts = np.full((len(rows), width), np.nan)
    for r, row in enumerate(rows):
        counts[r, :len(row.counts)] = row.counts
    high = max(1.0, float(np.nanmax(counts)))
    right.imshow(np.ma.masked_invalid(counts), cmap=_coverage_cmap(), vmin=0.5, vmax=high, aspect="auto",
                 interpolation="nearest", gid="coverage")
    for r, row in enumerate(rows):
        for j, (label, count) in enumerate(zip(row.labels, row.counts)):
            right.text(j, r, label[:9] + (f"\n\u00d7{count}" if count else ""), ha="center", va="center",
                       fontsize=6, linespacing=1.1, color="white" if count > 0.6 * high else "#222222")
    right.set_yticks(range(len(rows)), [f"{r.name} ({r.tried}/{len(r.labels)})" for r in rows], fontsize=7)
    right.set_xticks([])
    right.set_xticks(np.arange(width + 1) - 0.5, minor=True)
    right.set_yticks(np.arange(len(rows) + 1) - 0.5, minor=True)
    right.grid(which="minor", color="white", lw=1.5)
    right.tick_params(which="minor", length=0)
    right.set_title(f"Values tried at complexity level {joint.max_level}\n"
                    "(blue: tried, \u00d7 times; red: never tried)", fontsize=10)
    fig.suptitle(_title(result, "The search space as seen"))
    return fig


def _coverage_cmap() -> Any:
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    # from a quarter up the scale, so a value tried once is already visibly blue
    return ListedColormap(colormaps["Blues"](np.linspace(0.25, 1.0, 256))).with_extremes(bad="white", under="#f4cccc")


#: how the full-test metrics the figures read are named in messages
FULL_METRICS = {"confusion_matrix": "confusion matrix", "roc_curves": "ROC curves"}


def _full_metric(result: Any, key: str, what: str) -> tuple[Any, Any]:
    best = require_best(result, what)
    value = best.metrics.get(key)
    if value is None:
        raise FigureUnavailable(
            f"the best trial ({best.trial_id}) has no {FULL_METRICS[key]}: its evaluator recorded no full "
            f"test metrics (the train evaluator records them for full-protocol trials with full_metrics on)"
        )
    return best, value


def _class_names(result: Any, n: int) -> list[str]:
    names = result.data_info.get("class_names") or []
    return [str(c) for c in names] if len(names) == n else [str(i) for i in range(n)]


def confusion(result: Any) -> Figure:
    """The best trial's confusion matrix on the test split (colour: share of the true class)."""
    best, matrix = _full_metric(result, "confusion_matrix", "the confusion matrix")
    counts = np.asarray(matrix, dtype=float)
    n = counts.shape[0]
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = min(12.0, 3.5 + 0.35 * n)
    fig = new_figure(size + 1, size)
    ax = fig.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, gid="confusion")
    fig.colorbar(image, ax=ax, label="share of the true class", shrink=0.8)
    if n <= MAX_ANNOTATED_CLASSES:
        for i in range(n):
            for j in range(n):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=7,
                            color="white" if shares[i, j] > 0.6 else "#222222")
    names = _class_names(result, n)
    ticks = range(n) if n <= 40 else range(0, n, max(1, n // 20))
    ax.set_xticks(list(ticks), [names[i] for i in ticks], rotation=90 if n > 10 else 0, fontsize=7)
    ax.set_yticks(list(ticks), [names[i] for i in ticks], fontsize=7)
    ax.set(xlabel="predicted class", ylabel="true class")
    accuracy = best.metrics.get("test_accuracy", best.metrics.get("accuracy"))
    extra = f", test accuracy {accuracy:.3f}" if isinstance(accuracy, float) else ""
    fig.suptitle(_title(result, f"Confusion matrix, test split, trial {best.trial_id}{extra}"))
    return fig


def roc(result: Any) -> Figure:
    """The best trial's one-vs-rest ROC curve of every class on the test split, and their mean."""
    best, curves_ = _full_metric(result, "roc_curves", "the ROC curves")
    fpr = np.asarray(curves_["fpr"], dtype=float)
    tprs = curves_["tpr"]
    aucs = best.metrics.get("roc_auc_per_class") or [None] * len(tprs)
    defined = [i for i, t in enumerate(tprs) if t is not None]
    if not defined:
        raise FigureUnavailable(f"the best trial ({best.trial_id}) has no defined ROC curve (one class in the test split)")
    names = _class_names(result, len(tprs))
    fig = new_figure(6.5, 5.5)
    ax = fig.subplots()
    legend = len(defined) <= MAX_LEGEND_CLASSES
    for i in defined:
        auc = f" (AUC {aucs[i]:.3f})" if aucs[i] is not None else ""
        ax.plot(fpr, tprs[i], lw=1, alpha=0.7, label=f"{names[i]}{auc}" if legend else None, gid="roc_class")
    mean = np.mean([tprs[i] for i in defined], axis=0)
    macro = best.metrics.get("roc_auc")
    ax.plot(fpr, mean, color="black", lw=2.2,
            label="mean of classes" + (f" (macro AUC {macro:.3f})" if macro is not None else ""), gid="roc_mean")
    ax.plot([0, 1], [0, 1], ls="--", color="#999999", lw=1, gid="chance")
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right", title=None if legend else f"{len(defined)} classes, one curve each")
    ax.grid(alpha=0.3)
    ax.set_title("one class against the rest", fontsize=9)
    fig.suptitle(_title(result, f"ROC curves, test split, trial {best.trial_id}"))
    return fig


_LAYER_LINE = re.compile(r"^\s*layer (\d+): (.*)$")


@attrs.frozen
class Block:
    """One box of the architecture diagram."""

    heading: str
    text: str
    kind: str  # "settings" (the whole network's), "io" (input / output) or "layer"


def architecture_blocks(result: Any, manager: Any = None) -> list[Block]:
    """The best architecture as boxes: the network's settings, then input, each layer, output.

    Built from the family's ``describe(arch)`` lines; runs of identical
    consecutive layers become one box ("layers 3-6").
    """
    best = require_best(result, "the architecture diagram")
    try:
        lines = (manager or get_plugin_manager()).get_family(best.arch.family).describe(best.arch)
    except Exception:  # a family no longer installed still has a readable description
        lines = describe_architecture(best.arch)
    header, _, settings = lines[0].partition(":")
    shape = result.data_info.get("input_shape")
    blocks = [Block(f"{header.strip() or best.arch.family} network", settings.strip(), "settings"),
              Block("input", "\u00d7".join(map(str, shape)) if shape else "images", "io")]
    layers: list[list[Any]] = []  # [first layer, last layer, text]
    for line in lines[1:]:
        match = _LAYER_LINE.match(line)
        if match and layers and layers[-1][2] == match.group(2) and layers[-1][1] == int(match.group(1)) - 1:
            layers[-1][1] = int(match.group(1))
        elif match:
            layers.append([int(match.group(1)), int(match.group(1)), match.group(2)])
        else:
            layers.append([None, None, line.strip()])
    for first, last, text in layers:
        heading = "" if first is None else (f"layer {first}" if first == last else f"layers {first}\u2013{last}")
        blocks.append(Block(heading, text, "layer"))
    classes = result.data_info.get("num_classes")
    blocks.append(Block("output", f"{classes} classes" if classes else "class scores", "io"))
    return blocks


#: face colour and edge style of each kind of block
BLOCK_STYLE = {"settings": ("#fbf6e6", "--"), "io": ("#e8f0e8", "-"), "layer": ("#e6eef7", "-")}


def architecture(result: Any, manager: Any = None) -> Figure:
    """The best architecture as a block diagram: the network's settings, then input, each layer, output."""
    blocks = architecture_blocks(result, manager)
    best = result.best
    wrapped = [(b, textwrap.wrap(b.text, 60) or [""]) for b in blocks]
    line_h, pad, gap, width = 0.2, 0.12, 0.32, 6.0
    heights = [line_h * (len(lines) + (1 if b.heading else 0)) + 2 * pad for b, lines in wrapped]
    total = sum(heights) + gap * (len(blocks) - 1) + 0.7
    fig = new_figure(width + 0.6, total, layout=None)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(total, 0)
    ax.set_axis_off()
    ax.text(width / 2, 0.3, _title(result, f"Best architecture (trial {best.trial_id})"), ha="center",
            va="center", fontsize=10, weight="bold")
    y = 0.6
    previous = None  # bottom of the last box of the data flow
    for (block, lines), height in zip(wrapped, heights):
        face, style = BLOCK_STYLE[block.kind]
        ax.add_patch(FancyBboxPatch((0, y), width, height, boxstyle="round,pad=0,rounding_size=0.08", facecolor=face,
                                    edgecolor="#4c72b0", lw=1, ls=style,
                                    gid="settings" if block.kind == "settings" else "block"))
        text_y = y + pad
        if block.heading:
            ax.text(width / 2, text_y + line_h / 2, block.heading, ha="center", va="center", fontsize=8.5,
                    weight="bold")
            text_y += line_h
        for line in lines:
            ax.text(width / 2, text_y + line_h / 2, line, ha="center", va="center", fontsize=8, family="monospace")
            text_y += line_h
        if block.kind != "settings":
            if previous is not None:
                ax.add_patch(FancyArrowPatch((width / 2, previous), (width / 2, y), arrowstyle="-|>",
                                             mutation_scale=10, color="#4c72b0", lw=1, gid="arrow"))
            previous = y + height
        y += height + gap
    return fig


# --------------------------------------------------------------------------
# the catalogue and file output


@attrs.frozen
class FigureKind:
    """One kind of figure: its name on the command line, its title and what it shows."""

    name: str
    title: str
    draw: Callable[[Any], Figure]
    caption: str


FIGURES: dict[str, FigureKind] = {
    kind.name: kind
    for kind in (
        FigureKind("progress", "Search progress", progress,
                   "Every successful trial's score (dots) and the best score so far (line), against the trial "
                   "number; right, the mean and best score of each generation."),
        FigureKind("curves", "Training curves", curves,
                   "The best trial's training and validation loss and accuracy per epoch, and its learning rate; "
                   "the dotted line marks the epoch whose weights were kept."),
        FigureKind("pareto", "Accuracy against size and compute", pareto,
                   "Validation accuracy against parameter count and against FLOPs per image for every successful "
                   "trial; the line joins the Pareto front, the trials no other trial beats on both."),
        FigureKind("importance", "Parameter importance", importance,
                   "How much each parameter explains the score, by permutation importance of a random forest "
                   "fitted on the trials (see below for the method)."),
        FigureKind("space", "The search space as seen", space,
                   "Left: every distinct architecture tried, placed by the first two principal components of its "
                   "encoding and coloured by score. Right: for each parameter, how often each value allowed at the "
                   "run's complexity level was tried; red cells were never tried."),
        FigureKind("confusion", "Confusion matrix", confusion,
                   "The best trial's predictions on the test split: rows are true classes, columns predicted "
                   "ones; cells show counts, colour the share of the true class."),
        FigureKind("roc", "ROC curves", roc,
                   "The best trial's one-against-the-rest ROC curve of each class on the test split, and their "
                   "mean (black)."),
        FigureKind("architecture", "Best architecture", architecture,
                   "The best architecture as blocks, from the family's own description: the settings of the "
                   "whole network (dashed), then the input, each layer (runs of identical layers merged) and "
                   "the output."),
    )
}


def draw(result: Any, kind: str) -> Figure:
    """The figure called ``kind`` (a key of :data:`FIGURES`) of ``result``."""
    if kind not in FIGURES:
        raise ConfigError(f"unknown figure {kind!r}; choose one of {', '.join(FIGURES)}")
    return FIGURES[kind].draw(result)


def output_format(path: str | Path) -> str:
    """The format a figure file ``path`` asks for by its suffix; :class:`ConfigError` if none or no folder."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ConfigError(f"--out {path}: the file name must end in {', '.join(FORMATS)}")
    if not path.parent.is_dir():
        raise ConfigError(f"--out {path}: folder {path.parent} does not exist")
    return fmt


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` to ``path``; the suffix (.png, .svg or .pdf) picks the format."""
    fig.savefig(path, format=output_format(path), dpi=DPI)
    return Path(path)


def figure_bytes(fig: Figure, fmt: str = "png") -> bytes:
    """``fig`` encoded as PNG (or SVG / PDF) bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI)
    return buffer.getvalue()
