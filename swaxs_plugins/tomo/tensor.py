"""The tensor-tomography projector: spherical-harmonic coefficient volumes to segment intensities, and
its exact adjoint (numba, float32, parallel over projections forward and over voxels backward).

Model (Liebi et al. 2018; geometry of :mod:`.projector`, segments of :mod:`.segments`): voxel v of the
grid [z, y, x] (K × J × J by default, the reconstruction grid of the raster: x, y about the rotation
axis, z up, unit spacing) has coefficients a_v[c]; projection p records at raster point (k, j) and
segment s

    d[p, k, j, s] = Σ_c (P_p a[·, c])[k, j] · M_p[s, c],      i.e.  A = (M_p ⊗ P_p) over projections,

P_p the voxel-driven line integral and M_p [S, C] the harmonics averaged over each segment. A voxel
(unit cube, unit path length) centred at j = r·ĵ_p + (J − 1)/2 + δj_p, k = r·k̂_p + (K − 1)/2 + δk_p
(δ_p the sample's displacement on the raster in projection p) casts a shadow
of widths b_j = |ĵ_x| + |ĵ_y| + |ĵ_z| and b_k likewise (the separable bound of the cube's outline); raster
point m receives the shadow's mean of the bilinear weight max(0, 1 − |m − t|), in j times in k (at most
4 × 4 points). This is the limit of the simulator's projector (:mod:`.projector`, s³ points per voxel
spread bilinearly) for many points, up to the separable outline: on a smooth blob it agrees with it at
4³ points to 0.7 % untilted and 1.0–1.7 % at 15–45° tilt, where one point per voxel spread bilinearly
(4 × fewer weights) was off by 2.9 % untilted, 1.3–1.8 % tilted — a tilt-dependent model error that
the fit turns into orientation errors. The adjoint is

    (Aᵀ e)_v[c] = Σ_p Σ_s M_p[s, c] (P_pᵀ e[p, ·, ·, s])_v,

applied in the opposite order (segments to coefficients on the raster, then gathered with the same
weights), which makes ⟨A a, e⟩ = ⟨a, Aᵀ e⟩ exact up to float32 rounding. Only the voxels in
``support`` are stored and projected (by default the cylinder the raster sees at every rotation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np
from scipy import ndimage

from swaxs_plugins.tomo import harmonics, projector
from swaxs_plugins.tomo.segments import segment_mean_harmonics


@dataclass(frozen=True)
class TensorGeometry:
    """Angles of every projection [deg], segment centres and width [deg], raster (K, J), ℓmax, and the
    sample's displacement on the raster per projection, ``offsets`` [n, 2] = (dj, dk) px (content moves to
    larger j, k; −(the shifts an alignment found), so that unshifted data need no interpolation)."""

    rotation_deg: np.ndarray
    tilt_deg: np.ndarray
    chi_deg: np.ndarray
    segment_width_deg: float
    raster: tuple[int, int]
    ell_max: int
    volume_shape: tuple[int, int, int] | None = None
    offsets: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """The volume grid [z, y, x]: ``volume_shape`` or K × J × J."""
        n_k, n_j = self.raster
        return self.volume_shape or (n_k, n_j, n_j)

    @property
    def n_coefficients(self) -> int:
        return harmonics.n_coefficients(self.ell_max)


def cylinder_support(shape: tuple[int, int, int], n_j: int) -> np.ndarray:
    """Voxels [z, y, x] within the circle of radius J/2 about the rotation axis: every voxel a rotation
    can bring onto the raster."""
    n_z, n_y, n_x = shape
    y, x = np.meshgrid(np.arange(n_y) - (n_y - 1) / 2, np.arange(n_x) - (n_x - 1) / 2, indexing="ij")
    return np.broadcast_to(np.hypot(y, x) <= n_j / 2, shape).copy()


def carved_support(geometry: TensorGeometry, data: np.ndarray, level: float = 0.02,
                   empty_share: float = 0.2) -> np.ndarray:
    """Space carving: the cylinder's voxels that fewer than ``empty_share`` of the projections see through
    empty rays (segment mean below ``level`` × its largest value), dilated by one voxel, so that what
    is certainly outside the sample is no unknown (fewer unknowns, better conditioned, faster)."""
    cylinder = TensorProjector(geometry)
    mean = np.nanmean(data, axis=-1)
    empty = (np.nan_to_num(mean) < level * float(np.nanmax(mean))).astype(np.float32)
    share = cylinder.back_project(empty[..., None])[:, 0] / len(mean)
    inside = cylinder.to_volume(share < empty_share)
    return ndimage.binary_dilation(inside) & cylinder.support


class TensorProjector:
    """A and Aᵀ of the module docstring for one geometry, on the voxels of ``support`` [z, y, x]."""

    def __init__(self, geometry: TensorGeometry, support: np.ndarray | None = None) -> None:
        self.geometry = geometry
        shape = geometry.shape
        self.support = cylinder_support(shape, geometry.raster[1]) if support is None else np.asarray(support, bool)
        if self.support.shape != shape:
            raise ValueError(f"support shape {self.support.shape} is not the volume shape {shape}")
        z, y, x = np.nonzero(self.support)
        centre = [(n - 1) / 2 for n in shape]
        self.positions = np.stack([x - centre[2], y - centre[1], z - centre[0]], axis=1).astype(np.float32)
        frames = [projector.detector_frame(w, t) for w, t in zip(geometry.rotation_deg, geometry.tilt_deg)]
        self.j_hat = np.array([f[0] for f in frames], dtype=np.float32)
        self.k_hat = np.array([f[1] for f in frames], dtype=np.float32)
        offsets = np.zeros((len(frames), 2)) if geometry.offsets is None else np.asarray(geometry.offsets, np.float64)
        if offsets.shape != (len(frames), 2):
            raise ValueError(f"offsets of shape {offsets.shape}, expected ({len(frames)}, 2)")
        self.offsets = offsets
        self.segment_harmonics = np.stack([
            segment_mean_harmonics(w, t, geometry.chi_deg, geometry.segment_width_deg, geometry.ell_max)
            for w, t in zip(geometry.rotation_deg, geometry.tilt_deg)]).astype(np.float32)   # [n, S, C]

    @property
    def n_voxels(self) -> int:
        return len(self.positions)

    @property
    def projection_shape(self) -> tuple[int, int, int, int]:
        n_k, n_j = self.geometry.raster
        return len(self.j_hat), n_k, n_j, len(self.geometry.chi_deg)

    def to_volume(self, values: np.ndarray, fill: float = 0.0) -> np.ndarray:
        """Per-voxel values [V, ...] on the grid [z, y, x, ...] (``fill`` outside the support)."""
        out = np.full(self.geometry.shape + values.shape[1:], fill, dtype=values.dtype)
        out[self.support] = values
        return out

    def from_volume(self, volume: np.ndarray) -> np.ndarray:
        """The support's voxels [V, ...] of a grid [z, y, x, ...]."""
        return np.ascontiguousarray(volume[self.support])

    def line_integrals(self, coefficients: np.ndarray) -> np.ndarray:
        """P a: [n, K, J, C] of voxel coefficients [V, C] (float32)."""
        n, n_k, n_j, _ = self.projection_shape
        out = np.zeros((n, n_k, n_j, coefficients.shape[1]), dtype=np.float32)
        _splat(np.ascontiguousarray(coefficients, dtype=np.float32), self.positions, self.j_hat, self.k_hat,
               self.offsets, out)
        return out

    def forward(self, coefficients: np.ndarray) -> np.ndarray:
        """A a: segment intensities [n, K, J, S] of voxel coefficients [V, C]."""
        out = np.empty(self.projection_shape, dtype=np.float32)
        _contract(self.line_integrals(coefficients), self.segment_harmonics, out)
        return out

    def adjoint(self, residual: np.ndarray) -> np.ndarray:
        """Aᵀ e: voxel coefficients [V, C] of segment intensities [n, K, J, S]."""
        on_raster = np.empty(self.projection_shape[:3] + (self.geometry.n_coefficients,), dtype=np.float32)
        _contract(np.ascontiguousarray(residual, dtype=np.float32), self.segment_harmonics.transpose(0, 2, 1).copy(),
                  on_raster)
        return self.back_project(on_raster)

    def back_project(self, on_raster: np.ndarray) -> np.ndarray:
        """Pᵀ channel by channel: [V, C] of raster values [n, K, J, C]."""
        out = np.zeros((self.n_voxels, on_raster.shape[-1]), dtype=np.float32)
        _gather(np.ascontiguousarray(on_raster, dtype=np.float32), self.positions, self.j_hat, self.k_hat,
                self.offsets, out, gather_chunks(self.n_voxels * on_raster.shape[-1]))
        return out


