"""``reconstruct/tensor``: SAXS tensor tomography, real even spherical harmonics per voxel and q band.

For every sample and q band, the segments of all projections (untilted and tilted) averaged over the
band's q bins, d [n, K, J, S] (divided by the transmission), are fitted by coefficients a [V, C] of
the harmonics up to ``ell_max`` on the voxels of the reconstruction grid [z, y, x] = K × J × J within
J/2 of the rotation axis (:mod:`swaxs_plugins.tomo.tensor`: A a the segment intensities):

    min_a  ½ Σ w (A a − d)² + ½ λ D̄ ⟨a, −Δ a⟩        (:mod:`swaxs_plugins.tomo.tensor_solver`)

by preconditioned L-BFGS (with an ``alignment`` input, the projector displaces the sample by −s_p in
projection p, s the shifts the align step found, so the measured segments are fitted as they are:
interpolating them would make errors at sharp edges that Poisson weights know nothing of), with w = 1/σ² from Poisson statistics where the projections are counts
(σ² = max(d, 1) / T / n_bins for the band mean of counts divided by T; unit weights otherwise), non-finite
points excluded, and a₀ ≥ 0 with ``nonnegative_mean``. Divided by the raster step (mm), a is an
intensity per mm of path. Derived (:mod:`swaxs_plugins.tomo.tensor_derived`): the mean intensity
a₀/√(4π), the degree of anisotropy, the main orientation, and per voxel the fit quality

    χ²ᵣ(v) = Σ_p (P_pᵀ Σ_s w r²)_v / (S Σ_p (P_pᵀ 1)_v)

(the path-weighted mean reduced χ² of the rays through v; ≈ 1 where the model describes the data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext, StepOutputRef
from swaxs_plugins.data.projections import Projections, read_projections, sample_names
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.steps.reconstruct.inputs import intensity_units
from swaxs_plugins.steps.reconstruct.tensor_outputs import (
    TensorResult,
    plot_orientation,
    summary_lines,
    write_tensor_entry,
)
from swaxs_plugins.steps.reconstruct.tensor_parameters import TensorParameters
from swaxs_plugins.tomo.tensor_solver import SolverReport, TensorProblem, solve

if TYPE_CHECKING:  # the projector (numba) is imported where it is built: describing the step needs none
    from swaxs_plugins.tomo.tensor import TensorGeometry, TensorProjector


@dataclass(frozen=True)
class TensorSample:
    """One sample's segments per band [n, K, J, S], their weights, and its projector."""

    name: str
    source: str
    bands: dict[str, tuple[np.ndarray, np.ndarray]]
    projector: TensorProjector
    pixel_um: float | None
    poisson: bool


