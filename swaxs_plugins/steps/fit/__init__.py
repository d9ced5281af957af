"""The ``fit`` step kind: peak and power-law models fitted per scan and per pixel.

Modules: :mod:`.parameters` (the step's parameters and defaults), :mod:`.models` (curve models with
analytic Jacobians), :mod:`.solver` (the batched Levenberg–Marquardt), :mod:`.lmfit_engine` (one
lmfit fit per curve), :mod:`.inputs` (curves, region, scan names), :mod:`.averaged` (the averaged
fits and their checks), :mod:`.step` (the step), :mod:`.outputs` (what it writes), :mod:`.figures`.
"""

from __future__ import annotations

from swaxs_plugins import __version__
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.steps.fit.parameters import FitParameters
from swaxs_plugins.steps.fit.step import LmfitFit

__all__ = ["FitParameters", "LmfitFit", "swaxs_register_steps"]


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``fit/lmfit``, the default implementation of its kind."""
    return [StepImpl(kind="fit", name="lmfit", cls=LmfitFit, version=__version__,
                     description="WAXS Gaussian peaks (002, Na metal, pseudo-metallic Na, binder) and SAXS power "
                                 "law per scan and per pixel; batched Levenberg-Marquardt or lmfit",
                     default=True)]
