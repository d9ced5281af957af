"""Recovered vs true: every quantity the default pipeline produces, next to the simulation's truth.

Each step kind contributes a function ``comparisons(steps, truth_dir)`` taking the pipeline's step
files by step id and the simulation's truth folder; :func:`compare_all` collects them in order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from swaxs_plugins.core.plan import Plan
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.steps.integrate import load_geometry, make_integrator


@dataclass(frozen=True)
class Comparison:
    """One recovered quantity against its true value; ``ok`` when within ``tolerance`` (absolute)."""

    name: str
    recovered: float
    truth: float
    tolerance: float
    unit: str

    @property
    def ok(self) -> bool:
        return bool(abs(self.recovered - self.truth) <= self.tolerance)


CENTRE_TOLERANCE_PX = 0.1
"""Beam centre tolerance of both detectors (issue 4)."""

Checks = Callable[[Mapping[str, Path], Path], list[Comparison]]


def refined_geometry(step_file: Path, entry: str) -> AzimuthalIntegrator:
    """The geometry a calibrate step wrote (its PONI text), read as the integrate step reads it."""
    return make_integrator(load_geometry(geometry=StepOutputRef(entry, "calibrate", step_file, entry)))


Q_TOLERANCE = 1e-3
"""Median |Δq|/q over the detector of a calibration against the true geometry (issue 9)."""


def calibration_comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """Beam centre, direct distance and q over the detector of each calibrated detector against the true PONI."""
    rows = []
    for detector in ("saxs", "waxs"):
        step_id = f"{detector}_geometry"
        if step_id not in steps:
            continue
        refined_ai = refined_geometry(steps[step_id], step_id)
        true_ai = pyFAI.load(str(truth_dir / f"{detector}.poni"))
        refined, true = refined_ai.getFit2D(), true_ai.getFit2D()
        q_true = true_ai.array_from_unit(unit="q_A^-1")
        q_error = float(np.median(np.abs(refined_ai.array_from_unit(unit="q_A^-1") / q_true - 1)))
        name = detector.upper()
        rows += [
            Comparison(f"{name} beam centre row", refined["centerY"], true["centerY"], CENTRE_TOLERANCE_PX, "px"),
            Comparison(f"{name} beam centre column", refined["centerX"], true["centerX"], CENTRE_TOLERANCE_PX, "px"),
            Comparison(f"{name} direct distance", refined["directDist"], true["directDist"],
                       1e-3 * true["directDist"], "mm"),
            Comparison(f"{name} median |dq|/q over the detector", q_error, 0.0, Q_TOLERANCE, "ratio"),
        ]
    return rows


def integration_comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """Integrated curves of the pristine electrode against the true curve (per I0 and transmission)."""
    rows = []
    with h5py.File(truth_dir / "operando_truth.h5", "r") as truth:
        electrode = truth["masks/electrode"][()]
        transmission = truth["transmission"][0]
        q_true, curves = truth["q"][()], truth["curves"][0]
        thickness = float(truth.attrs.get("thickness_mm", 1.0))
    for detector in ("saxs", "waxs"):
        step_id = f"{detector}_curves"
        if step_id not in steps:
            continue
        with h5py.File(steps[step_id], "r") as handle:
            maps = handle[step_id]["maps/curves"]
            q, measured = maps["q"][()], maps["I"][0]
        expected = np.array([[np.interp(q, q_true, curve) for curve in row] for row in curves])
        expected *= (transmission * thickness)[..., np.newaxis]
        valid = electrode[..., np.newaxis] & np.isfinite(measured) & (expected > 0)
        ratio = np.median(measured[valid] / expected[valid])
        rows.append(Comparison(f"{detector.upper()} pristine electrode I(q) / truth (median)", float(ratio), 1.0, 0.02,
                               "ratio"))
    return rows


def map_comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """Transmission, masks, q-region changes and onsets (see :mod:`swaxs_plugins.demo.checks_maps`)."""
    from swaxs_plugins.demo.checks_maps import comparisons

    return comparisons(steps, truth_dir)


def fit_comparisons(steps: Mapping[str, Path], truth_dir: Path) -> list[Comparison]:
    """d002 per scan and its shifts, the pseudo-metal onset, the SAXS exponent (:mod:`.checks_fit`)."""
    from swaxs_plugins.demo.checks_fit import comparisons

    return comparisons(steps, truth_dir)


CHECKS: tuple[Checks, ...] = (calibration_comparisons, integration_comparisons, map_comparisons, fit_comparisons)


def compare_all(plan: Plan, truth_dir: Path, checks: tuple[Checks, ...] = CHECKS) -> list[Comparison]:
    """Every comparison of every step kind the pipeline ran."""
    steps = {step.config.id: plan.step_file(step.config.id) for step in plan.steps}
    return [row for check in checks for row in check(steps, truth_dir)]
