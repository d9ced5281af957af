"""Test helpers for plugin authors: inputs in every layout, and one step run as the framework runs it.

Use it as a pytest plugin (``pytest_plugins = ["swaxs_plugins.testing"]`` in your ``conftest.py``)::

    def test_my_step_halves_the_curves(swaxs_inputs, tmp_path):
        curves = swaxs_inputs.curves()                           # I[1, 4, 5, 16] = x + 1, errors 0.1
        result = run_step("despike/acme", {"threshold": 5.0}, {"curves": curves}, workdir=tmp_path)
        assert result.problems == []                             # the layouts it declares, checked
        out = read_curves(result.ref)

or without pytest: the ``write_*`` functions make the same files, :func:`run_step` runs a step class or a
registered ``kind/name``. A run goes through setup → blocks → process (on the executor asked for) →
finalize, writes the step's NeXus file atomically with its NXprocess, and checks it against the layouts and
the application definition the step declares, as ``swaxs run`` does, without a pipeline file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from swaxs_plugins.core.errors import DefinitionError, LayoutError
from swaxs_plugins.core.executors import make_executor
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import Step, StepContext, StepOutputRef, parameter_units
from swaxs_plugins.data.layouts import layout_problems
from swaxs_plugins.data.masks import write_masks
from swaxs_plugins.io.nexus import Axis, StepWriter, set_nx_class, write_nxdata
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.validation import validate_step_entry

Q = np.linspace(0.05, 0.35, 16)
"""The q bins [1/Å] of the curves the helpers write."""
POINT_MM = 0.1


def map_axes(ny: int, nx: int, n_scans: int = 1) -> list[Axis]:
    """scan, y, x axes (y, x in mm, ``POINT_MM`` apart) of a map [scan, y, x]."""
    return [Axis("scan", np.arange(n_scans), "", "scan"), Axis("y", np.arange(ny) * POINT_MM, "mm", "y (mm)"),
            Axis("x", np.arange(nx) * POINT_MM, "mm", "x (mm)")]


def _entry_file(path: Path, entry: str, kind: str) -> tuple[h5py.File, h5py.Group, StepOutputRef]:
    handle = h5py.File(path, "w")
    group = set_nx_class(handle.create_group(entry), "NXentry")
    return handle, group, StepOutputRef(entry, kind, Path(path), entry)


def write_curves_file(path: Path, intensity: np.ndarray | None = None, errors: np.ndarray | None = None,
                      q: np.ndarray = Q, entry: str = "curves") -> StepOutputRef:
    """A file in the ``curves`` layout; by default I[1, 4, 5, q] = x index + 1 with errors 0.1."""
    if intensity is None:
        intensity = np.broadcast_to((np.arange(5) + 1.0)[None, None, :, None], (1, 4, 5, q.size)).copy()
    intensity = np.asarray(intensity, np.float64)
    errors = np.full(intensity.shape, 0.1) if errors is None else np.asarray(errors, np.float64)
    n_scans, ny, nx, _ = intensity.shape
    handle, group, ref = _entry_file(path, entry, "curves")
    with handle:
        maps = set_nx_class(group.create_group("maps"), "NXcollection")
        data = write_nxdata(maps, "curves", intensity, [*map_axes(ny, nx, n_scans), Axis("q", q, "1/angstrom", "q")],
                            long_name="intensity", units="arbitrary units", errors=errors)
        data.attrs.update(monitor_normalised=np.bool_(True), transmission_corrected=np.bool_(True))
        scans = set_nx_class(group.create_group("scans"), "NXcollection")
        scans["scan_shape"] = np.array([ny, nx])
        scans["points"] = np.full(n_scans, ny * nx)
    return ref


def write_masks_file(path: Path, masks: Mapping[str, np.ndarray] | None = None, entry: str = "masks") -> StepOutputRef:
    """A file in the ``masks`` layout; by default one mask ``right`` [4, 5], the columns x ≥ 3."""
    if masks is None:
        right = np.zeros((4, 5), bool)
        right[:, 3:] = True
        masks = {"right": right}
    ny, nx = next(iter(masks.values())).shape
    handle, group, ref = _entry_file(path, entry, "mask")
    with handle:
        write_masks(group, masks, map_axes(ny, nx)[1:])
    return ref


def write_maps_file(path: Path, maps: Mapping[str, np.ndarray] | None = None, entry: str = "maps") -> StepOutputRef:
    """A file in the ``maps`` layout (each map [scan, y, x]); by default ``amplitude`` [1, 4, 5] = y + x."""
    if maps is None:
        maps = {"amplitude": np.add.outer(np.arange(4.0), np.arange(5.0))[None]}
    handle, group, ref = _entry_file(path, entry, "fit")
    with handle:
        collection = set_nx_class(group.create_group("maps"), "NXcollection")
        for name, values in maps.items():
            n_scans, ny, nx = np.shape(values)
            write_nxdata(collection, name, np.asarray(values, np.float64), map_axes(ny, nx, n_scans),
                         signal_name=name, long_name=name, units="")
    return ref


def write_transmission_file(path: Path, transmission: np.ndarray | None = None,
                            entry: str = "transmission") -> StepOutputRef:
    """A file in the ``transmission`` layout (and ``curves``, as a transmission step writes both); by default
    T[1, 4, 5] = 0.5 with the left column 0.05 (a current collector)."""
    if transmission is None:
        transmission = np.full((1, 4, 5), 0.5)
        transmission[:, :, 0] = 0.05
    ref = write_curves_file(path, entry=entry)
    n_scans, ny, nx = np.shape(transmission)
    with h5py.File(path, "a") as handle:
        write_nxdata(handle[entry], "transmission", np.asarray(transmission, np.float64), map_axes(ny, nx, n_scans),
                     signal_name="T", long_name="transmission", units="")
    return StepOutputRef(entry, "transmission", ref.path, entry)


def write_projections_file(path: Path, n_projections: int = 12, raster: tuple[int, int] = (6, 8),
                           entry: str = "projections") -> StepOutputRef:
    """A file in the ``projections`` layout: one sample of ``n_projections`` untilted projections over
    180° of a uniform bar (I = 1 per unit path on every ray through it), 2 q bins."""
    from swaxs_plugins.data.projections import Projections, write_projections

    n_k, n_j = raster
    intensity = np.zeros((n_projections, n_k, n_j, 2))
    intensity[:, :, n_j // 2 - 1:n_j // 2 + 1, :] = 1.0
    sample = Projections("sample", intensity, np.full(intensity.shape, 0.01), np.array([0.1, 0.2]),
                         np.linspace(0.0, 180.0, n_projections, endpoint=False), np.zeros(n_projections),
                         np.ones((n_projections, n_k, n_j)), 50.0, "swaxs_plugins.testing", True)
    handle, group, ref = _entry_file(path, entry, "align")
    with handle:
        write_projections(group, [sample])
    return ref


def write_volumes_file(path: Path, shape: tuple[int, int, int] = (4, 6, 6), entry: str = "volumes") -> StepOutputRef:
    """A file in the ``volumes`` layout: one sample, I[z, y, x, q] = z + 1 at 2 q bins, 50 µm voxels, a
    q region ``micropores`` holding both bins."""
    from swaxs_plugins.data.volumes import Volume, write_volumes

    intensity = np.broadcast_to((np.arange(shape[0]) + 1.0)[:, None, None, None], (*shape, 2)).copy()
    volume = Volume("sample", intensity, np.array([0.15, 0.25]), 50.0, "swaxs_plugins.testing",
                    regions={"micropores": (0.12, 0.3)})
    handle, group, ref = _entry_file(path, entry, "reconstruct")
    with handle:
        write_volumes(group, [volume], "counts/mm")
    return ref


def write_geometry_file(path: Path, poni: str | None = None, entry: str = "geometry") -> StepOutputRef:
    """A file in the ``geometry`` layout; by default a 100 µm-pixel detector 0.5 m from the sample at 1 Å."""
    if poni is None:
        from pyFAI.detectors import Detector
        from pyFAI.integrator.azimuthal import AzimuthalIntegrator

        detector = Detector(pixel1=1e-4, pixel2=1e-4, max_shape=(64, 64))
        integrator = AzimuthalIntegrator(dist=0.5, poni1=3.2e-3, poni2=3.2e-3, detector=detector, wavelength=1e-10)
        poni = _poni_file_text(integrator)
    handle, group, ref = _entry_file(path, entry, "calibrate")
    with handle:
        group["poni"] = poni
    return ref


def _poni_file_text(integrator: Any) -> str:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "geometry.poni"
        integrator.write(str(target))
        return target.read_text()


def write_raw_frames(path: Path, n_points: int = 20, shape: tuple[int, int] = (64, 64), seed: int = 0) -> RawSource:
    """A raw scan (NeXus, Poisson frames, monitor ``i0`` and ``diode``) as a pipeline input: ``RawSource``."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as handle:
        handle["/entry/instrument/det/data"] = rng.poisson(50, (n_points, *shape)).astype(np.uint32)
        handle["/entry/instrument/i0/data"] = rng.uniform(0.9, 1.1, n_points) * 1e5
        handle["/entry/instrument/diode/data"] = rng.uniform(0.4, 0.6, n_points) * 1e5
    return RawSource(files=[Path(path)], frames="/entry/instrument/det/data", monitor="/entry/instrument/i0/data",
                     diode="/entry/instrument/diode/data", scan_shape=[4, n_points // 4] if n_points % 4 == 0 else None)


WRITERS = {"curves": write_curves_file, "transmission": write_transmission_file, "masks": write_masks_file,
           "maps": write_maps_file, "geometry": write_geometry_file, "projections": write_projections_file,
           "volumes": write_volumes_file}
"""A writer of a small file of known values per layout (every layout of :mod:`swaxs_plugins.data.layouts`)."""


@dataclass
class Inputs:
    """Makes input files in ``folder``, one per call (the ``swaxs_inputs`` fixture)."""

    folder: Path
    made: list[Path] = field(default_factory=list)

    def _path(self, stem: str) -> Path:
        path = self.folder / f"{stem}_{len(self.made)}.nxs"
        self.made.append(path)
        return path

    def curves(self, intensity: np.ndarray | None = None, **kwargs: Any) -> StepOutputRef:
        return write_curves_file(self._path("curves"), intensity, **kwargs)

    def masks(self, masks: Mapping[str, np.ndarray] | None = None) -> StepOutputRef:
        return write_masks_file(self._path("masks"), masks)

    def maps(self, maps: Mapping[str, np.ndarray] | None = None) -> StepOutputRef:
        return write_maps_file(self._path("maps"), maps)

    def geometry(self, poni: str | None = None) -> StepOutputRef:
        return write_geometry_file(self._path("geometry"), poni)

    def transmission(self, transmission: np.ndarray | None = None) -> StepOutputRef:
        return write_transmission_file(self._path("transmission"), transmission)

    def projections(self, **kwargs: Any) -> StepOutputRef:
        return write_projections_file(self._path("projections"), **kwargs)

    def volumes(self, **kwargs: Any) -> StepOutputRef:
        return write_volumes_file(self._path("volumes"), **kwargs)

    def raw_frames(self, **kwargs: Any) -> RawSource:
        return write_raw_frames(self._path("raw"), **kwargs)

    def layout(self, name: str) -> StepOutputRef:
        """A default file of layout ``name`` (:data:`WRITERS`)."""
        if name not in WRITERS:
            raise KeyError(f"no helper writes the layout '{name}'; the helpers write {', '.join(WRITERS)}")
        return WRITERS[name](self._path(name))


@dataclass
class StepResult:
    """What :func:`run_step` made: the step's file and entry, its context (warnings, summary), layout problems."""

    ref: StepOutputRef
    context: StepContext
    problems: list[str]


def run_step(step: type[Step] | str, params: Mapping[str, Any] | None = None, inputs: Mapping[str, Any] | None = None,
             *, workdir: Path, step_id: str = "step", executor: str = "serial", registry: Registry | None = None,
             check_layouts: bool = True) -> StepResult:
    """Run one step (a class, or a registered ``kind/name``) on ``inputs`` (name → ``StepOutputRef`` or
    ``RawSource``) as ``swaxs run`` does; raises :class:`LayoutError` where its entry lacks a layout it
    declares and :class:`DefinitionError` where it breaks its application definition (``check_layouts=False``:
    returns the problems of both instead)."""
    cls, kind, impl = _resolve(step, registry)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{step_id}.nxs"
    with make_executor(executor, progress=False) as chosen:
        context = StepContext(step_id=step_id, kind=kind, impl=impl, inputs=dict(inputs or {}), executor=chosen,
                              workdir=workdir, progress=False)
        validated = cls.Parameters.model_validate(dict(params or {}))
        with StepWriter(path, step_id, cls.definition) as writer:
            writer.write_process(program="swaxs_plugins.testing", version="test", sequence_index=1, kind=kind,
                                 implementation=impl, params=validated.model_dump(mode="json"),
                                 units=parameter_units(cls.Parameters), configuration={"id": step_id},
                                 inputs=[], reference="swaxs_plugins.testing.run_step")
            cls(validated).run(context, writer)
            problems = layout_problems(writer.entry, cls.produces)
            if problems and check_layouts:
                raise LayoutError(cls.produces, problems)
    report = validate_step_entry(path, step_id, cls.definition)
    if report is not None and not report.ok:
        problems = problems + [f"definition {cls.definition}: {message}" for message in report.messages]
        if check_layouts:
            raise DefinitionError(cls.definition, report.messages)
    return StepResult(StepOutputRef(step_id, kind, path, step_id), context, problems)


def _resolve(step: type[Step] | str, registry: Registry | None) -> tuple[type[Step], str, str]:
    if isinstance(step, str):
        kind, _, name = step.partition("/")
        registered = (registry or Registry.discover()).get(kind, name or None)
        return registered.step_class, kind, registered.impl.name
    return step, "test", step.__name__


def _inputs_fixture(tmp_path: Path) -> Inputs:
    """Input files in every layout the helpers write, in the test's temporary folder."""
    folder = tmp_path / "swaxs_inputs"
    folder.mkdir(exist_ok=True)
    return Inputs(folder)


try:  # the helpers work without pytest (swaxs plugins verify uses them); the fixture needs it
    import pytest
except ImportError:  # pragma: no cover - pytest is a test dependency
    pass
else:
    swaxs_inputs = pytest.fixture(_inputs_fixture, name="swaxs_inputs")
