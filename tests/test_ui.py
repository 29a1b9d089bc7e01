"""The web UI (``snas ui``) through Streamlit's AppTest: every page and action, on real runs and real processes."""

from __future__ import annotations

import io
import os
import signal
import sys
import time
import zipfile
from pathlib import Path

import attrs
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

pytest.importorskip("streamlit", reason="the web UI's tests need the ui extra: pip install -e '.[test]'")
from streamlit.testing.v1 import AppTest  # noqa: E402

import snas  # noqa: E402
from snas import Strategy, hookimpl  # noqa: E402
from snas.frontends.cli import cli  # noqa: E402
from snas.runtime.store import lock_holder  # noqa: E402
from snas_plugins.ui import commands as ui_commands  # noqa: E402
from snas_plugins.ui import forms, runs  # noqa: E402

APP = Path(ui_commands.__file__).with_name("app.py")
#: seconds an AppTest script run may take (the first import of the figures is slow on a busy machine)
SCRIPT_TIMEOUT = 120


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    """An empty runs folder the app shows (``$SNAS_UI_RUNS_DIR``); no search started in it outlives the test."""
    root = tmp_path / "runs"
    root.mkdir()
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(root))
    yield root
    for folder in runs.run_folders(root):
        process = runs.launched_process(folder)
        if process and process["alive"]:
            os.kill(process["pid"], signal.SIGTERM)
    runs.reap()


def open_page(page: str, run: str | None = None) -> AppTest:
    """The app, as a browser opening ``page`` (``page_new.py``…) with ``?run=RUN``."""
    at = AppTest.from_file(str(APP), default_timeout=SCRIPT_TIMEOUT)
    at.run()
    if run is not None:
        at.query_params["run"] = run
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    """Every markdown, caption, alert and progress text of the page, one per line."""
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [e.value for kind in ("error", "warning", "info", "success") for e in getattr(at, kind)]
    parts += [p.proto.text for p in at.get("progress")]
    return "\n".join(parts)


