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
library is installed (:mod:`swaxs_plugins.steps.catalogue`): astra-toolbox is GPL-3, tomopy conda-only and
mumott 2.3 needs matplotlib < 3.9, so none is a dependency. Where one is not, the reason is in the default
implementation's description (``swaxs plugins --json``).
"""

from __future__ import annotations

from swaxs_plugins.steps import lazy_exports

EXPORTS = {"ReconstructParameters": "parameters", "ScalarReconstruction": "scalar",
           "SkimageReconstruction": "skimage_engine", "TensorReconstruction": "tensor"}
"""Name → module of what the package exports, imported on first use (:func:`~swaxs_plugins.steps.lazy_exports`)."""

__all__ = sorted(EXPORTS)
__getattr__ = lazy_exports(__name__, EXPORTS)
