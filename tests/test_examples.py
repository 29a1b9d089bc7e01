"""examples/: the third-party plugin package, installed with pip and searched with.

The Python API scripts (examples/*.py) run as snippets of docs/howto/python-api.md
(tests/test_docs.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPOSITORY

PACKAGE = REPOSITORY / "examples" / "snas-example-plugin"


@pytest.fixture(scope="module")
def example_modules():
    """The example package's plugin modules, imported from its source tree."""
    sys.path.insert(0, str(PACKAGE / "src"))
    try:
        from snas_example import exporter, family, strategy

        yield family, strategy, exporter
    finally:
        sys.path.remove(str(PACKAGE / "src"))
        for name in [m for m in sys.modules if m == "snas_example" or m.startswith("snas_example.")]:
            del sys.modules[name]


@pytest.fixture
def space(example_modules, manager):
    from snas import JointSpace

    family = example_modules[0].GapCNN()
    return JointSpace({"gap_cnn": family.space(), "mlp": manager.get_family("mlp").space()}, max_level=1)


def make_strategy(example_modules, space, seed=0, **options):
    from snas import make_options

    cls = example_modules[1].LocalSearch
    return cls(space, make_options(cls.Options, options, "local_search"), np.random.default_rng(seed))


def finish(proposals, first_id, score):
    """Trials for ``proposals`` as the engine would tell them."""
    from snas import Trial

    return [Trial(first_id + i, p.arch, "ok", score(p.arch), meta=p.meta) for i, p in enumerate(proposals)]


def test_gap_cnn_builds_for_every_level_and_shape(example_modules):
    import torch

    family = example_modules[0].GapCNN()
    rng = np.random.default_rng(0)
    for level in (1, 3):
        space = family.space().at_level(level)
        for _ in range(8):
            arch = space.sample(rng)
            assert level == 3 or (arch["num_layers"] <= 2 and arch["width"] <= 32)
            for shape in ((1, 8, 8), (3, 32, 32)):
                out = family.build(arch, shape, 7)(torch.randn(2, *shape))
                assert out.shape == (2, 7)


def test_local_search_climbs_from_the_best_trial(example_modules, space):
    strategy = make_strategy(example_modules, space, initial=3)
    first = strategy.ask(3)
    assert all(p.meta["parent"] is None for p in first)
    scores = {p.arch.fingerprint: s for p, s in zip(first, (0.2, 0.9, 0.5))}
    for trial in finish(first, 0, lambda a: scores[a.fingerprint]):
        strategy.tell(trial)
    neighbours = strategy.ask(4)
    assert [p.meta["parent"] for p in neighbours] == [1, 1, 1, 1]  # all from trial 1, the best
    best = first[1].arch
    for p in neighbours:
        space.validate(p.arch)
        assert p.arch != best
    fingerprints = [p.arch.fingerprint for p in first + neighbours]
    assert len(set(fingerprints)) == len(fingerprints)  # never the same architecture twice
    assert strategy.progress() == {"best": 0.9, "improvements": 2}  # 0.2, then 0.9


def test_local_search_state_round_trips_through_json(example_modules, space):
    def score(arch):
        return (hash(arch.fingerprint) % 1000) / 1000

    a = make_strategy(example_modules, space, seed=5)
    for step in range(3):
        for trial in finish(a.ask(2), 2 * step, score):
            a.tell(trial)
    b = make_strategy(example_modules, space, seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    for step in range(3, 6):
        pa, pb = a.ask(2), b.ask(2)
        assert [p.arch for p in pa] == [p.arch for p in pb]
        for x, y in zip(finish(pa, 2 * step, score), finish(pb, 2 * step, score)):
            a.tell(x)
            b.tell(y)
    assert a.state_dict() == b.state_dict()


@pytest.mark.slow
def test_example_package_installs_with_pip_and_searches_and_exports(tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(PACKAGE)],
        capture_output=True, text=True, timeout=600,
    )
    assert install.returncode == 0, install.stderr
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}

    def snas(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-m", "snas", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    listing = snas("plugins").stdout.splitlines()
    for name in ("gap_cnn", "local_search", "npz"):
        line = next(l for l in listing if l.split() and l.split()[0] == name)
        assert "snas-example-plugin" in line and "1.0.0" in line, line

    # the strategy's settings are flags of snas search, with no change to snas
    help_text = " ".join(snas("search", "--search-method", "local_search", "--help").stdout.split())  # unwrapped
    assert "Options of the strategy 'local_search'" in help_text and "--initial" in help_text
    assert "Random architectures proposed before the climb starts." in help_text
    wrong = subprocess.run([sys.executable, "-m", "snas", "search", "--initial", "3"], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300)
    assert wrong.returncode != 0 and "option of the strategy 'local_search'" in wrong.stderr

    search = snas("search", "--network-type", "gap_cnn", "--search-method", "local_search", "--initial", "3",
                  "--max-trials", "6", "--max-epochs", "6", "--run-name", "climb", "--json")
    data = json.loads(search.stdout)
    assert data["config"]["strategy_options"]["initial"] == 3
    assert {t["family"] for t in data["trials"]} == {"gap_cnn"}
    assert data["plugins"]["strategy"]["local_search"]["distribution"] == "snas-example-plugin"
    parents = [t["meta"]["parent"] for t in data["trials"]]
    assert parents[:3] == [None, None, None] and all(p is not None for p in parents[3:])
    assert data["best"]["test_accuracy"] > 0.5  # a small CNN trained 6 epochs on digits, far above chance

    snas("export", "snas-runs/climb", "--format", "npz", "--out", "exported")
    folder = tmp_path / "exported" / "npz"
    assert {"architecture.json", "weights.npz", "metadata.json"} <= {p.name for p in folder.iterdir()}
    report = json.loads((tmp_path / "exported" / "export_report.json").read_text())
    assert report["formats"][0]["ok"] and report["formats"][0]["verification"]["max_abs_diff"] == 0.0
    # the exported network, rebuilt from the archive in a fresh process, classifies like the trained one
    check = subprocess.run(
        [sys.executable, "-c",
         "import json, numpy, torch\n"
         "from snas_example.exporter import load_model\n"
         "model = load_model('exported/npz')\n"
         "x = torch.from_numpy(numpy.load('exported/npz/sample_inputs.npy'))\n"
         "print(json.dumps(model(x).argmax(1).tolist()))"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert check.returncode == 0, check.stderr
    labels = json.loads((folder / "metadata.json").read_text())["sample_labels"]
    predicted = json.loads(check.stdout)
    assert len(predicted) == len(labels) and np.mean(np.array(predicted) == np.array(labels)) > 0.5
