"""mumott interop: our segmented projections as mumott input files, mumott's coefficients in our basis.

Conventions (verified against mumott 2.3's own code, ``docs/mumott.md`` has the numbers):

* **Files.** :func:`export_mumott` writes one HDF5 file per q band, ``<path_stem>_<band>.h5``, in the
  layout ``mumott.DataContainer(path)`` reads (mumott has no q axis). The band's data are the mean of
  the segments over the q bins with q_min ≤ q ≤ q_max. Written with plain h5py, uncompressed: mumott
  needs no filter plugin to read them.
* **Raster.** mumott's ``data`` of a projection is (J, K, n_seg) with j the first index; ours in memory
  is [k, j], so every image is transposed. mumott places pixel j of J at ``j + ½ − J/2`` along
  ``j_direction_0`` from the volume centre, which is our ``j − (J − 1)/2``: the rotation axis on the
  raster centre, as in :mod:`swaxs_plugins.tomo.projector`. The volume is (X, Y, Z) = (J, J, K)
  (``volume_shape``), x along j, z along k at zero rotation, unit voxels = raster steps.
* **Directions.** ``p_direction_0`` = (0, 1, 0) (the beam, +y_lab), ``j_direction_0`` = (1, 0, 0),
  ``k_direction_0`` = (0, 0, 1): mumott's defaults, which are our laboratory frame.
* **Rotation.** mumott builds R = R_outer · R_inner with ``scipy Rotation.from_rotvec(angle · axis)``
  (right-handed) and takes the ray of a projection along Rᵀ p_direction_0 in the sample frame, i.e. R
  maps the sample to the laboratory as ours does (``projector.rotation_matrix`` = R_x(tilt) R_z(rotation)).
  mumott's *default* inner axis is (0, 0, −1); we write ``inner_axis`` = (0, 0, 1) and ``outer_axis`` =
  (1, 0, 0) explicitly, so ``inner_angle`` = our rotation and ``outer_angle`` = our tilt, in radians.
  Each projection also holds the equal ``rotation_matrix`` R (mumott uses it when present, as its own
  ``DataContainer.write`` does).
* **Detector angles.** mumott's segment φ probes cos φ · ``detector_direction_origin`` + sin φ ·
  ``detector_direction_positive_90`` (laboratory frame, rotated by Rᵀ): with (1, 0, 0) and (0, 0, 1)
  (its defaults) φ is our χ (0 along +j, 90° along +k), so ``detector_angles`` = χ in radians.
  ``two_theta`` = [0]: the small-angle limit of our model (mumott would tilt the probed directions by
  θ towards the source otherwise). mumott averages its basis over each segment (Simpson's rule
  between the midpoints to the neighbouring centres), as our detector segments record the mean over
  their width (:mod:`swaxs_plugins.tomo.segments`).
* **Offsets.** mumott samples pixel j at ``j + ½ − J/2 + j_offset``: the image moves to *smaller* j for
  positive ``j_offset``. Our images already have our own shifts applied (``Projections.shifts``
  records them), so ``j_offset`` = ``k_offset`` = 0 unless ``offsets`` = (dj, dk) per projection says
  the sample is displaced on the raster by dj, dk (``projector.projection_matrix(offset=...)``), which
  is ``j_offset = −dj``, ``k_offset = −dk``.
* **Intensities.** ``data`` are the band means as held (counts divided by T when
  ``sample.transmission_corrected``; do not call mumott's ``correct_for_transmission`` then); ``diode``
  is the transmission T [J, K] (ones when unknown); ``weights`` (J, K, n_seg) are 1/variance,
  normalised to a mean of 1 over the weighted points (variance per segment = n_seg · Σ_q σ_q² / n_b²
  from the errors of the segment mean, floored at the smallest positive one), ones without errors,
  and 0 where the data (written as 0: mumott refuses non-finite input) or their errors are not
  finite. mumott's default loss (``SquaredLoss(use_weights=False)``, used by ``run_sigtt``) ignores
  the weights.
* **Coefficients.** mumott's real even harmonics are ours times √(4π) (4π-normalised, Y_00 = 1), with
  the same order (ℓ, then m = −ℓ…ℓ) and signs (no Condon–Shortley phase), so coefficient c of ours =
  √(4π) × coefficient c of mumott's, for every c (:data:`COEFFICIENT_FACTOR`); mumott's coefficient 0 is
  the spherical mean. mumott's volume is [X, Y, Z, C] (x, y, z sample axes), ours [z, y, x, C] (the
  reconstruction grid), so the spatial axes are swapped. mumott's line integral counts unit length per
  voxel: ``voxel_size_mm`` divides the coefficients into per-mm units.
* **Reconstructions.** mumott has no reconstruction file format of its own (its ``dict_to_h5`` saves any
  dict, e.g. the optimiser's result with ``x``); :func:`read_mumott_reconstruction` reads a ``.npy``
  array, a ``.npz`` (``coefficients`` as ``benchmarks/mumott_worker.py`` writes, or ``x``) or an HDF5 file
  holding ``coefficients``, ``x`` or ``result/x``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError, OutputError
from swaxs_plugins.data.projections import Projections
from swaxs_plugins.tomo import harmonics, projector

COEFFICIENT_FACTOR = float(np.sqrt(4 * np.pi))
"""Our coefficient divided by mumott's, the same for every coefficient (mumott's Y_c = √(4π) × ours)."""

P_DIRECTION = (0.0, 1.0, 0.0)
J_DIRECTION = (1.0, 0.0, 0.0)
K_DIRECTION = (0.0, 0.0, 1.0)
DETECTOR_ORIGIN = (1.0, 0.0, 0.0)
DETECTOR_POSITIVE_90 = (0.0, 0.0, 1.0)
INNER_AXIS = (0.0, 0.0, 1.0)
OUTER_AXIS = (1.0, 0.0, 0.0)
_BAND_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def export_mumott(sample: Projections, path_stem: Path, q_bands: Mapping[str, tuple[float, float]] | None = None,
                  *, offsets: np.ndarray | None = None) -> list[Path]:
    """Write ``<path_stem>_<band>.h5`` for every q band (module docstring); returns the paths, in band order.

    ``q_bands`` maps a name (letters, digits, ``_ . -``) to (q_min, q_max) [1/Å]; ``None`` means the
    reconstruct step's default regions (micropores 0.12–0.3, porod 0.01–0.04) that hold q bins.
    ``offsets`` [n, 2]: a displacement (dj, dk) px of the sample on each projection's raster still in
    the images, for mumott to undo (written as j_offset = −dj, k_offset = −dk); default none.
    """
    segments, chi = _checked_segments(sample)
    bands = _bands(sample, q_bands)
    offsets = _offsets(sample, offsets)
    path_stem = Path(path_stem)
    paths = []
    for name, members in bands.items():
        [path] = band_files(path_stem, [name])
        band = _Band(sample, segments, members)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_band(path, sample, name, band, chi, offsets)
        except OSError as error:
            raise OutputError(f"{path}: cannot write the mumott file of band '{name}': {error}") from error
        paths.append(path)
    return paths


def import_mumott_coefficients(array: np.ndarray, ell_max: int, *, voxel_size_mm: float | None = None) -> np.ndarray:
    """mumott's coefficient volume [X, Y, Z, C] → ours [z, y, x, C] (× √(4π); ÷ ``voxel_size_mm`` if given)."""
    array = _checked_coefficients(np.asarray(array), ell_max, "mumott coefficients [X, Y, Z, C]")
    ours = np.swapaxes(array, 0, 2) * COEFFICIENT_FACTOR
    return ours / voxel_size_mm if voxel_size_mm else ours


