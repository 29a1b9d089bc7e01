"""The web UI in a real headless Chromium, used as a person would: start, watch, stop, resume, results.

The browser is Debian's ``chromium``, driven by Playwright through its own
binary (Playwright downloads no browser here). The ``chromium`` fixture
finds it, installs it with apt-get when it is missing and the tests run as
root (as in CI), and otherwise skips with the reason, except under
``CI=true``, where a missing browser fails the test. Screenshots of every
step are kept under the test's temporary folder; with
``SNAS_UI_SCREENSHOTS=DIR`` the final ones are also copied to ``DIR``
(``docs/_static`` for docs/ui.md).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

import snas
from snas.runtime.store import lock_holder

#: where Debian puts the browser binary (``/usr/bin/chromium`` is a shell wrapper around it)
DEBIAN_CHROMIUM = Path("/usr/lib/chromium/chromium")
#: the screenshots docs/ui.md shows, by the name each step saves
DOC_SCREENSHOTS = ("ui-new-search.png", "ui-run-live.png", "ui-run-interrupted.png", "ui-runs.png",
                   "ui-results.png", "ui-results-training.png")
#: the search the test starts: enough trials that Stop lands in the middle, epochs enough to watch
TRIALS, EPOCHS = 12, 3


def on_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(reason: str) -> None:
    """Skip for ``reason``, or fail under ``CI=true`` (CI must always run the browser test)."""
    if on_ci():
        pytest.fail(f"{reason} (CI=true: the browser test must run)")
    pytest.skip(reason)


def find_chromium() -> str | None:
    """The Chromium binary on this machine, if any."""
    if DEBIAN_CHROMIUM.is_file() and os.access(DEBIAN_CHROMIUM, os.X_OK):
        return str(DEBIAN_CHROMIUM)
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


def install_chromium() -> str:
    """``apt-get install chromium`` (after ``apt-get update`` if the first try fails); returns what apt printed."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "chromium"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env, timeout=600)
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1200)
    return (done.stdout + done.stderr)[-2000:]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a Chromium binary: found, or installed with apt-get when running as root; else skip (fail on CI)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing("Playwright is not installed: pip install -e '.[test]'")
    path = find_chromium()
    if path is None and hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        output = install_chromium()
        path = find_chromium()
        if path is None:
            missing(f"apt-get could not install chromium:\n{output}")
    if path is None:
        missing("no Chromium on this machine (install Debian's package: apt-get install chromium)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ui_server(tmp_path):
    """``snas ui`` serving an empty runs folder on a free port: ``(base URL, runs folder)``."""
    runs_dir, port = tmp_path / "runs", free_port()
    log = open(tmp_path / "snas-ui.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "snas", "ui", "--runs-dir", str(runs_dir), "--port",
                                str(port)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as answer:
                if answer.read().strip() == b"ok":
                    break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            log.close()
            raise AssertionError(f"snas ui did not start:\n{(tmp_path / 'snas-ui.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield url, runs_dir
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    log.close()
    for folder in runs_dir.iterdir():  # a failed test must not leave a search running
        holder = lock_holder(folder)
        if holder and isinstance(holder.get("pid"), int):
            os.kill(holder["pid"], signal.SIGTERM)


class Screens:
    """Takes the screenshots of the test: every one under ``folder``, the documented ones copied on request."""

    def __init__(self, page, folder: Path):
        self.page, self.folder = page, folder
        folder.mkdir(parents=True, exist_ok=True)
        self.copy_to = os.environ.get("SNAS_UI_SCREENSHOTS")

    def take(self, name: str) -> Path:
        path = self.folder / name
        self.page.screenshot(path=str(path))
        if self.copy_to and name in DOC_SCREENSHOTS:
            shutil.copyfile(path, Path(self.copy_to) / name)
        return path


def settle(page) -> None:
    """Wait until Streamlit has finished running the page after an input."""
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden")


def fill_number(page, label: str, value: str) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(value)
    field.press("Enter")
    settle(page)


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option").filter(has_text=re.compile(rf"^{re.escape(option)}\b")).first.click()
    settle(page)


def progress_texts(page) -> list[str]:
    return page.locator('[data-testid="stProgress"]').all_inner_texts()


def bars_state(texts: list[str]) -> tuple[int | None, tuple[int, int] | None]:
    """From the bars' texts: the trials done of the budget, and ``(trial, epoch)`` of the trial in training."""
    done = in_flight = None
    for text in texts:
        found = re.search(r"Budget: (\d+) of %d trials" % TRIALS, text)
        if found:
            done = int(found.group(1))
        found = re.search(r"trial (\d+) · \w+ · training · epoch (\d+) of %d" % EPOCHS, text)
        if found:
            in_flight = (int(found.group(1)), int(found.group(2)))
    return done, in_flight


@pytest.mark.slow
def test_a_person_runs_a_search_in_the_browser(chromium, ui_server, tmp_path):
    from playwright.sync_api import sync_playwright

    url, runs_dir = ui_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1500})
        page.set_default_timeout(120_000)
        screens = Screens(page, tmp_path / "screenshots")
        try:
            use_the_ui(page, url, runs_dir, screens)
        except BaseException:
            with contextlib.suppress(Exception):
                screens.take("failure.png")  # what the page showed when the test failed
            raise
        finally:
            browser.close()


def use_the_ui(page, url: str, runs_dir: Path, screens: Screens) -> None:
    """What the person does, step by step, and what they must see."""
    from playwright.sync_api import expect

    expect.set_options(timeout=60_000)  # each check waits for Streamlit to redraw, on a busy machine too
    # New search: a random search on digits, small networks, a few epochs each
    page.goto(f"{url}/new")
    start = page.get_by_role("button", name="Start search")
    start.wait_for()
    choose(page, "Search strategy", "random")
    fill_number(page, "Max trials", str(TRIALS))
    fill_number(page, "max_epochs", str(EPOCHS))
    command = page.get_by_text("snas search --quiet")  # the command Start runs, as a user would type it
    expect(command).to_contain_text(f"--max-trials {TRIALS}")
    expect(command).to_contain_text(f"-E max_epochs={EPOCHS}")
    screens.take("ui-new-search.png")
    start.click()
    page.wait_for_url(re.compile(r"/run\?run="))
    folder = runs_dir / parse_qs(urlparse(page.url).query)["run"][0]
    assert folder.is_dir()

    # the two bars move: the budget, and the trial in flight epoch by epoch
    budgets, epochs, shot = set(), set(), False
    deadline = time.monotonic() + 360
    while not (len(budgets) >= 3 and len(epochs) >= 2 and shot):
        assert time.monotonic() < deadline, f"bars seen: budget {budgets}, (trial, epoch) {epochs}"
        texts = progress_texts(page)
        done, in_flight = bars_state(texts)
        if done is not None:
            budgets.add(done)
        if in_flight is not None:
            epochs.add(in_flight)
        # the screenshot shows both bars on a page that has settled: the trial in flight is the one after
        # those done (one worker), and the page is the same after the screenshot as before it
        if not shot and len(budgets) >= 3 and in_flight and in_flight[0] == done and in_flight[1] >= 2:
            screens.take("ui-run-live.png")
            shot = progress_texts(page) == texts
        page.wait_for_timeout(200)

    # Stop: a clean stop; the run is interrupted and keeps its finished trials
    page.get_by_role("button", name="Stop").click()
    page.mouse.move(0, 0)
    page.get_by_text("interrupted", exact=True).wait_for(timeout=120_000)
    page.get_by_role("button", name="Resume").wait_for()
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)
    result = snas.load_run(folder)
    kept = len(result.trials)
    assert result.status == "interrupted" and 2 <= kept < TRIALS
    expect(page.get_by_text(f"{kept} trials finished, 0 failed", exact=False)).to_be_visible()
    screens.take("ui-run-interrupted.png")

    # Resume: the run goes on and finishes its (raised) budget
    fill_number(page, "Trial budget", str(kept + 2))
    page.get_by_role("button", name="Resume").click()
    page.get_by_text("budget_exhausted", exact=True).wait_for(timeout=240_000)
    result = snas.load_run(folder)
    assert result.status == "budget_exhausted" and len(result.trials) == kept + 2
    expect(page.get_by_text(f"{kept + 2} trials finished", exact=False)).to_be_visible()
    expect(page.get_by_role("button", name="Resume")).to_be_visible()
    screens.take("ui-run-finished.png")

    # the Runs page lists it; its results open from there
    page.get_by_role("link", name="Runs").click()
    page.get_by_role("button", name="Results").wait_for()
    page.wait_for_timeout(1500)  # the table is drawn on a canvas after the page
    screens.take("ui-runs.png")
    page.get_by_role("button", name="Results").click()
    page.get_by_text("Best validation accuracy").wait_for()
    page.locator('[data-testid="stImage"] img').first.wait_for()
    expect(page.get_by_role("tab", name="Parameter importance")).to_be_visible()
    expect(page.get_by_role("button", name="Build export")).to_be_visible(timeout=120_000)  # after every figure
    page.wait_for_timeout(1000)
    screens.take("ui-results.png")
    page.get_by_role("tab", name="Training").click()
    expect(page.get_by_text("The best trial's predictions on the test split")).to_be_visible()
    page.wait_for_timeout(1000)
    screens.take("ui-results-training.png")