class TensorReconstruction(Step):
    """Spherical-harmonic tensor tomography of every sample and q band (module docstring)."""

    Parameters = TensorParameters
    inputs = {"projections": InputSpec("projections with azimuthal segments: a raw segmented-projections file per "
                                       "sample, or align with keep_segments: true", source="any"),
              "alignment": InputSpec("an align step whose shifts are applied in the projector (the projections "
                                     "then stay as measured, not interpolated)", step_kinds=("align",),
                                     required=False)}
    definition = "NXswaxs_tensor_volumes"
    produces = ("volumes",)
    setup_only = ("samples",)
    params: TensorParameters

    def setup(self, context: StepContext) -> None:
        """Read every sample's segments, average them per band, build the projectors."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        label = f"step '{context.step_id}', input 'projections'"
        source = context.inputs["projections"]
        try:
            samples = read_projections(source, segments=True)
            sample_names(samples)
        except InputDataError as error:
            raise InputDataError(f"{label}: {error}") from error
        poisson = intensity_units(source) == "counts"
        offsets = alignment_offsets(context.inputs.get("alignment"), samples, f"step '{context.step_id}'")
        self.projections = {s.name: s for s in samples}
        self.samples = [self._sample(s, label, poisson, offsets.get(s.name)) for s in samples]
        if not poisson:
            context.warn(f"{label}: the projections are not counts: every point weighted alike (no Poisson errors)")

    def _sample(self, sample: Projections, label: str, poisson: bool, offsets: np.ndarray | None) -> TensorSample:
        where = f"{label} ({sample.source})"
        if sample.segments is None or sample.chi is None:
            raise InputDataError(f"{where}: no azimuthal segments; tensor tomography fits them (align with "
                                 "keep_segments: true, or integrate with segments)")
        bands = {}
        for name, (low, high) in self.params.bands.items():
            inside = (sample.q >= low) & (sample.q <= high)
            if not inside.any():
                raise InputDataError(f"{where}: band '{name}' {[low, high]} holds none of the q bins "
                                     f"({sample.q.min():.4g}-{sample.q.max():.4g} 1/angstrom)")
            data = sample.segments[..., inside].mean(axis=-1)
            bands[name] = (data, band_weights(data, sample.transmission, int(inside.sum()), poisson))
        from swaxs_plugins.tomo.tensor import TensorProjector, geometry_of

        n_k, n_j = sample.raster_shape
        geometry = geometry_of(sample.rotation, sample.tilt, sample.chi, (n_k, n_j), self.params.ell_max, offsets)
        return TensorSample(name=sample.name, source=sample.source, bands=bands,
                            projector=TensorProjector(geometry, self.support(geometry, next(iter(bands.values()))[0])),
                            pixel_um=self.params.pixel_size or sample.pixel_um, poisson=poisson)

    def support(self, geometry: TensorGeometry, data: np.ndarray) -> np.ndarray | None:
        """The voxels fitted: the carved support, or (None) all within J/2 of the rotation axis."""
        from swaxs_plugins.tomo.tensor import carved_support

        return carved_support(geometry, data) if self.params.carve else None

    def solver(self) -> str:
        """The solver and its settings, as the output file and the run summary name them."""
        return (f"preconditioned L-BFGS (swaxs_plugins.tomo.tensor_solver), Laplacian term, regularisation "
                f"{self.params.regularisation:g}, angular term {self.params.angular_regularisation:g}, "
                f"{'carved support' if self.params.carve else 'cylinder'}")

    def regularisation(self) -> float:
        return float(self.params.regularisation)

    def blocks(self) -> Sequence[tuple[str, TensorSample]]:
        """(band, its sample with that band only): each fitted on its own, a worker getting only its band's
        data (``setup_only``; the band is a view, nothing is copied here)."""
        return [(band, replace(sample, bands={band: sample.bands[band]}))
                for sample in self.samples for band in sample.bands]

    def process(self, block: tuple[str, TensorSample]) -> TensorResult:
        """Fit one band of one sample; its derived volumes and fit quality."""
        band, sample = block
        data, weights = sample.bands[band]
        problem = TensorProblem(sample.projector, data, weights, self.params.regularisation,
                                self.params.angular_regularisation)
        coefficients, report = solve(problem, self.params.iterations, nonnegative_mean=self.params.nonnegative_mean)
        return self.result(sample, band, problem, coefficients, report)

    def result(self, sample: TensorSample, band: str, problem: TensorProblem, coefficients: np.ndarray,
               report: SolverReport) -> TensorResult:
        """The coefficients [V, C] of one band in the output layout, with the fit quality under our projector."""
        data = sample.bands[band][0]
        residual = problem.residual(coefficients)
        chi2 = np.sum(problem.weights * residual.astype(np.float64) ** 2, axis=-1)
        paths = sample.projector.back_project(np.ones(chi2.shape + (1,), np.float32))[:, 0]
        quality = sample.projector.back_project(chi2[..., None])[:, 0] / (data.shape[-1] * np.maximum(paths, 1e-12))
        scale = 1.0 / (sample.pixel_um * 1e-3) if sample.pixel_um else 1.0
        return TensorResult(sample=sample.name, band=band, q_range=self.params.bands[band],
                            coefficients=sample.projector.to_volume(coefficients * np.float32(scale)),
                            fit_quality=sample.projector.to_volume(quality.astype(np.float32), fill=np.nan),
                            reduced_chi2=float(np.sum(chi2) / max(problem.points, 1)), report=report)

    def finalize(self, results: list[TensorResult], writer: StepWriter) -> None:
        """Coefficients and derived volumes per sample and band, quality figures, a PNG per sample."""
        self.results = results
        for sample in self.samples:
            first = next(r for r in results if r.sample == sample.name)
            plot_orientation(self.workdir / f"{self.step_id}_{sample.name}.png", first, sample.pixel_um)
        write_tensor_entry(writer.entry, self, results)

    def units(self, sample: TensorSample) -> str:
        return "counts/mm" if sample.pixel_um and sample.poisson else ("1/mm" if sample.pixel_um else "1/voxel")

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """As every step, then the fit figures into the run summary and warnings for poor fits."""
        super().run(context, writer)
        lines, warnings = summary_lines(self.results, self.params, self.solver())
        context.summary.update(lines)
        for message in warnings:
            context.warn(message)

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Peak memory from the raw segments [n, J, K, S, q]: the segments read (float32), one band's data,
        weights and residual (×4), the raster coefficients of the adjoint, and L-BFGS's history (float64)."""
        frames = input_shapes.get("projections", {}).get("frames", ())
        if len(frames) != 5:
            return Estimate()
        n, n_j, n_k, n_seg, n_q = frames
        n_c = (self.params.ell_max + 1) * (self.params.ell_max + 2) // 2
        voxels = int(n_k * n_j * n_j * np.pi / 4)
        memory = 4 * (n * n_j * n_k * n_seg * n_q + 4 * n * n_j * n_k * n_seg + n * n_j * n_k * n_c)
        memory += 8 * voxels * n_c * (2 * 10 + 6)
        return Estimate(outputs={"tensor/coefficients": (n_k, n_j, n_j, n_c)}, memory_bytes=int(memory))