def export_coefficients_to_mumott(coefficients: np.ndarray, ell_max: int, *,
                                  voxel_size_mm: float | None = None) -> np.ndarray:
    """The inverse of :func:`import_mumott_coefficients`: ours [z, y, x, C] → mumott's [X, Y, Z, C]."""
    coefficients = _checked_coefficients(np.asarray(coefficients), ell_max, "coefficients [z, y, x, C]")
    theirs = np.ascontiguousarray(np.swapaxes(coefficients, 0, 2)) / COEFFICIENT_FACTOR
    return theirs * voxel_size_mm if voxel_size_mm else theirs


def read_mumott_reconstruction(path: Path, ell_max: int | None = None, *,
                               voxel_size_mm: float | None = None) -> np.ndarray:
    """A saved mumott coefficient array (module docstring) in our layout and basis [z, y, x, C].

    ``ell_max`` defaults to the one the file records (``ell_max`` beside the array) or the one the
    number of coefficients implies.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: no such mumott reconstruction file")
    recorded = None
    try:
        if path.suffix == ".npy":
            array = np.load(path)
        elif path.suffix == ".npz":
            with np.load(path) as archive:
                key = next((k for k in ("coefficients", "x") if k in archive), None)
                if key is None:
                    raise InputDataError(f"{path}: no 'coefficients' or 'x' array (holds {sorted(archive)})")
                array = archive[key]
                recorded = int(archive["ell_max"]) if "ell_max" in archive else None
        else:
            with h5py.File(path, "r") as handle:
                key = next((k for k in ("coefficients", "x", "result/x") if k in handle), None)
                if key is None:
                    raise InputDataError(f"{path}: no dataset 'coefficients', 'x' or 'result/x'")
                array = handle[key][()]
                if "ell_max" in handle:
                    recorded = int(np.ravel(handle["ell_max"][()])[0])
    except (OSError, ValueError) as error:
        raise InputDataError(f"{path}: not a readable mumott reconstruction (.npy, .npz or HDF5): {error}") from error
    if ell_max is None:
        ell_max = recorded if recorded is not None else _ell_max_of(array.shape[-1], path)
    try:
        return import_mumott_coefficients(array, ell_max, voxel_size_mm=voxel_size_mm)
    except InputDataError as error:
        raise InputDataError(f"{path}: {error}") from error


# --------------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------------

def _checked_segments(sample: Projections) -> tuple[np.ndarray, np.ndarray]:
    where = sample.source
    if sample.segments is None:
        raise InputDataError(f"{where}: no azimuthal segments (field 'segments'): mumott needs segmented "
                             "projections; read them with segments=True from a file that holds them")
    if sample.chi is None or np.size(sample.chi) != sample.segments.shape[3]:
        raise InputDataError(f"{where}: the segment centres (field 'segment_chi') are missing or do not match "
                             f"the {sample.segments.shape[3]} segments")
    if sample.segments.shape[:3] != sample.intensity.shape[:3] or sample.segments.shape[4] != sample.q.size:
        raise InputDataError(f"{where}: segments of shape {sample.segments.shape} do not match "
                             f"{sample.n} projections, raster {sample.raster_shape} and {sample.q.size} q bins")
    for field, angles in (("rotation_angle", sample.rotation), ("tilt_angle", sample.tilt)):
        if not np.all(np.isfinite(angles)):
            raise InputDataError(f"{where}: projections without angles: {field} is missing or not finite "
                                 f"for projection(s) {np.flatnonzero(~np.isfinite(angles)).tolist()}")
    chi = np.asarray(sample.chi, dtype=np.float64)
    if not np.all(np.isfinite(chi)):
        raise InputDataError(f"{where}: segment_chi is not finite")
    return sample.segments, chi


def _bands(sample: Projections, q_bands: Mapping[str, tuple[float, float]] | None) -> dict[str, np.ndarray]:
    """The q bins of every band; bands without bins are an error (skipped among the defaults)."""
    q = np.asarray(sample.q, dtype=np.float64)
    default = q_bands is None
    if default:
        from swaxs_plugins.steps.reconstruct.parameters import DEFAULT_REGIONS
        q_bands = DEFAULT_REGIONS
    if not q_bands:
        raise InputDataError(f"{sample.source}: no q bands given (field 'q_bands')")
    bands = {}
    for name, band in q_bands.items():
        if not isinstance(name, str) or not _BAND_NAME.match(name):
            raise InputDataError(f"q_bands: band name {name!r} cannot name a file (letters, digits, '_', '.', '-')")
        if len(band) != 2 or not band[0] <= band[1]:
            raise InputDataError(f"q_bands['{name}']: expected (q_min, q_max) with q_min <= q_max, got {band!r}")
        members = np.flatnonzero((q >= band[0]) & (q <= band[1]))
        if members.size:
            bands[name] = members
        elif not default:
            raise InputDataError(f"{sample.source}: q band '{name}' [{band[0]}, {band[1]}] 1/Å holds no q bin "
                                 f"(field 'q' spans {q.min():.4g}–{q.max():.4g} 1/Å)")
    if not bands:
        raise InputDataError(f"{sample.source}: none of the default q bands {dict(q_bands)} holds a q bin "
                             f"(field 'q' spans {q.min():.4g}–{q.max():.4g} 1/Å); give q_bands")
    return bands


def _offsets(sample: Projections, offsets: np.ndarray | None) -> np.ndarray:
    if offsets is None:
        return np.zeros((sample.n, 2))
    offsets = np.asarray(offsets, dtype=np.float64)
    if offsets.shape != (sample.n, 2) or not np.all(np.isfinite(offsets)):
        raise InputDataError(f"{sample.source}: offsets must be finite (dj, dk) per projection, shape "
                             f"{(sample.n, 2)}, got {offsets.shape}")
    return offsets


def _checked_coefficients(array: np.ndarray, ell_max: int, what: str) -> np.ndarray:
    try:
        expected = harmonics.n_coefficients(int(ell_max))
    except ValueError as error:
        raise InputDataError(f"ell_max: {error}") from error
    if array.ndim != 4 or array.shape[-1] != expected:
        raise InputDataError(f"{what}: shape {array.shape}, expected 4 axes with {expected} coefficients "
                             f"(ell_max {ell_max})")
    return array.astype(np.float64, copy=False)


def _ell_max_of(n: int, where: Path) -> int:
    for ell_max in range(0, 64, 2):
        if harmonics.n_coefficients(ell_max) == n:
            return ell_max
    raise InputDataError(f"{where}: {n} coefficients is no even-ℓ set (1, 6, 15, 28, 45, ...)")


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------

class _Band:
    """One q band, projection by projection (memory stays bounded at paper scale): the band mean
    [K, J, S] and its weights, 1/variance normalised to mean 1 over the weighted points of the file."""

    def __init__(self, sample: Projections, segments: np.ndarray, members: np.ndarray) -> None:
        self.segments, self.members, self.n_seg = segments, members, segments.shape[3]
        self.inverse = None
        if sample.errors is not None:
            sigma = np.asarray(sample.errors, dtype=np.float64)[..., members]
            variance = self.n_seg * np.sum(sigma**2, axis=-1) / members.size**2     # [n, K, J], one segment
            positive = np.isfinite(variance) & (variance > 0)
            floor = variance[positive].min() if positive.any() else 1.0
            self.inverse = np.where(np.isfinite(variance), 1.0 / np.maximum(variance, floor), 0.0)
        total, count = 0.0, 0
        for index in range(segments.shape[0]):
            weights = self._raw_weights(index, np.isfinite(self.data(index)))
            total, count = total + weights.sum(), count + np.count_nonzero(weights)
        self.scale = count / total if total > 0 else 1.0

    def data(self, index: int) -> np.ndarray:
        return self.segments[index][..., self.members].mean(axis=-1, dtype=np.float64)

    def weights(self, index: int, finite: np.ndarray) -> np.ndarray:
        return self._raw_weights(index, finite) * self.scale

    def _raw_weights(self, index: int, finite: np.ndarray) -> np.ndarray:
        ray = np.ones(finite.shape[:2]) if self.inverse is None else self.inverse[index]
        return np.where(finite, ray[..., None], 0.0)


def _write_band(path: Path, sample: Projections, name: str, band: _Band, chi: np.ndarray,
                offsets: np.ndarray) -> None:
    n_k, n_j = sample.raster_shape
    q_bins = np.asarray(sample.q, dtype=np.float64)[band.members]
    with h5py.File(path, "w") as handle:
        handle.attrs.update({
            "creator": "swaxs_plugins.io.mumott.export_mumott", "source": sample.source, "sample": sample.name,
            "band": name, "q_min": float(q_bins.min()), "q_max": float(q_bins.max()), "q_bins": q_bins,
            "transmission_corrected": bool(sample.transmission_corrected),
            "diode_is_transmission": sample.transmission is not None,
            "raster_step_um": float(sample.pixel_um) if sample.pixel_um else np.nan,
            "conventions": "docs/mumott.md"})
        handle["detector_angles"] = np.deg2rad(chi)
        handle["volume_shape"] = np.array([n_j, n_j, n_k], dtype=np.int64)
        for field, vector in (("p_direction_0", P_DIRECTION), ("j_direction_0", J_DIRECTION),
                              ("k_direction_0", K_DIRECTION), ("detector_direction_origin", DETECTOR_ORIGIN),
                              ("detector_direction_positive_90", DETECTOR_POSITIVE_90),
                              ("inner_axis", INNER_AXIS), ("outer_axis", OUTER_AXIS)):
            handle[field] = np.array(vector)
        handle["two_theta"] = np.zeros(1)
        group = handle.create_group("projections")
        for index in range(sample.n):
            _write_projection(group.create_group(str(index)), sample, index, band, offsets[index])


def _write_projection(group: h5py.Group, sample: Projections, index: int, band: _Band, offset: np.ndarray) -> None:
    """One projection: images [K, J, ...] in memory → mumott's (J, K, ...)."""
    data = band.data(index)
    finite = np.isfinite(data)
    group["data"] = np.swapaxes(np.where(finite, data, 0.0), 0, 1).astype(np.float32)
    group["weights"] = np.swapaxes(band.weights(index, finite), 0, 1).astype(np.float32)
    if sample.transmission is None:
        diode = np.ones(sample.raster_shape)
    else:
        transmission = np.asarray(sample.transmission[index], dtype=np.float64)
        diode = np.where(np.isfinite(transmission), transmission, 1.0)
    group["diode"] = np.swapaxes(diode, 0, 1).astype(np.float32)
    rotation, tilt = float(sample.rotation[index]), float(sample.tilt[index])
    group["inner_angle"] = np.deg2rad(rotation)
    group["outer_angle"] = np.deg2rad(tilt)
    group["rotation_matrix"] = projector.rotation_matrix(rotation, tilt)
    group["j_offset"] = -float(offset[0])
    group["k_offset"] = -float(offset[1])


def band_files(path_stem: Path, names: Sequence[str]) -> list[Path]:
    """The files :func:`export_mumott` writes for bands ``names``."""
    path_stem = Path(path_stem)
    return [path_stem.parent / f"{path_stem.name}_{name}.h5" for name in names]
