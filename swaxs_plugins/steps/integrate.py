"""The ``integrate`` step, implementation ``pyfai``: every frame of every scan to I(q) and I(χ, q).

Frames are read and integrated in blocks by whichever executor runs the step. The default engine
applies pyFAI's own sparse matrix, built once in ``setup`` and shipped with the step to workers, to
every frame in one compiled pass (:mod:`swaxs_plugins.steps.integration_engine`); ``engine: pyfai``
calls ``integrate1d_ng``/``integrate2d_ng`` frame by frame instead (its integrator is rebuilt once
per process from the geometry). The entry follows NXazint1d
(segments in an NXazint2d sub-entry) and adds map-shaped views that silx opens directly.

Mask convention (pyFAI's): in a mask file, 0 = valid pixel, anything else = masked. The detector's
own mask (module gaps) is always added; pixels < 0 (``mask_negative``) or equal to ``dummy`` are
masked in the frame where they occur.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
import pyFAI
from pyFAI.integrator.azimuthal import AzimuthalIntegrator

from swaxs_plugins import __version__
from swaxs_plugins.core.errors import InputDataError, SwaxsError
from swaxs_plugins.core.executors import Executor, SerialExecutor
from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import (Estimate, InputSpec, Step, StepContext, StepOutputRef, StepParameters,
                                     chunk_ranges, parameter, parameter_units)
from swaxs_plugins.io.nexus import Axis, StepWriter, set_nx_class, write_nxdata
from swaxs_plugins.io.nexus import text as nexus_text
from swaxs_plugins.io.raw import FrameFile, RawSource, frame_files, is_hdf5, read_dataset, split_location
from swaxs_plugins.steps.integration_engine import BatchResult, Binning, SparseIntegrator, resolve_method

Unit = Literal["q_A^-1", "q_nm^-1", "2th_deg"]
UNITS: dict[str, tuple[str, str, str]] = {  # unit → (NeXus units, NXazint long_name, map axis name)
    "q_A^-1": ("1/angstrom", "q", "q"),
    "q_nm^-1": ("1/nm", "q", "q"),
    "2th_deg": ("degrees", "2theta", "two_theta"),
}
HC_KEV_ANGSTROM = 12.398419843320026
INTENSITY_UNITS = "arbitrary units"


class IntegrateParameters(StepParameters):
    """Parameters of ``integrate/pyfai``; the geometry comes from ``poni`` or the ``geometry`` input."""

    poni: Path | None = parameter(None, description="PONI file of the geometry (or give the 'geometry' input, "
                                                    "an earlier calibrate step; exactly one of the two)")
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
    dummy: float | None = parameter(None, description="a pixel value that marks invalid pixels in a frame")
    normalize_monitor: bool = parameter(True, description="divide each frame by its monitor (when the raw "
                                                          "source names a monitor dataset)")
    block_frames: int = parameter(8, description="frames per block of work", ge=1)
    log_scale: bool = parameter(False, description="show the map curves log-log in silx (SAXS)")
    instrument: str = parameter("unknown", description="instrument (beamline) name for NXinstrument")
    source_name: str = parameter("unknown", description="facility name for NXsource")
    source_type: str = parameter("Synchrotron X-ray Source", description="NXsource type")
    probe: str = parameter("x-ray", description="NXsource probe")


@dataclass(frozen=True)
class Block:
    """One block of work: frames ``start:stop`` of the scan file ``file_index``."""

    file_index: int
    start: int
    stop: int


@dataclass(frozen=True)
class ScanLayout:
    """How the frames of the raw source form scans: n_scans files, each of ``points`` frames."""

    files: tuple[FrameFile, ...]
    points: int
    frame_shape: tuple[int, int]
    scan_shape: tuple[int, ...]

    @property
    def n_images(self) -> int:
        return len(self.files) * self.points


def load_geometry(poni: Path | None = None, geometry: StepOutputRef | None = None) -> dict[str, Any]:
    """A picklable pyFAI configuration from exactly one of a PONI file and a calibrate step's output."""
    if (poni is None) == (geometry is None):
        which = "both" if poni is not None else "neither"
        raise SwaxsError(f"integrate needs exactly one geometry: the parameter 'poni' (a PONI file) or the input "
                         f"'geometry' (a calibrate step); {which} given")
    if poni is not None:
        if not Path(poni).is_file():
            raise InputDataError(f"{poni}: PONI file not found (parameter 'poni')")
        return _config(Path(poni), f"{poni} (parameter 'poni')")
    assert geometry is not None
    try:
        with h5py.File(geometry.path, "r") as handle:
            text = handle[geometry.entry]["poni"][()]
    except (OSError, KeyError) as error:
        raise InputDataError(f"{geometry.path}: no PONI at '{geometry.entry}/poni' (input 'geometry', step "
                             f"'{geometry.step_id}')") from error
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "geometry.poni"
        path.write_text(nexus_text(text))
        return _config(path, f"{geometry.path}::{geometry.entry}/poni (input 'geometry')")


