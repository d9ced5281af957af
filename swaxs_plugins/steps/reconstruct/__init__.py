"""The ``reconstruct`` step kind: scalar tomography per q bin (SAXS tensor tomography to come).

Modules: :mod:`.parameters` (method, q bins, regions), :mod:`.qbins` (rebinning with errors),
:mod:`.inputs` (the untilted projections of every sample, checked), :mod:`.engines` (the engine
interface and the default, the project's slice projector), :mod:`.skimage_engine` (scikit-image),
:mod:`.scalar` (the step), :mod:`.outputs` (what it writes), :mod:`.figures` (its PNG).

Implementations: ``scalar`` (default; the project's projector: as accurate as scikit-image and ten
to forty times faster, ``benchmarks/reconstruction.py``) and ``skimage`` (scikit-image's iradon /
iradon_sart with the half-pixel centre shifted in Fourier space).
"""

from __future__ import annotations

from swaxs_plugins import __version__
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.steps.reconstruct.parameters import ReconstructParameters
from swaxs_plugins.steps.reconstruct.scalar import ScalarReconstruction
from swaxs_plugins.steps.reconstruct.skimage_engine import SkimageEngine

__all__ = ["ReconstructParameters", "ScalarReconstruction", "SkimageReconstruction", "swaxs_register_steps"]


class SkimageReconstruction(ScalarReconstruction):
    """The scalar reconstruction on scikit-image's iradon (FBP) and iradon_sart (SART)."""

    engine_class = SkimageEngine


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``reconstruct/scalar`` (default) and ``reconstruct/skimage``."""
    return [StepImpl(kind="reconstruct", name="scalar", cls=ScalarReconstruction, version=__version__,
                     description="scalar tomography per q bin from the untilted projections: FBP with propagated "
                                 "errors or SIRT with non-negativity (the project's slice projector)", default=True),
            StepImpl(kind="reconstruct", name="skimage", cls=SkimageReconstruction, version=__version__,
                     description="scalar tomography per q bin on scikit-image's iradon (FBP) and iradon_sart (SART), "
                                 "the half-pixel centre shifted in Fourier space")]