def wait_for(predicate, timeout: float, what: str, poll: float = 0.3):
    """Poll ``predicate`` until it returns something true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def process_output(folder: Path) -> str:
    """What the processes the UI started for ``folder`` printed (for failure messages)."""
    return runs.log_tail(folder, 60)


# --------------------------------------------------------------------------
# snas ui, the command


def test_ui_command_without_streamlit_says_how_to_install(monkeypatch):
    snas.get_plugin_manager().hook.snas_register_commands(cli=cli)
    monkeypatch.setitem(sys.modules, "streamlit", None)  # what an environment without the extra looks like
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code != 0
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "pip install 'snas[ui]'" in lines[0] and "Streamlit" in lines[0]


class FakeStreamlit:
    """Stands in for the ``streamlit run`` child process: records how it was started."""

    started: list[tuple[list[str], dict]] = []

    def __init__(self, argv, env):
        FakeStreamlit.started.append((list(argv), dict(env)))

    def wait(self):
        return 0


@pytest.mark.parametrize("host, warned", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                          ("0.0.0.0", True), ("192.0.2.7", True)])
def test_ui_command_listens_where_told_and_warns_off_loopback(monkeypatch, tmp_path, host, warned):
    snas.get_plugin_manager().hook.snas_register_commands(cli=cli)
    FakeStreamlit.started = []
    monkeypatch.setattr(ui_commands.subprocess, "Popen", FakeStreamlit)
    result = CliRunner().invoke(cli, ["ui", "--runs-dir", str(tmp_path / "r"), "--port", "8611", "--host", host])
    assert result.exit_code == 0, result.output
    assert ("no authentication" in result.output) is warned
    (argv, env), = FakeStreamlit.started
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(APP)
    assert argv[argv.index("--server.address") + 1] == host
    assert argv[argv.index("--server.port") + 1] == "8611"
    assert argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    assert env[runs.RUNS_DIR_ENV] == str((tmp_path / "r").resolve()) and (tmp_path / "r").is_dir()


def test_ui_command_defaults_to_loopback(monkeypatch):
    snas.get_plugin_manager().hook.snas_register_commands(cli=cli)
    FakeStreamlit.started = []
    monkeypatch.setattr(ui_commands.subprocess, "Popen", FakeStreamlit)
    result = CliRunner().invoke(cli, ["ui"])
    assert result.exit_code == 0 and "no authentication" not in result.output
    (argv, env), = FakeStreamlit.started
    assert argv[argv.index("--server.address") + 1] == "127.0.0.1"
    assert env[runs.RUNS_DIR_ENV] == str(Path("snas-runs").resolve())


# --------------------------------------------------------------------------
# forms from describe_options


def test_base_type_and_parse_text():
    assert forms.base_type("int | None") == ("int", True)
    assert forms.base_type("Optional[float]") == ("float", True)
    assert forms.base_type("bool") == ("bool", False)
    assert forms.base_type("list[int]") == ("json", False)
    info = {"name": "patience", "type": "int | None"}
    assert forms.parse_text(info, " 7 ") == 7 and forms.parse_text(info, "") is None
    with pytest.raises(snas.ConfigError, match="patience: expected a whole number or nothing, got 'x'"):
        forms.parse_text(info, "x")
    assert forms.parse_text({"name": "sizes", "type": "list[int]"}, "[1, 2]") == [1, 2]
    with pytest.raises(snas.ConfigError, match="sizes: expected JSON"):
        forms.parse_text({"name": "sizes", "type": "list[int]"}, "[1, 2")


@attrs.frozen
class SweepOptions:
    mode: str = snas.option("a", help="Which sweep.", choices=("a", "b", "c"))
    rounds: int = snas.option(4, help="Rounds of the sweep.", low=1, high=50)
    temperature: float = snas.option(0.5, help="Softness.", low=0.0)
    greedy: bool = snas.option(False, help="Take the best at once.")
    cap: int | None = snas.option(None, help="Most trials per round.")
    label: str = snas.option("sweep", help="A name.")


class Sweep(Strategy):
    """A third-party strategy: its form comes from its Options alone."""

    name = "ui_test_sweep"
    description = "a strategy only this test registers"
    Options = SweepOptions

    def ask(self, n):
        return []

    def tell(self, trial):
        pass


class SweepPlugin:
    @hookimpl
    def snas_register_strategies(self):
        return [Sweep]


@pytest.fixture
def sweep_strategy():
    manager = snas.get_plugin_manager()
    name = manager.register(SweepPlugin(), name="ui-test-sweep")
    yield Sweep
    manager.unregister(name=name)


def test_new_search_form_is_generated_from_the_options(runs_root, sweep_strategy):
    at = open_page("page_new.py")
    manager = snas.get_plugin_manager()
    listed = {o.split(" \u2014 ")[0] for o in at.selectbox(key="dataset").options}
    assert listed == set(manager.components("dataset"))
    assert {o.split(" \u2014 ")[0] for o in at.selectbox(key="strategy").options} == set(manager.components("strategy"))
    assert set(at.multiselect(key="families").options) == set(manager.components("family"))
    # every option of the default strategy, evaluator and data set has its field
    keys = {w.key for w in [*at.number_input, *at.checkbox, *at.selectbox, *at.text_input]}
    for kind, name in (("strategy", "evolutionary"), ("evaluator", "train"), ("dataset", "digits")):
        for info in snas.describe_options(manager.get(kind, name).Options):
            assert f"{kind}.{name}.{info['name']}" in keys, (kind, name, info["name"])

    at.selectbox(key="strategy").set_value("ui_test_sweep").run()
    assert not at.exception
    key = "strategy.ui_test_sweep."
    assert at.selectbox(key=key + "mode").options == ["a", "b", "c"]
    assert at.number_input(key=key + "rounds").min == 1 and at.number_input(key=key + "rounds").max == 50
    assert at.checkbox(key=key + "greedy").value is False
    assert at.text_input(key=key + "cap").value == ""
    at.selectbox(key=key + "mode").set_value("c")
    at.number_input(key=key + "rounds").set_value(9)
    at.checkbox(key=key + "greedy").check()
    at.text_input(key=key + "cap").input("12")
    at.run()
    command = at.code[0].value
    assert "--search-method ui_test_sweep" in command
    for part in ("-S 'mode=\"c\"'", "-S rounds=9", "-S greedy=true", "-S cap=12"):
        assert part in command, command
    assert "temperature" not in command and "label" not in command  # unchanged settings stay out


def test_new_search_refuses_a_bad_request_without_starting_anything(runs_root):
    at = open_page("page_new.py")
    at.text_input(key="strategy.evolutionary.offspring").input("two")
    at.multiselect(key="families").set_value([])
    at.run()
    at.button(key="start").click().run()
    errors = [e.value for e in at.error]
    assert any("offspring: expected a whole number or nothing, got 'two'" in e for e in errors), errors
    assert any("pick at least one network family" in e for e in errors), errors
    assert list(runs_root.iterdir()) == []


def test_check_request_names_each_problem(tmp_path, runs_root, sweep_strategy):
    (runs_root / "taken").mkdir()
    request = runs.SearchRequest(run_name="taken", dataset="folder", dataset_options={"path": str(tmp_path / "no")},
                                 strategy="ui_test_sweep", strategy_options={"rounds": 0},
                                 network_types=("cnn", "nosuch"))
    errors = runs.check_request(request, runs_root)
    assert len(errors) == 4, errors
    assert errors[0] == f"{runs_root / 'taken'} already exists; pick another run name"
    assert errors[1].startswith("strategy ui_test_sweep: ") and "rounds must be >= 1, got 0" in errors[1]
    assert errors[2].startswith("unknown family 'nosuch'")
    assert errors[3] == f"data folder {tmp_path / 'no'} does not exist"
    assert runs.check_request(attrs.evolve(request, run_name="a b"), runs_root)[0].startswith("run name 'a b'")
    good = runs.SearchRequest(run_name="fine", dataset="digits", network_types=("mlp",))
    assert runs.check_request(good, runs_root) == []


def test_search_command_is_the_command_a_user_would_type(tmp_path):
    request = runs.SearchRequest(run_name="r", dataset="digits", strategy="random", network_types=("cnn", "mlp"),
                                 evaluator="train", max_trials=30, time_budget=90, max_complexity=3,
                                 num_workers=2, seed=5, evaluator_options={"max_epochs": 2, "monitor": "val_loss"},
                                 dataset_options={"val_fraction": 0.25})
    argv = runs.search_command(request, tmp_path)
    assert argv[:4] == [sys.executable, "-m", "snas", "search"]
    shown = runs.shown_command(argv)
    assert shown.startswith("snas search --quiet --output-dir ")
    for part in ("--dataset digits", "--search-method random", "--network-type cnn,mlp", "--evaluator train",
                 "--max-trials 30", "--time-budget 90", "--max-complexity 3", "--num-workers 2", "--seed 5",
                 "-E max_epochs=2", "-E 'monitor=\"val_loss\"'", "-D val_fraction=0.25", "--run-name r"):
        assert part in shown, shown
    # the command line parses back into the request, as `snas search` itself parses it
    from snas.frontends.cli import plan_from_args

    cfg = plan_from_args(argv[4:]).config
    assert (cfg.dataset, cfg.strategy, cfg.evaluator) == ("digits", "random", "train")
    assert cfg.network_types == ["cnn", "mlp"]
    assert (cfg.max_trials, cfg.time_budget, cfg.max_complexity, cfg.num_workers, cfg.seed) == (30, 90, 3, 2, 5)
    assert (cfg.evaluator_options["max_epochs"], cfg.evaluator_options["monitor"]) == (2, "val_loss")
    assert cfg.dataset_options["val_fraction"] == 0.25


# --------------------------------------------------------------------------
# reading runs: progress bars, the Runs page, failed trials


def test_budget_and_trial_bars_from_live_json():
    result = type("R", (), {"trials": [], "config": {"max_trials": 8}, "status": "running"})()
    live = {"trained": 3, "max_trials": 8, "elapsed": 12.0, "time_budget": None, "in_flight": [
        {"trial_id": 3, "architecture": {"family": "cnn"}, "progress": {
            "trial_id": 3, "phase": "training", "step": 2, "total": 5, "metrics": {"val_acc": 0.9125}, "time": 1.0}},
        {"trial_id": 4, "architecture": {"family": "mlp"}, "progress": None},
    ]}
    bar = runs.budget_bar(result, live, running=True)
    assert bar == runs.Bar(3 / 8, "3 of 8 trials")
    first, second = runs.trial_bars(live)
    assert first.fraction == pytest.approx(0.4)
    assert first.text == "trial 3 · cnn · training · epoch 2 of 5  val_acc 0.9125"
    assert second == runs.Bar(0.0, "trial 4 · mlp · starting")
    result.config = {"time_budget": 60.0}
    timed = runs.budget_bar(result, {**live, "max_trials": None, "time_budget": 60.0}, running=True)
    assert timed.fraction == pytest.approx(0.2) and timed.text.startswith("12 of 60 s")


def test_a_process_that_dies_before_its_run_exists_shows_its_output(runs_root):
    folder = runs_root / "broken"
    proc = runs.launch([sys.executable, "-c", "import sys; print('no such data set: boom'); sys.exit(3)"], folder)
    assert proc.wait(timeout=60) == 3
    summary = runs.summarize(folder)
    assert summary.status == "failed to start" and "no such data set: boom" in summary.note
    at = open_page("page_runs.py")
    table = at.dataframe[0].value
    assert list(table["run"]) == ["broken"] and list(table["status"]) == ["failed to start"]
    at = open_page("page_run.py", run="broken")
    assert "The search process ended before it created the run." in texts(at)
    assert any("no such data set: boom" in c.value for c in at.code)


def test_failed_trials_show_their_error_and_traceback(runs_root):
    from test_report import BrokenPlugin  # a family whose networks never build: every trial fails

    manager = snas.get_plugin_manager()
    name = manager.register(BrokenPlugin(), name="ui-test-broken")
    try:
        snas.search(strategy="random", network_types=["broken_for_report"], max_trials=2, seed=0,
                    run_dir=runs_root / "bad")
    finally:
        manager.unregister(name=name)
    at = open_page("page_run.py", run="bad")
    labels = [e.label for e in at.expander]
    assert "Trial 0 failed: RuntimeError: this family never builds" in labels, labels
    assert any("Traceback" in c.value and "this family never builds" in c.value for c in at.code)
    table = at.dataframe[0].value
    assert list(table["status"]) == ["failed", "failed"]
    assert list(table["error"]) == ["RuntimeError: this family never builds"] * 2


def test_upload_archive_refuses_members_outside_its_folder(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("../evil.txt", "x")
    with pytest.raises(snas.DataError, match=r"member '\.\./evil\.txt' points outside"):
        runs.unpack_archive(buffer.getvalue(), tmp_path / "dest")
    assert not (tmp_path / "evil.txt").exists()
    with pytest.raises(snas.DataError, match="not a zip archive"):
        runs.unpack_archive(b"not a zip", tmp_path / "dest")


def test_stop_and_resume_refuse_what_they_cannot_do(runs_root):
    folder = runs_root / "nothing"
    folder.mkdir()
    with pytest.raises(snas.SnasError, match="nothing is not running"):
        runs.stop_run(folder)
    with pytest.raises(snas.RunFileError, match="holds no run.h5"):
        runs.resume_run(folder)


# --------------------------------------------------------------------------
# a finished run: the Runs page, Results, export


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A real random search on digits: 10 trained architectures with full test metrics."""
    root = tmp_path_factory.mktemp("ui") / "runs"
    snas.search(strategy="random", max_trials=10, seed=1, run_dir=root / "digits-done",
                evaluator_options={"max_epochs": 1})
    return root


