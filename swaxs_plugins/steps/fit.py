"""The ``fit`` step, implementation ``lmfit`` (default): peak and power-law models per scan and per pixel.

Reads curves in the curves layout (``<entry>/maps/curves``: I[scan, y, x, q] with I_errors, q in
1/Å), fits the region-averaged curve of every scan, then every pixel's curve starting from the
averaged fit of its scan, in blocks of pixels through the executor. ``engine: batched`` solves a
block with the vectorised Levenberg–Marquardt of :mod:`.batch_lm`; ``engine: lmfit`` runs one
``lmfit.minimize`` per curve with the same model, bounds and starting values (the reference the
batched solver is tested against). Writes parameter maps with standard errors, reduced χ², status
and presence maps, the averaged fits with their components, and d002 (WAXS) or α (SAXS) series.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import (Estimate, InputSpec, Step, StepContext, StepOutputRef, StepParameters,
                                     chunk_ranges, parameter)
from swaxs_plugins.io.nexus import Axis, StepWriter, set_nx_class, write_nxdata
from swaxs_plugins.steps.batch_lm import STATUS_MEANINGS, FitStatus, LMOptions, LMResult, solve, weights_from_errors
from swaxs_plugins.steps.curves import read_curves as read_curve_layout
from swaxs_plugins.steps.curves import where
from swaxs_plugins.steps.fit_models import PeakModel, PowerLawModel, linear_amplitudes
from swaxs_plugins.steps.mask import read_masks

Block = tuple[int, int, int]
CurveModel = PeakModel | PowerLawModel
Q_UNITS = "1/angstrom"


class Bounded(StepParameters):
    """One model parameter: starting value (None: from the data), bounds (None: open) and whether it varies."""

    value: float | None = None
    min: float | None = None
    max: float | None = None
    vary: bool = True


class PeakSpec(StepParameters):
    """A Gaussian: centre and FWHM (1/Å), area (intensity × 1/Å; starts from linear least squares)."""

    centre: Bounded
    fwhm: Bounded
    area: Bounded = Bounded()


def _peak(centre: float, c_range: tuple[float, float], fwhm: float, w_range: tuple[float, float]) -> PeakSpec:
    return PeakSpec(centre=Bounded(value=centre, min=c_range[0], max=c_range[1]),
                    fwhm=Bounded(value=fwhm, min=w_range[0], max=w_range[1]))


#: Hard carbon in a capillary cell (Olsson et al. 2025): 002, Na metal, pseudo-metallic Na, PVDF binder,
#: and the broad amorphous hump of electrolyte and glass under the 002 peak.
HARD_CARBON_PEAKS: dict[str, PeakSpec] = {
    "c002": _peak(1.65, (1.50, 1.75), 0.35, (0.2, 0.6)),
    "binder": _peak(1.45, (1.40, 1.52), 0.10, (0.05, 0.25)),
    "na_metal": _peak(2.07, (2.05, 2.10), 0.02, (0.01, 0.05)),
    "pseudo_metal": _peak(2.17, (2.10, 2.30), 0.22, (0.10, 0.35)),
    "amorphous": _peak(1.50, (1.30, 1.75), 0.65, (0.45, 1.0)),
}
# No start sits at the middle of its bounds: there lmfit's bound transform has internal value 0 and
# MINPACK's relative finite-difference step vanishes, so lmfit never moves that parameter.
#: Shapes held per pixel at the scan's averaged fit: the fixed-position phases, and the amorphous hump of
#: electrolyte and glass, whose shape is the same liquid and glass at every pixel (only its amount varies)
#: and which, free per pixel, trades its width and centre against the polynomial background.
SHAPE_FIXED_PER_PIXEL = ("binder_centre", "binder_fwhm", "na_metal_centre", "na_metal_fwhm",
                         "pseudo_metal_centre", "pseudo_metal_fwhm", "amorphous_centre", "amorphous_fwhm")
#: Shapes held in every scan's averaged fit at the first scan's fitted value: the liquid and the glass
#: are the same in every scan, and a hump shape free in every scan trades against the 002 peak under
#: it, which doubled the scatter of the d002 shifts on the simulated experiment.
SHARED_SHAPES = ("amorphous_centre", "amorphous_fwhm")
DEFAULT_Q_RANGE = {"waxs_peaks": (1.1, 2.6), "saxs_power_law": (0.006, 0.04)}


class PowerLawSpec(StepParameters):
    """I = A q^−α + C: bounds of α (starts from the log–log slope), A and C (start from linear least squares)."""

    amplitude: Bounded = Bounded()
    alpha: Bounded = Bounded(min=0.0, max=6.0)
    constant: Bounded = Bounded()


class FitParameters(StepParameters):
    model: Literal["waxs_peaks", "saxs_power_law"] = parameter(
        "waxs_peaks", description="waxs_peaks: Gaussians + polynomial background; saxs_power_law: A q^-alpha + C")
    engine: Literal["batched", "lmfit"] = parameter(
        "batched", description="batched: vectorised Levenberg-Marquardt over blocks of pixels; lmfit: one "
                               "lmfit.minimize per curve (same model, bounds and starts)")
    q_range: tuple[float, float] | None = parameter(
        None, description="q range fitted; default [1.1, 2.6] (waxs_peaks), [0.006, 0.04] (saxs_power_law)",
        unit=Q_UNITS)
    peaks: dict[str, PeakSpec] = parameter(HARD_CARBON_PEAKS, description="Gaussian components by name")
    components: list[str] = parameter(["c002", "binder", "na_metal", "pseudo_metal", "amorphous"],
                                      description="which of 'peaks' are fitted; 'c002' gives d002 = 2 pi / q002")
    background: Literal["constant", "linear", "quadratic"] = parameter(
        "quadratic", description="polynomial in (q - centre of q_range) under the peaks")
    power_law: PowerLawSpec = parameter(PowerLawSpec(), description="bounds and starts of the power law")
    pixel_fixed: list[str] = parameter(
        list(SHAPE_FIXED_PER_PIXEL), description="parameters held per pixel at the averaged fit of the scan (at "
                                                 "their start value where that component is not significant there)")
    shared_shapes: list[str] = parameter(
        list(SHARED_SHAPES), description="parameters fitted on the first scan's averaged curve and held at that "
                                         "value in the other scans' averaged fits (and so in every pixel fit)")
    presence_sigma: float = parameter(5.0, description="a component is present where area > this many standard "
                                                       "errors", gt=0)
    mask_name: str | None = parameter(None, description="which <entry>/masks/<name> of the mask input (default: "
                                                        "the only one)")
    region_q_range: tuple[float, float] | None = parameter(
        None, description="region rule without a mask input: pixels whose mean I in this q range exceeds "
                          "region_threshold", unit=Q_UNITS)
    region_threshold: float | None = parameter(None, description="threshold of the region rule (intensity units)")
    block_curves: int = parameter(1024, description="pixels per block of work", ge=1)
    max_iterations: int = parameter(200, description="iteration limit per curve", ge=1)
    scale_covar: bool = parameter(True, description="scale standard errors by sqrt(reduced chi2), as lmfit does")


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


def build_model(params: FitParameters, q: np.ndarray) -> CurveModel:
    if params.model == "saxs_power_law":
        return PowerLawModel(q)
    unknown = [name for name in params.components if name not in params.peaks]
    if unknown:
        raise InputDataError(f"fit: parameter 'components' names {unknown}, not in 'peaks' {list(params.peaks)}")
    order = ("constant", "linear", "quadratic").index(params.background)
    return PeakModel(q, tuple(params.components), order, float(0.5 * (q.min() + q.max())))


def parameter_specs(params: FitParameters, model: CurveModel) -> list[Bounded]:
    """The Bounded spec of every model parameter, in the model's order."""
    if isinstance(model, PowerLawModel):
        spec = params.power_law
        return [spec.amplitude, spec.alpha, spec.constant]
    peaks = [getattr(params.peaks[peak], field) for peak in model.peaks for field in ("area", "centre", "fwhm")]
    return [*peaks, *(Bounded() for _ in range(model.background_order + 1))]


