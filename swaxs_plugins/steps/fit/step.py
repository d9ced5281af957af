"""The ``fit`` step, implementation ``lmfit`` (default): peak and power-law models per scan and per pixel.

Reads curves in the curves layout (``<entry>/maps/curves``: I[scan, y, x, q] with I_errors, q in
1/Å), fits the region-averaged curve of every scan, then every pixel's curve starting from the
averaged fit of its scan, in blocks of pixels through the executor. ``engine: batched`` solves a
block with the vectorised Levenberg–Marquardt of :mod:`.solver`; ``engine: lmfit`` runs one
``lmfit.minimize`` per curve with the same model, bounds and starting values (the reference the
batched solver is tested against). Writes parameter maps with standard errors, reduced χ², status
and presence maps, the averaged fits with their components, and d002 (WAXS) or α (SAXS) series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext, StepOutputRef, chunk_ranges
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.steps.curves import read_curves as read_curve_layout
from swaxs_plugins.steps.curves import where
from swaxs_plugins.steps.fit.figures import plot_averaged_fits, plot_series
from swaxs_plugins.steps.fit.lmfit_engine import solve_lmfit
from swaxs_plugins.steps.fit.models import build_model, initial_values, parameter_arrays, presence
from swaxs_plugins.steps.fit.outputs import write_fit_entry
from swaxs_plugins.steps.fit.parameters import DEFAULT_Q_RANGE, Q_UNITS, FitParameters
from swaxs_plugins.steps.fit.solver import LMOptions, LMResult, solve, weights_from_errors
from swaxs_plugins.steps.mask import read_masks

Block = tuple[int, int, int]


class LmfitFit(Step):
    """Peak/power-law fits of every curve of a map and of each scan's region-averaged curve."""

    Parameters = FitParameters
    inputs = {
        "curves": InputSpec("curves layout: <entry>/maps/curves I[scan, y, x, q] with I_errors, q in 1/angstrom"),
        "mask": InputSpec("region: <entry>/masks/<name> bool [scan, y, x] or [y, x]", step_kinds=("mask",),
                          required=False),
    }
    definition = "NXswaxs_fit"
    params: FitParameters

    def setup(self, context: StepContext) -> None:
        """Read the curves in the q range, build the region, fit the averaged curve of every scan."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        self.q, self.values, self.errors, self.units = read_curves(context.inputs["curves"], self.q_range())
        self.region = self._region(context.inputs.get("mask"))
        self.model = build_model(self.params, self.q)
        self.lower, self.upper, self.start, self.vary = parameter_arrays(self.params, self.model)
        self.averaged_values, self.averaged_errors = region_average(self.values, self.errors, self.region)
        self.averaged = self._fit_averaged()
        self.pixel_start, self.pixel_vary = self._pixel_starts()

    def q_range(self) -> tuple[float, float]:
        return self.params.q_range or DEFAULT_Q_RANGE[self.params.model]

    def _region(self, mask_ref: StepOutputRef | None) -> np.ndarray:
        shape = self.values.shape[:3]
        if mask_ref is not None:
            return np.broadcast_to(read_mask(mask_ref, self.params.mask_name), shape).copy()
        has_data = np.any(np.isfinite(self.values), axis=-1)
        if self.params.region_q_range is None:
            return has_data
        if self.params.region_threshold is None:
            raise InputDataError("fit: 'region_q_range' needs 'region_threshold'")
        return has_data & (rule_intensity(self.params.region_q_range, self.q, self.values) > self.params.region_threshold)

    def _fit_averaged(self) -> LMResult:
        """Every scan's averaged curve; the shared shapes from the first scan, held in the others."""
        values, weights = weights_from_errors(self.averaged_values, self.averaged_errors)
        start = initial_values(self.model, self.start, values, weights)
        first = self.fit(start[:1], values[:1], weights[:1], self.vary[np.newaxis])
        shared = np.isin(self.model.names, self.params.shared_shapes)
        if not shared.any() or not np.all(np.isfinite(first.params[0, shared])):
            return self.fit(start, values, weights, np.broadcast_to(self.vary, start.shape))
        start[:, shared] = first.params[0, shared]
        start = initial_values(self.model, start, values, weights)
        rest = self.fit(start[1:], values[1:], weights[1:], np.broadcast_to(self.vary & ~shared, start[1:].shape))
        return LMResult(*(np.concatenate([a, b]) for a, b in zip(astuple_shallow(first), astuple_shallow(rest))))

    def _pixel_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per scan: the averaged fit's parameters (spec start where it failed or a component is absent)."""
        names = self.model.names
        start = np.where(np.isfinite(self.averaged.params), self.averaged.params, self.start)
        absent = ~presence(self.model, self.averaged.params, self.averaged.stderr, self.params.presence_sigma)
        for peak_index, peak in enumerate(getattr(self.model, "peaks", ())):
            for field in ("centre", "fwhm"):
                column = names.index(f"{peak}_{field}")
                start[absent[:, peak_index], column] = self.start[column]
        vary = self.vary & np.array([name not in self.params.pixel_fixed for name in names])
        return start, vary

    def fit(self, start: np.ndarray, values: np.ndarray, weights: np.ndarray, vary: np.ndarray) -> LMResult:
        """Fit curves with the chosen engine (same model, bounds and starting values either way)."""
        lower, upper = np.broadcast_to(self.lower, start.shape), np.broadcast_to(self.upper, start.shape)
        options = LMOptions(max_iterations=self.params.max_iterations, scale_covar=self.params.scale_covar)
        if self.params.engine == "lmfit":
            return solve_lmfit(self.model, start, values, weights, lower, upper, vary, options)
        return solve(self.model, start, values, weights, lower, upper, vary, options, self.model.amplitude_index)

    def blocks(self) -> Sequence[Block]:
        n_scans, ny, nx = self.values.shape[:3]
        return [(scan, r.start, r.stop) for scan in range(n_scans) for r in chunk_ranges(ny * nx, self.params.block_curves)]

    def process(self, block: Block) -> LMResult:
        """Fit the pixels [start, stop) (row-major) of one scan."""
        scan, start, stop = block
        n_points = self.values.shape[-1]
        values, weights = weights_from_errors(self.values[scan].reshape(-1, n_points)[start:stop],
                                              self.errors[scan].reshape(-1, n_points)[start:stop])
        begin = initial_values(self.model, np.repeat(self.pixel_start[scan][np.newaxis], stop - start, axis=0),
                               values, weights)
        return self.fit(begin, values, weights, np.broadcast_to(self.pixel_vary, begin.shape))

    def finalize(self, results: list[LMResult], writer: StepWriter) -> None:
        maps = assemble(results, self.values.shape[:3])
        write_fit_entry(writer.entry, self, maps)
        plot_averaged_fits(self.workdir / f"{self.step_id}_averaged_fits.png", self)
        plot_series(self.workdir / f"{self.step_id}_{'d002' if 'c002_centre' in self.model.names else 'alpha'}.png",
                    self, maps)

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        curves = input_shapes.get("curves", {}).get("maps/curves/I")
        if not curves:
            return Estimate()
        n_params = len(build_model(self.params, np.zeros(1)).names)
        maps = tuple(curves[:-1])
        block = min(self.params.block_curves, int(np.prod(maps[1:])))
        return Estimate(outputs={"maps": (*maps, n_params)},
                        memory_bytes=int(8 * (np.prod(curves) * 3 + block * curves[-1] * n_params * 4)))


