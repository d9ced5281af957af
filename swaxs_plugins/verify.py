"""``swaxs plugins verify``: the contract checks of installed step implementations.

For every implementation asked for (a ``kind/name``, a plugin or a distribution name; by default every
one not built in):

- **imports**: its class (``"module:Class"`` registrations are imported here) is a ``Step``;
- **parameters**: a ``StepParameters`` model whose JSON schema builds and whose every field has a
  description (``swaxs describe`` shows them); whether its defaults alone validate;
- **layouts**: the layouts it produces and its inputs take are known (:mod:`swaxs_plugins.data.layouts`);
- **run** (where its parameters validate, its defaults or those given, and :mod:`swaxs_plugins.testing` can
  make every required input: a raw scan, or a file of a layout it takes): it runs serially and its output
  holds its layouts and follows its application definition (a step that refuses the test inputs with a
  :class:`SwaxsError`, a message for the user, is skipped with it: that is no contract violation; any other
  exception fails), and
- **picklable**: ``process`` after ``setup`` pickles (what an executor ships to a worker) within
  :data:`PICKLE_LIMIT_BYTES`;
- **executors**: threads (and Dask, with ``dask=True``) give output identical to serial, dataset by dataset;
- **deterministic**: a second serial run gives the same output.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from swaxs_plugins.core.errors import PluginError, SwaxsError
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.registry import RegisteredStep, Registry
from swaxs_plugins.core.step import Step, StepContext, StepParameters
from swaxs_plugins.data.layouts import LAYOUTS
from swaxs_plugins.io.nexus import PROCESS_GROUP
from swaxs_plugins.testing import WRITERS, Inputs, run_step

PICKLE_LIMIT_BYTES = 16 * 2**20
"""``process`` of a step set up on the small test inputs must pickle to less than this."""


@dataclass(frozen=True)
class Check:
    """One check of one implementation: PASS, FAIL or SKIP, with what was found."""

    step: str
    name: str
    status: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.status:<4} {self.step:<28} {self.name:<14} {self.detail}"


def selected(registry: Registry, name: str | None) -> list[RegisteredStep]:
    """The implementations ``name`` means (kind/name, plugin or distribution name; None: all third-party)."""
    steps = sorted(registry.steps.values(), key=lambda s: (s.impl.kind, s.impl.name))
    if name is None:
        chosen = [s for s in steps if not s.source.builtin]
    else:
        chosen = [s for s in steps if name in (f"{s.impl.kind}/{s.impl.name}", s.source.name, s.source.distribution)]
    if name is not None and not chosen:
        raise PluginError(f"plugins verify: no step implementation is '{name}' (a kind/name, plugin or distribution "
                          f"name); 'swaxs plugins' lists them")
    return chosen


def verify(steps: Iterable[RegisteredStep], *, dask: bool = False, params: dict[str, Any] | None = None) -> list[Check]:
    """Every check of every step (module docstring); ``params`` for the runs (default: the step's defaults)."""
    return [check for step in steps for check in verify_step(step, dask=dask, params=params)]


def verify_step(step: RegisteredStep, *, dask: bool = False, params: dict[str, Any] | None = None) -> list[Check]:
    label = f"{step.impl.kind}/{step.impl.name}"
    try:
        cls = step.step_class
    except PluginError as error:
        return [Check(label, "imports", "FAIL", str(error))]
    checks = [Check(label, "imports", "PASS", f"{cls.__module__}.{cls.__qualname__} ({step.program} {step.version})")]
    checks.append(_parameters(label, cls))
    checks.append(_layouts(label, cls))
    if any(c.status == "FAIL" for c in checks):
        return checks
    with tempfile.TemporaryDirectory(prefix="swaxs_verify_") as folder:
        checks += _runs(label, cls, Path(folder), dask, dict(params or {}))
    return checks


def _parameters(label: str, cls: type[Step]) -> Check:
    model = cls.Parameters
    if not (isinstance(model, type) and issubclass(model, StepParameters)):
        return Check(label, "parameters", "FAIL", f"Parameters {model!r} is not a StepParameters model")
    try:
        model.model_json_schema()
    except Exception as error:  # noqa: BLE001 - any failure is the plugin's
        return Check(label, "parameters", "FAIL", f"JSON schema: {type(error).__name__}: {error}")
    undocumented = [name for name, info in model.model_fields.items() if not info.description]
    if undocumented:
        return Check(label, "parameters", "FAIL", f"no description: {', '.join(undocumented)} (use parameter(...))")
    return Check(label, "parameters", "PASS", f"{len(model.model_fields)} documented")


def _layouts(label: str, cls: type[Step]) -> Check:
    named = list(cls.produces) + [layout for spec in cls.inputs.values() for layout in spec.layouts]
    unknown = sorted({layout for layout in named if layout not in LAYOUTS})
    if unknown:
        return Check(label, "layouts", "FAIL", f"unknown layouts {', '.join(unknown)}; known: {', '.join(LAYOUTS)}")
    return Check(label, "layouts", "PASS", f"produces {', '.join(cls.produces) or 'no declared layout'}")


def _runs(label: str, cls: type[Step], folder: Path, dask: bool, given: dict[str, Any]) -> list[Check]:
    try:
        params = cls.Parameters.model_validate(given)
    except Exception as error:  # noqa: BLE001 - a model with required fields
        what = "the parameters given do not validate" if given else "its parameters have no defaults for every field"
        return [Check(label, "run", "SKIP", f"{what} (--params): {str(error).splitlines()[0]}")]
    inputs, missing = _inputs(cls, Inputs(folder))
    if missing:
        return [Check(label, "run", "SKIP", f"cannot make the input(s) {', '.join(missing)} (no layout the helpers "
                                            f"write: {', '.join(WRITERS)}, or raw)")]
    try:
        serial = run_step(cls, given, inputs, workdir=folder / "serial", step_id="verify", check_layouts=False)
    except SwaxsError as error:
        return [Check(label, "run", "SKIP", f"refuses the test inputs, saying: {error} (give --params)")]
    except Exception as error:  # noqa: BLE001 - any other failure is the plugin's
        return [Check(label, "run", "FAIL", f"{type(error).__name__}: {error}")]
    checks = [Check(label, "run", "FAIL" if serial.problems else "PASS",
                    "; ".join(serial.problems) or f"output holds {', '.join(cls.produces) or 'its entry'}")]
    checks.append(_pickled(label, cls, params, inputs, folder))
    executors = ["threads"] + (["dask"] if dask else [])
    for name in executors:
        other = run_step(cls, given, inputs, workdir=folder / name, step_id="verify", executor=name,
                         check_layouts=False)
        differences = compare(serial.ref.path, other.ref.path)
        checks.append(Check(label, f"{name}=serial", "FAIL" if differences else "PASS",
                            "; ".join(differences[:3]) or "identical, dataset by dataset"))
    again = run_step(cls, given, inputs, workdir=folder / "again", step_id="verify", check_layouts=False)
    differences = compare(serial.ref.path, again.ref.path)
    checks.append(Check(label, "deterministic", "FAIL" if differences else "PASS",
                        "; ".join(differences[:3]) or "a second run is identical"))
    return checks


def _inputs(cls: type[Step], made: Inputs) -> tuple[dict[str, Any], list[str]]:
    inputs: dict[str, Any] = {}
    missing = []
    for name, spec in cls.inputs.items():
        if not spec.required:
            continue
        layout = next((layout for layout in spec.layouts if layout in WRITERS), None)
        if spec.source in ("raw", "any") and layout is None:
            inputs[name] = made.raw_frames()
        elif layout is not None:
            inputs[name] = made.layout(layout)
        else:
            missing.append(name)
    return inputs, missing


def _pickled(label: str, cls: type[Step], params: StepParameters, inputs: dict[str, Any], folder: Path) -> Check:
    step = cls(params)
    step.setup(StepContext(step_id="verify", kind="verify", impl=label, inputs=inputs, executor=SerialExecutor(False),
                           workdir=folder, progress=False))
    try:
        size = len(pickle.dumps(step.process))
    except Exception as error:  # noqa: BLE001 - any failure is the plugin's
        return Check(label, "picklable", "FAIL", f"process does not pickle: {type(error).__name__}: {error}")
    verdict = "PASS" if size <= PICKLE_LIMIT_BYTES else "FAIL"
    return Check(label, "picklable", verdict, f"process pickles to {size} bytes (limit {PICKLE_LIMIT_BYTES})")


def compare(first: Path, second: Path) -> list[str]:
    """Datasets that differ between two step files (NaN equals NaN), and those in only one; the provenance
    (the NXprocess, with its date) is not compared."""
    def datasets(path: Path) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with h5py.File(path, "r") as handle:
            handle.visititems(lambda name, node: found.__setitem__(name, node[()])
                              if isinstance(node, h5py.Dataset) and f"/{PROCESS_GROUP}/" not in f"/{name}" else None)
        return found

    a, b = datasets(first), datasets(second)
    problems = [f"{name}: only in one" for name in sorted(set(a) ^ set(b))]
    for name in sorted(set(a) & set(b)):
        x, y = np.asarray(a[name]), np.asarray(b[name])
        equal = x.shape == y.shape and (np.array_equal(x, y, equal_nan=True) if x.dtype.kind in "fc"
                                        else np.array_equal(x, y))
        if not equal:
            problems.append(f"{name}: differs")
    return problems