@pytest.fixture
def finished_root(finished, monkeypatch):
    monkeypatch.setenv(runs.RUNS_DIR_ENV, str(finished))
    return finished


@pytest.mark.slow
def test_runs_page_lists_a_run_and_opens_it(finished_root):
    result = snas.load_run(finished_root / "digits-done")
    at = open_page("page_runs.py")
    row = at.dataframe[0].value.iloc[0]
    assert (row["run"], row["status"], row["trials"], row["failed"]) == ("digits-done", result.status, 10, 0)
    assert row["best accuracy"] == pytest.approx(result.best.score)
    assert row["data set"] == "digits" and row["strategy"] == "random"
    assert row["last activity"].endswith("ago")
    at.button(key="open_results").click().run()
    assert not at.exception
    assert at.title[0].value == "Results" and at.query_params["run"] == "digits-done"


@pytest.mark.slow
def test_results_page_shows_every_figure(finished_root):
    at = open_page("page_results.py", run="digits-done")
    assert not at.info, [i.value for i in at.info]  # no figure is missing
    assert [t.label for t in at.tabs] == ["Best architecture", "Training", "Accuracy vs size",
                                          "Parameter importance", "Search space", "Progress"]
    from snas_plugins.reporting.figures import FIGURES

    captions = [caption for image in at.get("image") for caption in image.captions]
    assert sorted(captions) == sorted(kind.caption for kind in FIGURES.values())  # every figure, once
    best = snas.load_run(finished_root / "digits-done").best
    assert at.metric[0].value == f"{best.score:.4f}"