def read_curves(ref: StepOutputRef, q_range: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """q, I and I_errors [scan, y, x, q] in ``q_range`` from an earlier step's curves layout."""
    curves = read_curve_layout(ref)
    q, q_units = curves.q, curves.axes[3].units
    if q_units != Q_UNITS:
        raise InputDataError(f"{where(ref, 'maps/curves/q')}: in {q_units!r}, not {Q_UNITS}")
    keep = np.flatnonzero((q >= q_range[0]) & (q <= q_range[1]))
    if keep.size < 5:
        raise InputDataError(f"fit: parameter 'q_range' {list(q_range)} holds {keep.size} of the curves' q points "
                             f"({q.min():.4g}-{q.max():.4g} 1/angstrom)")
    section = slice(keep[0], keep[-1] + 1)
    values, errors = curves.intensity[..., section], curves.errors[..., section]
    errors = np.where(np.isnan(errors), np.sqrt(np.abs(values)), errors)  # curves without errors: Poisson
    return q[section], values, errors, curves.units


def read_mask(ref: StepOutputRef, name: str | None) -> np.ndarray:
    """The boolean region [y, x] named ``name`` among a mask step's masks (its only one by default)."""
    masks = read_masks(ref)
    if name is None and len(masks) != 1:
        raise InputDataError(f"{ref.path}: choose one of the masks {list(masks)} with parameter 'mask_name'")
    chosen = name or next(iter(masks))
    if chosen not in masks:
        raise InputDataError(f"{ref.path}: mask '{chosen}' (parameter 'mask_name') not in {list(masks)}")
    return masks[chosen]


def rule_intensity(q_range: tuple[float, float], q: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean intensity of every pixel in ``q_range`` [scan, y, x] (the region rule)."""
    inside = (q >= q_range[0]) & (q <= q_range[1])
    if not inside.any():
        raise InputDataError(f"fit: parameter 'region_q_range' {list(q_range)} lies outside the fitted q range")
    with np.errstate(invalid="ignore"):
        return np.nanmean(values[..., inside], axis=-1)


def region_average(values: np.ndarray, errors: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean curve of the region's pixels per scan [scan, q], error sqrt(Σσ²)/N over finite points."""
    inside = region[..., np.newaxis] & np.isfinite(values) & np.isfinite(errors)
    count = inside.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(inside, values, 0.0).sum(axis=(1, 2)) / count
        error = np.sqrt(np.where(inside, errors**2, 0.0).sum(axis=(1, 2))) / count
    return mean, error



def astuple_shallow(result: LMResult) -> tuple[np.ndarray, ...]:
    """The arrays of a result in field order (``dataclasses.astuple`` would deep-copy them)."""
    return tuple(getattr(result, field.name) for field in fields(result))



def assemble(results: list[LMResult], shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Block results (scan-major, pixel ranges in order) as maps [scan, y, x, ...]."""
    fields = {key: np.concatenate([getattr(r, key) for r in results]) for key in ("params", "stderr", "redchi", "status")}
    return {key: value.reshape(*shape, *value.shape[1:]) for key, value in fields.items()}


