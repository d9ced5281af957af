"""Discovery and selection of step implementations, on pluggy.

Plugins come from the entry-point group ``swaxs_plugins`` of every installed distribution (the
built-in steps are declared the same way, in ``entrypoints.cfg``) and from one-file plugins in
directories (``--plugins-dir`` or ``SWAXS_PLUGINS_PATH``). A plugin that fails to load never stops
the others: its error is kept in :attr:`Registry.load_errors` and shown by ``swaxs plugins``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import importlib.util
import os
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from swaxs_plugins.core import hookspecs
from swaxs_plugins.core.errors import PluginError
from swaxs_plugins.core.hookspecs import PROJECT, StepImpl
from swaxs_plugins.core.step import Step

BUILTIN_DISTRIBUTION = "swaxs-plugins"
ENTRY_POINT_GROUP = PROJECT
DISABLE_AUTOLOAD_ENV = "SWAXS_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_PATH_ENV = "SWAXS_PLUGINS_PATH"
LOCAL_PLUGIN_PREFIX = "swaxs_local_plugin_"


@dataclass(frozen=True)
class PluginSource:
    """Where a plugin came from: an entry point of a distribution, or a file."""

    name: str
    origin: str
    distribution: str | None = None
    version: str | None = None

    @property
    def builtin(self) -> bool:
        return _normalise(self.distribution or "") == BUILTIN_DISTRIBUTION

    def __str__(self) -> str:
        dist = f" from {self.distribution} {self.version}" if self.distribution else ""
        return f"{self.origin}{dist}"


@dataclass(frozen=True)
class RegisteredStep:
    """A step implementation together with the plugin that registered it."""

    impl: StepImpl
    source: PluginSource

    @property
    def program(self) -> str:
        """The name written as ``program`` in NeXus: the distribution, or the plugin's own name."""
        return self.source.distribution or self.source.name


@dataclass(frozen=True)
class LoadError:
    """A plugin that could not be loaded or registered, with the reason."""

    source: PluginSource
    message: str


