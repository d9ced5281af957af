"""Benchmark: align 72 projections of a 48³ volume, our tomographic-consistency loop vs plain cross-correlation.

The projections are the project's simulated hard-carbon electrode (simulate.tomography's phantom
and projector at a 48³ scale: 72 untilted rotations over 180°, 56 × 56 raster, 8 segments), each
translated by a known random (dj, dk) uniform in ±3 px, with Poisson noise on the counts and the
diode. The alignment image is what the step uses by default: the segment-mean intensity in
q 0.12-0.3 1/Å divided by the transmission.

- ours: ``align_images`` of the align step with its defaults (FBP, upsample 20, binning 2 then 1,
  steps clipped to 2 px, tolerance 0.01 px): from the images to the shifts, reading and writing
  excluded.
- peer ``skimage chained``: scikit-image's ``phase_cross_correlation(upsample_factor=20)`` of every
  projection to the previous one, the shifts summed along the series: registration without a
  tomographic model, where consecutive projections (2.5° apart) are the most alike reference there
  is. Both of its normalisations run (None and its default 'phase'); the case reports the better.
- peer ``mumott optical flow`` (where mumott imports): mumott's ``run_optical_flow_alignment``
  (Odstrcil et al. 2019: SIRT-like MITRA reconstructions and an optical-flow shift estimate) at its
  defaults, on the absorbance −ln T, which is what it aligns; ours then aligns the absorbance too.
  Where mumott does not import, the case is skipped with the reason printed. (mumott 2.3 needs
  matplotlib < 3.9 and sets numba's threads and OPENBLAS_NUM_THREADS when imported, so it is
  imported only after our intensity case has run.)

Accuracy: rms over projections and axes of (found + true shifts) less the rigid translation of the
whole sample (3 numbers, fitted by least squares), which no alignment can see.
"""

from __future__ import annotations

import time
from itertools import pairwise

import numpy as np
from skimage.registration import phase_cross_correlation

from _common import case, parse_args, report
from swaxs_plugins.simulate.samples import component_curves, make_phantom, resolve_samples
from swaxs_plugins.simulate.tomography import DIODE_I0_COUNTS
from swaxs_plugins.simulate.tomography_model import (TomographyScale, expected_projection, forward_model,
                                                     measurement_geometry, q_grid)
from swaxs_plugins.steps.align import AlignParameters, align_images
from swaxs_plugins.steps.align.registration import remove_rigid_translation, translation_basis

Q_RANGE = AlignParameters().q_range


def simulated_images(n_voxels: int, n_projections: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                        np.ndarray]:
    """Alignment images [n, K, J] (intensity) and transmissions [n, K, J] of the misaligned, noisy projections of
    the electrode, their rotations [deg] and the true shifts [n, 2]."""
    scale = TomographyScale(n_voxels=n_voxels, n_q=10, n_segments=8, ell_max=4, n_untilted=n_projections,
                            tilts_deg=(), n_per_tilt=0)
    phantom_rng, shift_rng, noise_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3))
    q = q_grid(scale.n_q)
    phantom = make_phantom(n_voxels, q, component_curves(q), scale.ell_max, *resolve_samples(("electrode",)),
                           phantom_rng)
    geometry = measurement_geometry(scale)
    model = forward_model(phantom)
    shifts = shift_rng.uniform(-scale.max_shift_px, scale.max_shift_px, (n_projections, 2))
    inside = (q >= Q_RANGE[0]) & (q <= Q_RANGE[1])
    images, diodes = [], []
    for index in range(n_projections):
        counts, transmission = expected_projection(model, geometry, index, tuple(shifts[index]))
        counts = noise_rng.poisson(counts)
        diode = noise_rng.poisson(transmission * DIODE_I0_COUNTS) / DIODE_I0_COUNTS
        images.append((counts[..., inside].mean(axis=(2, 3)) / diode).T)  # [K, J]
        diodes.append(diode.T)
    return np.array(images), np.array(diodes), geometry.rotation_deg, shifts


def residual_px(found: np.ndarray, truth: np.ndarray, rotation: np.ndarray) -> float:
    basis = translation_basis(rotation, np.zeros_like(rotation))
    return float(np.sqrt(np.mean(remove_rigid_translation(found + truth, basis) ** 2)))


def run_ours(images: np.ndarray, rotation: np.ndarray) -> tuple[float, np.ndarray, dict]:
    start = time.perf_counter()
    result = align_images(images, rotation, np.zeros_like(rotation), AlignParameters())
    elapsed = time.perf_counter() - start
    return elapsed, result.shifts, {"ours_iterations": result.iterations, "ours_converged": result.converged}


def run_chained(images: np.ndarray, normalization: str | None) -> tuple[float, np.ndarray]:
    """Each projection registered to the previous one; the shifts (dj, dk) summed along the series."""
    start = time.perf_counter()
    steps = [phase_cross_correlation(previous, image, upsample_factor=20, normalization=normalization)[0]
             for previous, image in pairwise(images)]
    shifts = np.vstack([np.zeros(2), np.cumsum(np.array(steps)[:, ::-1], axis=0)])
    return time.perf_counter() - start, shifts


