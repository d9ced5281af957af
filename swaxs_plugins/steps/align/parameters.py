"""The ``align`` step's parameters: which image, how it is registered, how the loop runs and stops."""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from swaxs_plugins.core.step import StepParameters, parameter

DEFAULT_Q_RANGE = (0.12, 0.3)
"""1/Å: the micropore scattering of hard carbon, strong and smooth in every projection."""


class AlignParameters(StepParameters):
    """Parameters of ``align/consistency`` (docs/steps/align.md)."""

    image: Literal["intensity", "absorbance"] = parameter(
        "intensity", description="alignment image per projection: the mean scattered intensity in q_range, or the "
                                 "absorbance -ln T of the transmission")
    q_range: tuple[float, float] = parameter(
        DEFAULT_Q_RANGE, unit="1/angstrom", description="q range of the intensity image (image: intensity)")
    upsample_factor: int = parameter(
        20, ge=1, le=1000, description="sub-pixel registration: the cross-correlation peak is located to 1/upsample_factor "
                                       "px (upsampled DFT, Guizar-Sicairos et al. 2008)")
    max_step: float = parameter(
        2.0, gt=0, unit="pixel", description="largest change of a projection's shift in one iteration (clip)")
    max_iterations: int = parameter(
        20, ge=1, description="iterations per binning level at most")
    tolerance: float = parameter(
        0.01, gt=0, unit="pixel", description="converged when the rms change of the shifts in one iteration is below "
                                              "this (times the binning at a coarse level)")
    binning: tuple[int, ...] = parameter(
        (2, 1), description="coarse to fine: the images binned by each factor in turn, the last must be 1")
    reconstruction: Literal["fbp", "sirt"] = parameter(
        "fbp", description="reconstruction from the untilted projections that is re-projected: filtered "
                           "back-projection, or SIRT with non-negativity (slower, more accurate)")
    sirt_iterations: int = parameter(
        30, ge=1, description="SIRT iterations per alignment iteration (reconstruction: sirt; warm-started from the "
                              "previous iteration's volume)")
    pixel_size: float | None = parameter(
        None, gt=0, unit="um", description="raster step, used when the input records none (axes of the output)")
    keep_segments: bool = parameter(
        False, description="also shift and write the azimuthal segments (for tensor tomography), where the input "
                           "holds them: as many values as the segments times the q bins per raster point")
    outlier_factor: float = parameter(
        3.0, gt=1, description="warn about a projection whose final residual exceeds this many times the median")

    @field_validator("q_range")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not 0 <= value[0] < value[1]:
            raise ValueError(f"q_range must be [q_min, q_max] with 0 <= q_min < q_max, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _coarse_to_fine(self) -> AlignParameters:
        levels = self.binning
        if not levels or levels[-1] != 1 or any(b < 1 for b in levels) or list(levels) != sorted(levels, reverse=True):
            raise ValueError(f"binning must decrease to 1 (e.g. [2, 1] or [1]), got {list(levels)}")
        return self