@dataclass
class Registry:
    """All step implementations found, by (kind, name), with load errors and conflicts kept."""

    manager: pluggy.PluginManager
    steps: dict[tuple[str, str], RegisteredStep] = field(default_factory=dict)
    conflicts: dict[tuple[str, str], list[RegisteredStep]] = field(default_factory=dict)
    load_errors: list[LoadError] = field(default_factory=list)

    @classmethod
    def discover(cls, plugin_dirs: Sequence[str | Path] = (), *, autoload: bool | None = None) -> Registry:
        """Find every plugin: entry points, ``plugin_dirs`` and ``SWAXS_PLUGINS_PATH``.

        With autoload off (``SWAXS_DISABLE_PLUGIN_AUTOLOAD=1``) only the built-in entry points and
        the directories given explicitly are loaded.
        """
        if autoload is None:
            autoload = os.environ.get(DISABLE_AUTOLOAD_ENV, "") in ("", "0", "false", "no")
        registry = cls.empty()
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            source = _entry_point_source(entry_point)
            if autoload or source.builtin:
                registry._load(source, entry_point.load)
        dirs = list(plugin_dirs)
        if autoload:
            dirs += [d for d in os.environ.get(PLUGINS_PATH_ENV, "").split(os.pathsep) if d]
        for path in _plugin_files(dirs, registry):
            registry._load(PluginSource(name=path.stem, origin=f"file {path}"), lambda p=path: _import_file(p))
        return registry

    @classmethod
    def empty(cls) -> Registry:
        """A registry with the hook specifications and no plugin."""
        manager = pluggy.PluginManager(PROJECT)
        manager.add_hookspecs(hookspecs)
        return cls(manager=manager)

    def register(self, plugin: Any, source: PluginSource) -> None:
        """Register a loaded plugin object and collect its step implementations."""
        try:
            self.manager.register(plugin, name=f"{source.name} ({source.origin})")
            records = _collect(plugin)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the others
            self.load_errors.append(LoadError(source, _describe(error)))
            return
        for record in records:
            self._add(RegisteredStep(record, source))

    @property
    def hook(self) -> Any:
        """The lifecycle hooks, called on every registered plugin."""
        return self.manager.hook

    def kinds(self) -> list[str]:
        """Every step kind with at least one implementation (conflicting ones included)."""
        return sorted({kind for kind, _ in self.steps} | {kind for kind, _ in self.conflicts})

    def implementations(self, kind: str) -> list[RegisteredStep]:
        """The usable implementations of ``kind``, sorted by name."""
        return sorted((s for (k, _), s in self.steps.items() if k == kind), key=lambda s: s.impl.name)

    def default_name(self, kind: str) -> str:
        """The implementation a pipeline gets when it names none.

        Among implementations claiming ``default``, a third-party one beats the built-in one, so
        that a facility can swap in its own step without editing pipelines. With no claim, a
        kind's only implementation is its default.
        """
        impls = self.implementations(kind)
        if not impls:
            raise PluginError(self._unknown_kind_message(kind))
        claims = [s for s in impls if s.impl.default]
        third_party = [s for s in claims if not s.source.builtin]
        chosen = third_party or claims or (impls if len(impls) == 1 else [])
        if len(chosen) != 1:
            names = ", ".join(f"'{s.impl.name}' ({s.source})" for s in (chosen or impls))
            raise PluginError(f"step kind '{kind}' has no single default implementation among {names}; "
                              "name one with 'impl' in the pipeline")
        return chosen[0].impl.name

    def get(self, kind: str, name: str | None = None) -> RegisteredStep:
        """The implementation ``name`` of ``kind`` (its default when ``name`` is None)."""
        if (kind, name) in self.conflicts:
            sources = " and ".join(str(s.source) for s in self.conflicts[(kind, name)])
            raise PluginError(f"step '{kind}/{name}' is registered twice, by {sources}")
        if name is None:
            name = self.default_name(kind)
        if (kind, name) in self.steps:
            return self.steps[(kind, name)]
        if not self.implementations(kind):
            raise PluginError(self._unknown_kind_message(kind))
        available = ", ".join(s.impl.name for s in self.implementations(kind))
        raise PluginError(f"unknown implementation '{name}' of step kind '{kind}'; available: {available}")

    def _unknown_kind_message(self, kind: str) -> str:
        return f"unknown step kind '{kind}'; known kinds: {', '.join(self.kinds()) or 'none'}"

    def _load(self, source: PluginSource, loader: Any) -> None:
        try:
            plugin = loader()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the others
            self.load_errors.append(LoadError(source, _describe(error)))
            return
        self.register(plugin, source)

    def _add(self, step: RegisteredStep) -> None:
        key = (step.impl.kind, step.impl.name)
        if key in self.conflicts:
            self.conflicts[key].append(step)
        elif key in self.steps:
            self.conflicts[key] = [self.steps.pop(key), step]
        else:
            self.steps[key] = step


def _collect(plugin: Any) -> list[StepImpl]:
    """Call this plugin's registration hook alone and check what it returns."""
    hook = getattr(plugin, "swaxs_register_steps", None)
    if hook is None:
        return []
    records = list(hook() or [])
    for record in records:
        if not isinstance(record, StepImpl):
            raise TypeError(f"swaxs_register_steps returned {record!r}, expected StepImpl records")
        if not (isinstance(record.cls, type) and issubclass(record.cls, Step)):
            raise TypeError(f"step '{record.kind}/{record.name}': cls {record.cls!r} is not a Step subclass")
    return records


def _entry_point_source(entry_point: metadata.EntryPoint) -> PluginSource:
    dist = entry_point.dist
    return PluginSource(
        name=entry_point.name,
        origin=f"entry point {entry_point.name} = {entry_point.value}",
        distribution=dist.name if dist else None,
        version=dist.version if dist else None,
    )


def _plugin_files(dirs: Iterable[str | Path], registry: Registry) -> list[Path]:
    files = []
    for directory in dirs:
        path = Path(directory)
        if not path.is_dir():
            registry.load_errors.append(LoadError(PluginSource(str(path), f"plugins dir {path}"),
                                                  "is not a directory"))
            continue
        files += sorted(p for p in path.glob("*.py") if not p.name.startswith("_"))
    return files


def _import_file(path: Path) -> ModuleType:
    """Import a one-file plugin under a module name unique to its path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    spec = importlib.util.spec_from_file_location(f"{LOCAL_PLUGIN_PREFIX}{path.stem}_{digest}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # classes defined in it must find their module (pydantic, pickle)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


def _describe(error: BaseException) -> str:
    frame = traceback.extract_tb(error.__traceback__)[-1:] if error.__traceback__ else []
    where = f" ({frame[0].filename}:{frame[0].lineno})" if frame else ""
    return f"{type(error).__name__}: {error}{where}"


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")
