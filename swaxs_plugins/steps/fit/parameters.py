"""Parameters of the ``fit`` step: the model, its components with starts and bounds, and the solver.

Defaults describe hard carbon in a capillary cell (Olsson et al. 2025).
"""

from __future__ import annotations

from typing import Literal

from swaxs_plugins.core.step import StepParameters, parameter

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

