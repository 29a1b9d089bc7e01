"""``snas plot`` and ``snas report`` on real run files: every figure is written, readable and has data."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

import attrs
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import snas
from snas import Choice, NetworkFamily, SearchSpace, hookimpl
from snas.frontends.cli import cli
from snas_plugins.reporting import analysis, figures
from snas_plugins.reporting.analysis import FigureUnavailable
from snas_plugins.reporting.commands import PLOT_KINDS
from snas_plugins.reporting.html import render_report

KINDS = list(figures.FIGURES)


class Broken(NetworkFamily):
    """A family whose every network fails to build: a run of it has no successful trial."""

    name = "broken_for_report"

    def space(self):
        return SearchSpace(self.name, [Choice("width", (8, 16, 32)), Choice("learning_rate", (0.01,)),
                                       Choice("optimizer", ("adam",))])

    def build(self, arch, input_shape, num_classes):
        raise RuntimeError("this family never builds")


class BrokenPlugin:
    @hookimpl
    def snas_register_families(self):
        return [Broken]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A real evolutionary search on digits: 11 trained architectures over 3 generations, full metrics."""
    folder = tmp_path_factory.mktemp("report") / "run"
    snas.search(max_trials=11, seed=0, run_dir=folder,
                strategy_options={"population_size": 5, "generations": 3, "elite_size": 2},
                evaluator_options={"max_epochs": 2})
    return snas.load_run(folder / "run.h5")


@pytest.fixture(scope="module")
def failed_run(tmp_path_factory):
    """A real run in which every trial failed."""
    manager = snas.get_plugin_manager()
    name = manager.register(BrokenPlugin(), name="report-test-broken")
    try:
        folder = tmp_path_factory.mktemp("report") / "failed"
        snas.search(strategy="random", network_types=["broken_for_report"], max_trials=2, seed=0, run_dir=folder)
    finally:
        manager.unregister(name=name)
    return snas.load_run(folder / "run.h5")


@pytest.fixture(scope="module")
def commands():
    """The ``snas`` group with the plugin commands added, as ``snas.frontends.cli.main`` does."""
    snas.get_plugin_manager().hook.snas_register_commands(cli=cli)
    return cli


def _gid(ax, gid):
    return [a for a in [*ax.lines, *ax.collections, *ax.patches, *ax.images, *ax.texts] if a.get_gid() == gid]


def _one(fig, gid):
    found = [a for ax in fig.axes for a in _gid(ax, gid)]
    assert len(found) == 1, f"expected one artist {gid!r}, found {len(found)}"
    return found[0]


def _error_lines(output):
    assert "Traceback" not in output
    return [line for line in output.splitlines() if line.startswith("Error")]


# -- the command line ----------------------------------------------------------------------------


