"""The simulated operando experiment, integrated once per test session, for the map-step tests.

The first test module that asks simulates it (seed 0, small scale) and runs a pipeline (integrate
with the TRUE geometry, so that calibration errors stay out of these tests, then the map steps)
into the session's temporary folder; later modules reuse the folder: the pipeline's resume skips
every step whose inputs and parameters are unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pytest

from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.simulate import simulate_calibrants, simulate_operando

PIPELINE = Path(__file__).parent / "data" / "operando_maps.yaml"


@dataclass(frozen=True)
class OperandoRun:
    """The simulated folder, the step files by id, and the truth."""

    outdir: Path
    steps: dict[str, Path]
    truth: dict

    def entry(self, step_id: str) -> tuple[h5py.File, h5py.Group]:
        handle = h5py.File(self.steps[step_id], "r")
        return handle, handle[step_id]


def read_truth(outdir: Path) -> dict:
    """The truth arrays the map tests compare with."""
    with h5py.File(outdir / "truth" / "operando_truth.h5", "r") as handle:
        truth = {name: handle[name][()] for name in ("transmission", "q", "depth", "labels")}
        truth["masks"] = {name: handle[f"masks/{name}"][()] for name in handle["masks"]}
        truth["params"] = {name: handle[f"params/{name}"][()] for name in handle["params"]}
        truth["relative_change"] = handle["regions/relative_change"][()]
        truth["region_names"] = [n.decode() for n in handle["regions/names"][()]]
    truth["json"] = json.loads((outdir / "truth" / "operando_truth.json").read_text())
    return truth


def run_operando_pipeline(outdir: Path, pipeline: Path = PIPELINE, extra_steps: str = "") -> dict[str, Path]:
    """Run (or resume) the map pipeline in ``outdir``, with ``extra_steps`` (YAML list items)
    appended; returns the step files by id."""
    if not (outdir / "truth" / "operando_truth.json").exists():
        simulate_calibrants(outdir, seed=0)  # for the detector masks (gaps + beamstop) only
        simulate_operando(outdir, seed=0)
    copy = outdir / "operando_maps.yaml"
    copy.write_text(pipeline.read_text().rstrip() + "\n" + extra_steps)
    registry = Registry.discover()
    plan = check_pipeline(copy, registry)
    run_pipeline(plan, registry, SerialExecutor(progress=False), progress=False)
    return {step.config.id: plan.step_file(step.config.id) for step in plan.steps}


def shared_operando_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder of the simulated experiment, shared by every module that uses it."""
    outdir = tmp_path_factory.getbasetemp() / "operando_maps"
    outdir.mkdir(exist_ok=True)
    return outdir


@pytest.fixture(scope="module")
def operando_run(tmp_path_factory: pytest.TempPathFactory) -> OperandoRun:
    """The integrated operando experiment with every map step, shared by the map test modules."""
    outdir = shared_operando_folder(tmp_path_factory)
    steps = run_operando_pipeline(outdir)
    return OperandoRun(outdir, steps, read_truth(outdir))


def electrode_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over the masked points of maps [..., y, x]."""
    return values[..., mask].mean(axis=-1)


def run_step(step_class: type, params: dict, inputs: dict, output: Path, step_id: str = "step") -> Path:
    """Run one step outside a pipeline, through the pipeline's writer; returns its file."""
    from swaxs_plugins.core.step import StepContext
    from swaxs_plugins.io.nexus import StepWriter

    step = step_class(step_class.Parameters.model_validate(params))
    context = StepContext(step_id=step_id, kind="test", impl="test", inputs=inputs,
                          executor=SerialExecutor(progress=False), workdir=output.parent, progress=False)
    with StepWriter(output, step_id, step.definition) as writer:
        writer.write_process(program="swaxs-plugins", version="test", sequence_index=1, kind="test",
                             implementation="test", params=step.params.model_dump(mode="json"), units={}, configuration={},
                             inputs=[], reference="tests")
        step.run(context, writer)
    return output


def step_ref(path: Path, step_id: str, kind: str = "integrate"):
    """A reference to an earlier step's output, as the pipeline hands it to a step."""
    from swaxs_plugins.core.step import StepOutputRef

    return StepOutputRef(step_id, kind, path, step_id)
