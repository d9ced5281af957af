"""The scalar ``reconstruct`` step: the isotropic intensity per voxel and q bin from the untilted projections.

Implementations differ only in their engine (:mod:`.engines`): ``scalar`` (default, the project's
slice projector), ``skimage`` (scikit-image), and astra / tomopy where importable. For every sample
of the input and every q bin b (the input's bins or rebinned, :mod:`.qbins`), the slices z = k of
the volume are reconstructed from the untilted projections p_b [n, K, J] (the azimuthal mean, divided
by the transmission), with unit pixel spacing, and divided by the raster step in mm:

    I(z, y, x, q_b) = f_b(z, y, x) / Δ_mm        (intensity per mm of path)

Voxels farther than J/2 from the rotation axis (the slices' corners) are outside the field of view —
some projections never see them — and set to 0 (as scikit-image's ``circle=True`` does).

FBP propagates the projections' errors (``engines``); SIRT gives none. The quality figure of every
q bin is the relative residual of re-projecting the volume with the simulator's projector A,

    ρ_b = ‖A f_b − p_b‖ / ‖p_b‖,   and over the bins b of a region
    ρ_region = √(Σ_b ‖A f_b − p_b‖² / Σ_b ‖p_b‖²).

The tilted projections are not used (the scalar model has no orientation); for an anisotropic sample
the segment mean is not the projection of the ℓ = 0 part, so the volume is biased against the
spherical mean (docs/steps/reconstruct.md measures it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext
from swaxs_plugins.data.volumes import Volume
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.steps.reconstruct.engines import (
    Engine,
    SlicesEngine,
    largest_gap_deg,
)
from swaxs_plugins.steps.reconstruct.figures import plot_sample
from swaxs_plugins.steps.reconstruct.inputs import Sinograms, read_samples
from swaxs_plugins.steps.reconstruct.outputs import Quality, summary_lines, write_entry
from swaxs_plugins.steps.reconstruct.parameters import ReconstructParameters


@dataclass(frozen=True)
class BinResult:
    """One q bin of one sample: slices [K, J, J] (per mm), their variance, and the re-projection figures."""

    volume: np.ndarray
    variance: np.ndarray | None
    residual_sq: float
    data_sq: float
    central_sinogram: np.ndarray


class ScalarReconstruction(Step):
    """Per-q-bin scalar tomography of every sample (module docstring)."""

    Parameters = ReconstructParameters
    inputs = {"projections": InputSpec("projections: a raw segmented-projections file per sample, or a step that "
                                       "wrote projections (align) or curves with angles", source="any")}
    definition = "NXswaxs_volumes"
    produces = ("volumes",)
    setup_only = ("samples",)
    engine_class: ClassVar[type[Engine]] = SlicesEngine
    params: ReconstructParameters

    def setup(self, context: StepContext) -> None:
        """Read and check every sample, choose the regions, build each sample's engine."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        label = f"step '{context.step_id}'"
        self.samples = read_samples(context.inputs["projections"], self.params, label)
        self.regions = [self._regions(s, label, context) for s in self.samples]
        errors = self.params.method == "fbp" and self.params.errors
        self.engines = [self.engine_class(s.width, s.angles, errors=errors) for s in self.samples]
        for sample in self.samples:
            for message in sample_warnings(sample, self.params):
                context.warn(message)

    def _regions(self, sample: Sinograms, label: str, context: StepContext) -> dict[str, tuple[float, float]]:
        """The named q-regions holding at least one of the sample's q bins."""
        kept = {}
        for name, (low, high) in self.params.regions.items():
            if np.any((sample.q >= low) & (sample.q <= high)):
                kept[name] = (low, high)
                continue
            message = (f"parameter 'regions.{name}': q-range {[low, high]} holds none of the reconstructed q bins "
                       f"({sample.q.min():.4g}-{sample.q.max():.4g} 1/angstrom) of {sample.source}")
            if self.params.regions_given:
                raise InputDataError(f"{label}, {message}")
            context.warn(f"{message}; default region left out")
        return kept

    def block_keys(self) -> list[tuple[int, int]]:
        """(sample, q bin) of every block, in block order."""
        return [(s, b) for s, sample in enumerate(self.samples) for b in range(sample.q.size)]

    def blocks(self) -> Sequence[tuple[int, Sinograms]]:
        """(sample index, the sample in that one q bin): each reconstructed on its own, a worker getting only
        its bin's projections (``setup_only``; the bin is a view, nothing is copied here)."""
        return [(s, self.samples[s].in_bin(b)) for s, b in self.block_keys()]

    def process(self, block: tuple[int, Sinograms]) -> BinResult:
        """Reconstruct one q bin of one sample and re-project it."""
        sample_index, sample = block
        engine = self.engines[sample_index]
        sinograms, variances = sample.q_bin(0)
        if self.params.method == "fbp":
            volume = engine.fbp(sinograms)
            variance = None if variances is None else engine.fbp_variance(variances)
        else:
            volume, variance = engine.iterative(sinograms, self.params.iterations, self.params.nonnegative), None
        volume = volume * field_of_view(sample.width)
        residual = engine.reproject(volume) - sinograms
        scale = 1.0 / (sample.pixel_um * 1e-3) if sample.pixel_um else 1.0
        centre = sinograms.shape[1] // 2
        return BinResult(volume=(volume * scale).astype(np.float32),
                         variance=None if variance is None else (variance * scale**2).astype(np.float32),
                         residual_sq=float(np.sum(residual**2)), data_sq=float(np.sum(sinograms**2)),
                         central_sinogram=np.stack([sinograms[:, centre], residual[:, centre]]).astype(np.float32))

    def finalize(self, results: list[BinResult], writer: StepWriter) -> None:
        """Volumes [z, y, x, q] per sample with their regions, quality figures, PNGs."""
        by_sample: list[list[BinResult]] = [[] for _ in self.samples]
        for (sample_index, _), result in zip(self.block_keys(), results):
            by_sample[sample_index].append(result)
        self.volumes, self.quality = [], []
        for sample, regions, bins in zip(self.samples, self.regions, by_sample):
            volume = self._volume(sample, regions, bins)
            quality = Quality.of(sample, regions, bins)
            self.volumes.append(volume)
            self.quality.append(quality)
            plot_sample(self.workdir / f"{self.step_id}_{sample.name}.png", volume, quality, self.params.method)
        write_entry(writer.entry, self, self.volumes, self.quality)

    def _volume(self, sample: Sinograms, regions: Mapping[str, tuple[float, float]],
                bins: Sequence[BinResult]) -> Volume:
        intensity = np.stack([b.volume for b in bins], axis=-1)
        errors = None
        if all(b.variance is not None for b in bins):
            errors = np.sqrt(np.stack([b.variance for b in bins], axis=-1))
        return Volume(name=sample.name, intensity=intensity, q=sample.q, voxel_um=sample.pixel_um,
                      source=sample.source, errors=errors, regions=dict(regions))

    def volume_units(self, sample: Sinograms) -> str:
        """Intensity per mm of path (per voxel length when the raster step is unknown)."""
        return f"{sample.units}/mm" if sample.pixel_um else f"{sample.units}/voxel"

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """As every step, then the quality figures into the run summary."""
        super().run(context, writer)
        context.summary.update(summary_lines(self.quality, self.params))

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """The volumes' shape and the peak memory from the input's shapes (docs/steps/reconstruct.md):
        one sample's projections as read (intensity and errors, float32), every sample's sinograms in the
        reconstructed q bins, volumes (assembled and written: three copies), projectors, and the arrays of
        two q bins in flight."""
        shape = projection_shape(input_shapes.get("projections", {}))
        if shape is None:
            return Estimate()
        n_samples, n, k, j, n_q = shape
        n_bins = self.params.q_bins or n_q
        with_errors = 2 if self.params.method == "fbp" and self.params.errors else 1
        read = n * k * j * (n_q * 2 + 1) * 4
        sinograms = n_samples * n * k * j * n_bins * 4 * 2
        volumes = n_samples * k * j * j * n_bins * 4 * with_errors * 3
        nonzeros = j * j * n * (8 + 2 + (36 if with_errors == 2 else 0))
        working = 2 * 8 * (4 * n * k * j + 3 * k * j * j)
        return Estimate(outputs={"volumes/intensity/I": (n_bins, k, j, j), "samples": (n_samples,)},
                        memory_bytes=int(read + sinograms + volumes + n_samples * nonzeros * 12 + working))


