"""The ``align`` step kind: sub-pixel alignment of tomography projections by tomographic consistency.

Modules: :mod:`.parameters` (the step's parameters), :mod:`.images` (alignment images, binning,
sub-pixel shifts), :mod:`.registration` (upsampled-DFT cross-correlation, the invisible rigid
translation), :mod:`.consistency` (reconstruct, re-project, register, repeat), :mod:`.step` (the
step), :mod:`.outputs` (what it writes, the sinogram figure).
"""

from __future__ import annotations

from swaxs_plugins import __version__
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.steps.align.consistency import Alignment, align_images
from swaxs_plugins.steps.align.parameters import AlignParameters
from swaxs_plugins.steps.align.step import ConsistencyAlign

__all__ = ["AlignParameters", "Alignment", "ConsistencyAlign", "align_images", "swaxs_register_steps"]


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``align/consistency``, the default implementation of its kind."""
    return [StepImpl(kind="align", name="consistency", cls=ConsistencyAlign, version=__version__,
                     description="sub-pixel shifts of tomography projections: upsampled-DFT cross-correlation with "
                                 "re-projections of a reconstruction, coarse to fine, tilted projections included",
                     default=True)]
