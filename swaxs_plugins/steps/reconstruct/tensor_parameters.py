"""Parameters of ``reconstruct/tensor`` and ``reconstruct/mumott``: the harmonics, the q bands, the solver
(docs/steps/reconstruct_tensor.md)."""

from __future__ import annotations

from pydantic import field_validator

from swaxs_plugins.core.step import StepParameters, parameter

QRange = tuple[float, float]

DEFAULT_BANDS: dict[str, QRange] = {"micropores": (0.12, 0.3)}


class HarmonicBandParameters(StepParameters):
    """What every tensor-tomography implementation is asked: the harmonics, the q bands, the iterations."""

    ell_max: int = parameter(4, description="largest (even) degree of the real spherical harmonics", ge=0, le=12)
    bands: dict[str, QRange] = parameter(
        DEFAULT_BANDS, description="named q bands [q_min, q_max]: each band's segments (mean over its q bins) are "
                                   "reconstructed on their own (default: micropores 0.12-0.3)", unit="1/angstrom")
    iterations: int = parameter(20, description="L-BFGS iterations", ge=1, le=10000)
    pixel_size: float | None = parameter(None, description="raster step (voxel size) overriding the input's",
                                         unit="um", gt=0)
    max_reduced_chi2: float = parameter(3.0, description="a band whose fit leaves a larger reduced chi-square is a "
                                                         "warning", gt=0)

    @field_validator("ell_max")
    @classmethod
    def _even(cls, value: int) -> int:
        if value % 2:
            raise ValueError(f"ell_max must be even (SAXS is centrosymmetric), got {value}")
        return value

    @field_validator("bands")
    @classmethod
    def _bands(cls, value: dict[str, QRange]) -> dict[str, QRange]:
        if not value:
            raise ValueError("bands: name at least one q band")
        for name, (low, high) in value.items():
            if not 0 <= low < high:
                raise ValueError(f"band '{name}': q_min must be >= 0 and below q_max, got {[low, high]}")
        return value


class TensorParameters(HarmonicBandParameters):
    """How every sample's segmented projections are fitted by spherical harmonics per q band (our solver)."""

    regularisation: float = parameter(0.1, description="weight of the Laplacian term, relative to the data's "
                                                       "curvature per voxel (0: none)", ge=0)
    angular_regularisation: float = parameter(
        0.03, description="weight of the angular roughness term l(l+1) a^2 (the Laplace-Beltrami operator on each "
                          "voxel's orientation distribution), relative to the data's curvature per voxel (0: none)",
        ge=0)
    carve: bool = parameter(True, description="leave out the voxels that a fifth of the projections or more see "
                                              "through empty rays (below 2 % of the brightest), dilated by one voxel")
    nonnegative_mean: bool = parameter(True, description="keep every voxel's spherical mean >= 0")


class MumottParameters(HarmonicBandParameters):
    """``reconstruct/mumott``: mumott's run_sigtt (its Laplacian, its L-BFGS) on the same projections."""

    regularization_weight: float = parameter(1e-4, description="run_sigtt's weight of mumott's Laplacian "
                                                               "regulariser (its default)", ge=0)
    ftol: float = parameter(0.0, description="run_sigtt's relative loss change that stops it (mumott's default "
                                             "0.01 stops it early; 0: run all iterations)", ge=0)