def mumott_status() -> str | None:
    """None where mumott imports, else why its case is skipped."""
    try:
        import mumott  # noqa: F401
    except Exception as error:  # noqa: BLE001 - any import failure means the same: no mumott case
        return f"skipped: mumott cannot be imported here ({type(error).__name__}: {error})"
    return None


def run_mumott(transmission: np.ndarray, rotation: np.ndarray, max_iterations: int) -> tuple[float, np.ndarray]:
    """mumott's optical-flow alignment (Odstrcil et al. 2019) of the absorbance, at its defaults but for the
    number of alignment steps (its default 20; MITRA 20 iterations per step, 0.01 px): the diode [J, K] per
    projection with its rotation matrix (mumott's frame and ours agree: j, k, beam = x, z, y), the rotation
    axis named (k, index 1: mumott guesses wrong for a square raster). Its shifts are (dj, dk) applied."""
    from mumott.core.projection_stack import Projection
    from mumott.data_handling import DataContainer
    from mumott.pipelines.optical_flow_alignment import run_optical_flow_alignment

    from swaxs_plugins.tomo.projector import rotation_matrix

    n_k, n_j = transmission.shape[1:]
    container = DataContainer()
    for diode, angle in zip(transmission, rotation):
        container.append(Projection(data=np.ones((n_j, n_k, 1)), diode=np.ascontiguousarray(diode.T),
                                    weights=np.ones((n_j, n_k, 1)), rotation=rotation_matrix(angle, 0.0),
                                    inner_angle=np.deg2rad(angle), outer_angle=0.0,
                                    inner_axis=np.array([0.0, 0.0, 1.0]), outer_axis=np.array([1.0, 0.0, 0.0])))
    container.geometry.volume_shape = np.array([n_j, n_j, n_k])
    container.geometry.detector_angles = np.array([0.0])
    start = time.perf_counter()
    shifts, _, _ = run_optical_flow_alignment(container, volume=(n_j, n_j, n_k), main_rot_axis=1,
                                              stop_max_iteration=max_iterations)
    return time.perf_counter() - start, np.asarray(shifts)


def absorbance(transmission: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(transmission, 1e-6, None))


def intensity_case(images: np.ndarray, rotation: np.ndarray, truth: np.ndarray, label: str) -> dict:
    """Ours against the chained scikit-image registration (its better normalisation), on the intensity images."""
    ours_time, ours_shifts, ours_extra = run_ours(images, rotation)
    peers = {name: run_chained(images, normalization) for name, normalization in (("none", None), ("phase", "phase"))}
    errors = {name: residual_px(shifts, truth, rotation) for name, (_, shifts) in peers.items()}
    best, other = sorted(errors, key=errors.get)
    return case(f"{label}, intensity: ours vs skimage phase_cross_correlation chained to the previous projection",
                ours_time, peers[best][0], "s", higher_is_better=False,
                ours_residual_px=residual_px(ours_shifts, truth, rotation), peer_residual_px=errors[best],
                peer_normalization=best, peer_other_normalization_residual_px=errors[other],
                unaligned_residual_px=residual_px(np.zeros_like(truth), truth, rotation), **ours_extra)


def mumott_case(transmission: np.ndarray, rotation: np.ndarray, truth: np.ndarray, label: str,
                max_iterations: int) -> dict:
    """Ours against mumott's optical flow, both on the absorbance (what mumott aligns)."""
    ours_time, ours_shifts, ours_extra = run_ours(absorbance(transmission), rotation)
    peer_time, peer_shifts = run_mumott(transmission, rotation, max_iterations)
    return case(f"{label}, absorbance: ours vs mumott optical-flow alignment ({max_iterations} steps at most)",
                ours_time, peer_time, "s", higher_is_better=False,
                ours_residual_px=residual_px(ours_shifts, truth, rotation),
                peer_residual_px=residual_px(peer_shifts, truth, rotation), **ours_extra)


def main(argv: list[str] | None = None) -> dict:
    """Run the comparisons and report them; returns the report document."""
    args = parse_args("alignment", __doc__.splitlines()[0], [
        ("--voxels", {"type": int, "default": 48, "help": "volume edge in voxels (default 48)"}),
        ("--projections", {"type": int, "default": 72, "help": "untilted projections over 180 deg (default 72)"}),
        ("--seed", {"type": int, "default": 0, "help": "phantom, shifts and noise (default 0)"}),
        ("--mumott-steps", {"type": int, "default": 20, "help": "mumott's alignment steps at most (its default 20)"})],
        argv)
    images, transmission, rotation, truth = simulated_images(args.voxels, args.projections, args.seed)
    n, n_k, n_j = images.shape
    label = f"{n} projections of a {args.voxels}^3 volume ({n_k}x{n_j})"
    cases = [intensity_case(images, rotation, truth, label)]
    skipped = mumott_status()
    if skipped:
        print(f"mumott: {skipped}")
    else:
        cases.append(mumott_case(transmission, rotation, truth, label, args.mumott_steps))
    return report("alignment", cases, args.json)


if __name__ == "__main__":
    main()
