"""Parameters of the ``fit`` step: the model, its components with starts and bounds, and the solver.

Defaults describe hard carbon in a capillary cell (Olsson et al. 2025). What a pipeline gives is
laid over the defaults field by field: ``peaks: {pseudo_metal: {centre: {value: 2.12}}}`` changes that
one start and keeps the rest of the table, ``power_law: {alpha: {max: 5}}`` keeps α's lower bound.
The lists that name model parameters (``pixel_fixed``, ``shared_shapes``, ``averaged_starts``) follow
the chosen ``components``: names of components left out are ignored, a name that is no parameter of
any component is an error naming the field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ValidationInfo, field_validator, model_validator

from swaxs_plugins.core.step import StepParameters, parameter

Q_UNITS = "1/angstrom"
PEAK_FIELDS = ("area", "centre", "fwhm")
BACKGROUND_ORDERS = {"constant": 0, "linear": 1, "quadratic": 2}
POWER_LAW_NAMES = ("amplitude", "alpha", "constant")


class Bounded(StepParameters):
    """One model parameter: starting value (None: from the data), bounds (None: open) and whether it varies."""

    value: float | None = None
    min: float | None = None
    max: float | None = None
    vary: bool = True

    @model_validator(mode="after")
    def _ordered(self) -> Bounded:
        low = -math.inf if self.min is None else self.min
        high = math.inf if self.max is None else self.max
        if low > high:
            raise ValueError(f"min {self.min} is above max {self.max}")
        if self.value is not None and not low <= self.value <= high:
            raise ValueError(f"value {self.value} lies outside [min, max] = [{self.min}, {self.max}]")
        return self


class PeakSpec(StepParameters):
    """A Gaussian: centre and FWHM (1/Å), area (intensity × 1/Å; starts from linear least squares)."""

    centre: Bounded
    fwhm: Bounded
    area: Bounded = Bounded()


def _peak(centre: float, c_range: tuple[float, float], fwhm: float, w_range: tuple[float, float]) -> PeakSpec:
    return PeakSpec(centre=Bounded(value=centre, min=c_range[0], max=c_range[1]),
                    fwhm=Bounded(value=fwhm, min=w_range[0], max=w_range[1]))


#: Hard carbon in a capillary cell (Olsson et al. 2025): 002, Na metal, pseudo-metallic Na, PVDF binder,
#: and the broad amorphous hump of electrolyte and glass under the 002 peak. The pseudo-metal's centre
#: moves with the Na content (2.08-2.2 1/Å and beyond): its bounds reach down to the Na-metal peak,
#: which its width (at least 0.10 against at most 0.05) keeps apart from it.
HARD_CARBON_PEAKS: dict[str, PeakSpec] = {
    "c002": _peak(1.65, (1.50, 1.75), 0.35, (0.2, 0.6)),
    "binder": _peak(1.45, (1.40, 1.52), 0.10, (0.05, 0.25)),
    "na_metal": _peak(2.07, (2.05, 2.10), 0.02, (0.01, 0.05)),
    "pseudo_metal": _peak(2.17, (2.05, 2.32), 0.22, (0.10, 0.35)),
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
#: Further starts of the averaged fit: from the spec start alone, a pseudo-metal far from 2.17 1/Å (at
#: 2.08 or 2.12) leaves the fit in a local minimum where the 002 peak widens to cover it (d002 0.02-0.05 Å
#: off, reduced χ² 7-12 on the simulated curves).
AVERAGED_STARTS = {"pseudo_metal_centre": [2.08, 2.12, 2.24]}
DEFAULT_Q_RANGE = {"waxs_peaks": (1.1, 2.6), "saxs_power_law": (0.006, 0.04)}
#: The defaults that depend on the model: filled in where a pipeline leaves them out.
MODEL_DEFAULTS: dict[str, dict[str, Any]] = {
    "waxs_peaks": {"pixel_fixed": list(SHAPE_FIXED_PER_PIXEL), "shared_shapes": list(SHARED_SHAPES),
                   "averaged_starts": AVERAGED_STARTS},
    "saxs_power_law": {"pixel_fixed": [], "shared_shapes": [], "averaged_starts": {}},
}


class PowerLawSpec(StepParameters):
    """I = A q^−α + C: bounds of α (starts from the log–log slope), A and C (start from linear least squares)."""

    amplitude: Bounded = Bounded()
    alpha: Bounded = Bounded(min=0.0, max=6.0)
    constant: Bounded = Bounded()


def plain(value: Any) -> Any:
    """Parameter models as the mappings a pipeline would give (only the fields that were set)."""
    if isinstance(value, BaseModel):
        return value.model_dump(exclude_unset=True)
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    return value


def overlay(default: Any, given: Any) -> Any:
    """``given`` laid over ``default``: mappings merged key by key (recursively), anything else replaced."""
    if isinstance(default, Mapping) and isinstance(given, Mapping):
        return {**default, **{key: overlay(default.get(key), item) for key, item in given.items()}}
    return given


def parameter_names(model: str, peaks: Mapping[str, PeakSpec]) -> set[str]:
    """Every parameter name the model could have, over all peaks of the table and background orders."""
    if model == "saxs_power_law":
        return set(POWER_LAW_NAMES)
    names = {f"{peak}_{field}" for peak in peaks for field in PEAK_FIELDS}
    return names | {f"bkg_c{k}" for k in range(max(BACKGROUND_ORDERS.values()) + 1)}


def parameter_spec(name: str, model: str, peaks: Mapping[str, PeakSpec], power_law: PowerLawSpec) -> Bounded:
    """The starts and bounds of one named parameter (background coefficients: open)."""
    if model == "saxs_power_law":
        return getattr(power_law, name)
    peak, _, field = name.rpartition("_")
    return getattr(peaks[peak], field) if peak in peaks and field in PEAK_FIELDS else Bounded()


class FitParameters(StepParameters):
    model: Literal["waxs_peaks", "saxs_power_law"] = parameter(
        "waxs_peaks", description="waxs_peaks: Gaussians + polynomial background; saxs_power_law: A q^-alpha + C")
    engine: Literal["batched", "lmfit"] = parameter(
        "batched", description="batched: vectorised Levenberg-Marquardt over blocks of pixels; lmfit: one "
                               "lmfit.minimize per curve (same model, bounds and starts)")
    q_range: tuple[float, float] | None = parameter(
        None, description="q range fitted; default [1.1, 2.6] (waxs_peaks), [0.006, 0.04] (saxs_power_law)",
        unit=Q_UNITS)
    peaks: dict[str, PeakSpec] = parameter(
        HARD_CARBON_PEAKS, description="Gaussian components by name; what is given is laid over the default "
                                       "table field by field (a new name adds a peak: give its centre and fwhm)")
    components: list[str] = parameter(["c002", "binder", "na_metal", "pseudo_metal", "amorphous"],
                                      description="which of 'peaks' are fitted; 'c002' gives d002 = 2 pi / q002")
    background: Literal["constant", "linear", "quadratic"] = parameter(
        "quadratic", description="polynomial in (q - centre of q_range) under the peaks")
    power_law: PowerLawSpec = parameter(PowerLawSpec(), description="bounds and starts of the power law, laid "
                                                                    "over the defaults field by field")
    pixel_fixed: list[str] = parameter(
        list(SHAPE_FIXED_PER_PIXEL), description="parameters held per pixel at the averaged fit of the scan (at "
                                                 "their start value where that component is not significant there); "
                                                 "default for saxs_power_law: none")
    shared_shapes: list[str] = parameter(
        list(SHARED_SHAPES), description="parameters fitted on the first scan's averaged curve and held at that "
                                         "value in the other scans' averaged fits (and so in every pixel fit); "
                                         "default for saxs_power_law: none")
    averaged_starts: dict[str, list[float]] = parameter(
        AVERAGED_STARTS, description="further starting values of single parameters for the averaged fits: each "
                                     "is tried from the spec start with that one value changed, and the lowest "
                                     "chi2 kept; default for saxs_power_law: none")
    max_reduced_chi2: float = parameter(
        3.0, description="an averaged fit whose reduced chi2 exceeds this is poor: a warning, and its pixel fits "
                         "are flagged (a model that misses a feature of the data shows here)", gt=0)
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

    @model_validator(mode="before")
    @classmethod
    def _model_defaults(cls, data: Any) -> Any:
        """Fill the defaults that depend on the model where they are not given."""
        if isinstance(data, Mapping):
            return {**MODEL_DEFAULTS.get(data.get("model", "waxs_peaks"), {}), **data}
        return data

    @field_validator("peaks", mode="before")
    @classmethod
    def _merge_peaks(cls, given: Any) -> Any:
        if not isinstance(given, Mapping):
            return given
        table = {name: spec.model_dump() for name, spec in HARD_CARBON_PEAKS.items()}
        return {**table, **{name: overlay(table.get(name, {}), plain(spec)) for name, spec in given.items()}}

    @field_validator("power_law", mode="before")
    @classmethod
    def _merge_power_law(cls, given: Any) -> Any:
        return overlay(PowerLawSpec().model_dump(), plain(given))

    @field_validator("components")
    @classmethod
    def _known_components(cls, components: list[str], info: ValidationInfo) -> list[str]:
        peaks = info.data.get("peaks")
        unknown = [name for name in components if peaks is not None and name not in peaks]
        if unknown:
            raise ValueError(f"names {unknown}, not in 'peaks' {list(peaks)}")
        if not components:
            raise ValueError("names no component")
        return components

    @field_validator("pixel_fixed", "shared_shapes")
    @classmethod
    def _known_parameters(cls, names: list[str], info: ValidationInfo) -> list[str]:
        _check_names(names, info)
        return names

    @field_validator("averaged_starts")
    @classmethod
    def _starts_within_bounds(cls, starts: dict[str, list[float]], info: ValidationInfo) -> dict[str, list[float]]:
        _check_names(list(starts), info)
        if {"model", "peaks", "power_law"} <= set(info.data):
            for name, values in starts.items():
                spec = parameter_spec(name, info.data["model"], info.data["peaks"], info.data["power_law"])
                low, high = (-math.inf if spec.min is None else spec.min), (math.inf if spec.max is None else spec.max)
                outside = [v for v in values if not low <= v <= high]
                if outside:
                    raise ValueError(f"'{name}' starts {outside} lie outside its bounds [{spec.min}, {spec.max}]")
        return starts


def _check_names(names: list[str], info: ValidationInfo) -> None:
    """Names must be parameters of some component of the table (or the background, or the power law)."""
    if "model" not in info.data or "peaks" not in info.data:
        return
    known = parameter_names(info.data["model"], info.data["peaks"])
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"names {unknown}, not parameters of any component of model {info.data['model']!r} "
                         f"(e.g. {sorted(known)[:4]})")