@pytest.mark.slow
def test_export_builds_the_chosen_formats_as_one_zip(finished_root):
    at = open_page("page_results.py", run="digits-done")
    at.multiselect(key="formats").set_value(["python", "torchscript"]).run()
    at.button(key="export").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert [s.value.split(":")[0] for s in at.success] == ["python", "torchscript"]
    assert all("written and verified" in s.value for s in at.success)
    assert len(at.download_button) == 1
    data = at.session_state["export_built"]["data"]
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "export_report.json" in names
    assert any(n.startswith("python/") and n.endswith("example.py") for n in names)
    assert any(n.startswith("torchscript/") and n.endswith("metadata.json") for n in names)


# --------------------------------------------------------------------------
# the whole life of a search, started from the UI


@pytest.mark.slow
def test_start_watch_stop_resume_from_the_ui(runs_root):
    at = open_page("page_new.py")
    at.selectbox(key="strategy").set_value("random")
    at.multiselect(key="families").set_value(["mlp"])
    at.number_input(key="max_trials").set_value(40)
    at.number_input(key="evaluator.train.max_epochs").set_value(2)
    at.run()
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    name = at.query_params["run"]
    folder = runs_root / name
    assert folder.is_dir()  # the run folder appears at once; the search process fills it
    assert at.title[0].value == "Run"

    def finished_trials():
        if lock_holder(folder) is None:
            assert runs.launched_process(folder)["alive"], process_output(folder)
            return None
        return (folder / "run.h5").exists() and len(snas.load_run(folder).trials) >= 1

    wait_for(finished_trials, 180, "the first finished trial")
    first, second = open_page("page_run.py", run=name), open_page("page_run.py", run=name)  # two tabs
    for tab in (first, second):
        assert "running" in texts(tab) and "Budget" in texts(tab)
        assert tab.get("progress")[0].proto.text.startswith("**Budget**:")
        assert [b.key for b in tab.button] == ["stop"]

    first.button(key="stop").click().run()
    wait_for(lambda: lock_holder(folder) is None, 120, "the search to stop")
    wait_for(lambda: not runs.launched_process(folder)["alive"], 60, "the search process to end")
    assert runs.launched_process(folder)["returncode"] == 143, process_output(folder)
    result = snas.load_run(folder)
    kept = len(result.trials)
    assert result.status == "interrupted" and kept >= 1
    second.run()
    assert "interrupted" in texts(second) and len(second.dataframe[0].value) == kept
    assert "resume" in [b.key for b in second.button]

    second.number_input(key="resume_budget").set_value(kept + 1)
    second.button(key="resume").click().run()
    assert not second.exception and not second.error
    wait_for(lambda: not runs.launched_process(folder)["alive"], 180, "the resumed search to end")
    assert runs.launched_process(folder)["returncode"] == 0, process_output(folder)
    result = snas.load_run(folder)
    assert result.status == "budget_exhausted" and len(result.trials) == kept + 1
    second.run()
    assert "budget_exhausted" in texts(second) and len(second.dataframe[0].value) == kept + 1
    results = open_page("page_results.py", run=name)
    assert len(results.get("image")) >= 5


