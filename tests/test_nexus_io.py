"""NeXus writing: NXprocess provenance, NXdata attributes, the @default chain, atomic files,
validation against application definitions, and the raw readers (read-only)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import fabio
import hdf5plugin
import h5py
import numpy as np
import pytest
from silx.io import nxdata

from conftest import TEST_PLUGINS, write_pipeline, write_raw_scan
from swaxs_plugins.core.errors import InputDataError, OutputError
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.io.nexus import Axis, InputRecord, StepWriter
from swaxs_plugins.io.raw import FrameFile, RawSource, content_hash, frame_files, read_dataset, split_location
from swaxs_plugins.io.validation import validate_file


def text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def write_example(path, fail: bool = False) -> None:
    q = np.linspace(0.01, 0.5, 50)
    signal_ = np.arange(3 * 4 * 50, dtype=float).reshape(3, 4, 50) + 1
    with StepWriter(path, "curves", "NXswaxs_step") as writer:
        writer.write_process(program="swaxs-plugins", version="9.9", sequence_index=3, kind="integrate",
                             implementation="test", params={"npt": 50, "unit": "q_A^-1", "radial_range": [0.01, 0.5]},
                             units={"radial_range": "1/angstrom"}, configuration={"params": {"npt": 50}},
                             inputs=[InputRecord("scans_0", path.parent / "raw.nxs", "raw input", "abc123")],
                             reference="https://example.org")
        writer.nxdata("map", signal_, [Axis("y", np.arange(3.0), "mm", "y position"),
                                       Axis("x", np.arange(4.0), "mm", "x position"),
                                       Axis("q", q, "1/angstrom", "q")],
                      long_name="intensity", units="arbitrary units", errors=np.sqrt(signal_),
                      interpretation="spectrum", default=True,
                      silx_style={"signal_scale_type": "log", "axes_scale_types": ["log", "log"]})
        if fail:
            raise RuntimeError("disk full")


def test_nxprocess_and_nxdata_attributes_read_back(tmp_path):
    path = tmp_path / "step.nxs"
    write_example(path)
    with h5py.File(path, "r") as handle:
        assert text(handle.attrs["default"]) == "curves"
        entry = handle["curves"]
        assert text(entry.attrs["NX_class"]) == "NXentry" and text(entry.attrs["default"]) == "map"
        assert text(entry["definition"][()]) == "NXswaxs_step"
        process = entry["reduction"]
        assert text(process.attrs["NX_class"]) == "NXprocess"
        assert (text(process["program"][()]), text(process["version"][()])) == ("swaxs-plugins", "9.9")
        assert process["sequence_index"][()] == 3 and text(process["date"][()])[:2] == "20"
        params = process["input"]
        assert text(params.attrs["NX_class"]) == "NXparameters"
        assert params["npt"][()] == 50 and text(params["unit"][()]) == "q_A^-1"
        np.testing.assert_array_equal(params["radial_range"][()], [0.01, 0.5])
        assert text(params["radial_range"].attrs["units"]) == "1/angstrom"
        assert json.loads(process["configuration/data"][()]) == {"params": {"npt": 50}}
        source = process["source_scans_0"]
        assert text(source["data"][()]) == "abc123" and text(source["file_name"][()]).endswith("raw.nxs")
        data = entry["map"]
        assert text(data.attrs["signal"]) == "I"
        assert [text(a) for a in data.attrs["axes"]] == ["y", "x", "q"]
        assert data["I_errors"].shape == data["I"].shape
        for axis in ("y", "x", "q"):
            assert data[axis].attrs["units"] and data[axis].attrs["long_name"]
        assert text(data["I"].attrs["interpretation"]) == "spectrum"
        assert json.loads(data.attrs["SILX_style"])["signal_scale_type"] == "log"


def test_silx_finds_the_default_plot_through_the_chain(tmp_path):
    path = tmp_path / "step.nxs"
    write_example(path)
    with h5py.File(path, "r") as handle:
        default = nxdata.get_default(handle)
        assert default is not None and default.is_valid
        assert default.signal.name == "/curves/map/I"
        assert [a.name for a in default.axes] == ["/curves/map/y", "/curves/map/x", "/curves/map/q"]
        assert default.interpretation == "spectrum"


def test_an_exception_while_writing_leaves_no_file(tmp_path):
    path = tmp_path / "step.nxs"
    with pytest.raises(RuntimeError, match="disk full"):
        write_example(path, fail=True)
    assert list(tmp_path.iterdir()) == []


def test_a_killed_writer_leaves_nothing_that_looks_complete(tmp_path):
    path = tmp_path / "step.nxs"
    script = textwrap.dedent(f'''
        import os, signal, numpy as np
        from swaxs_plugins.io.nexus import StepWriter, Axis
        with StepWriter({str(path)!r}, "curves", "NXswaxs_step") as writer:
            writer.nxdata("big", np.ones((50, 1000)), [None, Axis("q", np.arange(1000.0), "1/angstrom", "q")],
                          long_name="I", units="a.u.")
            os.kill(os.getpid(), signal.SIGKILL)
    ''')
    result = subprocess.run([sys.executable, "-c", script])
    assert result.returncode == -signal.SIGKILL
    assert not path.exists()
    assert [p.name for p in tmp_path.iterdir()] == [".step.nxs.partial"]


def test_an_interrupted_rewrite_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    path = tmp_path / "step.nxs"
    write_example(path)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt):
        with StepWriter(path, "curves", "NXswaxs_step") as writer:
            writer.nxdata("half", np.ones(3), [None], long_name="I", units="a.u.")
            raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["step.nxs"]


def test_a_step_file_that_is_a_directory_is_refused_before_anything_is_written(tmp_path):
    path = tmp_path / "step.nxs"
    path.mkdir()
    with pytest.raises(OutputError, match=f"^{path}: the step file is a directory; give a file name inside it$"):
        with StepWriter(path, "curves", "NXswaxs_step"):
            pytest.fail("the writer must refuse before its block runs")
    assert [p.name for p in tmp_path.iterdir()] == ["step.nxs"]


def test_nxdata_refuses_axes_that_do_not_fit(tmp_path):
    with pytest.raises(ValueError, match="axis 'q': shape"):
        with StepWriter(tmp_path / "s.nxs", "e", "NXswaxs_step") as writer:
            writer.nxdata("d", np.ones((2, 5)), [None, Axis("q", np.arange(4.0), "1/angstrom", "q")],
                          long_name="I", units="a.u.")
    assert not (tmp_path / "s.nxs").exists()


def test_pipeline_outputs_validate_and_a_broken_file_does_not(raw_scan, tmp_path):
    raw, _ = raw_scan
    pipeline = write_pipeline(tmp_path / "p.yaml", textwrap.dedent(f'''
        name: v
        inputs: {{scans: {{files: [{raw}], frames: /entry/instrument/det/data}}}}
        output: out/v.nxs
        steps: [{{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}}}]
    '''))
    registry = Registry.discover([TEST_PLUGINS])
    plan = check_pipeline(pipeline, registry)
    run_pipeline(plan, registry, SerialExecutor(progress=False))
    [report] = validate_file(plan.output)
    assert (report.entry, report.definition, report.errors) == ("sums", "NXswaxs_step", 0)
    with h5py.File(plan.step_file("sums"), "a") as handle:
        del handle["sums/reduction/program"]
        del handle["sums/reduction/configuration"]
    [broken] = validate_file(plan.output)
    assert broken.errors >= 2
    assert any("program" in m for m in broken.messages)


def test_hdf5_frames_are_read_lazily_by_block(tmp_path):
    frames = write_raw_scan(tmp_path / "scan.nxs", n_points=7)
    stack = FrameFile(tmp_path / "scan.nxs", "/entry/instrument/det/data")
    assert stack.shape == (7, 16, 24)
    np.testing.assert_array_equal(stack.read(2, 5), frames[2:5])
    np.testing.assert_array_equal(read_dataset(tmp_path / "scan.nxs", "/entry/instrument/i0/data").shape, (7,))


def test_raw_files_are_opened_read_only(tmp_path):
    path = tmp_path / "scan.nxs"
    write_raw_scan(path)
    before = content_hash(path)
    os.chmod(path, 0o444)
    try:
        FrameFile(path, "/entry/instrument/det/data").read(0, 2)
    finally:
        os.chmod(path, 0o644)
    assert content_hash(path) == before


def test_image_files_and_series_read_through_fabio(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 1000, (3, 20, 30)).astype(np.int32)
    for i, image in enumerate(images):
        fabio.edfimage.EdfImage(data=image).write(str(tmp_path / f"frame_{i}.edf"))
    fabio.tifimage.TifImage(data=images[0]).write(str(tmp_path / "frame.tif"))
    source = RawSource(files=sorted(tmp_path.glob("frame_*.edf")))
    stacks = frame_files(source)
    np.testing.assert_array_equal(np.concatenate([s.read() for s in stacks]), images)
    np.testing.assert_array_equal(FrameFile(tmp_path / "frame.tif").read()[0], images[0])


def test_readers_name_the_file_and_dataset_in_their_errors(tmp_path):
    path = tmp_path / "scan.nxs"
    write_raw_scan(path)
    with pytest.raises(InputDataError, match=f"{path}: no dataset at '/entry/nothing'"):
        FrameFile(path, "/entry/nothing").read()
    with pytest.raises(InputDataError, match=f"{path}: a group, not a dataset, at '/entry/instrument'"):
        FrameFile(path, "/entry/instrument").shape
    with pytest.raises(InputDataError, match=f"{tmp_path / 'gone.nxs'}: file not found"):
        FrameFile(tmp_path / "gone.nxs", "/x").read()
    with pytest.raises(InputDataError, match="dataset '/entry/instrument/i0/data' has shape"):
        FrameFile(path, "/entry/instrument/i0/data").shape
    (tmp_path / "junk.tif").write_bytes(b"not an image")
    with pytest.raises(InputDataError, match="junk.tif: not an image fabio can read"):
        FrameFile(tmp_path / "junk.tif").read()


def test_locations_split_into_file_and_dataset():
    assert split_location("data/scan.h5::/entry/data") == (__import__("pathlib").Path("data/scan.h5"), "/entry/data")
    assert split_location("image.tif") == (__import__("pathlib").Path("image.tif"), None)


def test_eiger_master_files_with_linked_compressed_data_files(tmp_path):
    """An Eiger-style master file: /entry/data/data_00000N are external links to bitshuffle-LZ4 files."""
    rng = np.random.default_rng(4)
    chunks = [rng.poisson(3, (n, 12, 10)).astype(np.uint32) for n in (4, 3)]
    master = tmp_path / "series_master.h5"
    with h5py.File(master, "w") as handle:
        for i, frames in enumerate(chunks, start=1):
            data_file = tmp_path / f"series_data_{i:06d}.h5"
            with h5py.File(data_file, "w") as data:
                data.create_dataset("entry/data/data", data=frames, chunks=(1, 12, 10), **hdf5plugin.Bitshuffle())
            handle[f"entry/data/data_{i:06d}"] = h5py.ExternalLink(data_file.name, "/entry/data/data")
    stacks = frame_files(RawSource(files=[master], frames="/entry/data/data_*"))
    assert [s.dataset for s in stacks] == ["/entry/data/data_000001", "/entry/data/data_000002"]
    np.testing.assert_array_equal(np.concatenate([s.read() for s in stacks]), np.concatenate(chunks))
    with pytest.raises(InputDataError, match="no dataset matches '/entry/data/frames_\\*'"):
        frame_files(RawSource(files=[master], frames="/entry/data/frames_*"))
