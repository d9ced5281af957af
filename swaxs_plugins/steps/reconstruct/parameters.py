"""Parameters of the scalar ``reconstruct`` step: method, q bins, named q-regions, raster step.

Default q-regions describe hard carbon (Olsson et al. 2025; docs/steps/reconstruct.md):

- ``micropores`` 0.12–0.3 1/Å: the micropore scattering, the range the paper masks the electrode by
  and compares the samples' histograms in (first: the volume analysis shows it first);
- ``porod`` 0.01–0.04 1/Å: the Porod (q⁻⁴) scattering of the particle surfaces, the range the
  project's SAXS power-law fit uses.
"""

from __future__ import annotations

from typing import Literal

from pydantic import field_validator, model_validator

from swaxs_plugins.core.step import StepParameters, parameter

QRange = tuple[float, float]

DEFAULT_REGIONS: dict[str, QRange] = {"micropores": (0.12, 0.3), "porod": (0.01, 0.04)}


def _ordered(value: QRange, what: str) -> QRange:
    if not 0 <= value[0] < value[1]:
        raise ValueError(f"{what}: q_min must be >= 0 and below q_max, got {list(value)}")
    return value


class ReconstructParameters(StepParameters):
    """How every sample of the input is reconstructed (module docstring for the regions)."""

    method: Literal["fbp", "sirt"] = parameter(
        "sirt", description="fbp: filtered back-projection (Ram-Lak), linear, with propagated errors; sirt: the "
                            "engine's simultaneous iterative method from the non-negative part of the FBP volume")
    iterations: int = parameter(20, description="iterations of the iterative method (method sirt)", ge=1, le=10000)
    nonnegative: bool = parameter(True, description="clip the iterative method's volume at 0 after every iteration")
    errors: bool = parameter(True, description="propagate the projections' errors through FBP (method fbp only)")
    q_range: QRange | None = parameter(None, description="q-range reconstructed (default: all of the input's q)",
                                       unit="1/angstrom")
    q_bins: int | None = parameter(None, description="rebin to this many linearly spaced bins over q_range (default: "
                                                     "the input's own bins)", ge=1)
    regions: dict[str, QRange] = parameter(
        DEFAULT_REGIONS, description="named q-regions [q_min, q_max] averaged into volumes of their own (default: "
                                     "micropores 0.12-0.3, porod 0.01-0.04)", unit="1/angstrom")
    pixel_size: float | None = parameter(None, description="raster step (voxel size) overriding the input's",
                                         unit="um", gt=0)

    @field_validator("q_range")
    @classmethod
    def _q_range(cls, value: QRange | None) -> QRange | None:
        return None if value is None else _ordered(value, "q_range")

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: dict[str, QRange]) -> dict[str, QRange]:
        return {name: _ordered(q, f"region '{name}'") for name, q in value.items()}

    @model_validator(mode="after")
    def _method_options(self) -> ReconstructParameters:
        if "iterations" in self.model_fields_set and self.method == "fbp":
            raise ValueError("iterations: given for method fbp, which does not iterate")
        return self

    @property
    def regions_given(self) -> bool:
        """Whether the pipeline named the regions (an uncovered region is then an error, else a warning)."""
        return "regions" in self.model_fields_set
