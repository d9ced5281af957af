"""The ``fit`` step kind: peak and power-law models fitted per scan and per pixel.

Modules: :mod:`.parameters` (the step's parameters and defaults), :mod:`.models` (curve models with
analytic Jacobians), :mod:`.solver` (the batched Levenberg–Marquardt), :mod:`.lmfit_engine` (one
lmfit fit per curve), :mod:`.inputs` (curves, region, scan names), :mod:`.averaged` (the averaged
fits and their checks), :mod:`.step` (the step), :mod:`.outputs` (what it writes), :mod:`.figures`.
"""

from __future__ import annotations

from swaxs_plugins.steps.fit.parameters import FitParameters
from swaxs_plugins.steps.fit.step import LmfitFit

__all__ = ["FitParameters", "LmfitFit"]