TAPS = 4
GATHER_BUFFER_BYTES = 512 * 2**20
"""At most this much for the back projection's per-chunk accumulators (one [V, C] float32 per chunk)."""


def gather_chunks(values_per_chunk: int) -> int:
    """Chunks of projections for :func:`_gather`: one per numba thread, fewer where their accumulators would
    take more than :data:`GATHER_BUFFER_BYTES`."""
    return max(1, min(numba.get_num_threads(), GATHER_BUFFER_BYTES // max(4 * values_per_chunk, 1)))


@numba.njit(inline="always")
def _tent_integral(x):  # pragma: no cover - compiled
    """∫_{−∞}^{x} max(0, 1 − |t|) dt."""
    if x <= -1.0:
        return 0.0
    if x <= 0.0:
        return 0.5 * (x + 1.0) ** 2
    if x <= 1.0:
        return 1.0 - 0.5 * (1.0 - x) ** 2
    return 1.0


@numba.njit(inline="always")
def _footprint(centre, width, size, first, weights):  # pragma: no cover - compiled
    """Weights of raster points m for a voxel whose shadow is [centre − width/2, centre + width/2]: the
    shadow's mean of the bilinear (tent) weight max(0, 1 − |m − t|), over the (at most) four points m from
    ``first[0]`` on (zero outside the raster)."""
    low, high = centre - 0.5 * width, centre + 0.5 * width
    start = int(np.floor(low))
    for a in range(TAPS):
        m = start + a
        value = (_tent_integral(high - m) - _tent_integral(low - m)) / width
        weights[a] = np.float32(value) if 0 <= m < size and value > 1e-7 else np.float32(0.0)
    first[0] = start


@numba.njit(inline="always")
def _voxel_weights(position, p, j_hat, k_hat, offsets, n_j, n_k, fj, wj, fk, wk):  # pragma: no cover - compiled
    """The raster points (from ``fj[0]``, ``fk[0]``) and weights ``wj`` × ``wk`` of a voxel in projection p."""
    x, y, z = position[0], position[1], position[2]
    width_j = abs(j_hat[p, 0]) + abs(j_hat[p, 1]) + abs(j_hat[p, 2])
    width_k = abs(k_hat[p, 0]) + abs(k_hat[p, 1]) + abs(k_hat[p, 2])
    j_centre = x * j_hat[p, 0] + y * j_hat[p, 1] + z * j_hat[p, 2] + (n_j - 1) / 2.0 + offsets[p, 0]
    k_centre = x * k_hat[p, 0] + y * k_hat[p, 1] + z * k_hat[p, 2] + (n_k - 1) / 2.0 + offsets[p, 1]
    _footprint(j_centre, width_j, n_j, fj, wj)
    _footprint(k_centre, width_k, n_k, fk, wk)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _contract(values, matrices, out):  # pragma: no cover - compiled
    """out[p, k, j, s] = Σ_c values[p, k, j, c] matrices[p, s, c]: the segment harmonics of each projection, on
    the projector's numba threads rather than BLAS's (whose threads, spinning after a call, would take the cores
    from the projector's)."""
    n, n_k, n_j, n_s = out.shape
    n_c = values.shape[3]
    for p in numba.prange(n):
        for k in range(n_k):
            for j in range(n_j):
                source = values[p, k, j]
                for s in range(n_s):
                    total = np.float32(0.0)
                    for c in range(n_c):
                        total += matrices[p, s, c] * source[c]
                    out[p, k, j, s] = total


@numba.njit(parallel=True, fastmath=True, cache=True)
def _splat(coefficients, positions, j_hat, k_hat, offsets, out):  # pragma: no cover - compiled
    n, n_k, n_j, n_c = out.shape
    for p in numba.prange(n):
        wj, wk = np.zeros(TAPS, np.float32), np.zeros(TAPS, np.float32)
        fj, fk = np.zeros(1, np.int64), np.zeros(1, np.int64)
        for v in range(positions.shape[0]):
            _voxel_weights(positions[v], p, j_hat, k_hat, offsets, n_j, n_k, fj, wj, fk, wk)
            source = coefficients[v]
            for a in range(TAPS):
                for b in range(TAPS):
                    w = wk[a] * wj[b]
                    if w == 0:
                        continue
                    target = out[p, fk[0] + a, fj[0] + b]
                    for c in range(n_c):
                        target[c] += w * source[c]


@numba.njit(parallel=True, fastmath=True, cache=True)
def _gather(on_raster, positions, j_hat, k_hat, offsets, out, n_chunks):  # pragma: no cover - compiled
    """Pᵀ by projection-major sweeps: chunk t of the projections accumulates into its own [V, C] (each
    projection's raster stays in cache while every voxel reads it), then the chunks are summed."""
    n, n_k, n_j, n_c = on_raster.shape
    n_voxels = positions.shape[0]
    partial = np.zeros((n_chunks, n_voxels, n_c), dtype=np.float32)
    for t in numba.prange(n_chunks):
        wj, wk = np.zeros(TAPS, np.float32), np.zeros(TAPS, np.float32)
        fj, fk = np.zeros(1, np.int64), np.zeros(1, np.int64)
        for p in range(t * n // n_chunks, (t + 1) * n // n_chunks):
            for v in range(n_voxels):
                _voxel_weights(positions[v], p, j_hat, k_hat, offsets, n_j, n_k, fj, wj, fk, wk)
                total = partial[t, v]
                for a in range(TAPS):
                    for b in range(TAPS):
                        w = wk[a] * wj[b]
                        if w == 0:
                            continue
                        source = on_raster[p, fk[0] + a, fj[0] + b]
                        for c in range(n_c):
                            total[c] += w * source[c]
    for v in numba.prange(n_voxels):
        for c in range(n_c):
            value = np.float32(0.0)
            for t in range(n_chunks):
                value += partial[t, v, c]
            out[v, c] = value


def geometry_of(rotation_deg: Sequence[float], tilt_deg: Sequence[float], chi_deg: Sequence[float],
                raster: tuple[int, int], ell_max: int, offsets: np.ndarray | None = None) -> TensorGeometry:
    """A geometry from angles [deg], segment centres (equal widths spanning 180°), the raster (K, J) and
    the per-projection offsets (dj, dk) px."""
    chi = np.asarray(chi_deg, dtype=np.float64)
    return TensorGeometry(np.asarray(rotation_deg, np.float64), np.asarray(tilt_deg, np.float64), chi,
                          180.0 / len(chi), tuple(raster), ell_max, offsets=offsets)
