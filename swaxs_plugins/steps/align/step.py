"""The ``align`` step, implementation ``consistency`` (default): projection alignment by tomographic consistency.

For every sample, alignment images p_i [K, J] (the mean intensity in ``q_range``, or −ln T) are
brought into agreement with one volume (:mod:`.consistency`):

    s* = argmin_s Σ_i ‖T(s_i) p_i − A_i f(s)‖²,   f(s) = R({T(s_i) p_i : t_i = 0})

T(s) the sub-pixel translation by s = (dj, dk), R the reconstruction (FBP or SIRT) from the untilted
projections, A_i the projector at projection i's own rotation and tilt. It is solved by fixed-point
iteration: s_i ← s_i + clip(m_i − s_i, ±max_step), m_i the shift registering p_i to A_i f by sub-pixel
cross-correlation (:mod:`.registration`), coarse to fine over ``binning``, less the rigid translation
of the whole sample that no projection can reveal, until rms |Δs| < tolerance.

The aligned projections (intensity, errors, transmission, segments) are the input ones translated
by s* (cubic spline); ``projections/<sample>/shifts`` records all shifts applied so far (earlier
ones + s*). Quality per projection: the residual ‖T(s_i) p_i − A_i f‖ / ‖A_i f‖, the registration
error and the step still asked for; a loop that did not converge, or a residual above
``outlier_factor`` × the median, is a warning saying what to try.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext
from swaxs_plugins.data.projections import Projections, read_projections, sample_names
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.steps.align.images import alignment_images, check_sample, non_finite_points, shift_images
from swaxs_plugins.steps.align.outputs import AlignedSample, plot_sinograms, write_alignment_entry
from swaxs_plugins.steps.align.parameters import AlignParameters


class ConsistencyAlign(Step):
    """Sub-pixel shifts of every projection from re-projections of a reconstruction, and the aligned projections."""

    Parameters = AlignParameters
    inputs = {
        "projections": InputSpec("projections: a raw segmented-projections file, a curves layout with the scans' "
                                 "angles (integrate, transmission, background), or a projections layout", source="any"),
    }
    definition = "NXswaxs_alignment"
    produces = ("projections",)
    setup_only = ("samples",)
    params: AlignParameters

    def setup(self, context: StepContext) -> None:
        """Read and check every sample; the raster step from ``pixel_size`` where given."""
        self.step_id, self.workdir = context.step_id, Path(context.workdir)
        samples = read_projections(context.inputs["projections"], segments=self.params.keep_segments)
        sample_names(samples)
        self.samples = [self._with_pixel_size(sample, context) for sample in samples]
        for sample in self.samples:
            check_sample(sample, self.params.image, self.params.q_range)
            bad = non_finite_points(sample, self.params.image, self.params.q_range)
            if bad:
                context.warn(f"{sample.name}: {bad} raster points without a finite alignment value (NaN or infinite "
                             f"{self.params.image}) are taken as 0: check {sample.source}")

    def _with_pixel_size(self, sample: Projections, context: StepContext) -> Projections:
        given = self.params.pixel_size
        if given is None:
            return sample
        if sample.pixel_um and abs(sample.pixel_um - given) > 1e-6 * given:
            context.warn(f"{sample.name}: parameter pixel_size {given:g} um replaces the input's raster step "
                         f"{sample.pixel_um:g} um")
        return replace(sample, pixel_um=given)

    def blocks(self) -> Sequence[Projections]:
        """One block per sample: the sample itself, so that a worker gets only its own (``setup_only``)."""
        return list(self.samples)

    def process(self, sample: Projections) -> AlignedSample:
        """Align one sample and translate all its images by the shifts found."""
        from swaxs_plugins.steps.align.consistency import align_images  # scikit-image: imported where it runs

        images = alignment_images(sample, self.params.image, self.params.q_range)
        result = align_images(images, sample.rotation, sample.tilt, self.params)
        shifts = result.shifts
        segments = shift_images(sample.segments, shifts) if sample.segments is not None else None
        aligned = sample.with_images(
            intensity=shift_images(sample.intensity, shifts),
            errors=None if sample.errors is None else shift_images(sample.errors, shifts),
            transmission=None if sample.transmission is None else shift_images(sample.transmission, shifts),
            shifts=sample.shifts + shifts, segments=segments)
        median = np.median(result.residual)
        outliers = np.flatnonzero(result.residual > self.params.outlier_factor * median)
        return AlignedSample(source=sample, images=images, aligned_images=shift_images(images, shifts),
                             aligned=aligned, alignment=result, outliers=outliers)

    def finalize(self, results: list[AlignedSample], writer: StepWriter) -> None:
        self.results = results
        write_alignment_entry(writer.entry, results, self.image_label())
        for sample in results:
            plot_sinograms(self.workdir / f"{self.step_id}_sinogram_{sample.aligned.name}.png", sample,
                           self.image_label())

    def image_label(self) -> str:
        if self.params.image == "absorbance":
            return "absorbance -ln T"
        return f"mean intensity, q {self.params.q_range[0]:g}-{self.params.q_range[1]:g} 1/angstrom"

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """As every step, then each sample's convergence and residuals into the run summary and warnings."""
        super().run(context, writer)
        for sample in self.results:
            self._report(sample, context)

    def _report(self, sample: AlignedSample, context: StepContext) -> None:
        result, name, p = sample.alignment, sample.aligned.name, self.params
        per_level = ", ".join(f"binning {b}: {int(np.sum(result.history_binning == b))}"
                              for b in dict.fromkeys(p.binning))
        state = "converged" if result.converged else "NOT converged"
        worst = int(np.argmax(result.residual))
        context.summary[f"{name}: iterations"] = (f"{result.iterations} ({per_level}), {state}: last rms change "
                                                  f"{result.rms_change[-1]:.3g} px, tolerance {p.tolerance:g} px")
        context.summary[f"{name}: residual"] = (
            f"median {np.median(result.residual):.3g}, max {result.residual[worst]:.3g} (projection {worst}) of "
            "|aligned - re-projection| / |re-projection|; largest step still asked "
            f"{result.remaining_step.max():.3g} px (registration grid {1 / p.upsample_factor:.3g} px)")
        if not result.converged:
            context.warn(f"{name}: not converged after {p.max_iterations} iterations at full resolution (rms change "
                         f"{result.rms_change[-1]:.3g} px > tolerance {p.tolerance:g} px): try a larger "
                         "max_iterations, reconstruction: sirt, the other image (intensity/absorbance), or a coarser "
                         "first binning")
        if sample.outliers.size:
            listed = ", ".join(f"{i} ({result.residual[i]:.3g})" for i in sample.outliers[:10])
            context.warn(f"{name}: {sample.outliers.size} projections with a residual above {p.outlier_factor:g} x the "
                         f"median {np.median(result.residual):.3g}: {listed}; look at them (a scan that failed, a "
                         "sample that moved during a scan) and leave them out if they are bad")

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Output shapes and peak memory from the input's projections (raw [n, J, K, s, q] or a step's layout)."""
        shape = projection_shape(input_shapes.get("projections", {}))
        if shape is None:
            return Estimate()
        n, n_k, n_j, n_seg, n_q = shape
        per_image = n * n_k * n_j
        stored = per_image * n_q * 4 * (3 + (2 * n_seg if self.params.keep_segments and n_seg else 0))
        loop = per_image * 8 * 6 + n_k * n_j * n_j * 8 * 3
        matrix = n_j * n_j * 8 * n * 12  # slice projector: 2² points × 2 neighbours per pixel and angle
        outputs = {"projections/intensity/I": (n, n_q, n_k, n_j), "alignment/shifts": (n, 2)}
        return Estimate(outputs=outputs, memory_bytes=int(2 * stored + loop + matrix))


def projection_shape(shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int, int, int, int] | None:
    """(n, K, J, segments, q) from what ``swaxs check`` knows of the input, when it knows enough."""
    if len(shapes.get("frames", ())) == 5:
        n, n_j, n_k, n_seg, n_q = shapes["frames"]
        return n, n_k, n_j, n_seg, n_q
    if len(shapes.get("projections/intensity/I", ())) == 4:
        n, n_q, n_k, n_j = shapes["projections/intensity/I"]
        return n, n_k, n_j, 0, n_q
    if len(shapes.get("maps/curves/I", ())) == 4:
        n, n_k, n_j, n_q = shapes["maps/curves/I"]
        return n, n_k, n_j, 0, n_q
    return None
