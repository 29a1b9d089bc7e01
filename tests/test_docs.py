"""The documentation builds without a warning, and every code snippet in it runs.

**Build.** ``sphinx-build -W --keep-going`` over ``docs/``: a broken link or
anchor, a page outside every toctree, a docstring autodoc cannot render, a
click command sphinx-click cannot document, all fail here.

**Snippets.** Every fenced code block of ``README.md``, ``docs/**/*.md`` and
``examples/**/*.md``, by its language:

- ``bash``, ``sh``, ``shell``: run line by line (:meth:`PageRun.shell`): ``snas …``
  through click in this process, ``python script.py`` through runpy,
  ``VAR=value snas …`` with that variable and a fresh plugin manager; the
  set-up steps ``python3 -m venv``/``pip install -e .`` are the environment
  this suite already runs in and are passed over, while ``pip install
  ./some/package`` really installs it (into the page's folder); ``python -m
  pytest PATHS`` (a maintainer running tests) is checked to name test files
  that exist, not run inside this suite; ``python benchmarks/X.py …`` (a
  measurement of minutes to hours) is checked to take every flag given; a line with pipes, redirections,
  globs or ``$`` goes to bash, and may not start a search;
- ``python``: executed; the Python snippets of one page share a namespace;
- ``toml``, ``text``, ``json``, ``csv``: data, not run (a ``file`` marker
  writes one to disk for the snippets after it);
- MyST directives (``{toctree}``, ``{snas-components}``…) are not code;
- anything else, or a fence without a language, fails the test, so no
  snippet escapes by omission. Indented code blocks fail too.

A page's snippets run in order, in one fresh folder, as a reader would run
them. An HTML comment right before a fence, ``<!-- snippet: KEY VALUE; … -->``
(invisible on GitHub and in the site), says more:

``file PATH``
    write the block to ``PATH`` instead of running it (a plugin module, a
    TOML file); the page's folder is on ``sys.path``.
``data NAME DEST``
    link the real data ``NAME`` under ``$SNAS_TEST_DATA`` to ``DEST`` first
    (the test skips, or fails under ``CI=true``, when it is missing).
``requires cuda``
    run only when a CUDA device is present.
``trials N``
    let the searches of this block run up to ``N`` trials (what follows needs them).
``serves PORT``
    each command of the block starts a server: it is started in the
    background (``HOME`` is the page's folder, for ``~``), must answer on its
    ``--port`` (default ``PORT``) on 127.0.0.1 while still running, and is
    then stopped.
``ci``
    the README's test command: checked to be exactly what ``.ci/run`` runs
    (running it here would run this suite inside itself).

A page holding ``<!-- snippets: slow -->`` is marked slow. ``SNAS_DOCS_LOG=1``
prints each page's commands with their output and seconds (``pytest -s``).

**Budget.** Snippets show real budgets (``--max-trials 20``); here every
search, resume and evaluation runs in this process with at most
:data:`MAX_TRIALS` trials of :data:`CHEAP_OPTIONS` (one epoch…), by wrapping
the API's engine call, and ``snas benchmark`` gets :data:`CAPPED_FLAGS`. No
kernel feature exists for this: what runs is the documented command, cut
short.
"""

from __future__ import annotations

import contextlib
import os
import re
import runpy
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from conftest import REPOSITORY, data_root, in_ci, real_data

DOCS = REPOSITORY / "docs"
PAGES = sorted(
    [REPOSITORY / "README.md", *DOCS.rglob("*.md"), *(REPOSITORY / "examples").rglob("*.md")],
    key=lambda p: str(p.relative_to(REPOSITORY)),
)
PAGES = [p for p in PAGES if "_build" not in p.parts]

SHELL = {"bash", "sh", "shell"}
PYTHON = {"python", "py"}
DATA = {"toml", "text", "json", "csv"}
#: MyST directives that hold code without saying how to run it
FORBIDDEN_DIRECTIVES = {"{code-block}", "{code}", "{sourcecode}"}

#: most trials a search, resume or evaluation in a snippet runs here
MAX_TRIALS = 2
#: options of the evaluator or strategy lowered to these values where the component has them
CHEAP_OPTIONS = {"max_epochs": 1, "fast_epochs": 1, "shared_epochs": 1, "controller_steps": 2,
                 "controller_sample_count": 4, "final_count": 2}