def test_plot_command_offers_every_figure():
    assert PLOT_KINDS == tuple(figures.FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_every_plot_kind_writes_a_readable_png_and_svg(commands, run, tmp_path, kind):
    png, svg = tmp_path / f"{kind}.png", tmp_path / f"{kind}.svg"
    for out in (png, svg):
        result = CliRunner().invoke(commands, ["plot", str(run.path), kind, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert f"wrote {out}" in result.output
    with Image.open(png) as image:
        image.load()
        assert image.width >= 400 and image.height >= 300
        pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 5  # not a blank canvas
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10


@pytest.mark.slow
def test_plot_accepts_the_run_folder_and_writes_pdf(commands, run, tmp_path):
    out = tmp_path / "p.pdf"
    result = CliRunner().invoke(commands, ["plot", str(run.path.parent), "progress", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF")


@pytest.mark.slow  # starts the real `snas` program (torch and every plugin): ~10 s on a busy machine
def test_missing_run_file_is_one_error_line(tmp_path):
    missing = tmp_path / "nowhere" / "run.h5"
    proc = subprocess.run([sys.executable, "-m", "snas", "plot", str(missing), "progress", "--out",
                           str(tmp_path / "p.png")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    errors = _error_lines(proc.stderr)
    assert len(errors) == 1 and str(missing) in errors[0] and "does not exist" in errors[0]
    assert not (tmp_path / "p.png").exists()


def test_report_of_a_missing_run_is_one_error_line(commands, tmp_path):
    result = CliRunner().invoke(commands, ["report", str(tmp_path / "none.h5"), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 1
    errors = _error_lines(result.output)
    assert len(errors) == 1 and "none.h5" in errors[0]
    assert not (tmp_path / "r.html").exists()


def test_unknown_plot_kind_names_the_choices(commands, tmp_path):
    result = CliRunner().invoke(commands, ["plot", str(tmp_path / "run.h5"), "histogram"])
    assert result.exit_code == 2
    errors = _error_lines(result.output)
    assert len(errors) == 1 and "'histogram'" in errors[0]
    for kind in KINDS:
        assert kind in errors[0]


def test_unknown_output_format_is_refused_before_reading(commands, tmp_path):
    result = CliRunner().invoke(commands, ["plot", str(tmp_path / "run.h5"), "roc", "--out", str(tmp_path / "r.jpg")])
    assert result.exit_code == 1
    errors = _error_lines(result.output)
    assert len(errors) == 1 and "r.jpg" in errors[0] and ".png" in errors[0] and ".svg" in errors[0]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_a_run_without_successful_trials_gives_one_error_line(commands, failed_run, tmp_path, kind):
    out = tmp_path / "x.png"
    result = CliRunner().invoke(commands, ["plot", str(failed_run.path), kind, "--out", str(out)])
    assert result.exit_code == 1
    errors = _error_lines(result.output)
    assert len(errors) == 1
    assert "successful trial" in errors[0] or "distinct architectures" in errors[0], errors[0]
    assert not out.exists()


# -- the figures hold the run's data -------------------------------------------------------------


@pytest.mark.slow
def test_progress_plots_every_score_the_best_so_far_and_each_generation(run):
    fig = figures.progress(run)
    ok = sorted((t for t in run.trials if t.ok), key=lambda t: t.trial_id)
    points = _one(fig, "scores").get_offsets()
    assert [tuple(p) for p in points] == [(t.trial_id, t.score) for t in ok]
    best = _one(fig, "best").get_ydata()
    assert list(best) == sorted(best) and best[-1] == run.best.score
    mean = _one(fig, "generation_mean")
    assert list(mean.get_xdata()) == [g["generation"] for g in run.generations]
    by_id = {t.trial_id: t for t in run.trials}
    expected = [np.mean([by_id[i].score for i in g["trials"] if by_id[i].ok]) for g in run.generations]
    assert np.allclose(mean.get_ydata(), expected)
    assert len(run.generations) == 3


@pytest.mark.slow
def test_curves_are_the_best_trials_epochs(run):
    fig = figures.curves(run)
    epochs = run.best.metrics["epochs"]
    for name in ("train_loss", "val_loss", "train_acc", "val_acc", "lr"):
        line = _one(fig, name)
        assert list(line.get_xdata()) == list(range(1, epochs + 1))
        assert np.allclose(line.get_ydata(), run.best.curves[name])


@pytest.mark.slow
def test_pareto_front_holds_exactly_the_non_dominated_trials(run):
    fig = figures.pareto(run)
    ok = analysis.distinct(t for t in run.trials if t.ok)
    for ax, cost in zip(fig.axes, ("params", "flops")):
        points = [tuple(p) for p in _gid(ax, "trials")[0].get_offsets()]
        assert sorted(points) == sorted((float(t.metrics[cost]), t.metrics["val_accuracy"]) for t in ok)
        front = set(zip(*_gid(ax, "front")[0].get_data()))

        def dominated(p):
            return any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)

        assert front and all(not dominated(p) for p in front)
        assert all(dominated(p) or p in front for p in points)


@pytest.mark.slow
def test_importance_has_a_bar_per_varied_parameter_and_says_its_basis(run):
    fig = figures.importance(run)
    n = len(analysis.distinct(t for t in run.trials if t.ok))
    assert n >= analysis.MIN_IMPORTANCE_TRIALS
    ax = fig.axes[0]
    bars = _gid(ax, "importance")
    names = [label.get_text() for label in ax.get_yticklabels()]
    assert len(bars) == len(names) >= 3
    known = {g.name for g in analysis.encoding_groups(analysis.run_space(run))}
    assert set(names) <= known
    assert f"({n} trials)" in fig._suptitle.get_text()
    assert "random forest" in ax.get_title() and "permutation importance" in ax.get_title()


@pytest.mark.slow
def test_encoding_groups_cover_every_column_in_order(run):
    space = analysis.run_space(run)
    groups = analysis.encoding_groups(space)
    assert groups[0].start == 0 and groups[-1].stop == space.encoding_size
    assert all(a.stop == b.start for a, b in zip(groups, groups[1:]))
    # changing one parameter changes only the columns of its group
    arch = run.best.arch
    name = next(n for n in ("dropout", "learning_rate") if n in arch.params)
    values = space.space(arch.family).full.parameter(name).values
    other = arch.replace(**{name: next(v for v in values if v != arch[name])})
    changed = np.flatnonzero(space.encode(arch) != space.encode(other))
    group = next(g for g in groups if g.family == arch.family and g.parameter == name)
    assert changed.size and all(group.start <= c < group.stop for c in changed)


@pytest.mark.slow
def test_space_maps_every_architecture_and_counts_every_value_tried(run):
    fig = figures.space(run)
    ok = analysis.distinct(t for t in run.trials if t.ok)
    assert len(_one(fig, "architectures").get_offsets()) == len(ok)
    coverage = _one(fig, "coverage").get_array()
    rows = analysis.explored_values(run)
    assert coverage.shape[0] == len(rows)
    family_row = next(i for i, r in enumerate(rows) if r.name == "family")
    assert coverage[family_row].sum() == len(run.trials)
    for i, row in enumerate(rows):
        if row.name.endswith(".learning_rate"):
            family = row.name.split(".")[0]
            assert coverage[i].sum() == sum(1 for t in run.trials if t.arch.family == family)


@pytest.mark.slow
def test_confusion_matrix_counts_the_test_split(run):
    fig = figures.confusion(run)
    matrix = np.asarray(run.best.metrics["confusion_matrix"])
    image = _one(fig, "confusion").get_array()
    assert image.shape == matrix.shape == (10, 10)
    assert np.allclose(image.sum(axis=1), 1.0)
    ax = fig.axes[0]
    cells = sum(int(t.get_text()) for t in ax.texts if t.get_text().isdigit())
    assert cells == matrix.sum() == run.data_info["sizes"]["test"]


@pytest.mark.slow
def test_roc_draws_a_curve_per_class_and_their_mean(run):
    fig = figures.roc(run)
    ax = fig.axes[0]
    grid = run.best.metrics["roc_curves"]["fpr"]
    classes = _gid(ax, "roc_class")
    assert len(classes) == 10
    assert all(list(line.get_xdata()) == grid for line in classes)
    mean = _one(fig, "roc_mean").get_ydata()
    assert np.allclose(mean, np.mean(run.best.metrics["roc_curves"]["tpr"], axis=0))


@pytest.mark.slow
def test_architecture_diagram_has_a_box_per_layer(run):
    fig = figures.architecture(run)
    ax = fig.axes[0]
    blocks, arrows = _gid(ax, "block"), _gid(ax, "arrow")
    assert len(_gid(ax, "settings")) == 1
    assert len(arrows) == len(blocks) - 1
    layers = snas.get_plugin_manager().get_family(run.best.arch.family).describe(run.best.arch)[1:]
    texts = " ".join(t.get_text() for t in ax.texts)
    for line in layers:
        assert line.split(": ", 1)[1] in texts
    bodies = [line.split(": ", 1)[1] for line in layers]
    runs = 1 + sum(a != b for a, b in zip(bodies, bodies[1:]))  # identical consecutive layers share a box
    assert len(blocks) == 2 + runs  # input, output and the layers
    assert "input" in texts and "10 classes" in texts


# -- figures degrade with a reason ---------------------------------------------------------------


def _without_metrics(result, *keys):
    best = attrs.evolve(result.best, metrics={k: v for k, v in result.best.metrics.items() if k not in keys},
                        curves={})
    trials = [best if t.trial_id == best.trial_id else t for t in result.trials]
    return attrs.evolve(result, trials=trials, best=best)


@pytest.mark.slow
def test_figures_name_what_a_run_lacks(run):
    bare = _without_metrics(run, "confusion_matrix", "roc_curves")
    for draw, words in ((figures.confusion, "no confusion matrix"), (figures.roc, "no ROC curves"),
                        (figures.curves, "no per-epoch curves")):
        with pytest.raises(FigureUnavailable, match=words):
            draw(bare)
    few = attrs.evolve(run, trials=run.trials[:4])
    k = len(analysis.distinct(t for t in few.trials if t.ok))
    with pytest.raises(FigureUnavailable, match=rf"at least 8 distinct successful architectures.* has {k}$"):
        figures.importance(few)
    two = attrs.evolve(run, trials=run.trials[:2])
    fig = figures.space(two)  # the map needs 3 architectures; the values-tried panel still draws
    assert "at least 3 distinct architectures" in " ".join(_one(fig, "note").get_text().split())
    assert _one(fig, "coverage") is not None


# -- the report --------------------------------------------------------------------------------


def _write_report(commands, run, tmp_path):
    out = tmp_path / "report.html"
    result = CliRunner().invoke(commands, ["report", str(run.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return result.output, out.read_text(encoding="utf-8")


@pytest.mark.slow
def test_report_is_one_self_contained_file_with_every_figure(commands, run, tmp_path):
    _, page = _write_report(commands, run, tmp_path)
    for kind in KINDS:
        match = re.search(rf'<img id="figure-{kind}" alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
        assert match, kind
        with Image.open(io.BytesIO(base64.b64decode(match.group(1)))) as image:
            image.load()
            assert image.width >= 400
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page and "@import" not in page
    assert set(re.findall(r'(?:src|href)="([^"#][^":]*):', page)) == {"data"}
    assert "Not available" not in page
    # the summary, the configuration and the trial table
    best = run.best
    assert f"{best.trial_id} ({best.fingerprint})" in page
    assert f"{best.metrics['test_accuracy']:.4f}" in page and f"{best.metrics['params']:,}" in page
    config = json.dumps(run.config, indent=2, sort_keys=True)
    assert config.replace('"', "&quot;") in page
    table = page[page.index('id="trials"'):page.index('id="configuration"')]
    assert table.count("<tr") == len(run.trials) + 1
    n = len(analysis.distinct(t for t in run.trials if t.ok))
    assert f"encodings of {n} distinct successful architectures" in page
    assert "permutation_importance" in page


@pytest.mark.slow
def test_report_of_a_run_without_successful_trials_names_each_missing_figure(commands, failed_run, tmp_path):
    output, page = _write_report(commands, failed_run, tmp_path)
    assert page.count('<p class="unavailable">Not available:') == len(KINDS)
    assert "this family never builds" in page  # the failed trials' errors are in the table
    assert "no trial succeeded" in page
    notes = [line for line in output.splitlines() if line.startswith("note: no ")]
    assert len(notes) == len(KINDS)


@pytest.mark.slow
def test_drawing_uses_no_pyplot_state(run):
    code = (
        "import sys, snas\n"
        "from snas_plugins.reporting.html import render_report\n"
        f"page, missing = render_report(snas.load_run({str(run.path)!r}))\n"
        "assert not missing, missing\n"
        "print('pyplot' if 'matplotlib.pyplot' in sys.modules else 'clean')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "clean"
