"""The tomographic-consistency loop: reconstruct, re-project, register every projection, repeat.

For alignment images p_i [K, J] (i = 1…n) at rotation w_i and tilt t_i, and current shifts s_i:

1. shift: p̃_i = T(s_i) p_i, cubic-spline translation by s_i = (dj, dk);
2. reconstruct a volume f from the untilted p̃_i only: FBP, f = max(0, (π/N) Aᵀ (h ∗ p̃)), or SIRT
   (:mod:`swaxs_plugins.tomo.slices`), slice by slice about the rotation axis on the raster centre;
3. re-project f at every projection's own rotation and tilt: q_i = A_i f (the slice projector
   when untilted, :mod:`swaxs_plugins.tomo.reproject` when tilted);
4. register the *measured* p_i (not p̃_i, so interpolation never accumulates) to q_i:
   m_i = argmax_s (q_i ⋆ T(s) p_i), to 1/upsample_factor px (:mod:`.registration`);
5. take out of m the rigid translation of the whole sample (invisible: :mod:`.registration`), then
   step s_i ← s_i + clip(m_i − s_i, ±max_step);
6. stop when rms_i |Δs_i| < tolerance (× binning); the registration grid makes single projections
   hop between neighbouring grid points, so the rms, not the largest change, says "stopped changing".

Coarse to fine: the loop runs on images binned by each factor of ``binning`` in turn (shifts kept in
full-resolution pixels), then a last evaluation at full resolution gives the quality figures per
projection: residual ‖p̃_i − q_i‖ / ‖q_i‖, the registration error, and the step it still asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from swaxs_plugins.steps.align.images import binned, shift_images
from swaxs_plugins.steps.align.parameters import AlignParameters
from swaxs_plugins.steps.align.registration import register_all, remove_rigid_translation, translation_basis
from swaxs_plugins.tomo import reproject, slices


@dataclass(frozen=True)
class Alignment:
    """One sample's result: shifts (dj, dk) [n, 2] px to apply to the input images, and how they were found."""

    shifts: np.ndarray
    history: np.ndarray
    history_binning: np.ndarray
    rms_change: np.ndarray
    residual: np.ndarray
    registration_error: np.ndarray
    remaining_step: np.ndarray
    converged: bool

    @property
    def iterations(self) -> int:
        return int(self.history.shape[0])


@dataclass(frozen=True)
class Evaluation:
    """One pass of steps 1–4 at the current shifts (full-resolution px)."""

    measured: np.ndarray
    errors: np.ndarray
    residual: np.ndarray
    volume: np.ndarray


class ConsistencyLoop:
    """Steps 1–4 for one binning level: the untilted projector is built once and kept."""

    def __init__(self, images: np.ndarray, rotation: np.ndarray, tilt: np.ndarray, factor: int,
                 params: AlignParameters) -> None:
        self.images = binned(images, factor)
        self.rotation, self.tilt, self.factor, self.params = rotation, tilt, factor, params
        self.untilted = np.abs(tilt) < 1e-6
        self.matrix: sparse.csr_matrix = slices.slice_projector(self.images.shape[-1], rotation[self.untilted])
        self.basis = translation_basis(rotation, tilt)

    def evaluate(self, shifts: np.ndarray, start: np.ndarray | None) -> Evaluation:
        """Shift, reconstruct, re-project and register every projection at ``shifts`` (full-resolution px)."""
        aligned = shift_images(self.images, shifts / self.factor)
        volume = self.reconstruct(aligned[self.untilted], start)
        reprojected = self.reproject(volume)
        measured, errors = register_all(reprojected, self.images, self.params.upsample_factor)
        with np.errstate(invalid="ignore", divide="ignore"):
            residual = (np.sqrt(np.mean((aligned - reprojected) ** 2, axis=(1, 2)))
                        / np.sqrt(np.mean(reprojected**2, axis=(1, 2))))
        return Evaluation(remove_rigid_translation(measured * self.factor, self.basis), errors, residual, volume)

    def reconstruct(self, untilted: np.ndarray, start: np.ndarray | None) -> np.ndarray:
        """Slices [K, J, J] from the shifted untilted images: FBP clipped at 0, or SIRT warm-started."""
        angles = self.rotation[self.untilted]
        if self.params.reconstruction == "sirt":
            return slices.sirt(untilted, angles, self.params.sirt_iterations, start=start, matrix=self.matrix)
        return np.maximum(slices.fbp(untilted, angles, self.matrix), 0.0)

    def reproject(self, volume: np.ndarray) -> np.ndarray:
        """Every projection of ``volume`` at its own rotation and tilt [n, K, J]."""
        reprojected = np.empty_like(self.images)
        reprojected[self.untilted] = slices.forward(self.matrix, volume)
        tilted = ~self.untilted
        if tilted.any():
            reprojected[tilted] = reproject.project(volume, self.rotation[tilted], self.tilt[tilted],
                                                    self.images.shape[1:])
        return reprojected


def align_images(images: np.ndarray, rotation: np.ndarray, tilt: np.ndarray, params: AlignParameters) -> Alignment:
    """Shifts that make ``images`` [n, K, J] consistent with one volume (module docstring), from zero."""
    shifts = np.zeros((images.shape[0], 2))
    history, levels, changes = [], [], []
    converged = False
    for factor in params.binning:
        loop = ConsistencyLoop(images, rotation, tilt, factor, params)
        volume = None
        for _ in range(params.max_iterations):
            evaluation = loop.evaluate(shifts, volume)
            volume = evaluation.volume
            step = np.clip(evaluation.measured - shifts, -params.max_step, params.max_step)
            shifts = shifts + step
            change = float(np.sqrt(np.mean(step**2)))
            history.append(shifts)
            levels.append(factor)
            changes.append(change)
            converged = change < params.tolerance * factor
            if converged:
                break
    final = loop.evaluate(shifts, volume)
    return Alignment(shifts=shifts, history=np.array(history), history_binning=np.array(levels),
                     rms_change=np.array(changes), residual=final.residual, registration_error=final.errors,
                     remaining_step=np.linalg.norm(final.measured - shifts, axis=1), converged=converged)