def alignment_offsets(alignment: StepOutputRef | None, samples: Sequence[Projections], label: str
                      ) -> dict[str, np.ndarray]:
    """Per sample, the projector offsets (dj, dk) [n, 2] = −(the align step's shifts beyond the sample's own):
    the aligned images are T(s) p, so the measured p is the model moved by −s."""
    if alignment is None:
        return {}
    try:
        aligned = {a.name: a for a in read_projections(alignment)}
    except InputDataError as error:
        raise InputDataError(f"{label}, input 'alignment': {error}") from error
    offsets = {}
    for sample in samples:
        found = aligned.get(sample.name)
        if found is None or found.n != sample.n or not np.allclose(found.rotation, sample.rotation):
            raise InputDataError(f"{label}, input 'alignment' ({alignment.path}): no alignment of sample "
                                 f"'{sample.name}' with its {sample.n} projections at the same angles; align the "
                                 "same projections")
        offsets[sample.name] = -(found.shifts - sample.shifts)
    return offsets


def band_weights(data: np.ndarray, transmission: np.ndarray | None, n_bins: int, poisson: bool) -> np.ndarray:
    """1/σ² of a band mean of counts divided by T, σ² = max(d, 1) / T / n_bins (at least one count's
    variance: aligned projections are interpolated, and near-empty points would otherwise weigh without
    bound), or ones; 0 where the data are not finite."""
    finite = np.isfinite(data)
    if not poisson:
        return finite.astype(np.float32)
    t = np.ones(data.shape[:3]) if transmission is None else np.clip(transmission, 1e-6, None)
    variance = np.maximum(np.where(finite, data, 0.0), 1.0) / t[..., None] / n_bins
    return np.where(finite, 1.0 / variance, 0.0).astype(np.float32)