#: CLI flags capped at a value for a command: command -> flag -> (click default, cap)
CAPPED_FLAGS = {("benchmark", "nb201"): {"--seeds": (100, 2), "--queries": (150, 30)}}


# -- reading the snippets -----------------------------------------------------------


@dataclass
class Snippet:
    page: Path
    line: int
    lang: str
    code: str
    markers: list[tuple[str, list[str]]] = field(default_factory=list)

    def marker(self, key: str) -> list[str] | None:
        return next((args for k, args in self.markers if k == key), None)

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPOSITORY)}:{self.line}"


MARKER = re.compile(r"<!--\s*snippet:\s*(.*?)\s*-->", re.S)
MARKER_KEYS = {"file": 1, "data": 2, "requires": 1, "ci": 0, "trials": 1, "serves": 1}


def parse_markers(text: str, where: str) -> list[tuple[str, list[str]]]:
    """``file x.py; data mnist m/`` as ``[("file", ["x.py"]), ("data", ["mnist", "m/"])]``."""
    markers = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, *args = part.split()
        if key not in MARKER_KEYS or len(args) != MARKER_KEYS[key]:
            raise AssertionError(f"{where}: bad snippet marker {part!r}; known: "
                                 + ", ".join(f"{k} ({n} values)" for k, n in MARKER_KEYS.items()))
        markers.append((key, args))
    return markers


def snippets(page: Path) -> list[Snippet]:
    """Every code block of ``page`` with its markers; raises on blocks whose handling is undeclared."""
    tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
    out = []
    for i, token in enumerate(tokens):
        where = f"{page.relative_to(REPOSITORY)}:{token.map[0] + 1 if token.map else '?'}"
        if token.type == "code_block":
            raise AssertionError(f"{where}: indented code block; use a fence with a language")
        if token.type != "fence":
            continue
        lang = token.info.strip().split()[0] if token.info.strip() else ""
        if not lang:
            raise AssertionError(f"{where}: code fence without a language (bash, python, toml, text…)")
        if lang in FORBIDDEN_DIRECTIVES:
            raise AssertionError(f"{where}: use a plain fence (```python), which this test runs, not {lang}")
        if lang.startswith("{"):
            continue
        if lang not in SHELL | PYTHON | DATA:
            raise AssertionError(f"{where}: fence language {lang!r} is neither run nor declared as data")
        previous = tokens[i - 1] if i else None
        found = MARKER.search(previous.content) if previous is not None and previous.type == "html_block" else None
        markers = parse_markers(found.group(1), where) if found else []
        out.append(Snippet(page, token.map[0] + 1, lang, token.content, markers))
    return out


def is_slow(page: Path) -> bool:
    return "<!-- snippets: slow -->" in page.read_text(encoding="utf-8")


# -- the budget -----------------------------------------------------------------------


def _cheapen(options: dict[str, Any], component: type) -> dict[str, Any]:
    import attrs

    fields = {f.name for f in attrs.fields(component.Options)}
    out = dict(options)
    for key, cheap in CHEAP_OPTIONS.items():
        if key in fields:
            out[key] = min(out.get(key, cheap), cheap)
    return out


