"""The ``reconstruct`` step kind: scalar tomography per q bin, and SAXS tensor tomography per q band.

Modules: :mod:`.parameters` (method, q bins, regions), :mod:`.qbins` (rebinning with errors),
:mod:`.inputs` (the untilted projections of every sample, checked), :mod:`.engines` (the engine
interface and the default, the project's slice projector), :mod:`.skimage_engine` (scikit-image),
:mod:`.scalar` (the step), :mod:`.outputs` (what it writes), :mod:`.figures` (its PNG);
:mod:`.tensor`, :mod:`.tensor_parameters`, :mod:`.tensor_outputs` (tensor tomography, on
:mod:`swaxs_plugins.tomo.tensor` and :mod:`swaxs_plugins.tomo.tensor_solver`).

Implementations: ``tensor`` (spherical harmonics, all projections, :mod:`.tensor`); ``scalar``
(default; the project's projector: at least as accurate as scikit-image's and astra's CPU methods and 1.3 to 6.6 times faster, ``benchmarks/reconstruction.py``), ``skimage``
(scikit-image's iradon / iradon_sart with the half-pixel centre shifted in Fourier space) and
``astra`` (:mod:`.astra_engine`, astra-toolbox's CPU FBP and SIRT) and ``tomopy``
(:mod:`.tomopy_engine`, gridrec and SIRT, its conventions found on a probe image) and ``mumott``
(:mod:`.mumott_engine`, tensor tomography on mumott's run_sigtt), each registered only where its
library imports: astra-toolbox is GPL-3, tomopy conda-only and mumott 2.3 needs matplotlib < 3.9, so
none is a dependency. Where one does not import, the reason is in the default implementation's description
(``swaxs plugins --json``, ``swaxs describe reconstruct``).
"""

from __future__ import annotations

from swaxs_plugins import __version__
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.steps.reconstruct.parameters import ReconstructParameters
from swaxs_plugins.steps.reconstruct.scalar import ScalarReconstruction
from swaxs_plugins.steps.reconstruct.skimage_engine import SkimageEngine
from swaxs_plugins.steps.reconstruct.tensor import TensorReconstruction

__all__ = ["ReconstructParameters", "ScalarReconstruction", "SkimageReconstruction", "TensorReconstruction",
           "swaxs_register_steps"]


class SkimageReconstruction(ScalarReconstruction):
    """The scalar reconstruction on scikit-image's iradon (FBP) and iradon_sart (SART)."""

    engine_class = SkimageEngine


def _astra() -> StepImpl:
    from swaxs_plugins.steps.reconstruct.astra_engine import AstraReconstruction

    return StepImpl(kind="reconstruct", name="astra", cls=AstraReconstruction, version=__version__,
                    description="scalar tomography per q bin on astra-toolbox's CPU FBP and SIRT (GPL-3, optional)")


def _tomopy() -> StepImpl:
    from swaxs_plugins.steps.reconstruct.tomopy_engine import TomopyReconstruction

    return StepImpl(kind="reconstruct", name="tomopy", cls=TomopyReconstruction, version=__version__,
                    description="scalar tomography per q bin on tomopy's gridrec and SIRT (conda only, optional; "
                                "its geometry checked against the project's projector on a probe image)")


def _mumott() -> StepImpl:
    from swaxs_plugins.steps.reconstruct.mumott_engine import MumottReconstruction

    return StepImpl(kind="reconstruct", name="mumott", cls=MumottReconstruction, version=__version__,
                    description="SAXS tensor tomography on mumott's run_sigtt (optional; mumott 2.3 imports only "
                                "with matplotlib < 3.9): the same inputs and outputs as reconstruct/tensor")


OPTIONAL = {"astra": _astra, "tomopy": _tomopy, "mumott": _mumott}


def optional_implementations() -> tuple[list[StepImpl], list[str]]:
    """The implementations on optional libraries that import here, and why the others do not."""
    available, unavailable = [], []
    for name, make in OPTIONAL.items():
        try:
            available.append(make())
        except ImportError as error:  # the library missing, or one it needs (astra's CUDA runtime)
            unavailable.append(f"{name} not importable here ({type(error).__name__}: {error})")
    return available, unavailable


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``reconstruct/scalar`` (default), ``reconstruct/skimage``, ``reconstruct/tensor``, and
    ``reconstruct/astra``, ``reconstruct/tomopy`` and ``reconstruct/mumott`` where their libraries import."""
    optional, unavailable = optional_implementations()
    missing = f"; other engines: {'; '.join(unavailable)}" if unavailable else ""
    return [StepImpl(kind="reconstruct", name="scalar", cls=ScalarReconstruction, version=__version__,
                     description="scalar tomography per q bin from the untilted projections: FBP with propagated "
                                 f"errors or SIRT with non-negativity (the project's slice projector){missing}",
                     default=True),
            StepImpl(kind="reconstruct", name="skimage", cls=SkimageReconstruction, version=__version__,
                     description="scalar tomography per q bin on scikit-image's iradon (FBP) and iradon_sart (SART), "
                                 "the half-pixel centre shifted in Fourier space"),
            StepImpl(kind="reconstruct", name="tensor", cls=TensorReconstruction, version=__version__,
                     description="SAXS tensor tomography: real even spherical harmonics per voxel and q band fitted "
                                 "to the segments of all projections, tilts included (preconditioned L-BFGS, "
                                 "Laplacian term); mean intensity, degree of anisotropy, main orientation"),
            *optional]
