"""The integrated NXazint1d carries its provenance (the geometry as a PONI pyFAI reads back, the error model,
pyFAI's method names, the start time saying whose) and stores each intensity array once (the map views are
virtual datasets over it). Small scans: two files of 8 frames of 64 x 64 pixels, serpentine."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import h5py
import numpy as np
import pyFAI
import pytest
from pyFAI.io.ponifile import PoniFile
from pyFAI.method_registry import IntegrationMethod

from swaxs_plugins.data.curves import parse_time, read_curves
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.io.validation import validate_step_entry
from swaxs_plugins.testing import run_step, write_geometry_file, write_raw_frames

TIMES = ["2026-05-04T08:15:00+00:00", "2026-05-04T09:15:00+00:00"]
NPT, SEGMENTS = 40, 4


def scans(folder: Path, timestamps: bool = True) -> RawSource:
    """Two raw scans (4 x 2 points, serpentine along x), each with its ISO start time where ``timestamps``."""
    paths = [folder / f"scan_{k}.h5" for k in range(2)]
    for k, path in enumerate(paths):
        source = write_raw_frames(path, n_points=8, seed=k)
        if timestamps:
            with h5py.File(path, "a") as handle:
                handle["/entry/start_time"] = TIMES[k]
    return source.model_copy(update={"files": paths, "fast_axis": "x", "snake": True,
                                     "timestamp": "/entry/start_time" if timestamps else None})


def integrate(folder: Path, params: dict, timestamps: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    geometry = write_geometry_file(folder / "geometry.nxs")
    return run_step("integrate/pyfai", {"npt": NPT, **params}, {"scans": scans(folder, timestamps),
                                                                 "geometry": geometry}, workdir=folder, step_id="integ")


@pytest.fixture(scope="module")
def sparse(tmp_path_factory):
    return integrate(tmp_path_factory.mktemp("provenance") / "sparse", {"segments": SEGMENTS})


def inputs(result) -> dict:
    with h5py.File(result.ref.path, "r") as handle:
        group = handle["integ/reduction/input"]
        return {name: group[name][()].decode() if isinstance(group[name][()], bytes) else group[name][()]
                for name in group}


def used_geometry(result) -> PoniFile:
    with h5py.File(result.ref.path.parent / "geometry.nxs", "r") as handle:
        text = handle["geometry/poni"][()].decode()
    path = result.ref.path.parent / "used.poni"
    path.write_text(text)
    return PoniFile(str(path))


def test_pyfai_reads_the_poni_back_as_the_geometry_used(sparse):
    stored = inputs(sparse)["poni"]
    used = used_geometry(sparse)
    for read in (PoniFile(json.loads(stored)), pyFAI.load(stored)):
        for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"):
            assert getattr(read, name) == pytest.approx(getattr(used, name), rel=1e-12, abs=1e-15), name
        assert (read.detector.pixel1, read.detector.pixel2) == (used.detector.pixel1, used.detector.pixel2)
        assert read.detector.max_shape == used.detector.max_shape == (64, 64)
        assert read.detector.orientation == used.detector.orientation


def test_a_poni_file_parameter_keeps_its_name_beside_the_geometry(tmp_path):
    folder = tmp_path / "file"
    first = integrate(folder, {})
    poni = folder / "geometry.poni"
    with open(poni, "w") as handle:
        used_geometry(first).write(handle)
    result = run_step("integrate/pyfai", {"npt": NPT, "poni": str(poni)}, {"scans": scans(folder)}, workdir=folder,
                      step_id="integ")
    with h5py.File(result.ref.path, "r") as handle:
        field = handle["integ/reduction/input/poni"]
        assert field.attrs["file_name"] == str(poni)
        assert pyFAI.load(field[()].decode()).dist == pytest.approx(0.5)


@pytest.mark.parametrize("engine", ["sparse", "pyfai"])
def test_error_model_and_method_as_pyfai_names_them(sparse, tmp_path, engine):
    result = sparse if engine == "sparse" else integrate(tmp_path / engine, {"engine": engine})
    found = inputs(result)
    assert found["error_model"] == "poisson"
    method = json.loads(found["integration_method"])
    assert method == {"dim": 1, "split": "bbox", "algo": "csc" if engine == "sparse" else "csr", "impl": "cython"}
    assert IntegrationMethod.select_method(**method)  # pyFAI knows the method by these names


def test_start_time_is_the_first_scans_else_the_processing_time_saying_so(sparse, tmp_path):
    with h5py.File(sparse.ref.path, "r") as handle:
        start = handle["integ/start_time"]
        assert parse_time(start[()].decode()) == parse_time(TIMES[0])
        assert start.attrs["source"] == "acquisition: the first scan's timestamp"
        assert handle["integ/segments/start_time"][()] == start[()]  # the NXazint2d sub-entry shares it
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    untimed = integrate(tmp_path / "untimed", {}, timestamps=False)
    with h5py.File(untimed.ref.path, "r") as handle:
        start = handle["integ/start_time"]
        assert before <= parse_time(start[()].decode()) <= dt.datetime.now(dt.timezone.utc)
        assert start.attrs["source"] == "processing time (the raw input records no timestamp)"


def test_the_entry_is_still_valid_nxazint1d_and_nxazint2d(sparse):
    for path, definition in (("integ", "NXazint1d"), ("integ/segments", "NXazint2d")):
        report = validate_step_entry(sparse.ref.path, path, definition)
        assert report is not None and (report.errors, report.warnings) == (0, 0), report.messages


def test_each_intensity_array_is_stored_once(sparse, tmp_path):
    """Only ``integrated`` (and ``segments/integrated``) hold data; the map views are virtual datasets over them
    in the same file, showing every map point its frame (serpentine rows reversed), also through a link."""
    with h5py.File(sparse.ref.path, "r") as handle:
        entry = handle["integ"]
        stored = {name: entry[name] for name in ("integrated/I", "integrated/I_errors", "segments/integrated/I",
                                                 "segments/integrated/I_errors")}
        views = {name: entry[name] for name in ("maps/curves/I", "maps/curves/I_errors", "maps/images/I",
                                                "maps/segments/I", "maps/segments/I_errors")}
        assert not any(d.is_virtual for d in stored.values())
        assert all(d.is_virtual and d.id.get_storage_size() == 0 for d in views.values())
        assert {s.file_name for d in views.values() for s in d.virtual_sources()} == {"."}
        flat, per_point = entry["integrated/I"][()], entry["maps/curves/I"][()]
        order = entry["scans/frame_order"][()]
        assert list(order) == [0, 1, 3, 2, 4, 5, 7, 6]
        np.testing.assert_array_equal(per_point.reshape(2, 8, NPT), flat.reshape(2, 8, NPT)[:, order])
        np.testing.assert_array_equal(entry["maps/images/I"][()], np.moveaxis(per_point, -1, 1))
        np.testing.assert_array_equal(entry["maps/segments/I"][()].reshape(2, 8, SEGMENTS, NPT),
                                      entry["segments/integrated/I"][()].reshape(2, 8, SEGMENTS, NPT)[:, order])
        assert entry["maps/images/q"] == entry["maps/curves/q"]  # hard links: the same dataset
    curves = read_curves(sparse.ref)
    np.testing.assert_array_equal(curves.intensity, per_point.astype(np.float64))
    master = tmp_path / "master.nxs"
    with h5py.File(master, "w") as handle:
        handle["integ"] = h5py.ExternalLink(str(sparse.ref.path), "/integ")
    with h5py.File(master, "r") as handle:
        np.testing.assert_array_equal(handle["integ/maps/curves/I"][()], per_point)