def _config(path: Path, where: str) -> dict[str, Any]:
    try:
        return pyFAI.load(str(path)).get_config()
    except Exception as error:  # noqa: BLE001 - pyFAI raises many kinds for a bad PONI
        raise InputDataError(f"{where}: not a PONI geometry pyFAI can read ({error})") from error


def read_mask(location: str | Path | None, shape: tuple[int, int]) -> np.ndarray | None:
    """A user mask (0 = valid) as a boolean array of ``shape`` (True = masked), from any image or HDF5."""
    if location is None:
        return None
    path, dataset = split_location(str(location))
    if dataset is not None or is_hdf5(path):
        if dataset is None:
            raise InputDataError(f"{path}: an HDF5 mask needs its dataset, as 'file.h5::/path' (parameter 'mask')")
        data = read_dataset(path, dataset)
    elif path.suffix.lower() == ".npy":
        if not path.is_file():
            raise InputDataError(f"{path}: mask file not found (parameter 'mask')")
        data = np.load(path)
    else:
        data = FrameFile(path).read(0, 1)[0]
    if data.shape != tuple(shape):
        raise InputDataError(f"{location}: mask of shape {data.shape}, frames are {tuple(shape)} (parameter 'mask')")
    return np.asarray(data) != 0


def make_integrator(config: Mapping[str, Any]) -> AzimuthalIntegrator:
    """An AzimuthalIntegrator from a pyFAI configuration dict (what workers rebuild from)."""
    return pyFAI.load(dict(config))


def integrate_frames(frames: np.ndarray, ai_or_poni: AzimuthalIntegrator | str | Path, npt: int, *,
                     unit: str = "q_A^-1", segments: int = 0, radial_range: tuple[float, float] | None = None,
                     azimuth_range: tuple[float, float] = (-180.0, 180.0), method: Any = ("bbox", "csr", "cython"),
                     mask: np.ndarray | None = None, polarization: float | None = None, solid_angle: bool = True,
                     monitor: np.ndarray | None = None, mask_negative: bool = True,
                     dummy: float | None = None) -> tuple[Binning, BatchResult]:
    """Integrate frames [n, rows, cols] (or one frame) in memory with the sparse engine; no pipeline needed.

    ``mask`` is True (non-zero) for masked pixels and is added to the detector's own mask.
    """
    frames = np.asarray(frames)
    frames = frames[np.newaxis] if frames.ndim == 2 else frames
    ai = ai_or_poni if isinstance(ai_or_poni, AzimuthalIntegrator) else pyFAI.load(str(ai_or_poni))
    static = static_mask(ai, frames.shape[1:], mask)
    split = resolve_method(method, 2 if segments else 1).split_lower
    engine = SparseIntegrator(ai, frames.shape[1:], npt, unit=unit, split=split, segments=segments,
                              radial_range=radial_range, azimuth_range=azimuth_range if segments else None,
                              mask=static, solid_angle=solid_angle, polarization_factor=polarization)
    return engine.binning, engine.integrate(frames, monitor, mask_negative=mask_negative, dummy=dummy)


def static_mask(ai: AzimuthalIntegrator, shape: tuple[int, ...], user: np.ndarray | None) -> np.ndarray | None:
    """The detector's mask (gaps) or'ed with the user's; None when nothing is masked."""
    masks = [np.asarray(m, bool) for m in (ai.detector.mask, user) if m is not None]
    masks = [m for m in masks if m.shape == tuple(shape)]
    if not masks:
        return None
    return np.logical_or.reduce(masks)