def digit_images(per_class: int = 12) -> tuple[bytes, bytes]:
    """A zip of small real images (scikit-learn digits 0 and 1) in class folders, and the CSV listing them."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    buffer = io.BytesIO()
    rows = ["image,label"]
    with zipfile.ZipFile(buffer, "w") as archive:
        for label in (0, 1):
            for i, index in enumerate(np.flatnonzero(digits.target == label)[:per_class]):
                png = io.BytesIO()
                Image.fromarray((digits.images[index] * 16).astype(np.uint8)).save(png, format="PNG")
                archive.writestr(f"img/{label}/{i}.png", png.getvalue())
                rows.append(f"img/{label}/{i}.png,{'zero' if label == 0 else 'one'}")
    return buffer.getvalue(), ("\n".join(rows) + "\n").encode()


@pytest.mark.slow
def test_start_a_search_on_an_uploaded_csv_and_its_images(runs_root):
    archive, csv_data = digit_images()
    at = open_page("page_new.py")
    at.radio(key="source").set_value("A CSV file and its images (upload)").run()
    at.file_uploader(key="csv_file").upload("mine.csv", csv_data, "text/csv")
    at.file_uploader(key="images_zip").upload("images.zip", archive, "application/zip")
    at.selectbox(key="strategy").set_value("random")
    at.multiselect(key="families").set_value(["mlp"])
    at.number_input(key="max_trials").set_value(1)
    at.number_input(key="evaluator.train.max_epochs").set_value(1)
    at.run()
    assert "--dataset csv" in at.code[0].value
    at.button(key="start").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    folder = runs_root / at.query_params["run"]
    wait_for(lambda: not runs.launched_process(folder)["alive"], 180, "the search on the upload to end")
    assert runs.launched_process(folder)["returncode"] == 0, process_output(folder)
    result = snas.load_run(folder)
    path = Path(result.config["dataset_options"]["path"])
    assert result.config["dataset"] == "csv" and path.name == "mine.csv"
    assert path.parent.parent == runs_root / runs.UPLOADS_DIR and (path.parent / "img/1/11.png").is_file()
    assert result.num_classes == 2 and len(result.trials) == 1 and result.best is not None
    assert runs.run_folders(runs_root) == [folder]  # uploads are not runs
