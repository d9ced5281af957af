"""The built-in step implementations, registered without importing them.

One plugin object per step kind (``entrypoints.cfg`` names them: a kind's registration failing never
stops another's). Each names its class as ``"module:Class"``: listing, describing the registrations and
``--help`` import no step module and none of their libraries (pyFAI, numba, scikit-image); the framework
imports a step's module when a pipeline selects it (:attr:`~swaxs_plugins.core.registry.RegisteredStep.step_class`).
The versions are the distribution's.

The reconstruct implementations on optional libraries (astra-toolbox: GPL-3, tomopy: conda only, mumott
2.3: needs matplotlib < 3.9) are registered where the library is installed (found, not imported); where
one is not, the reason is in the default implementation's description (``swaxs plugins --json``).
"""

from __future__ import annotations

import importlib.util

from swaxs_plugins.core.hookspecs import StepImpl, hookimpl

STEPS = "swaxs_plugins.steps"


class BuiltinKind:
    """The registration of one built-in step kind: a plugin object with its ``StepImpl`` records."""

    def __init__(self, *impls: StepImpl) -> None:
        self.impls = impls

    @hookimpl
    def swaxs_register_steps(self) -> list[StepImpl]:
        return list(self.impls)


calibrate = BuiltinKind(StepImpl(
    "calibrate", "pyfai", f"{STEPS}.calibrate.step:PyFAICalibrate", default=True,
    description="geometry (PONI) from a calibrant frame: a global search for centre and distance, pyFAI's "
                "picking and refinement, sub-pixel rings and a quality gate"))
integrate = BuiltinKind(StepImpl(
    "integrate", "pyfai", f"{STEPS}.integrate.step:PyFAIIntegrate", default=True,
    description="Azimuthal integration with pyFAI to I(q) and I(chi, q) segments, Poisson errors, "
                "NXazint1d/NXazint2d"))
transmission = BuiltinKind(StepImpl(
    "transmission", "diode", f"{STEPS}.transmission:DiodeTransmission", default=True,
    description="T = (diode/I0) / (diode/I0 of an empty beam, a map region or a value); curves / T"))
mask = BuiltinKind(StepImpl(
    "mask", "rules", f"{STEPS}.mask:RuleMask", default=True,
    description="map masks from rules (T, q-range intensity, fitted maps; and/or/not; morphology)"))
fit = BuiltinKind(StepImpl(
    "fit", "lmfit", f"{STEPS}.fit.step:LmfitFit", default=True,
    description="WAXS Gaussian peaks (002, Na metal, pseudo-metallic Na, binder) and SAXS power law per scan and "
                "per pixel; batched Levenberg-Marquardt or lmfit"))
difference = BuiltinKind(StepImpl(
    "difference", "regions", f"{STEPS}.difference:RegionDifference", default=True,
    description="q-region maps, D = (I - I_ref)/I_ref in a mask, time series, onsets, cycler log"))
background = BuiltinKind(StepImpl(
    "background", "subtract", f"{STEPS}.background:SubtractBackground", default=True,
    description="I_s/T_s - I_b/T_b with the background from a map region, another scan or a curve"))
align = BuiltinKind(StepImpl(
    "align", "consistency", f"{STEPS}.align.step:ConsistencyAlign", default=True,
    description="sub-pixel shifts of tomography projections: upsampled-DFT cross-correlation with "
                "re-projections of a reconstruction, coarse to fine, tilted projections included"))
volume = BuiltinKind(StepImpl(
    "volume", "histograms", f"{STEPS}.volume.step:VolumeHistograms", default=True,
    description="volume masks from rules, 2x2x2 mean filter, voxel-intensity histograms per q-region and sample "
                "with mean, width and quantiles"))

OPTIONAL_RECONSTRUCTIONS = {
    "astra": ("astra", f"{STEPS}.reconstruct.astra_engine:AstraReconstruction",
              "scalar tomography per q bin on astra-toolbox's CPU FBP and SIRT (GPL-3, optional)"),
    "tomopy": ("tomopy", f"{STEPS}.reconstruct.tomopy_engine:TomopyReconstruction",
               "scalar tomography per q bin on tomopy's gridrec and SIRT (conda only, optional; its geometry "
               "checked against the project's projector on a probe image)"),
    "mumott": ("mumott", f"{STEPS}.reconstruct.mumott_engine:MumottReconstruction",
               "SAXS tensor tomography on mumott's run_sigtt (optional; mumott 2.3 imports only with "
               "matplotlib < 3.9): the same inputs and outputs as reconstruct/tensor"),
}


def optional_reconstructions() -> tuple[list[StepImpl], list[str]]:
    """The reconstruct implementations whose optional library is installed here, and why the others are not."""
    available, unavailable = [], []
    for name, (module, cls, description) in OPTIONAL_RECONSTRUCTIONS.items():
        if importlib.util.find_spec(module) is None:
            unavailable.append(f"{name} not installed here (no module '{module}')")
        else:
            available.append(StepImpl("reconstruct", name, cls, description=description))
    return available, unavailable


class Reconstruct(BuiltinKind):
    """``reconstruct/scalar`` (default), ``skimage``, ``tensor``, and the optional ones where installed."""

    @hookimpl
    def swaxs_register_steps(self) -> list[StepImpl]:
        optional, unavailable = optional_reconstructions()
        missing = f"; other engines: {'; '.join(unavailable)}" if unavailable else ""
        return [
            StepImpl("reconstruct", "scalar", f"{STEPS}.reconstruct.scalar:ScalarReconstruction", default=True,
                     description="scalar tomography per q bin from the untilted projections: FBP with propagated "
                                 f"errors or SIRT with non-negativity (the project's slice projector){missing}"),
            StepImpl("reconstruct", "skimage", f"{STEPS}.reconstruct.skimage_engine:SkimageReconstruction",
                     description="scalar tomography per q bin on scikit-image's iradon (FBP) and iradon_sart (SART), "
                                 "the half-pixel centre shifted in Fourier space"),
            StepImpl("reconstruct", "tensor", f"{STEPS}.reconstruct.tensor:TensorReconstruction",
                     description="SAXS tensor tomography: real even spherical harmonics per voxel and q band fitted "
                                 "to the segments of all projections, tilts included (preconditioned L-BFGS, "
                                 "Laplacian term); mean intensity, degree of anisotropy, main orientation"),
            *optional]


reconstruct = Reconstruct()
