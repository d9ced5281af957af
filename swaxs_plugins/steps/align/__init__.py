"""The ``align`` step kind: sub-pixel alignment of tomography projections by tomographic consistency.

Modules: :mod:`.parameters` (the step's parameters), :mod:`.images` (alignment images, binning,
sub-pixel shifts), :mod:`.registration` (upsampled-DFT cross-correlation, the invisible rigid
translation), :mod:`.consistency` (reconstruct, re-project, register, repeat), :mod:`.step` (the
step), :mod:`.outputs` (what it writes, the sinogram figure).
"""

from __future__ import annotations

from swaxs_plugins.steps import lazy_exports

EXPORTS = {"Alignment": "consistency", "align_images": "consistency", "AlignParameters": "parameters",
           "ConsistencyAlign": "step"}
"""Name → module of what the package exports, imported on first use (:func:`~swaxs_plugins.steps.lazy_exports`)."""

__all__ = sorted(EXPORTS)
__getattr__ = lazy_exports(__name__, EXPORTS)