class PyFAIIntegrate(Step):
    """Azimuthal integration of every frame of every scan (pyFAI), 1D and optionally in segments."""

    Parameters = IntegrateParameters
    inputs = {
        "scans": InputSpec("raw frames: one file per scan of equal shape, [points, rows, cols]", source="raw"),
        "geometry": InputSpec("the geometry (PONI) from a calibrate step; or give the parameter 'poni'",
                              source="step", step_kinds=("calibrate",), required=False),
    }
    definition = "NXazint1d"
    params: IntegrateParameters

    def __init__(self, params: StepParameters) -> None:
        super().__init__(params)
        self._integrators: dict[str, Any] = {}
        self._building = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        """Pickle with the sparse matrices (built once, in setup) but without pyFAI's integrator,
        which a worker of the 'pyfai' engine rebuilds from the geometry dict."""
        state = self.__dict__.copy()
        state["_integrators"] = {k: v for k, v in self._integrators.items() if isinstance(v, SparseIntegrator)}
        del state["_building"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._building = threading.Lock()

    def setup(self, context: StepContext) -> None:
        """Read the geometry, mask, scan layout, monitor, diode and timestamps; check them against the frames."""
        p = self.params
        source: RawSource = context.inputs["scans"]
        self.source = source
        self.geometry = load_geometry(p.poni, context.inputs.get("geometry"))
        self.layout = scan_layout(source)
        ai = make_integrator(self.geometry)
        detector_shape = ai.detector.shape
        if detector_shape is not None and tuple(detector_shape) != self.layout.frame_shape:
            raise InputDataError(f"{self.layout.files[0].path}: frames of {self.layout.frame_shape} pixels in "
                                 f"'{source.frames}', but the geometry's detector ({ai.detector.name}) has "
                                 f"{tuple(detector_shape)}")
        self.mask = static_mask(ai, self.layout.frame_shape, read_mask(p.mask, self.layout.frame_shape))
        check_radial_range(ai, self.layout.frame_shape, self.mask, p.unit, p.radial_range)
        self.monitor = _per_frame(source, source.monitor, self.layout, "monitor")
        self.diode = _per_frame(source, source.diode, self.layout, "diode")
        self.timestamps = _timestamps(source, self.layout)
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
            result = self.integrator(segments).integrate(frames, monitor, mask_negative=self.params.mask_negative,
                                                         dummy=self.params.dummy)
        return dataclasses.replace(result, binning=self._binning(segments))

    def integrator(self, segments: int) -> SparseIntegrator:
        """The sparse integrator for 1D (``segments`` 0) or segments, built on first use."""
        key = f"sparse{segments}"
        with self._building:
            if key not in self._integrators:
                self._integrators[key] = self._build_sparse(segments, make_integrator(self.geometry))
        return self._integrators[key]

    def _build_sparse(self, segments: int, ai: AzimuthalIntegrator) -> SparseIntegrator:
        """The sparse integrator on ``ai``, whose cached pixel arrays (q, corners, solid angle) it reuses."""
        p = self.params
        return SparseIntegrator(
            ai, self.layout.frame_shape, p.npt, unit=p.unit,
            split=resolve_method(p.method, 2 if segments else 1).split_lower, segments=segments,
            radial_range=p.radial_range, azimuth_range=p.azimuth_range if segments else None, mask=self.mask,
            solid_angle=p.solid_angle, polarization_factor=p.polarization)

    def _integrate_pyfai(self, frames: np.ndarray, monitor: np.ndarray | None, segments: int) -> BatchResult:
        """pyFAI's own integrate1d_ng/integrate2d_ng per frame; frame-invalid pixels go in as a dummy value."""
        p = self.params
        with self._building:
            if "pyfai" not in self._integrators:
                self._integrators["pyfai"] = make_integrator(self.geometry)
        ai = self._integrators["pyfai"]
        marker = np.float32(-1.0e30)
        method = resolve_method(p.method, 2 if segments else 1)
        results = []
        for index, frame in enumerate(frames.astype(np.float32)):
            invalid = ~np.isfinite(frame)
            if p.mask_negative:
                invalid |= frame < 0
            if p.dummy is not None:
                invalid |= frame == p.dummy
            frame[invalid] = marker
            scale = 1.0 if monitor is None else float(monitor[index])
            kwargs = {"unit": p.unit, "method": method, "mask": self.mask, "radial_range": p.radial_range,
                      "correctSolidAngle": p.solid_angle, "polarization_factor": p.polarization,
                      "error_model": "poisson", "dummy": marker, "normalization_factor": scale}
            if segments:
                result = ai.integrate2d_ng(frame, p.npt, segments, azimuth_range=p.azimuth_range, **kwargs)
            else:
                result = ai.integrate1d_ng(frame, p.npt, **kwargs)
            norm = np.asarray(result.sum_normalization, np.float64)
            empty = norm == 0
            results.append((np.where(empty, np.nan, result.intensity), np.where(empty, np.nan, result.sigma),
                            norm / scale))
        intensity, sigma, norm = (np.stack(r) for r in zip(*results))
        return BatchResult(intensity.astype(np.float64), sigma.astype(np.float64), norm[0])

    def finalize(self, results: list[tuple[BatchResult, BatchResult | None]], writer: StepWriter) -> None:
        """Write the NXazint1d entry (and NXazint2d sub-entry), the map views and the per-frame records."""
        one_d = _concatenate([r[0] for r in results])
        two_d = _concatenate([r[1] for r in results]) if self.params.segments else None
        binning = results[0][0].binning
        segment_binning = results[0][1].binning if self.params.segments else None
        write_integrated(writer.entry, self.params, self.geometry, binning, one_d, segment_binning, two_d,
                         self.layout, self.monitor, self.diode, self.timestamps)

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        """Output shapes and peak memory from the frame stack shape (n, rows, cols) and the number of files."""
        shapes = input_shapes.get("scans", {})
        if "frames" not in shapes:
            return Estimate()
        n, rows, cols = shapes["frames"]
        n_files = shapes.get("files", (1,))[0]
        p = self.params
        bins = (p.segments, p.npt) if p.segments else (p.npt,)
        outputs = {"integrated/I": (n, p.npt), "maps/curves/I": (n_files, n // max(n_files, 1), p.npt)}
        if p.segments:
            outputs["segments/integrated/I"] = (n, *bins)
        pixels = rows * cols
        matrix = pixels * (2 if p.segments else 1) * 3 * 12 * 2  # ~3 bins per pixel, value+index, A and A²
        block = p.block_frames * pixels * (4 + 8 + 8)  # raw frames + float64 signal and variance
        results = n * int(np.prod(bins)) * 4 * 2 * 3  # I and σ, float32, assembled and written twice
        return Estimate(outputs=outputs, memory_bytes=matrix + block + results)


def scan_layout(source: RawSource) -> ScanLayout:
    """Frames per scan, frame size and scan shape of a raw source, checked file by file."""
    files = tuple(frame_files(source))
    if not files:
        raise InputDataError("input 'scans': no files given")
    for frame_file in files:
        if frame_file.dataset is None and is_hdf5(frame_file.path):
            raise InputDataError(f"{frame_file.path}: an HDF5 file needs the dataset of its frames (field 'frames')")
    shapes = [f.shape for f in files]
    if len({s for s in shapes}) > 1:
        listing = ", ".join(f"{f.path.name} {s}" for f, s in zip(files, shapes))
        raise InputDataError(f"input 'scans': the scans differ in shape ({listing}); all must be equal")
    points, rows, cols = shapes[0]
    scan_shape: tuple[int, ...] = (points,)
    if isinstance(source.scan_shape, str):
        scan_shape = tuple(int(v) for v in np.ravel(read_dataset(files[0].path, source.scan_shape)))
    elif source.scan_shape is not None:
        scan_shape = tuple(int(v) for v in source.scan_shape)
    if int(np.prod(scan_shape)) != points:
        raise InputDataError(f"{files[0].path}: scan_shape {list(scan_shape)} (field 'scan_shape') does not hold "
                             f"the {points} frames of each scan")
    return ScanLayout(files, points, (rows, cols), scan_shape)


def check_radial_range(ai: AzimuthalIntegrator, shape: tuple[int, int], mask: np.ndarray | None, unit: str,
                       radial_range: tuple[float, float] | None) -> None:
    """Fail early, naming 'radial_range', when it does not overlap the unmasked detector."""
    if radial_range is None:
        return
    low, high = radial_range
    values = ai.array_from_unit(shape, "center", unit, scale=True)
    if mask is not None:
        values = values[~mask]
    covered = float(np.nanmin(values)), float(np.nanmax(values))
    if not low < high or high <= covered[0] or low >= covered[1]:
        raise SwaxsError(f"parameter 'radial_range' {list(radial_range)} {unit} is outside the detector, "
                         f"which covers {covered[0]:.6g}..{covered[1]:.6g} {unit}")


def _per_frame(source: RawSource, dataset: str | None, layout: ScanLayout, field: str) -> np.ndarray | None:
    """A per-frame dataset (monitor, diode) of every scan, concatenated [n_images]."""
    if dataset is None:
        return None
    values = []
    for frame_file in layout.files:
        if not is_hdf5(frame_file.path):
            raise InputDataError(f"{frame_file.path}: field '{field}' names a dataset, but this is not an HDF5 file")
        data = np.ravel(read_dataset(frame_file.path, dataset)).astype(np.float64)
        if data.size != layout.points:
            raise InputDataError(f"{frame_file.path}: '{dataset}' (field '{field}') has {data.size} values for "
                                 f"{layout.points} frames")
        values.append(data)
    return np.concatenate(values)


def _timestamps(source: RawSource, layout: ScanLayout) -> np.ndarray | None:
    """The timestamp dataset of each scan file (one value per scan or per frame), stacked [n_scans, ...]."""
    if source.timestamp is None:
        return None
    values = [np.asarray(read_dataset(f.path, source.timestamp)) for f in layout.files]
    if len({v.shape for v in values}) > 1:
        raise InputDataError(f"input 'scans': '{source.timestamp}' (field 'timestamp') differs in shape between files")
    stacked = np.stack(values)
    return stacked.astype(np.float64) if stacked.dtype.kind in "biuf" else stacked.astype(h5py.string_dtype())


def _concatenate(results: Sequence[BatchResult]) -> BatchResult:
    """The block results of a run in one [n_images, ...] result (float32, as pyFAI returns it)."""
    return BatchResult(np.concatenate([r.intensity for r in results]).astype(np.float32),
                       np.concatenate([r.sigma for r in results]).astype(np.float32), results[0].norm,
                       results[0].binning)


def write_integrated(entry: h5py.Group, params: IntegrateParameters, geometry: Mapping[str, Any], binning: Binning,
                     one_d: BatchResult, segment_binning: Binning | None, segments: BatchResult | None,
                     layout: ScanLayout, monitor: np.ndarray | None, diode: np.ndarray | None,
                     timestamps: np.ndarray | None) -> None:
    """Everything after the NXprocess: NXazint1d fields and NXdata, the NXazint2d sub-entry for segments,
    the per-frame monitor/diode, the scans' files and timestamps, and the map views (entry @default).
    """
    monitor_applied = monitor is not None and params.normalize_monitor
    _write_azint_fields(entry, params, geometry, monitor_applied)
    if monitor is not None:
        _monitor_group(entry, "monitor", monitor, "incident beam monitor (I0)")
    if diode is not None:
        _monitor_group(entry, "diode", diode, "transmitted beam (diode)")
    _azint_nxdata(entry, params.unit, binning, one_d, segmented=False)
    if segments is not None and segment_binning is not None:
        sub = set_nx_class(entry.create_group("segments"), "NXsubentry")
        sub["definition"] = "NXazint2d"
        _write_azint_fields(sub, params, geometry, monitor_applied, instrument=entry["instrument"])
        sub["reduction"] = entry["reduction"]
        if monitor is not None:
            sub["monitor"] = entry["monitor"]
        _azint_nxdata(sub, params.unit, segment_binning, segments, segmented=True)
        sub.attrs["default"] = "integrated"
    _write_scans(entry, layout, timestamps)
    _write_maps(entry, params, binning, layout, one_d, segment_binning, segments)
    entry.attrs["default"] = "maps"


def _write_azint_fields(group: h5py.Group, params: IntegrateParameters, geometry: Mapping[str, Any],
                        monitor_applied: bool, instrument: h5py.Group | None = None) -> None:
    group["solid_angle_applied"] = np.bool_(params.solid_angle)
    group["polarization_applied"] = np.bool_(params.polarization is not None)
    group["normalization_applied"] = np.bool_(True)
    group["monitor_applied"] = np.bool_(monitor_applied)
    if instrument is not None:
        group["instrument"] = instrument
        return
    instrument = set_nx_class(group.create_group("instrument"), "NXinstrument")
    instrument["name"] = params.instrument
    mono = set_nx_class(instrument.create_group("monochromator"), "NXmonochromator")
    wavelength = float(geometry["wavelength"]) * 1e10
    mono["wavelength"] = wavelength
    mono["wavelength"].attrs["units"] = "angstrom"
    mono["energy"] = HC_KEV_ANGSTROM / wavelength
    mono["energy"].attrs["units"] = "keV"
    source = set_nx_class(instrument.create_group("source"), "NXsource")
    source["name"] = params.source_name
    source["type"] = params.source_type
    source["probe"] = params.probe


def _monitor_group(entry: h5py.Group, name: str, values: np.ndarray, long_name: str) -> None:
    group = set_nx_class(entry.create_group(name), "NXmonitor")
    group["data"] = values
    group["data"].attrs["long_name"] = long_name
    group["data"].attrs["units"] = "counts"


def _azint_nxdata(parent: h5py.Group, unit: str, binning: Binning, result: BatchResult, *, segmented: bool) -> None:
    """The NXdata exactly as NXazint1d/NXazint2d define it (names, attributes, long_names)."""
    intensity, sigma, norm = result.intensity, result.sigma, result.norm
    units, label, _ = UNITS[unit]
    group = set_nx_class(parent.create_group("integrated"), "NXdata")
    group.attrs["signal"] = "I"
    group.attrs["interpretation"] = "image" if segmented else "spectrum"
    group.attrs["axes"] = [".", "azimuthal_axis", "radial_axis"] if segmented else [".", "radial_axis"]
    chunks = (1, *intensity.shape[1:])
    for name, data, long_name in (("I", intensity, "intensity"), ("I_errors", sigma, "estimated intensity error")):
        dataset = group.create_dataset(name, data=data, chunks=chunks)
        dataset.attrs.update({"long_name": long_name, "units": INTENSITY_UNITS,
                              "interpretation": "image" if segmented else "spectrum"})
    _field(group, "radial_axis", binning.radial, units, label)
    _field(group, "radial_axis_edges", binning.radial_edges, units, f"{label} bin edges")
    _field(group, "norm", norm, INTENSITY_UNITS, "effective number of pixels contributing to the corresponding bin")
    group.attrs["radial_axis_indices"] = 2 if segmented else 1
    if segmented:
        _field(group, "azimuthal_axis", binning.azimuthal, "degrees", "azimuthal bin center")
        _field(group, "azimuthal_axis_edges", binning.azimuthal_edges, "degrees", "azimuthal bin edges")
        group.attrs["azimuthal_axis_indices"] = 1


def _field(group: h5py.Group, name: str, values: np.ndarray, units: str, long_name: str) -> None:
    group[name] = np.asarray(values)
    group[name].attrs["units"] = units
    group[name].attrs["long_name"] = long_name


def _write_scans(entry: h5py.Group, layout: ScanLayout, timestamps: np.ndarray | None) -> None:
    """Which file each scan came from, the scan shape and the scans' timestamps, for later steps."""
    scans = set_nx_class(entry.create_group("scans"), "NXcollection")
    scans["file_name"] = np.array([str(f.path) for f in layout.files], dtype=h5py.string_dtype())
    scans["scan_shape"] = np.asarray(layout.scan_shape, dtype=np.int64)
    scans["points"] = np.int64(layout.points)
    if timestamps is not None:
        scans["timestamp"] = timestamps


def _write_maps(entry: h5py.Group, params: IntegrateParameters, binning: Binning, layout: ScanLayout,
                one_d: BatchResult, segment_binning: Binning | None, segments: BatchResult | None) -> None:
    """Map-shaped views for silx in the NXcollection ``maps`` (@default ``curves``).

    ``curves`` I[scan, *scan_shape, q] (spectrum: a curve with scan sliders), ``images``
    I[scan, q, y, x] (image: a map with q and scan sliders; for a 1-D series I[scan, point, q]),
    ``segments`` I[scan, *scan_shape, chi, q] (image: χ–q with scan sliders).
    """
    maps = set_nx_class(entry.create_group("maps"), "NXcollection")
    spatial = layout.scan_shape
    shape = (len(layout.files), *spatial)
    units, _, axis_name = UNITS[params.unit]
    label = "q" if axis_name == "q" else "2θ"
    radial = Axis(axis_name, binning.radial, units, label)
    scan_axis = Axis("scan", np.arange(shape[0]), "", "scan number")
    names = ("y", "x") if len(spatial) == 2 else tuple(f"point{i}" if i else "point" for i in range(len(spatial)))
    spatial_axes = [Axis(name, np.arange(size), "", f"{name} (scan point index)") for name, size in zip(names, spatial)]
    style = {"signal_scale_type": "log", "axes_scale_types": ["log", "log"]} if params.log_scale else None
    n_rad = one_d.intensity.shape[-1]
    curves = one_d.intensity.reshape(*shape, n_rad)
    write_nxdata(maps, "curves", curves, [scan_axis, *spatial_axes, radial], long_name="intensity",
                 units=INTENSITY_UNITS, errors=one_d.sigma.reshape(*shape, n_rad), interpretation="spectrum",
                 silx_style=style, chunks=(1, *(1,) * len(spatial), n_rad))
    if len(spatial) == 2:
        images, image_axes = np.ascontiguousarray(np.moveaxis(curves, -1, 1)), [scan_axis, radial, *spatial_axes]
    else:
        images, image_axes = curves, [scan_axis, *spatial_axes, radial]
    write_nxdata(maps, "images", images, image_axes, long_name="intensity", units=INTENSITY_UNITS,
                 interpretation="image", chunks=(1, *(1,) * (images.ndim - 3), *images.shape[-2:]))
    if segments is not None and segment_binning is not None and segment_binning.azimuthal is not None:
        bins = segments.intensity.shape[1:]
        chi = Axis("chi", segment_binning.azimuthal, "degrees", "χ (azimuthal angle)")
        segment_radial = Axis(axis_name, segment_binning.radial, units, label)
        write_nxdata(maps, "segments", segments.intensity.reshape(*shape, *bins),
                     [scan_axis, *spatial_axes, chi, segment_radial], long_name="intensity", units=INTENSITY_UNITS,
                     errors=segments.sigma.reshape(*shape, *bins), interpretation="image",
                     chunks=(1, *(1,) * len(spatial), *bins))
    maps.attrs["default"] = "curves"


def integrate_file(source: RawSource, params: IntegrateParameters, output: Path, *, entry: str = "integrate",
                   executor: Executor | None = None, progress: bool = False) -> Path:
    """Integrate a raw source into one NeXus file without a pipeline, through the pipeline's own writer.

    The file is the one a pipeline step would write: NXprocess 'reduction' (program, version, date,
    parameters), then this step's run. Used by ``swaxs integrate``.
    """
    from swaxs_plugins.core.pipeline import PROJECT_REFERENCE
    from swaxs_plugins.io.nexus import InputRecord
    from swaxs_plugins.io.raw import content_hash

    executor = executor or SerialExecutor(progress=progress)
    records = [InputRecord(f"scans_{i}", path, f"raw input 'scans': frames {source.frames or '(image)'}",
                           content_hash(path)) for i, path in enumerate(source.files)]
    context = StepContext(step_id=entry, kind="integrate", impl="pyfai", inputs={"scans": source}, executor=executor,
                          workdir=Path(output).parent, progress=progress)
    step = PyFAIIntegrate(params)
    configuration = {"id": entry, "kind": "integrate", "implementation": "pyfai", "version": __version__,
                     "program": "swaxs-plugins", "inputs": {"scans": [str(f) for f in source.files]},
                     "params": params.model_dump(mode="json")}
    with StepWriter(Path(output), entry, step.definition) as writer:
        writer.write_process(program="swaxs-plugins", version=__version__, sequence_index=1, kind="integrate",
                             implementation="pyfai", params=params.model_dump(mode="json"),
                             units=parameter_units(IntegrateParameters), configuration=configuration,
                             inputs=records, reference=PROJECT_REFERENCE)
        step.run(context, writer)
    return Path(output)


@hookimpl
def swaxs_register_steps() -> list[StepImpl]:
    """Register ``integrate/pyfai``, the default implementation of its kind."""
    return [StepImpl(kind="integrate", name="pyfai", cls=PyFAIIntegrate, version=__version__,
                     description="Azimuthal integration with pyFAI to I(q) and I(chi, q) segments, "
                                 "Poisson errors, NXazint1d/NXazint2d",
                     default=True)]
