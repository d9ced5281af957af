"""The ``fit`` step, implementation ``lmfit`` (default): peak and power-law models per scan and per pixel.

Models (q in 1/Å; :mod:`.models`)::

    waxs_peaks:      I(q) = Σ_k A_k / (σ_k √(2π)) · exp(−(q − q_k)² / 2σ_k²) + Σ_j c_j (q − q_ref)^j,
                     σ_k = FWHM_k / (2 √(2 ln 2)),  d002 = 2π / q_002,  σ_d = 2π σ_q / q_002²
    saxs_power_law:  I(q) = A q^−α + C

fitted by weighted least squares, χ² = Σ_i ((I_i − I(q_i)) / σ_i)², reduced χ²ᵣ = χ² / (N − n_free).

Reads curves in the curves layout (``<entry>/maps/curves``: I[scan, y, x, q] with I_errors, q in
1/Å), fits the region-averaged curve of every scan (:mod:`.averaged`: several starts, shapes of
absent components held, checks), then every region pixel's curve starting from the averaged fit of
its scan, in blocks of pixels through the executor; pixels outside the region are not evaluated
(NaN, status 5). ``engine: batched`` solves a block with the vectorised Levenberg–Marquardt of
:mod:`.solver`; ``engine: lmfit`` runs one ``lmfit.minimize`` per curve with the same model, bounds
and starting values (the reference the batched solver is tested against). A poor averaged fit is a
warning naming the step, the scan and what is wrong, and flags its scan's pixel fits; the share of
failed pixel fits per scan goes into the run summary. Writes parameter maps with standard errors,
reduced χ², status, presence and flag maps, the averaged fits with their components, the quality
figures, and d002 (WAXS) or α (SAXS) series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext, StepOutputRef, chunk_ranges
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.steps.fit.averaged import AveragedProblem, fit_averaged, problems, region_average
from swaxs_plugins.steps.fit.figures import plot_averaged_fits, plot_series
from swaxs_plugins.steps.fit.inputs import read_curves, read_mask, rule_intensity, scan_labels
from swaxs_plugins.steps.fit.lmfit_engine import solve_lmfit
from swaxs_plugins.steps.fit.models import build_model, in_model, initial_values, parameter_arrays, presence
from swaxs_plugins.steps.fit.outputs import write_fit_entry
from swaxs_plugins.steps.fit.parameters import DEFAULT_Q_RANGE, FitParameters
from swaxs_plugins.steps.fit.solver import FAILED_STATUSES, FitStatus, LMOptions, LMResult, solve, weights_from_errors

@dataclass(frozen=True)
class PixelBlock:
    """The region curves [first, stop) of one scan with their errors: all that ``process`` needs travels with
    the block, so that a worker gets one block's curves, not the step's whole map (``setup_only``)."""

    scan: int
    first: int
    stop: int
    values: np.ndarray
    errors: np.ndarray

    def __repr__(self) -> str:
        return f"scan {self.scan}, region curves {self.first}-{self.stop}"


class LmfitFit(Step):
    """Peak/power-law fits of every region curve of a map and of each scan's region-averaged curve."""

    Parameters = FitParameters
    inputs = {
        "curves": InputSpec("curves layout: <entry>/maps/curves I[scan, y, x, q] with I_errors, q in 1/angstrom",
                            layouts=("curves",)),
        "mask": InputSpec("region: <entry>/masks/<name> bool [scan, y, x] or [y, x]", layouts=("masks",),
                          required=False),
    }
    definition = "NXswaxs_fit"
    produces = ("maps",)
    setup_only = ("values", "errors", "region", "region_pixels", "averaged_values", "averaged_errors")
    params: FitParameters

    def setup(self, context: StepContext) -> None:
        """Read the curves in the q range, build the region, fit and check the averaged curve of every scan."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        curves = context.inputs["curves"]
        self.q, self.values, self.errors, self.units, self.map_axes = read_curves(curves, self.q_range())
        self.scan_labels = scan_labels(curves, self.values.shape[0])
        self.region = self._region(context.inputs.get("mask"))
        self.region_pixels = [np.flatnonzero(scan_region.ravel()) for scan_region in self.region]
        self.model = build_model(self.params, self.q)
        self.lower, self.upper, self.start, self.vary = parameter_arrays(self.params, self.model)
        self.averaged_values, self.averaged_errors = region_average(self.values, self.errors, self.region)
        self.averaged, self.averaged_vary = self._fit_averaged()
        self.averaged_problems = problems(self.averaged, self.averaged_vary, self.model.names, self.lower,
                                          self.upper, self.params.max_reduced_chi2)
        self.pixel_start, self.pixel_vary = self._pixel_starts()
        for scan, problem in enumerate(self.averaged_problems):
            if problem:
                context.warn(f"{self.scan_labels[scan]}: averaged fit: {problem}; its "
                             f"{self.region_pixels[scan].size} pixel fits are flagged in maps/poor_seed")

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
            raise InputDataError(f"fit step '{self.step_id}': parameter 'region_q_range' needs 'region_threshold'")
        return has_data & (rule_intensity(self.params.region_q_range, self.q, self.values) > self.params.region_threshold)

    def _fit_averaged(self) -> tuple[LMResult, np.ndarray]:
        """Every scan's averaged curve, from every start; the shared shapes from the first scan."""
        values, weights = weights_from_errors(self.averaged_values, self.averaged_errors)
        extra = [(self.model.names.index(name), value) for name, starts in self.params.averaged_starts.items()
                 if name in self.model.names for value in starts]
        problem = AveragedProblem(self.fit, self.model, self.start, self.lower, self.upper, extra,
                                  self.params.presence_sigma)
        return fit_averaged(problem, values, weights, self.vary, in_model(self.model, self.params.shared_shapes))

    def _pixel_starts(self) -> tuple[np.ndarray, np.ndarray]:
        """Per scan: the averaged fit's parameters (spec start where it failed or a component is absent)."""
        names = self.model.names
        start = np.where(np.isfinite(self.averaged.params), self.averaged.params, self.start)
        absent = ~presence(self.model, self.averaged.params, self.averaged.stderr, self.params.presence_sigma)
        for peak_index, peak in enumerate(getattr(self.model, "peaks", ())):
            for field in ("centre", "fwhm"):
                column = names.index(f"{peak}_{field}")
                start[absent[:, peak_index], column] = self.start[column]
        return start, self.vary & ~in_model(self.model, self.params.pixel_fixed)

    def fit(self, start: np.ndarray, values: np.ndarray, weights: np.ndarray, vary: np.ndarray) -> LMResult:
        """Fit curves with the chosen engine (same model, bounds and starting values either way)."""
        lower, upper = np.broadcast_to(self.lower, start.shape), np.broadcast_to(self.upper, start.shape)
        start = np.clip(start, lower, upper)
        options = LMOptions(max_iterations=self.params.max_iterations, scale_covar=self.params.scale_covar)
        if self.params.engine == "lmfit":
            return solve_lmfit(self.model, start, values, weights, lower, upper, vary, options)
        return solve(self.model, start, values, weights, lower, upper, vary, options, self.model.amplitude_index)

    def block_ranges(self) -> list[tuple[int, int, int]]:
        """(scan, first, stop) ranges of each scan's region pixels."""
        return [(scan, r.start, r.stop) for scan, pixels in enumerate(self.region_pixels)
                for r in chunk_ranges(pixels.size, self.params.block_curves)]

    def blocks(self) -> Sequence[PixelBlock]:
        """The region curves of every range, with their errors."""
        n_points = self.values.shape[-1]
        blocks = []
        for scan, first, stop in self.block_ranges():
            pixels = self.region_pixels[scan][first:stop]
            blocks.append(PixelBlock(scan, first, stop, self.values[scan].reshape(-1, n_points)[pixels],
                                     self.errors[scan].reshape(-1, n_points)[pixels]))
        return blocks

    def process(self, block: PixelBlock) -> LMResult:
        """Fit the region curves of one block, from its scan's averaged fit."""
        values, weights = weights_from_errors(block.values, block.errors)
        begin = initial_values(self.model, np.repeat(self.pixel_start[block.scan][np.newaxis], len(values), axis=0),
                               values, weights)
        return self.fit(begin, values, weights, np.broadcast_to(self.pixel_vary, begin.shape))

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """As every step, then the averaged fits' and the pixel fits' quality into the run summary."""
        super().run(context, writer)
        context.summary.update(self.quality_summary())

    def finalize(self, results: list[LMResult], writer: StepWriter) -> None:
        self.maps = self.assemble(results)
        write_fit_entry(writer.entry, self, self.maps)
        plot_averaged_fits(self.workdir / f"{self.step_id}_averaged_fits.png", self)
        plot_series(self.workdir / f"{self.step_id}_{'d002' if 'c002_centre' in self.model.names else 'alpha'}.png",
                    self, self.maps)

    def assemble(self, results: list[LMResult]) -> dict[str, np.ndarray]:
        """Block results as maps [scan, y, x, ...]: NaN (status 'not evaluated') outside the region."""
        n_scans, ny, nx = self.values.shape[:3]
        n_params = len(self.model.names)
        maps = {"params": np.full((n_scans, ny * nx, n_params), np.nan),
                "stderr": np.full((n_scans, ny * nx, n_params), np.nan),
                "redchi": np.full((n_scans, ny * nx), np.nan),
                "status": np.full((n_scans, ny * nx), FitStatus.NOT_EVALUATED, dtype=np.int8)}
        for (scan, first, stop), result in zip(self.block_ranges(), results):
            pixels = self.region_pixels[scan][first:stop]
            for key, value in maps.items():
                value[scan, pixels] = getattr(result, key)
        maps = {key: value.reshape(n_scans, ny, nx, *value.shape[2:]) for key, value in maps.items()}
        poor = np.array([bool(problem) for problem in self.averaged_problems])
        maps["poor_seed"] = np.where(self.region, poor[:, np.newaxis, np.newaxis].astype(float), np.nan)
        return maps

    def pixel_quality(self) -> dict[str, np.ndarray]:
        """Per scan: region pixels fitted, and the shares that failed (status 2-4) and that ended at a bound."""
        status = self.maps["status"]
        evaluated = np.array([pixels.size for pixels in self.region_pixels])
        failed = np.isin(status, FAILED_STATUSES).sum(axis=(1, 2))
        at_bound = (status == FitStatus.AT_BOUND).sum(axis=(1, 2))
        with np.errstate(invalid="ignore", divide="ignore"):
            return {"evaluated_pixels": evaluated, "failed_pixels": failed,
                    "failed_pixel_share": failed / evaluated, "at_bound_pixel_share": at_bound / evaluated}

    def quality_summary(self) -> dict[str, str]:
        """The run summary's lines: averaged fits that are fine, failed pixel fits per scan."""
        quality = self.pixel_quality()
        good = sum(not problem for problem in self.averaged_problems)
        redchi = self.averaged.redchi
        worst = f"{np.nanmax(redchi):.3g}" if np.isfinite(redchi).any() else "n/a"
        per_scan = ", ".join(f"{label} {failed}/{n}" for label, failed, n in
                             zip(self.scan_labels, quality["failed_pixels"], quality["evaluated_pixels"]))
        return {"averaged fits without problems": f"{good} of {len(redchi)} (largest reduced chi2 {worst}, "
                                                  f"max_reduced_chi2 {self.params.max_reduced_chi2:g})",
                "failed pixel fits per scan": per_scan}

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        curves = input_shapes.get("curves", {}).get("maps/curves/I")
        if not curves:
            return Estimate()
        n_params = len(build_model(self.params, np.zeros(1)).names)
        maps = tuple(curves[:-1])
        block = min(self.params.block_curves, int(np.prod(maps[1:])))
        return Estimate(outputs={"maps": (*maps, n_params)},
                        memory_bytes=int(8 * (np.prod(curves) * 3 + block * curves[-1] * n_params * 4)))
