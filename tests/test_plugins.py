"""Plugin discovery through entry points, lookup by name, and the failure cases."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from snas import PluginConflictError, UnknownPluginError
from snas.runtime.plugins import PluginManager

BUILTIN = {
    "family": {"cnn", "mlp"},
    "strategy": {"random", "evolutionary"},
    "dataset": {"digits"},
    "evaluator": {"train"},
    "executor": {"inline", "process"},
}


def make_distribution(root: Path, name: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write an installed-looking distribution (a .dist-info folder) and its modules under ``root``."""
    dist = root / f"{name.replace('-', '_')}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{k} = {v}" for k, v in entry_points.items())
    (dist / "entry_points.txt").write_text(f"[snas]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def extra_path(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    importlib.invalidate_caches()


def test_builtins_are_found_through_entry_points():
    manager = PluginManager()
    for kind, names in BUILTIN.items():
        found = manager.components(kind)
        assert names <= set(found), kind
        for name in names:
            assert found[name].distribution == "snas"
    assert manager.get_strategy("evolutionary").name == "evolutionary"
    assert manager.get_family("cnn").space().family == "cnn"


def test_unknown_name_lists_what_exists():
    manager = PluginManager()
    with pytest.raises(UnknownPluginError) as info:
        manager.get_strategy("evolutionnary")
    message = str(info.value)
    assert "unknown strategy 'evolutionnary'" in message
    assert "evolutionary" in message and "random" in message


def test_broken_plugin_is_reported_once_and_others_keep_working(extra_path):
    make_distribution(extra_path, "broken-plugin", {"broken": "snas_broken_mod"},
                      {"snas_broken_mod": "raise ImportError('needs libfoo')\n"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        manager = PluginManager()
        PluginManager()  # a second manager in the same process does not warn again
    reports = [w for w in caught if "broken" in str(w.message)]
    assert len(reports) == 1
    assert "broken-plugin" in str(reports[0].message) and "needs libfoo" in str(reports[0].message)
    assert [f.entry_point for f in manager.failures] == ["broken"]
    assert {"cnn", "mlp"} <= set(manager.components("family"))
    with pytest.raises(UnknownPluginError, match="failed to load: broken"):
        manager.get_family("nonexistent")


def test_two_plugins_with_one_name_is_an_error_naming_both(extra_path):
    make_distribution(
        extra_path, "copycat-cnn", {"copycat": "snas_copycat_mod"},
        {"snas_copycat_mod": """
            from snas import NetworkFamily, hookimpl

            class Copy(NetworkFamily):
                name = "cnn"
                def space(self): ...
                def build(self, arch, input_shape, num_classes): ...

            @hookimpl
            def snas_register_families():
                return [Copy]
        """},
    )
    manager = PluginManager()
    with pytest.warns(RuntimeWarning, match="copycat-cnn"):
        assert manager.get_family("mlp").name == "mlp"  # the conflict costs only the name both claim
    with pytest.raises(PluginConflictError) as info:
        manager.get_family("cnn")
    message = str(info.value)
    assert "'cnn'" in message and "snas" in message and "copycat-cnn" in message
    assert any("copycat-cnn" in str(f) for f in manager.failures)


def test_load_env_restricts_entry_points(monkeypatch):
    monkeypatch.setenv("SNAS_LOAD_PLUGINS", "digits, mlp")
    manager = PluginManager()
    assert set(manager.components("family")) == {"mlp"}
    assert set(manager.components("dataset")) == {"digits"}
    assert manager.components("strategy") == {}
    monkeypatch.setenv("SNAS_LOAD_PLUGINS", "")
    assert PluginManager().components("family") == {}


def test_trace_env_prints_every_hook_call(monkeypatch, capsys):
    monkeypatch.setenv("SNAS_TRACE_PLUGINS", "1")
    manager = PluginManager()
    manager.components("family")
    err = capsys.readouterr().err
    assert "snas trace: snas_register_families(" in err
    assert "returned" in err and "CNN" in err


def test_registering_a_non_component_is_rejected():
    from snas import hookimpl

    class NotAFamily:
        name = "bogus"

    class Plugin:
        @hookimpl
        def snas_register_families(self):
            return [NotAFamily]

    manager = PluginManager()
    manager.register(Plugin(), name="bogus-plugin")
    with pytest.warns(RuntimeWarning, match="not a named subclass of snas.NetworkFamily"):
        families = manager.components("family")
    assert "bogus" not in families and "cnn" in families  # skipped, and every other plugin works
    assert [f.entry_point for f in manager.failures] == ["bogus-plugin"]


@pytest.mark.parametrize("returns", ["raise", "not a class", "no name", "twice"])
def test_a_broken_registration_hook_costs_only_its_plugin(returns):
    from snas import NetworkFamily, hookimpl

    class Nameless(NetworkFamily):
        def space(self): ...
        def build(self, arch, input_shape, num_classes): ...

    class Twin(Nameless):
        name = "twin"

    class Plugin:
        @hookimpl
        def snas_register_families(self):
            if returns == "raise":
                raise RuntimeError("boom")
            return {"not a class": ["cnn"], "no name": [Nameless], "twice": [Twin, Twin]}[returns]

    manager = PluginManager()
    manager.register(Plugin(), name="broken-plugin")
    with pytest.warns(RuntimeWarning, match="broken-plugin"):
        families = manager.components("family")
    assert {"cnn", "mlp"} <= set(families) and "twin" not in families
    assert len(manager.failures) == 1 and manager.failures[0].entry_point == "broken-plugin"
    assert manager.get("strategy", "random")  # other kinds are untouched


def test_the_kernel_imports_no_plugin():
    """snas/ must find plugins only through entry points."""
    kernel = Path(__file__).resolve().parents[1] / "snas"
    offenders = [str(p) for p in kernel.rglob("*.py") if "snas_plugins" in p.read_text()]
    assert offenders == []
    code = (
        "import sys, snas, snas.frontends.cli, snas.runtime.engine, snas.runtime.store, snas.frontends.api\n"
        "m = snas.PluginManager(load_entry_points=False)\n"
        "assert not any(k.startswith('snas_plugins') for k in sys.modules), sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
