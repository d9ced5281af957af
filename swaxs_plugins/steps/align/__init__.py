"""The ``align`` step kind: sub-pixel alignment of tomography projections by tomographic consistency.

Modules: :mod:`.parameters` (the step's parameters), :mod:`.images` (alignment images, binning,
sub-pixel shifts), :mod:`.registration` (upsampled-DFT cross-correlation, the invisible rigid
translation), :mod:`.consistency` (reconstruct, re-project, register, repeat), :mod:`.step` (the
step), :mod:`.outputs` (what it writes, the sinogram figure).
"""

from __future__ import annotations

from swaxs_plugins.steps.align.consistency import Alignment, align_images
from swaxs_plugins.steps.align.parameters import AlignParameters
from swaxs_plugins.steps.align.step import ConsistencyAlign

__all__ = ["AlignParameters", "Alignment", "ConsistencyAlign", "align_images"]
