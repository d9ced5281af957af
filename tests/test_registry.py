"""Plugin discovery: entry points, plugin folders, broken plugins, conflicts, defaults, selection."""

from __future__ import annotations

import configparser
import importlib.metadata as metadata
import textwrap
from pathlib import Path

import pytest

from conftest import TEST_PLUGINS
from swaxs_plugins.core.errors import PluginError
from swaxs_plugins.core.registry import Registry

ROOT = Path(__file__).resolve().parents[1]

STEP_PLUGIN = textwrap.dedent('''
    from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
    from swaxs_plugins.core.step import Step

    class {cls}(Step):
        """A step that does nothing."""

    @hookimpl
    def swaxs_register_steps():
        return [StepImpl("{kind}", "{name}", {cls}, "1.0", "test step", default={default})]
''')


def plugin_file(folder: Path, stem: str, kind: str = "fit", name: str = "mine", default: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(STEP_PLUGIN.format(cls=f"Step_{stem}", kind=kind, name=name, default=default))
    return path


def declared_builtins() -> set[str]:
    parser = configparser.ConfigParser()
    parser.read(ROOT / "entrypoints.cfg")
    return set(parser["swaxs_plugins"])


def test_installed_entry_points_are_the_ones_declared_in_entrypoints_cfg():
    installed = {ep.name for ep in metadata.entry_points(group="swaxs_plugins") if ep.dist.name == "swaxs-plugins"}
    assert installed == declared_builtins()
    assert {"calibrate", "integrate"} <= installed


def test_builtin_steps_are_discovered_through_entry_points_as_defaults():
    registry = Registry.discover()
    for kind in ("calibrate", "integrate"):
        step = registry.get(kind)
        assert step.source.distribution == "swaxs-plugins"
        assert step.source.origin.startswith(f"entry point {kind} = swaxs_plugins.steps.")
        assert registry.default_name(kind) == step.impl.name


def test_one_file_plugins_load_from_a_folder_and_from_the_environment(tmp_path, monkeypatch):
    plugin_file(tmp_path / "a", "first", name="first")
    plugin_file(tmp_path / "b", "second", name="second")
    monkeypatch.setenv("SWAXS_PLUGINS_PATH", str(tmp_path / "b"))
    registry = Registry.discover([tmp_path / "a"])
    assert {s.impl.name for s in registry.implementations("fit")} >= {"first", "second"}
    assert registry.get("fit", "first").source.origin == f"file {tmp_path / 'a' / 'first.py'}"


def test_a_broken_plugin_is_isolated_and_its_error_kept(tmp_path):
    plugin_file(tmp_path, "good", name="good")
    (tmp_path / "broken.py").write_text("import numpy\nraise ImportError('needs the missing package frobnicate')\n")
    (tmp_path / "badrecord.py").write_text(textwrap.dedent('''
        from swaxs_plugins.core.hookspecs import hookimpl
        @hookimpl
        def swaxs_register_steps():
            return ["not a StepImpl"]
    '''))
    registry = Registry.discover([tmp_path])
    assert registry.get("fit", "good").impl.name == "good"
    errors = {e.source.name: e.message for e in registry.load_errors}
    assert "frobnicate" in errors["broken"] and errors["broken"].startswith("ImportError")
    assert "expected StepImpl" in errors["badrecord"]
    assert registry.get("integrate").source.distribution == "swaxs-plugins"


def test_the_same_kind_and_name_twice_is_an_error_naming_both_sources(tmp_path):
    first = plugin_file(tmp_path, "one", name="twin")
    second = plugin_file(tmp_path, "two", name="twin")
    registry = Registry.discover([tmp_path])
    with pytest.raises(PluginError) as error:
        registry.get("fit", "twin")
    assert str(first) in str(error.value) and str(second) in str(error.value)
    assert "registered twice" in str(error.value)


def test_selection_by_name_default_and_unknown_names(tmp_path):
    plugin_file(tmp_path, "alpha", name="alpha", default=True)
    plugin_file(tmp_path, "beta", name="beta")
    registry = Registry.discover([tmp_path])
    assert registry.get("fit").impl.name == "alpha"
    assert registry.get("fit", "beta").impl.name == "beta"
    with pytest.raises(PluginError, match="unknown implementation 'gamma' of step kind 'fit'; available: alpha, beta"):
        registry.get("fit", "gamma")
    with pytest.raises(PluginError, match="unknown step kind 'nonsense'; kinds with an implementation: .*integrate"):
        registry.get("nonsense")


def test_a_third_party_default_replaces_the_builtin_default(tmp_path):
    plugin_file(tmp_path, "facility", kind="integrate", name="facility", default=True)
    registry = Registry.discover([tmp_path])
    assert registry.default_name("integrate") == "facility"
    assert registry.get("integrate", "pyfai").source.distribution == "swaxs-plugins"


def test_two_third_party_defaults_are_ambiguous(tmp_path):
    plugin_file(tmp_path, "x", name="x", default=True)
    plugin_file(tmp_path, "y", name="y", default=True)
    with pytest.raises(PluginError, match="no single default implementation"):
        Registry.discover([tmp_path]).get("fit")


def test_disabling_autoload_keeps_builtins_and_explicit_folders_only(tmp_path, monkeypatch):
    plugin_file(tmp_path / "env", "fromenv", name="fromenv")
    monkeypatch.setenv("SWAXS_PLUGINS_PATH", str(tmp_path / "env"))
    monkeypatch.setenv("SWAXS_DISABLE_PLUGIN_AUTOLOAD", "1")
    registry = Registry.discover([TEST_PLUGINS])
    assert "fromenv" not in {s.impl.name for s in registry.implementations("fit")}
    assert registry.get("integrate", "framesum").impl.name == "framesum"
    assert registry.get("integrate", "pyfai").source.builtin


def test_a_missing_plugin_folder_is_reported_not_fatal(tmp_path):
    registry = Registry.discover([tmp_path / "nowhere"])
    assert any("is not a directory" in e.message for e in registry.load_errors)
