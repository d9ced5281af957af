"""The ``integrate`` step, implementation ``pyfai``: every frame of every scan to I(q) and I(χ, q).

For every bin, with c the fraction of a pixel in the bin (pyFAI's sparse matrix), ω the solid angle
times the polarization factor, M the frame's monitor and x the pixel's value (Poisson errors):

    I = Σ c·x / (M · Σ c·ω)          σ = sqrt(Σ c²·max(x, 1)) / (M · Σ c·ω)

where the sums run over the pixels valid in that frame. A pixel is left out everywhere when the
static mask holds it (the detector's module gaps or'ed with the ``mask`` file; pyFAI's convention:
0 = valid, non-zero = masked), and in one frame when its value there is invalid: NaN or ±inf
(always), negative (``mask_negative``: Pilatus −1/−2), the maximum of an integer frame type
(``mask_overflow``: 4294967295 in an Eiger2's uint32 frames, 65535 in uint16, 2147483647 in int32
ones) or the ``dummy`` value (within ``delta_dummy``, as pyFAI's). Invalid pixels are counted per
frame (those the static mask did not already hold) and the count reaches the user: the map
``maps/invalid_pixels`` in the entry, the step's summary, and a warning when a frame holds ±inf or
more than 1 % of its integrated pixels are invalid. A bin left without a valid pixel is NaN.

The geometry is a PONI file (or a calibrate step's); ``orientation`` (pyFAI's detector orientation
1–4) replaces the PONI's, so a PONI made on a flipped image (Dioptas: 2, flipped up–down) applies.

Frames are read and integrated in blocks by whichever executor runs the step. The default engine
applies pyFAI's own sparse matrix, built once in ``setup`` and shipped with the step to workers, to
every frame in one compiled pass (:mod:`.engine`); ``engine: pyfai``
calls ``integrate1d_ng``/``integrate2d_ng`` frame by frame instead (its integrator is rebuilt once
per process from the geometry). The entry follows NXazint1d (segments in an NXazint2d sub-entry) and
adds map-shaped views that silx opens directly (:mod:`.outputs`); what
is read before integrating is checked in :mod:`.inputs`.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.executors import Executor, SerialExecutor
from swaxs_plugins.core.step import (Estimate, InputSpec, Step, StepContext, StepParameters, chunk_ranges, parameter,
                                     parameter_units)
from swaxs_plugins.io.nexus import StepWriter
from swaxs_plugins.io.output import prepare_output
from swaxs_plugins.io.raw import RawSource

if TYPE_CHECKING:  # imported where used: the step class, and swaxs describe, need no pyFAI or numba
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from swaxs_plugins.steps.integrate.engine import BatchResult, Binning, SparseIntegrator, Validity

Unit = Literal["q_A^-1", "q_nm^-1", "2th_deg"]
#: A frame with more than this share of its integrated pixels invalid (beyond the static mask) is flagged.
INVALID_WARNING_FRACTION = 0.01


class IntegrateParameters(StepParameters):
    """Parameters of ``integrate/pyfai``; the geometry comes from ``poni`` or the ``geometry`` input."""

    poni: Path | None = parameter(None, description="PONI file of the geometry (or give the 'geometry' input, "
                                                    "an earlier calibrate step; exactly one of the two)")
    orientation: Literal[1, 2, 3, 4] | None = parameter(
        None, description="pyFAI detector orientation 1-4 replacing the PONI's (2: a PONI made on an image "
                          "flipped up-down, as Dioptas does); default: what the PONI says (pyFAI's 3 if nothing)")
    npt: int = parameter(1000, description="number of radial bins", gt=1)
    unit: Unit = parameter("q_A^-1", description="radial unit: q_A^-1, q_nm^-1 or 2th_deg")
    radial_range: tuple[float, float] | None = parameter(
        None, description="radial range (in 'unit'); default: all unmasked pixels")
    segments: int = parameter(0, description="number of azimuthal segments I(chi, q); 0 = 1D only", ge=0)
    azimuth_range: tuple[float, float] = parameter(
        (-180.0, 180.0), description="azimuthal range of the segments", unit="deg")
    method: str | tuple[str, str, str] = parameter(
        ("bbox", "csr", "cython"), description="pyFAI method name or (split, algo, impl); the sparse engine "
                                               "uses its pixel splitting with pyFAI's CSR matrix")
    engine: Literal["sparse", "pyfai"] = parameter(
        "sparse", description="'sparse': pyFAI's CSR matrix on blocks of frames (fast); "
                              "'pyfai': integrate1d_ng/integrate2d_ng per frame with 'method'")
    solid_angle: bool = parameter(True, description="apply the solid-angle correction")
    polarization: float | None = parameter(None, description="polarization factor (-1..1); None: not applied",
                                           ge=-1.0, le=1.0)
    mask: Path | None = parameter(None, description="mask file (EDF/TIFF/npy or file.h5::/path); "
                                                   "0 = valid, non-zero = masked (pyFAI convention)")
    mask_negative: bool = parameter(True, description="mask pixels < 0 in each frame (detector gaps, bad pixels)")
    mask_overflow: bool = parameter(True, description="mask pixels at the maximum of an integer frame type in "
                                                      "each frame (4294967295 of uint32 Eiger2 frames, 65535, "
                                                      "2147483647): detectors' overflow and no-data marker")
    dummy: float | None = parameter(None, description="a pixel value that marks invalid pixels in a frame")
    delta_dummy: float | None = parameter(None, description="tolerance of 'dummy' (|x - dummy| <= delta_dummy), "
                                                            "as pyFAI's; None: exactly the dummy", ge=0.0)
    normalize_monitor: bool = parameter(True, description="divide each frame by its monitor (when the raw "
                                                          "source names a monitor dataset)")
    block_frames: int = parameter(8, description="frames per block of work", ge=1)
    log_scale: bool = parameter(False, description="show the map curves log-log in silx (SAXS)")
    instrument: str = parameter("unknown", description="instrument (beamline) name for NXinstrument")
    source_name: str = parameter("unknown", description="facility name for NXsource")
    source_type: str = parameter("Synchrotron X-ray Source", description="NXsource type")
    probe: str = parameter("x-ray", description="NXsource probe")

    @property
    def validity(self) -> Validity:
        """Which pixel values are invalid in a frame, as the engines test them."""
        from swaxs_plugins.steps.integrate.engine import Validity

        return Validity(self.mask_negative, self.mask_overflow, self.dummy, self.delta_dummy)


@dataclass(frozen=True)
class Block:
    """One block of work: frames ``start:stop`` of the scan file ``file_index``."""

    file_index: int
    start: int
    stop: int


def integrate_frames(frames: np.ndarray, ai_or_poni: AzimuthalIntegrator | str | Path, npt: int, *,
                     unit: str = "q_A^-1", segments: int = 0, radial_range: tuple[float, float] | None = None,
                     azimuth_range: tuple[float, float] = (-180.0, 180.0), method: Any = ("bbox", "csr", "cython"),
                     mask: np.ndarray | None = None, polarization: float | None = None, solid_angle: bool = True,
                     monitor: np.ndarray | None = None, orientation: int | None = None,
                     validity: Validity | None = None) -> tuple[Binning, BatchResult]:
    """Integrate frames [n, rows, cols] (or one frame) in memory with the sparse engine; no pipeline needed.

    ``mask`` is True (non-zero) for masked pixels and is added to the detector's own mask; ``validity``
    says which values are invalid in a frame (default: NaN, ±inf, negative, an integer type's maximum);
    ``orientation`` replaces the detector orientation of the integrator or PONI.
    """
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    from swaxs_plugins.steps.integrate.engine import SparseIntegrator, Validity, resolve_method
    from swaxs_plugins.steps.integrate.inputs import load_geometry, make_integrator, static_mask, with_orientation

    frames = np.asarray(frames)
    frames = frames[np.newaxis] if frames.ndim == 2 else frames
    if isinstance(ai_or_poni, AzimuthalIntegrator):
        ai = ai_or_poni if orientation is None else make_integrator(
            with_orientation(ai_or_poni.get_config(), orientation, "the integrator given"))
    else:
        ai = make_integrator(load_geometry(Path(ai_or_poni), orientation=orientation))
    static = static_mask(ai, frames.shape[1:], mask)
    split = resolve_method(method, 2 if segments else 1).split_lower
    engine = SparseIntegrator(ai, frames.shape[1:], npt, unit=unit, split=split, segments=segments,
                              radial_range=radial_range, azimuth_range=azimuth_range if segments else None,
                              mask=static, solid_angle=solid_angle, polarization_factor=polarization)
    return engine.binning, engine.integrate(frames, monitor, Validity() if validity is None else validity)


class PyFAIIntegrate(Step):
    """Azimuthal integration of every frame of every scan (pyFAI), 1D and optionally in segments."""

    Parameters = IntegrateParameters
    inputs = {
        "scans": InputSpec("raw frames: one file per scan of equal shape, [points, rows, cols]", source="raw"),
        "geometry": InputSpec("the geometry (PONI) from a calibrate step; or give the parameter 'poni'",
                              source="step", layouts=("geometry",), required=False),
    }
    definition = "NXazint1d"
    produces = ("curves",)
    params: IntegrateParameters

    def __init__(self, params: StepParameters) -> None:
        super().__init__(params)
        self._integrators: dict[str, Any] = {}
        self._building = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle with the sparse matrices (built once, in setup) but without pyFAI's integrator,
        which a worker of the 'pyfai' engine rebuilds from the geometry dict."""
        from swaxs_plugins.steps.integrate.engine import SparseIntegrator

        state = super().__getstate__()
        state["_integrators"] = {k: v for k, v in self._integrators.items() if isinstance(v, SparseIntegrator)}
        del state["_building"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._building = threading.Lock()

    def setup(self, context: StepContext) -> None:
        """Read the geometry, mask, scan layout, monitor, diode, timestamps and angles; check them against the frames."""
        from swaxs_plugins.steps.integrate.inputs import (check_radial_range, load_geometry, make_integrator,
                                                          per_frame, read_mask, scan_layout, scan_records, static_mask)

        p = self.params
        source: RawSource = context.inputs["scans"]
        self.source = source
        self.geometry = load_geometry(p.poni, context.inputs.get("geometry"), p.orientation)
        self.layout = scan_layout(source)
        ai = make_integrator(self.geometry)
        detector_shape = ai.detector.shape
        if detector_shape is not None and tuple(detector_shape) != self.layout.frame_shape:
            raise InputDataError(f"{self.layout.files[0].path}: frames of {self.layout.frame_shape} pixels in "
                                 f"'{source.frames}', but the geometry's detector ({ai.detector.name}) has "
                                 f"{tuple(detector_shape)}")
        self.mask = static_mask(ai, self.layout.frame_shape, read_mask(p.mask, self.layout.frame_shape))
        check_radial_range(ai, self.layout.frame_shape, self.mask, p.unit, p.radial_range)
        self.monitor = per_frame(source, source.monitor, self.layout, "monitor")
        self.diode = per_frame(source, source.diode, self.layout, "diode")
        self.scan_records = scan_records(source, self.layout)
        self._blocks = [Block(i, r.start, r.stop) for i in range(len(self.layout.files))
                        for r in chunk_ranges(self.layout.points, p.block_frames)]
        for segments in {0, p.segments}:  # built once here, then shipped to workers instead of rebuilt there
            self._integrators[f"sparse{segments}"] = self._build_sparse(segments, ai)
        context.scan_shape = self.layout.scan_shape
        context.geometry = self.geometry
        context.mask = self.mask

    def blocks(self) -> Sequence[Block]:
        return self._blocks

    def process(self, block: Block) -> tuple[BatchResult, BatchResult | None]:
        """Read this block's frames and integrate them: 1D, and in segments when asked.

        The sparse integrators were built in setup; this only reads and applies them.
        """
        frame_file = self.layout.files[block.file_index]
        frames = frame_file.read(block.start, block.stop)
        if frames.shape[1:] != self.layout.frame_shape:
            raise InputDataError(f"{frame_file.path}: frames of {frames.shape[1:]} pixels in '{frame_file.dataset}', "
                                 f"expected {self.layout.frame_shape}")
        monitor = None
        if self.monitor is not None and self.params.normalize_monitor:
            offset = block.file_index * self.layout.points
            monitor = self.monitor[offset + block.start: offset + block.stop]
        segment_counts = (0, self.params.segments) if self.params.segments else (0,)
        results = [self._integrate(frames, monitor, segments) for segments in segment_counts]
        return results[0], (results[1] if len(results) > 1 else None)

    def _binning(self, segments: int) -> Binning:
        """The output grid, from this process's integrator (the sparse one: its bins are pyFAI's)."""
        return self.integrator(segments).binning

    def _integrate(self, frames: np.ndarray, monitor: np.ndarray | None, segments: int) -> BatchResult:
        """One block through the chosen engine; the result carries the bins so finalize builds nothing."""
        if self.params.engine == "pyfai":
            result = self._integrate_pyfai(frames, monitor, segments)
        else:
            result = self.integrator(segments).integrate(frames, monitor, self.params.validity)
        return dataclasses.replace(result, binning=self._binning(segments))

    def integrator(self, segments: int) -> SparseIntegrator:
        """The sparse integrator for 1D (``segments`` 0) or segments, built on first use."""
        from swaxs_plugins.steps.integrate.inputs import make_integrator

        key = f"sparse{segments}"
        with self._building:
            if key not in self._integrators:
                self._integrators[key] = self._build_sparse(segments, make_integrator(self.geometry))
        return self._integrators[key]

    def _build_sparse(self, segments: int, ai: AzimuthalIntegrator) -> SparseIntegrator:
        """The sparse integrator on ``ai``, whose cached pixel arrays (q, corners, solid angle) it reuses."""
        from swaxs_plugins.steps.integrate.engine import SparseIntegrator, resolve_method

        p = self.params
        return SparseIntegrator(
            ai, self.layout.frame_shape, p.npt, unit=p.unit,
            split=resolve_method(p.method, 2 if segments else 1).split_lower, segments=segments,
            radial_range=p.radial_range, azimuth_range=p.azimuth_range if segments else None, mask=self.mask,
            solid_angle=p.solid_angle, polarization_factor=p.polarization)

    def _integrate_pyfai(self, frames: np.ndarray, monitor: np.ndarray | None, segments: int) -> BatchResult:
        """pyFAI's own integrate1d_ng/integrate2d_ng per frame, invalid pixels counted as the sparse engine does."""
        from swaxs_plugins.steps.integrate.engine import integrate_with_pyfai, resolve_method
        from swaxs_plugins.steps.integrate.inputs import make_integrator

        p = self.params
        with self._building:
            if "pyfai" not in self._integrators:
                self._integrators["pyfai"] = make_integrator(self.geometry)
        return integrate_with_pyfai(
            self._integrators["pyfai"], frames, p.npt, method=resolve_method(p.method, 2 if segments else 1),
            unit=p.unit, counted=self.integrator(0).integrated, segments=segments, mask=self.mask,
            radial_range=p.radial_range, azimuth_range=p.azimuth_range, solid_angle=p.solid_angle,
            polarization_factor=p.polarization, monitor=monitor, validity=p.validity)

    def finalize(self, results: list[tuple[BatchResult, BatchResult | None]], writer: StepWriter) -> None:
        """Write the NXazint1d entry (and NXazint2d sub-entry), the map views and the per-frame records."""
        from swaxs_plugins.steps.integrate.outputs import write_integrated

        one_d = _concatenate([r[0] for r in results])
        two_d = _concatenate([r[1] for r in results]) if self.params.segments else None
        binning = results[0][0].binning
        segment_binning = results[0][1].binning if self.params.segments else None
        self.invalid_counts = (one_d.invalid_pixels, one_d.infinite_pixels)  # reported by run()
        write_integrated(writer.entry, self.params, self.geometry, binning, one_d, segment_binning, two_d,
                         self.layout, self.monitor, self.diode, self.scan_records, self.integrator(0).pixels)

    def run(self, context: StepContext, writer: StepWriter) -> None:
        """The base run (setup, blocks, finalize), then the invalid-pixel counts into the context's report."""
        super().run(context, writer)
        invalid, infinite = self.invalid_counts
        report_invalid_pixels(context, invalid, infinite, self.integrator(0).pixels)

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Output shapes and peak memory from the frame stack shape (n, rows, cols), the number of files and the
        scan (map) shape where the input declares it or its positions draw it."""
        shapes = input_shapes.get("scans", {})
        if "frames" not in shapes:
            return Estimate()
        n, rows, cols = shapes["frames"]
        n_files = shapes.get("files", (1,))[0]
        p = self.params
        self._check_files((rows, cols))
        bins = (p.segments, p.npt) if p.segments else (p.npt,)
        scan = shapes.get("scan", (n // max(n_files, 1),))
        outputs = {"integrated/I": (n, p.npt), "maps/curves/I": (n_files, *scan, p.npt)}
        if p.segments:
            outputs["segments/integrated/I"] = (n, *bins)
        pixels = rows * cols
        matrix = pixels * (2 if p.segments else 1) * 3 * 12 * 2  # ~3 bins per pixel, value+index, A and A²
        block = p.block_frames * pixels * (4 + 8 + 8)  # raw frames + float64 signal and variance
        results = n * int(np.prod(bins)) * 4 * 2 * 3  # I and σ, float32, assembled and written twice
        return Estimate(outputs=outputs, memory_bytes=matrix + block + results)


    def _check_files(self, frame_shape: tuple[int, int]) -> None:
        """At check time, what the PONI file and the mask file show against the frames' size (metadata only)."""
        from swaxs_plugins.steps.integrate.inputs import load_geometry, make_integrator, read_mask

        p = self.params
        if p.poni is not None:
            detector = make_integrator(load_geometry(p.poni, None, p.orientation)).detector
            if detector.shape is not None and tuple(detector.shape) != frame_shape:
                raise InputDataError(f"input 'scans': frames of {frame_shape} pixels, but the geometry's detector ({detector.name}, "
                                     f"parameter 'poni' {p.poni}) has {tuple(detector.shape)}")
        read_mask(p.mask, frame_shape)


def _concatenate(results: Sequence[BatchResult]) -> BatchResult:
    """The block results of a run in one [n_images, ...] result (float32, as pyFAI returns it)."""
    from swaxs_plugins.steps.integrate.engine import BatchResult

    return BatchResult(np.concatenate([r.intensity for r in results]).astype(np.float32),
                       np.concatenate([r.sigma for r in results]).astype(np.float32), results[0].norm,
                       results[0].binning, np.concatenate([r.invalid_pixels for r in results]),
                       np.concatenate([r.infinite_pixels for r in results]))


def report_invalid_pixels(context: StepContext, invalid: np.ndarray, infinite: np.ndarray, pixels: int) -> None:
    """The per-frame invalid-pixel counts as the summary ``invalid_pixels``, and a warning for frames with ±inf
    or with more than :data:`INVALID_WARNING_FRACTION` of their ``pixels`` (those integrated) invalid."""
    worst = int(np.argmax(invalid))
    share = invalid / max(pixels, 1)
    if invalid.any():
        context.summary["invalid_pixels"] = (
            f"{int(invalid.sum())} in {np.count_nonzero(invalid)} of {invalid.size} frames beyond the static mask "
            f"(most: {int(invalid[worst])} of {pixels} integrated pixels, {100 * share[worst]:.2g} %, in image "
            f"{worst}); ±inf: {int(infinite.sum())}")
    else:
        context.summary["invalid_pixels"] = (f"0 in {invalid.size} frames beyond the static mask ({pixels} pixels "
                                             "integrated per frame)")
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        context.warn(f"{int(infinite.sum())} pixel values are ±inf in {np.count_nonzero(infinite)} frame(s) (first: "
                     f"image {first}); they are masked, but a frame holding infinities was probably converted wrongly")
    many = share > INVALID_WARNING_FRACTION
    if many.any():
        context.warn(f"{np.count_nonzero(many)} frame(s) have more than {100 * INVALID_WARNING_FRACTION:g} % of their "
                     f"{pixels} integrated pixels invalid (NaN, ±inf, negative, overflow or dummy) beyond the static "
                     f"mask (most: {int(invalid[worst])} in image {worst}); they are masked, but if they are bad in "
                     "every frame add them to the mask file")



def integrate_file(source: RawSource, params: IntegrateParameters, output: Path, *, entry: str = "integrate",
                   executor: Executor | None = None, progress: bool = False) -> StepContext:
    """Integrate a raw source into one NeXus file without a pipeline, through the pipeline's own writer.

    The file is the one a pipeline step would write: NXprocess 'reduction' (program, version, date,
    parameters, and the run's warnings and summary), then this step's run. The output path is checked
    and the inputs found before anything is computed. Returns the run's context, whose ``warnings``
    and ``summary`` (invalid pixels) ``swaxs integrate`` prints.
    """
    from swaxs_plugins.core.pipeline import PROJECT_REFERENCE
    from swaxs_plugins.io.nexus import InputRecord
    from swaxs_plugins.io.raw import content_hash

    output = prepare_output(output, "output file (option -o)")
    for path in source.files:
        if not Path(path).is_file():
            raise InputDataError(f"{path}: input file not found (INPUT)")
    executor = executor or SerialExecutor(progress=progress)
    records = [InputRecord(f"scans_{i}", path, f"raw input 'scans': frames {source.frames or '(image)'}",
                           content_hash(path)) for i, path in enumerate(source.files)]
    context = StepContext(step_id=entry, kind="integrate", impl="pyfai", inputs={"scans": source}, executor=executor,
                          workdir=output.parent, progress=progress)
    step = PyFAIIntegrate(params)
    configuration = {"id": entry, "kind": "integrate", "implementation": "pyfai", "version": __version__,
                     "program": "swaxs-plugins", "inputs": {"scans": [str(f) for f in source.files]},
                     "params": params.model_dump(mode="json")}
    with StepWriter(output, entry, step.definition) as writer:
        writer.write_process(program="swaxs-plugins", version=__version__, sequence_index=1, kind="integrate",
                             implementation="pyfai", params=params.model_dump(mode="json"),
                             units=parameter_units(IntegrateParameters), configuration=configuration,
                             inputs=records, reference=PROJECT_REFERENCE)
        step.run(context, writer)
        writer.write_quality(context.warnings, context.summary)
    return context