def field_of_view(width: int) -> np.ndarray:
    """[J, J]: 1 within J/2 of the rotation axis (seen by every projection), 0 in the corners beyond."""
    centre = (width - 1) / 2
    y, x = np.meshgrid(np.arange(width) - centre, np.arange(width) - centre, indexing="ij")
    return (np.hypot(y, x) <= width / 2).astype(np.float64)


def projection_shape(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int, int, int] | None:
    """(samples, projections, K, J, q) from a raw segmented-projections source's ``frames`` [n, J, K, s, q]
    (one sample per file) or a step's ``projections/intensity/I`` [n, q, K, J]; None when unknown."""
    if len(shapes.get("frames", ())) == 5:
        n, j, k, _, n_q = shapes["frames"]
        files = shapes.get("files", (1,))[0]
        return files, n // max(files, 1), k, j, n_q
    written = shapes.get("projections/intensity/I", ())
    if len(written) == 4:
        n, n_q, k, j = written
        return shapes.get("samples", (1,))[0], n, k, j, n_q
    return None


def sample_warnings(sample: Sinograms, params: ReconstructParameters) -> list[str]:
    """What makes a sample's volume less trustworthy: sampling, coverage, missing corrections."""
    n, width = sample.angles.size, sample.width
    messages = []
    if n < np.pi / 2 * width:
        messages.append(f"{sample.name}: {n} untilted projections for a raster {width} px wide, fewer than "
                        f"pi/2 x {width} = {np.pi / 2 * width:.0f}: the volume is undersampled in angle "
                        "(streaks, most with method fbp)")
    gap = largest_gap_deg(sample.angles)
    if gap > max(4 * 180.0 / n, 10.0):
        messages.append(f"{sample.name}: the untilted angles leave a gap of {gap:.1f} deg of 180: a limited-angle "
                        "reconstruction, elongated along the missing directions")
    if not sample.transmission_corrected:
        messages.append(f"{sample.name}: projections not divided by the transmission: absorption biases the volume")
    if not sample.pixel_um:
        messages.append(f"{sample.name}: no raster step in the input and no parameter 'pixel_size': voxel axes in "
                        "voxels, intensity per voxel length")
    if params.method == "fbp" and params.errors and sample.errors is None:
        messages.append(f"{sample.name}: the projections carry no errors: the volume has none")
    return messages
