"""A facility's files, start to finish: the simulated operando scans written as a BLISS beamline writes them
(entry /1.1, no scan shape, motor positions only, x fastest; and a serpentine variant), `swaxs init` on them,
and the pipeline it wrote run unchanged.

The results are compared with the simulation's truth by the demo's own comparisons (the same tolerances:
mask IoU, transmission, D per region and scan, onsets, d002 and its shift, the SAXS exponent), the map axes
with the motor positions in mm; the serpentine scans give the line-by-line scans' maps point for point.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from bliss_layout import write_bliss_scans
from conftest_operando import shared_operando_folder
from swaxs_plugins.cli import main
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.demo.checks import fit_comparisons, map_comparisons
from swaxs_plugins.simulate import simulate_calibrants, simulate_operando

#: The steps the serpentine variant runs (its maps then equal the line-by-line ones point for point).
MAP_STEPS = ("saxs_curves", "waxs_curves", "saxs_transmission", "waxs_transmission", "map_masks")


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = shared_operando_folder(tmp_path_factory)
    if not (folder / "truth" / "operando_truth.json").exists():
        simulate_calibrants(folder, seed=0)
        simulate_operando(folder, seed=0)
    return folder


def init_pipeline(simulated: Path, folder: Path, snake: bool) -> tuple[Path, str]:
    """The BLISS files in ``folder`` and `swaxs init` on them: the pipeline written, and what init printed."""
    scans = write_bliss_scans(simulated / "raw", folder / "raw", snake=snake)
    empty = next(p for p in scans if p.stem == "scan_empty")
    ordered = [folder / "raw" / f"scan_{label}.h5" for label in ("pristine", "op1", "op2", "op3", "op4")]
    assert set(ordered) | {empty} == set(scans)
    pipeline = folder / "pipeline.yaml"
    args = ["init", *map(str, ordered), "--empty", str(empty), "--cycler-log", str(simulated / "cycler_log.csv"),
            "-o", str(pipeline)]
    for role in ("saxs", "waxs"):
        args += ["--poni", f"{role}={simulated / 'truth' / f'{role}.poni'}",
                 "--mask", f"{role}={simulated / f'mask_{role}.edf'}"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return pipeline, result.output


def run(pipeline: Path, only: tuple[str, ...] | None = None) -> dict[str, Path]:
    registry = Registry.discover()
    plan = check_pipeline(pipeline, registry)
    if only is not None:
        plan = replace(plan, steps=[s for s in plan.steps if s.config.id in only])
    run_pipeline(plan, registry, SerialExecutor(progress=False), progress=False)
    return {step.config.id: plan.step_file(step.config.id) for step in plan.steps}


@pytest.fixture(scope="module")
def line_by_line(simulated: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Path], str]:
    pipeline, printed = init_pipeline(simulated, tmp_path_factory.mktemp("bliss_lines"), snake=False)
    return run(pipeline), printed


def test_init_says_what_it_found(line_by_line):
    _, printed = line_by_line
    for line in ("detector pilatus_saxs: frames /1.1/instrument/pilatus_saxs/data [60, 407, 487] (NXdetector), "
                 "distance 1.1 m", "monitor: /1.1/instrument/mon/data", "diode: /1.1/instrument/pin/data",
                 "positions: y /1.1/instrument/samy/value, x /1.1/instrument/samx/value (6 lines of 10 points, "
                 "x fastest)", "energy: 13.2 keV", "SAXS detector: pilatus_saxs", "WAXS detector: pilatus_waxs",
                 "11 steps, checked"):
        assert line in printed, line


def test_the_written_pipeline_recovers_the_truth(line_by_line, simulated):
    """Every comparison the demo makes of the map and fit steps holds, with the demo's tolerances."""
    steps, _ = line_by_line
    rows = map_comparisons(steps, simulated / "truth") + fit_comparisons(steps, simulated / "truth")
    names = " | ".join(row.name for row in rows)
    for expected in ("mask IoU electrode", "mask IoU electrolyte", "mask IoU current_collector", "D micropores op4",
                     "d002 shift op4 - pristine"):
        assert expected in names, expected
    failed = [f"{row.name}: {row.found} vs {row.truth}" for row in rows if not row.ok]
    assert not failed, failed


def test_map_axes_are_the_motor_positions_in_mm(line_by_line, simulated):
    steps, _ = line_by_line
    with h5py.File(simulated / "raw" / "scan_pristine.nxs", "r") as raw:
        shape = tuple(raw["/entry/scan/shape"][()])
        y, x = raw["/entry/scan/y"][()].reshape(shape), raw["/entry/scan/x"][()].reshape(shape)
    for step, group in (("waxs_transmission", "transmission"), ("map_masks", "masks/electrode"),
                        ("differences", "differences/micropores"), ("waxs_fit", "maps/d002")):
        with h5py.File(steps[step], "r") as handle:
            data = handle[f"{step}/{group}"]
            np.testing.assert_allclose(data["y"][()], y[:, 0])
            np.testing.assert_allclose(data["x"][()], x[0])
            assert data["y"].attrs["units"] == data["x"].attrs["units"] == "mm"


def test_a_serpentine_scan_gives_the_same_maps(line_by_line, simulated, tmp_path_factory):
    """The same frames taken serpentine: init finds it so, and curves, T and masks equal the line-by-line ones."""
    pipeline, printed = init_pipeline(simulated, tmp_path_factory.mktemp("bliss_snake"), snake=True)
    assert "(6 lines of 10 points, x fastest, serpentine)" in printed
    snake, lines = run(pipeline, MAP_STEPS), line_by_line[0]
    for step, dataset in (("saxs_transmission", "maps/curves/I"), ("waxs_transmission", "maps/curves/I"),
                          ("saxs_transmission", "transmission/T"), ("map_masks", "masks/electrode/mask"),
                          ("map_masks", "masks/electrolyte/mask"), ("map_masks", "masks/current_collector/mask")):
        with h5py.File(snake[step], "r") as found, h5py.File(lines[step], "r") as expected:
            np.testing.assert_array_equal(found[f"{step}/{dataset}"][()], expected[f"{step}/{dataset}"][()])