def parameter_arrays(params: FitParameters, model: CurveModel) -> tuple[np.ndarray, ...]:
    """Lower, upper, start (NaN: from the data) and vary, one entry per model parameter."""
    specs = parameter_specs(params, model)
    lower = np.array([-np.inf if s.min is None else s.min for s in specs])
    upper = np.array([np.inf if s.max is None else s.max for s in specs])
    start = np.array([np.nan if s.value is None else s.value for s in specs])
    for option in ("pixel_fixed", "shared_shapes"):
        unknown = [name for name in getattr(params, option) if name not in model.names]
        if unknown and isinstance(model, PeakModel):
            raise InputDataError(f"fit: parameter '{option}' names {unknown}, not parameters of the model "
                                 f"{list(model.names)}")
    return lower, upper, start, np.array([s.vary for s in specs])


def initial_values(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Starting values [n, p]: shapes as given (α from the log–log slope if unset), amplitudes by linear LSQ."""
    start = np.array(np.broadcast_to(start, (values.shape[0], start.shape[-1])), dtype=np.float64)
    if isinstance(model, PowerLawModel):
        guess = model.log_slope_start(np.where(weights > 0, values, np.nan))
        start = np.where(np.isnan(start), guess, start)
    start[np.isnan(start)] = 0.0
    return linear_amplitudes(model, start, values, weights)


def astuple_shallow(result: LMResult) -> tuple[np.ndarray, ...]:
    """The arrays of a result in field order (``dataclasses.astuple`` would deep-copy them)."""
    return tuple(getattr(result, field.name) for field in fields(result))


def presence(model: CurveModel, params: np.ndarray, stderr: np.ndarray, sigmas: float) -> np.ndarray:
    """[..., n_peaks] bool: the peak's area exceeds ``sigmas`` standard errors."""
    if not isinstance(model, PeakModel):
        return np.zeros((*params.shape[:-1], 0), dtype=bool)
    area = params[..., 0:3 * len(model.peaks):3]
    error = stderr[..., 0:3 * len(model.peaks):3]
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(area / error, nan=0.0) > sigmas


def solve_lmfit(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
                upper: np.ndarray, vary: np.ndarray, options: LMOptions) -> LMResult:
    """One ``lmfit.minimize(method='leastsq')`` per curve; same inputs and result as :func:`batch_lm.solve`."""
    n, n_params = start.shape
    out = {key: np.full((n, n_params) if key in ("params", "stderr") else n, np.nan)
           for key in ("params", "stderr", "chi2", "redchi")}
    status = np.full(n, FitStatus.FAILED, dtype=np.int8)
    n_data = np.count_nonzero(weights, axis=1)
    iterations = np.zeros(n, dtype=np.int32)
    for i in range(n):
        if n_data[i] == 0:
            status[i] = FitStatus.NO_DATA
            continue
        fitted = _lmfit_one(model, start[i], values[i], weights[i], lower[i], upper[i], vary[i], options)
        if fitted is not None:
            out["params"][i], out["stderr"][i], out["chi2"][i], out["redchi"][i], status[i], iterations[i] = fitted
    return LMResult(out["params"], out["stderr"], out["chi2"], out["redchi"], n_data, iterations, status)


def _lmfit_one(model: CurveModel, start: np.ndarray, values: np.ndarray, weights: np.ndarray, lower: np.ndarray,
               upper: np.ndarray, vary: np.ndarray, options: LMOptions) -> tuple[Any, ...] | None:
    import lmfit

    names, used = model.names, weights > 0
    if used.sum() <= vary.sum():
        return None
    parameters = lmfit.Parameters()
    for name, value, low, high, free in zip(names, start, lower, upper, vary):
        parameters.add(name, value=value, min=low, max=high, vary=bool(free))
    sub_model = type(model)(model.q[used], *_model_fields(model))

    def residual(p: lmfit.Parameters) -> np.ndarray:
        vector = np.array([p[name].value for name in names])[np.newaxis]
        return (values[used] - sub_model(vector)[0][0]) * weights[used]

    result = lmfit.minimize(residual, parameters, method="leastsq", scale_covar=options.scale_covar,
                            max_nfev=options.max_iterations * (len(names) + 1))
    best = np.array([result.params[name].value for name in names])
    if not np.all(np.isfinite(best)):
        return None
    at_bound = vary & (np.isclose(best, lower, rtol=1e-9, atol=0) | np.isclose(best, upper, rtol=1e-9, atol=0))
    errors = np.array([np.nan if result.params[name].stderr is None else result.params[name].stderr for name in names])
    errors[~vary | at_bound] = np.nan
    state = FitStatus.AT_BOUND if at_bound.any() else FitStatus.CONVERGED if result.success else FitStatus.NOT_CONVERGED
    return best, errors, result.chisqr, result.redchi, state, result.nfev


def _model_fields(model: CurveModel) -> tuple[Any, ...]:
    return (model.peaks, model.background_order, model.q_ref) if isinstance(model, PeakModel) else ()


def assemble(results: list[LMResult], shape: tuple[int, int, int]) -> dict[str, np.ndarray]:
    """Block results (scan-major, pixel ranges in order) as maps [scan, y, x, ...]."""
    fields = {key: np.concatenate([getattr(r, key) for r in results]) for key in ("params", "stderr", "redchi", "status")}
    return {key: value.reshape(*shape, *value.shape[1:]) for key, value in fields.items()}


def region_presence(step: LmfitFit, maps: Mapping[str, np.ndarray]) -> np.ndarray:
    """[scan, y, x, n_peaks]: a peak is present where its area is significant and the pixel is in the region.

    The model describes the region's material (hard carbon: 002, Na phases, binder on the liquid's
    hump); outside it (collector, electrolyte, capillary glass) a peak fitted to other phases' humps
    is no evidence of Na, so presence is asked of the region only, the same pixels the averaged fit
    and the region means use.
    """
    found = presence(step.model, maps["params"], maps["stderr"], step.params.presence_sigma)
    return found & step.region[..., np.newaxis]


def d002_values(centre: np.ndarray, centre_error: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """d = 2π/q and its error 2π σ_q / q² (Å)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return 2.0 * np.pi / centre, 2.0 * np.pi * centre_error / centre**2


def parameter_units(model: CurveModel, intensity: str) -> dict[str, str]:
    if isinstance(model, PowerLawModel):
        return {"amplitude": f"{intensity} * (1/angstrom)^alpha", "alpha": "", "constant": intensity}
    units = {}
    for peak in model.peaks:
        units.update({f"{peak}_area": f"{intensity} * 1/angstrom", f"{peak}_centre": Q_UNITS, f"{peak}_fwhm": Q_UNITS})
    for k in range(model.background_order + 1):
        units[f"bkg_c{k}"] = intensity if k == 0 else f"{intensity} * angstrom^{k}"
    return units


def _map_axes(shape: tuple[int, ...]) -> list[Axis]:
    return [Axis("scan", np.arange(shape[0]), "", "scan number"),
            Axis("y", np.arange(shape[1]), "", "y (scan point index)"),
            Axis("x", np.arange(shape[2]), "", "x (scan point index)")]


def write_fit_entry(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """Everything the step writes into its entry (layout in docs/steps/fit.md)."""
    model, names = step.model, step.model.names
    entry["model"] = step.params.model
    entry["parameter_names"] = np.array(names, dtype=h5py.string_dtype())
    units = parameter_units(model, step.units)
    _write_maps(entry, step, maps, units)
    _write_averaged(entry, step, units)
    _write_series(entry, step, maps)
    write_nxdata(entry, "region", step.region.astype(np.int8), _map_axes(step.region.shape), signal_name="mask",
                 long_name="pixels averaged (1) per scan", units="", interpretation="image")
    entry.attrs["default"] = "series"


def _write_maps(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray], units: Mapping[str, str]) -> None:
    group = set_nx_class(entry.create_group("maps"), "NXcollection")
    axes = _map_axes(maps["status"].shape)
    for i, name in enumerate(step.model.names):
        write_nxdata(group, name, maps["params"][..., i], axes, signal_name=name, long_name=name.replace("_", " "),
                     units=units[name], errors=maps["stderr"][..., i], interpretation="image")
    write_nxdata(group, "reduced_chi2", maps["redchi"], axes, signal_name="reduced_chi2", long_name="reduced chi2",
                 units="", interpretation="image")
    status = write_nxdata(group, "status", maps["status"], axes, signal_name="status", long_name="fit status",
                          units="", interpretation="image")
    status["status"].attrs["flag_values"] = np.array([int(s) for s in STATUS_MEANINGS], dtype=np.int8)
    status["status"].attrs["flag_meanings"] = " | ".join(f"{int(s)}: {m}" for s, m in STATUS_MEANINGS.items())
    present = region_presence(step, maps)
    for i, peak in enumerate(getattr(step.model, "peaks", ())):
        write_nxdata(group, f"{peak}_present", present[..., i].astype(np.int8), axes, signal_name=f"{peak}_present",
                     long_name=f"{peak} area > {step.params.presence_sigma:g} standard errors, in the region",
                     units="", interpretation="image")
    if "c002_centre" in step.model.names:
        column = step.model.names.index("c002_centre")
        d, d_error = d002_values(maps["params"][..., column], maps["stderr"][..., column])
        write_nxdata(group, "d002", d, axes, signal_name="d002", long_name="d002 = 2 pi / q002", units="angstrom",
                     errors=d_error, interpretation="image")
        write_nxdata(group, "d002_shift", d - d[:1], axes, signal_name="d002_shift",
                     long_name="d002 - d002 of the first scan", units="angstrom", interpretation="image")
    group.attrs["default"] = "d002" if "c002_centre" in step.model.names else step.model.names[1]


def _write_averaged(entry: h5py.Group, step: LmfitFit, units: Mapping[str, str]) -> None:
    """The averaged curves with fit and components [scan, q], and their parameters per scan."""
    group = set_nx_class(entry.create_group("averaged"), "NXcollection")
    params = step.averaged.params
    fitted = step.model(np.nan_to_num(params))[0]
    fitted[~np.all(np.isfinite(params), axis=1)] = np.nan
    parts = {f"component_{k}": v for k, v in step.model.components(params).items()}
    axes = [Axis("scan", np.arange(params.shape[0]), "", "scan number"), Axis("q", step.q, Q_UNITS, "q")]
    write_nxdata(group, "fit", step.averaged_values, axes, long_name="region-averaged intensity", units=step.units,
                 errors=step.averaged_errors, interpretation="spectrum", auxiliary={"best_fit": fitted, **parts})
    table = set_nx_class(group.create_group("parameters"), "NXcollection")
    for i, name in enumerate(step.model.names):
        table[name] = params[:, i]
        table[f"{name}_errors"] = step.averaged.stderr[:, i]
        for dataset in (name, f"{name}_errors"):
            table[dataset].attrs["units"] = units[name]
    table["reduced_chi2"] = step.averaged.redchi
    table["status"] = step.averaged.status
    table["status"].attrs["flag_meanings"] = " | ".join(f"{int(s)}: {m}" for s, m in STATUS_MEANINGS.items())
    group.attrs["default"] = "fit"


def _write_series(entry: h5py.Group, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """d002 per scan (WAXS) or α per scan (SAXS) from the averaged fit, with the region means of the maps."""
    series = series_values(step, maps)
    primary, error = series.pop("primary"), series.pop("primary_errors")
    name, units, label = series.pop("name")
    write_nxdata(entry, "series", primary, [Axis("scan", np.arange(len(primary)), "", "scan number")],
                 signal_name=name, long_name=label, units=units, errors=error, auxiliary=series)


def series_values(step: LmfitFit, maps: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The primary per-scan quantity of the averaged fit, its shift, and the region mean of its map."""
    names = step.model.names
    column = names.index("c002_centre") if "c002_centre" in names else names.index("alpha")
    averaged, averaged_error = step.averaged.params[:, column], step.averaged.stderr[:, column]
    pixels = maps["params"][..., column]
    if names[column] == "c002_centre":
        averaged, averaged_error = d002_values(averaged, averaged_error)
        pixels = d002_values(pixels, pixels)[0]
        label = ("d002", "angstrom", "d002 = 2 pi / q002 of the region-averaged curve")
    else:
        label = ("alpha", "", "power-law exponent alpha of the region-averaged curve")
    with np.errstate(invalid="ignore"):
        region_mean = np.array([np.nanmean(np.where(step.region[s], pixels[s], np.nan)) for s in range(len(pixels))])
    return {"primary": averaged, "primary_errors": averaged_error, "name": label,
            f"{label[0]}_shift": averaged - averaged[0], f"{label[0]}_region_mean": region_mean,
            f"{label[0]}_region_mean_shift": region_mean - region_mean[0]}


def plot_averaged_fits(path: Path, step: LmfitFit) -> None:
    """One panel per scan: averaged data with errors, best fit and every component."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = step.averaged_values.shape[0]
    cols = min(n, 3)
    rows = -(-n // cols)
    figure = Figure(figsize=(4.5 * cols, 3.2 * rows), layout="constrained")
    FigureCanvasAgg(figure)
    params = step.averaged.params
    parts = step.model.components(params)
    for s in range(n):
        ax = figure.add_subplot(rows, cols, s + 1)
        ax.errorbar(step.q, step.averaged_values[s], step.averaged_errors[s], fmt=".", ms=2, color="k", label="data")
        ax.plot(step.q, step.model(np.nan_to_num(params[s:s + 1]))[0][0], color="C3", label="fit")
        for k, (name, curve) in enumerate(parts.items()):
            ax.plot(step.q, curve[s], lw=0.8, color=f"C{k % 10}" if k != 3 else "C9", label=name)
        if isinstance(step.model, PowerLawModel):
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(f"scan {s}: reduced chi2 {step.averaged.redchi[s]:.2f}", fontsize=9)
        ax.set_xlabel("q (1/Å)")
        ax.set_ylabel(f"I ({step.units})")
    figure.axes[0].legend(fontsize=7)
    figure.savefig(path, dpi=100)


def plot_series(path: Path, step: LmfitFit, maps: Mapping[str, np.ndarray]) -> None:
    """d002 (or α) per scan: averaged fit with errors and the region mean of the per-pixel map."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = series_values(step, maps)
    name, units, _ = series["name"]
    figure = Figure(figsize=(5, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    scans = np.arange(len(series["primary"]))
    ax.errorbar(scans, series["primary"], series["primary_errors"], fmt="o-", label="region-averaged curve")
    ax.plot(scans, series[f"{name}_region_mean"], "s--", label="region mean of pixel fits")
    ax.set_xlabel("scan")
    ax.set_ylabel(f"{name} ({units})" if units else name)
    ax.legend(fontsize=8)
    figure.savefig(path, dpi=100)


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``fit/lmfit``, the default implementation of its kind."""
    return [StepImpl(kind="fit", name="lmfit", cls=LmfitFit, version=__version__,
                     description="WAXS Gaussian peaks (002, Na metal, pseudo-metallic Na, binder) and SAXS power "
                                 "law per scan and per pixel; batched Levenberg-Marquardt or lmfit",
                     default=True)]