@contextlib.contextmanager
def small_budget(monkeypatch: pytest.MonkeyPatch, limits: dict[str, int]):
    """Cap every search, resume and evaluation started in this process (see the module docstring).

    ``limits["trials"]`` is the most trials a search runs; a snippet may raise it (the ``trials`` marker).
    """
    import snas
    import snas.frontends.api as api
    import snas.frontends.evaluation as evaluation
    from snas.runtime.planning import plan_run
    from snas.runtime.plugins import get_plugin_manager

    run_search = api.run_search
    evaluate = evaluation.evaluate_architecture

    def capped_run_search(plan: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        settings = plan.config.to_dict()
        settings["max_trials"] = min(settings.get("max_trials") or limits["trials"], limits["trials"])
        for kind in ("evaluator", "strategy"):
            settings[f"{kind}_options"] = _cheapen(settings.get(f"{kind}_options") or {}, plan[kind].cls)
        return run_search(plan_run(settings, kwargs.get("manager")), path, *args, **kwargs)

    def capped_evaluate(*args: Any, **kwargs: Any) -> Any:
        manager = kwargs.get("manager") or get_plugin_manager()
        name = kwargs.get("evaluator") or manager.default("evaluator")
        kwargs["evaluator_options"] = _cheapen(dict(kwargs.get("evaluator_options") or {}),
                                               manager.get("evaluator", name))
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(api, "run_search", capped_run_search)
    monkeypatch.setattr(evaluation, "evaluate_architecture", capped_evaluate)
    monkeypatch.setattr(snas, "evaluate", capped_evaluate)
    yield


def capped_args(args: list[str]) -> list[str]:
    """``args`` with :data:`CAPPED_FLAGS` appended (click keeps the last value of an option)."""
    for command, caps in CAPPED_FLAGS.items():
        if tuple(args[: len(command)]) != command:
            continue
        args = list(args)
        for flag, (default, cap) in caps.items():
            given = [int(args[i + 1]) for i, a in enumerate(args[:-1]) if a == flag]
            args += [flag, str(min(given[-1] if given else default, cap))]
    return args


# -- running a page ---------------------------------------------------------------------


#: shell syntax this runner leaves to bash (a command using it may not start a search)
BASH_ONLY = re.compile(r"[|<>$`*?~]|\(|\)")
SETUP = (("python3", "-m", "venv"), ("python", "-m", "venv"), ("pip", "install"), (".venv/bin/pip", "install"),
         ("python", "-m", "pip"), (".venv/bin/python", "-m", "pip"))
BUDGETED = {"search", "resume", "evaluate", "benchmark", "export"}


@dataclass
class PageRun:
    """One page's snippets being run: its folder, its Python namespace, the log shown when one fails."""

    page: Path
    folder: Path
    monkeypatch: pytest.MonkeyPatch
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__snippet__"})
    log: list[str] = field(default_factory=list)
    plugins_changed: bool = False
    missing: list[str] = field(default_factory=list)

    def fail(self, snippet: Snippet, what: str) -> None:
        pytest.fail(f"{snippet.where}: {what}\n--- log of this page ---\n" + "\n".join(self.log[-40:]),
                    pytrace=False)

    # python

    def python(self, snippet: Snippet) -> None:
        self.log.append(f">>> python snippet at {snippet.where}")
        code = compile(snippet.code, snippet.where, "exec")
        try:
            exec(code, self.namespace)
        except SystemExit as exc:
            if exc.code not in (0, None):
                self.fail(snippet, f"exited with {exc.code}")

    # shell

    def shell(self, snippet: Snippet) -> None:
        for line in logical_lines(snippet.code):
            self.log.append(f"$ {line}")
            start = time.perf_counter()
            if BASH_ONLY.search(strip_comment(QUOTED.sub("''", line))):  # a quoted '<' is an argument
                self.bash(snippet, line)
            else:
                for command in split_commands(line):
                    self.command(snippet, command)
            self.log.append(f"({time.perf_counter() - start:.1f} s)")

    def bash(self, snippet: Snippet, line: str) -> None:
        words = shlex.split(line, comments=True)
        if any(Path(w).name == "snas" and i + 1 < len(words) and words[i + 1] in BUDGETED
               for i, w in enumerate(words)):
            self.fail(snippet, f"{line!r} starts a search through bash, where the test budget cannot reach it; "
                               "write it as a plain command")
        env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", line], cwd=os.getcwd(), env=env,
                              capture_output=True, text=True, timeout=300)
        self.log.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            self.fail(snippet, f"{line!r} exited with {proc.returncode}")

    def command(self, snippet: Snippet, words: list[str]) -> None:
        env: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            key, _, value = words.pop(0).partition("=")
            env[key] = value
        if not words:
            return
        program = words[0]
        if any(tuple(words[: len(s)]) == s for s in SETUP):
            package = local_package(words)
            if package is None:
                self.log.append("(environment set-up: this test runs inside the environment it creates)")
            else:
                self.install(snippet, package)
            return
        if Path(program).name in ("python", "python3") and words[1:3] == ["-m", "pytest"]:
            missing = [w for w in words[3:] if not w.startswith("-") and "/" in w
                       and not (REPOSITORY / w.split("::")[0]).exists()]
            if missing:
                self.fail(snippet, f"{' '.join(words)} names test files that do not exist: {missing}")
            self.log.append("(the test suite itself: its files exist; not run inside it)")
            return
        if program == "cd":
            os.chdir(words[1])
            return
        if program == "export":
            for item in words[1:]:
                key, _, value = item.partition("=")
                self.monkeypatch.setenv(key, value)
            return
        if Path(program).name in ("python", "python3") and len(words) > 1 and words[1].startswith("benchmarks/"):
            self.benchmark(snippet, words[1:])
        elif Path(program).name == "snas":
            self.snas(snippet, words[1:], env)
        elif Path(program).name in ("python", "python3") and len(words) > 1 and words[1].endswith(".py"):
            self.script(snippet, words[1:], env)
        elif Path(program).name in ("python", "python3") and words[1:3] == ["-m", "snas"]:
            self.snas(snippet, words[3:], env)
        else:
            self.bash(snippet, " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " "
                      + " ".join(shlex.quote(w) for w in words))

    def serve(self, snippet: Snippet, line: str, port: int) -> None:
        """Start a server command in the background, wait until it answers on ``port``, stop it."""
        import signal
        import socket

        def answers() -> bool:
            with socket.socket() as sock:
                sock.settimeout(1)
                return sock.connect_ex(("127.0.0.1", port)) == 0

        if answers():
            self.missing.append(f"port {port} free for {line!r}")
            self.log.append(f"(not run here: something else already listens on port {port})")
            return
        env = {**os.environ, "HOME": str(self.folder),
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        process = subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=os.getcwd(), env=env, start_new_session=True,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 180
            while not answers():
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.communicate(timeout=30)[0] if process.poll() is not None else ""
                    self.fail(snippet, f"{line!r} did not serve on port {port}\n{output}")
                time.sleep(0.5)
            assert process.poll() is None, f"{line!r}: port {port} answered, but the server had exited"
            self.log.append(f"(served on port {port})")
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()

    def benchmark(self, snippet: Snippet, argv: list[str]) -> None:
        """A measurement takes minutes to hours: check that the script exists and takes every flag given."""
        script = REPOSITORY / argv[0]
        if not script.is_file():
            self.fail(snippet, f"{argv[0]} does not exist")
        proc = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                              cwd=REPOSITORY)
        if proc.returncode != 0:
            self.fail(snippet, f"{argv[0]} --help exited with {proc.returncode}\n{proc.stderr}")
        unknown = [w for w in argv[1:] if w.startswith("--") and w.split("=")[0] not in proc.stdout]
        if unknown:
            self.fail(snippet, f"{argv[0]} does not take {unknown}")
        self.log.append("(a measurement: its flags exist; not run here)")

    def install(self, snippet: Snippet, package: Path) -> None:
        """Really install a local plugin package (into this page's folder) and let snas find it."""
        from snas.runtime.plugins import reset_plugin_manager

        target = self.folder / "site-packages"
        proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                               "--target", str(target), str(package)], capture_output=True, text=True, timeout=600)
        self.log.append(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            self.fail(snippet, f"pip install {package} failed")
        self.monkeypatch.syspath_prepend(str(target))
        reset_plugin_manager(None)
        self.plugins_changed = True

    @contextlib.contextmanager
    def environment(self, env: dict[str, str]):
        """Set ``env`` for one command; a fresh plugin manager when it concerns plugins."""
        from snas.runtime.plugins import reset_plugin_manager

        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        fresh = any(k.startswith("SNAS_") for k in env)
        old = reset_plugin_manager(None) if fresh else None
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            if fresh:
                reset_plugin_manager(old)

    def snas(self, snippet: Snippet, args: list[str], env: dict[str, str]) -> None:
        from click.testing import CliRunner

        from snas.frontends.cli import cli
        from snas.runtime.plugins import get_plugin_manager

        args = capped_args(args)
        with self.environment(env):
            get_plugin_manager().hook.snas_register_commands(cli=cli)
            result = CliRunner().invoke(cli, args, prog_name="snas")
        self.log.append(result.output)
        if result.exit_code != 0:
            import traceback

            trace = "".join(traceback.format_exception(*result.exc_info)) if result.exc_info else ""
            self.fail(snippet, f"snas {shlex.join(args)} exited with {result.exit_code}\n{result.output}{trace}")

    def script(self, snippet: Snippet, argv: list[str], env: dict[str, str]) -> None:
        path = Path(argv[0])
        if not path.exists() and (REPOSITORY / path).exists():
            path = REPOSITORY / path  # examples/… as run from the repository root
        saved = sys.argv
        sys.argv = [str(path), *argv[1:]]
        try:
            with self.environment(env):
                runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                self.fail(snippet, f"python {shlex.join(argv)} exited with {exc.code}")
        finally:
            sys.argv = saved

    # markers

    def run(self, snippet: Snippet) -> None:
        need = snippet.marker("requires")
        if need is not None:
            import torch

            kind, _, count = need[0].partition(":")
            if kind != "cuda" or (count and not count.isdigit()):
                self.fail(snippet, f"unknown requirement {need[0]!r} (cuda, or cuda:N for N devices)")
            if torch.cuda.device_count() < int(count or 1):
                self.log.append(f"(not run here: {snippet.where} needs {need[0]})")
                return
        for key, args in snippet.markers:
            if key == "data":
                name, dest = args
                if not (data_root() / name).exists() and not in_ci():
                    self.missing.append(name)  # the page's other snippets still run
                    self.log.append(f"(not run here: {snippet.where} needs the real data {name!r})")
                    return
                target = Path(dest)
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.exists():
                    target.symlink_to(real_data(name))
        file = snippet.marker("file")
        if file is not None:
            path = Path(file[0])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(snippet.code, encoding="utf-8")
            return
        if snippet.marker("ci") is not None:
            check_ci_command(snippet)
            return
        serves = snippet.marker("serves")
        if serves is not None:
            for line in logical_lines(snippet.code):
                self.log.append(f"$ {line}")
                words = shlex.split(line, comments=True)
                if any(tuple(words[: len(s)]) == s for s in SETUP):
                    self.log.append("(environment set-up: this test runs inside the environment it creates)")
                    continue
                self.serve(snippet, line, int(_option_value(words, "--port") or serves[0]))
            return
        if snippet.lang in PYTHON:
            self.python(snippet)
        elif snippet.lang in SHELL:
            self.shell(snippet)


def _option_value(words: list[str], flag: str) -> str | None:
    """The value of ``flag`` in ``words`` (``--flag value`` or ``--flag=value``), if given."""
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def local_package(words: list[str]) -> Path | None:
    """The folder of ``pip install FOLDER`` when it names a local package other than snas itself."""
    args = [w for w in words[words.index("install") + 1:] if not w.startswith("-")] if "install" in words else []
    if len(args) != 1:
        return None
    for base in (Path.cwd(), REPOSITORY):
        folder = (base / args[0]).resolve()
        if (folder / "pyproject.toml").is_file():
            return None if folder == REPOSITORY else folder
    return None


#: a quoted shell word: what it holds is never a pipe, redirection, glob or variable
QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\$`]|\\.)*\"")


def strip_comment(line: str) -> str:
    """``line`` without a trailing ``# comment`` (outside quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return " ".join(lexer)
    except ValueError:
        return line


def logical_lines(code: str) -> list[str]:
    """Lines of a shell snippet, backslash continuations joined, blank and comment lines dropped."""
    out, current = [], ""
    for raw in code.splitlines():
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        if current.strip() and not current.strip().startswith("#"):
            out.append(current.strip())
        current = ""
    return out


def split_commands(line: str) -> list[list[str]]:
    """``a && b; c`` as ``[[a…], [b…], [c…]]`` (only ``&&`` and ``;`` reach here)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token in ("&&", ";"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [c for c in commands if c]


def check_ci_command(snippet: Snippet) -> None:
    """The README's test command is exactly the command ``.ci/run`` runs."""
    script = (REPOSITORY / ".ci" / "run").read_text(encoding="utf-8")
    commands = [l.strip() for l in script.splitlines() if l.strip() and not l.lstrip().startswith("#")
                and l.strip() not in ("set -euo pipefail",) and not l.strip().startswith(("cd ", "#!"))]
    assert commands == [snippet.code.strip()], (
        f"{snippet.where}: .ci/run must run exactly the README's test command;\n.ci/run runs {commands}")


# -- the tests ----------------------------------------------------------------------------


def test_pages_are_found():
    names = {str(p.relative_to(REPOSITORY)) for p in PAGES}
    assert {"README.md", "docs/index.md", "docs/tutorial.md", "docs/plugins.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPOSITORY)) for p in PAGES])
def test_every_code_block_says_how_it_runs(page):
    for snippet in snippets(page):
        if snippet.marker("file") is not None and snippet.lang in SHELL:
            raise AssertionError(f"{snippet.where}: a shell snippet written to a file is never run")


def _page_param(page: Path) -> Any:
    marks = [pytest.mark.slow] if is_slow(page) else []
    return pytest.param(page, id=str(page.relative_to(REPOSITORY)), marks=marks)


def _runnable(page: Path) -> bool:
    try:
        return any(s.lang in SHELL | PYTHON for s in snippets(page))
    except AssertionError:  # reported by test_every_code_block_says_how_it_runs
        return False


RUNNABLE = [p for p in PAGES if _runnable(p)]


@pytest.mark.timeout(900)
@pytest.mark.parametrize("page", [_page_param(p) for p in RUNNABLE])
def test_snippets_run(page, tmp_path, monkeypatch):
    folder = tmp_path / "page"
    folder.mkdir()
    monkeypatch.chdir(folder)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("SNAS_DATA_DIR", str(tmp_path / "data-cache"))
    modules = set(sys.modules)
    run = PageRun(page, folder, monkeypatch)
    try:
        limits = {"trials": MAX_TRIALS}
        with small_budget(monkeypatch, limits):
            for snippet in snippets(page):
                trials = snippet.marker("trials")
                limits["trials"] = int(trials[0]) if trials else MAX_TRIALS
                run.run(snippet)
        if os.environ.get("SNAS_DOCS_LOG"):
            print("\n".join(run.log))
        if run.missing:  # every other snippet has run
            what = run.missing[0]
            if what.startswith("port "):
                if in_ci():
                    pytest.fail(f"{page.name}: needed {what}", pytrace=False)
                pytest.skip(f"{page.name}: needed {what}")
            real_data(what)  # skips naming it (fails under CI=true)
    finally:
        if run.plugins_changed:
            from snas.runtime.plugins import reset_plugin_manager

            reset_plugin_manager(None)
        for name in set(sys.modules) - modules:  # plugin modules a page wrote, so the next page starts clean
            module = sys.modules.get(name)
            if module is not None and str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
                del sys.modules[name]


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The site, built once: ``(return code, output, html folder)``."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-E", "-q", "-b", "html", str(DOCS), str(out / "html"),
         "-d", str(out / "doctrees")],
        capture_output=True, text=True, timeout=600, cwd=REPOSITORY,
    )
    return proc.returncode, proc.stdout + proc.stderr, out / "html"


def test_site_builds_without_warnings(built_site):
    code, output, _ = built_site
    assert code == 0, f"sphinx-build -W failed:\n{output}"


def test_site_has_the_generated_references(built_site):
    code, output, html = built_site
    assert code == 0, output
    cli_page = (html / "reference" / "cli.html").read_text(encoding="utf-8")
    from snas.frontends.cli import cli
    from snas.runtime.plugins import get_plugin_manager, iter_components

    get_plugin_manager().hook.snas_register_commands(cli=cli)
    for name, command in cli.commands.items():
        assert f'id="snas-{name}"' in cli_page, f"CLI reference lacks snas {name}"
    search = cli.commands["search"]
    search.build([])  # the flags it has whatever components a command line chooses
    for param in search.params:
        if param.opts[0].startswith("--") and param.name != "help" \
                and not param.name.startswith(("strategy__", "dataset__", "evaluator__", "executor__", "pruner__")):
            anchor = f'id="cmdoption-snas-search-{param.opts[0].lstrip("-")}"'
            assert anchor in cli_page, f"CLI reference lacks snas search {param.opts[0]}"
    assert 'id="snas-benchmark-nb201"' in cli_page  # a command a plugin adds
    hooks = (html / "reference" / "hooks.html").read_text(encoding="utf-8")
    import snas.contracts.hookspecs as hookspecs

    for name in dir(hookspecs):
        if name.startswith("snas_"):
            assert f'id="snas.contracts.hookspecs.{name}"' in hooks, f"hook {name} missing from the hooks reference"
    options = (html / "reference" / "options.html").read_text(encoding="utf-8")

    for info in iter_components(get_plugin_manager()):
        if info.cls.__module__.startswith("snas_plugins.") and info.kind != "family":  # families take no settings
            assert f'id="{info.kind}-{info.name.replace("_", "-")}"' in options, f"{info.kind} {info.name} missing"
    for info in iter_components(get_plugin_manager()):
        if info.cls.__module__.startswith("snas_plugins.") and info.kind != "family":
            import snas

            for setting in snas.describe_options(info.cls.Options):
                assert setting["name"] in options, f"setting {setting['name']} of {info.kind} {info.name} missing"


def test_api_reference_covers_the_public_api():
    import snas

    page = (DOCS / "api.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"\.\. auto\w+:: snas\.(\w+)", page))
    missing = sorted(set(snas.__all__) - documented)
    assert not missing, f"docs/api.md documents no {missing}: add them (everything snas exports is public API)"
