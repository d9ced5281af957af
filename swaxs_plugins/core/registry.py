"""Discovery and selection of step implementations, on pluggy.

Plugins come from the entry-point group ``swaxs_plugins`` of every installed distribution (the
built-in steps are declared the same way, in ``entrypoints.cfg``) and from one-file plugins in
directories (``--plugins-dir`` or ``SWAXS_PLUGINS_PATH``). A plugin that fails to load never stops
the others: its error is kept in :attr:`Registry.load_errors` and shown by ``swaxs plugins``; so is a
plugin function named like a hook that is none (a misspelling). Two plugins claiming the same
(kind, name) make that implementation unusable, and never promote another one to the kind's default.
Lifecycle hooks are called through :meth:`Registry.notify`, which turns a raising hook into a warning.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import importlib.util
import inspect
import logging
import os
import re
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
from swaxs_plugins.core.hookspecs import HOOK_PREFIX, PROJECT, StepImpl
from swaxs_plugins.core.step import Step

BUILTIN_DISTRIBUTION = "swaxs-plugins"
ENTRY_POINT_GROUP = PROJECT
DISABLE_AUTOLOAD_ENV = "SWAXS_DISABLE_PLUGIN_AUTOLOAD"
PLUGINS_PATH_ENV = "SWAXS_PLUGINS_PATH"
LOCAL_PLUGIN_PREFIX = "swaxs_local_plugin_"
LOG = logging.getLogger("swaxs_plugins")
CLASS_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


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

    @property
    def step_class(self) -> type[Step]:
        """The implementation's class, imported here where it was registered as ``"module:Class"`` (so that
        listing plugins imports no step module); an error names the step and its plugin where it cannot be."""
        cls = self.impl.cls
        if isinstance(cls, str):
            module, _, name = cls.partition(":")
            try:
                cls = getattr(importlib.import_module(module), name)
            except Exception as error:  # noqa: BLE001 - any import failure of a plugin is the plugin's
                raise PluginError(f"step {self.label} from {self.source}: cannot import its class '{self.impl.cls}' "
                                  f"({_describe(error)})") from error
        if not (isinstance(cls, type) and issubclass(cls, Step)):
            raise PluginError(f"step {self.label} from {self.source}: {self.impl.cls!r} is not a Step subclass")
        return cls

    @property
    def version(self) -> str:
        """The implementation's version: as registered, else its distribution's, else "unversioned"."""
        return self.impl.version or self.source.version or "unversioned"

    @property
    def label(self) -> str:
        """``kind/name`` and where it came from, for messages."""
        return f"{self.impl.kind}/{self.impl.name} ({self.program} {self.version})"


@dataclass(frozen=True)
class LoadError:
    """A plugin that could not be loaded or registered, with the reason."""

    source: PluginSource
    message: str


@dataclass
class Registry:
    """All step implementations found, by (kind, name), with load errors and conflicts kept."""

    manager: pluggy.PluginManager
    sources: dict[str, PluginSource] = field(default_factory=dict)
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
        name = f"{source.name} ({source.origin})"
        try:
            _check_hook_names(plugin)
            self.manager.register(plugin, name=name)
            records = _collect(plugin)
        except Exception as error:  # noqa: BLE001 - a broken plugin must not stop the others
            if self.manager.is_registered(plugin):
                self.manager.unregister(plugin)
            self.load_errors.append(LoadError(source, _describe(error)))
            return
        self.sources[name] = source
        for record in records:
            self._add(RegisteredStep(record, source))

    def notify(self, hook_name: str, **kwargs: Any) -> None:
        """Call lifecycle hook ``hook_name`` on every plugin; one that raises is logged as a warning
        naming the plugin and where it raised, and the others are still called: a logging or catalogue
        plugin must never stop the processing."""
        for implementation in getattr(self.manager.hook, hook_name).get_hookimpls():
            try:
                implementation.function(*(kwargs[name] for name in implementation.argnames))
            except Exception as error:  # noqa: BLE001 - see the docstring
                source = self.sources.get(implementation.plugin_name)
                LOG.warning("plugin '%s' (%s): hook %s raised %s; the run goes on",
                            source.name if source else implementation.plugin_name, source or "", hook_name,
                            _describe(error))

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
        clashing = [claimants for (k, _), claimants in self.conflicts.items() if k == kind]
        if not impls and not clashing:
            raise PluginError(self._unknown_kind_message(kind))
        candidates = impls + [claimant for claimants in clashing for claimant in claimants]
        claims = [s for s in candidates if s.impl.default]
        third_party = [s for s in claims if not s.source.builtin]
        names = {s.impl.name for s in candidates}
        chosen = third_party or claims or (candidates if len(names) == 1 else [])
        chosen_names = sorted({s.impl.name for s in chosen})
        if len(chosen_names) != 1:
            listed = ", ".join(f"'{s.impl.name}' ({s.source})" for s in (chosen or candidates))
            raise PluginError(f"step kind '{kind}' has no single default implementation among {listed}; "
                              "name one with 'impl' in the pipeline")
        if (kind, chosen_names[0]) in self.conflicts:
            raise PluginError(f"the default implementation of step kind '{kind}', "
                              f"{self._clash_message(kind, chosen_names[0])}")
        return chosen_names[0]

    def get(self, kind: str, name: str | None = None) -> RegisteredStep:
        """The implementation ``name`` of ``kind`` (its default when ``name`` is None)."""
        if (kind, name) in self.conflicts:
            raise PluginError(f"step {self._clash_message(kind, name)}")
        if name is None:
            name = self.default_name(kind)
        if (kind, name) in self.steps:
            return self.steps[(kind, name)]
        if not self.implementations(kind):
            raise PluginError(self._unknown_kind_message(kind))
        available = ", ".join(s.impl.name for s in self.implementations(kind))
        raise PluginError(f"unknown implementation '{name}' of step kind '{kind}'; available: {available}")

    def clash_explanation(self, kind: str, name: str) -> str:
        """Why a clashing (kind, name) is not used, and what to do, in one sentence."""
        sources = " and ".join(str(s.source) for s in self.conflicts[(kind, name)])
        return (f"is registered twice, by {sources}; neither is used and no other implementation takes its "
                "place: uninstall one, or rename one of them (a pipeline then names it with 'impl')")

    def _clash_message(self, kind: str, name: str) -> str:
        return f"'{kind}/{name}' {self.clash_explanation(kind, name)}"

    def _unknown_kind_message(self, kind: str) -> str:
        usable = sorted({k for k, _ in self.steps})
        return f"unknown step kind '{kind}'; kinds with an implementation: {', '.join(usable) or 'none'}"

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
        if isinstance(record.cls, str):
            if not CLASS_PATH.fullmatch(record.cls):
                raise TypeError(f"step '{record.kind}/{record.name}': cls {record.cls!r} is not 'module:Class'")
        elif not (isinstance(record.cls, type) and issubclass(record.cls, Step)):
            raise TypeError(f"step '{record.kind}/{record.name}': cls {record.cls!r} is not a Step subclass")
    return records


def _check_hook_names(plugin: Any) -> None:
    """A plugin function named ``swaxs_...`` that is no hook is a misspelling: refuse the plugin."""
    known = {name for name in dir(hookspecs) if name.startswith(HOOK_PREFIX)}
    for name in dir(plugin):
        if name.startswith(HOOK_PREFIX) and name not in known and inspect.isroutine(getattr(plugin, name)):
            raise TypeError(f"function '{name}' is named like a hook but there is no such hook (a misspelling?); "
                            f"the hooks are {', '.join(sorted(known))}")


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
