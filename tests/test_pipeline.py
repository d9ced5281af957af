"""Pipeline files: validation without data (every message names step and field), runs and resume."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins.core.errors import PipelineError, StepFailed, SwaxsError
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.io.nexus import read_run_state
from swaxs_plugins.io.validation import validate_file

GOOD = '''
name: sums
inputs:
  scans: {{files: [{raw}], frames: /entry/instrument/det/data}}
output: out/sums.nxs
steps:
  - id: sums
    kind: integrate
    impl: framesum
    inputs: {{scans: scans}}
    params: {{factor: 2.0, chunk: 4{extra}}}
  - id: shifted
    kind: background
    impl: offset
    inputs: {{sums: sums}}
    params: {{offset: 1.5}}
'''


@pytest.fixture
def registry() -> Registry:
    return Registry.discover([TEST_PLUGINS])


def pipeline_text(raw: Path, extra: str = "") -> str:
    return GOOD.format(raw=raw, extra=extra)


def problems_of(path: Path, registry: Registry) -> list[str]:
    with pytest.raises(PipelineError) as error:
        check_pipeline(path, registry)
    return error.value.problems


def run_state(path: Path):
    with h5py.File(path, "r") as handle:
        state = read_run_state(handle)
    return state.completed, state.total, state.complete


def expected_sums(frames: np.ndarray, factor: float) -> np.ndarray:
    data = frames.astype(np.float64)
    return data.sum(axis=(1, 2)) * factor + np.sin(data).sum(axis=(1, 2))


def test_a_good_pipeline_checks_with_shapes_and_memory(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", pipeline_text(raw)), registry)
    assert [s.config.id for s in plan.steps] == ["sums", "shifted"]
    assert plan.steps[0].estimate.outputs == {"sums": (len(frames),)}
    assert plan.memory_bytes == 8 * len(frames)
    assert plan.output == (tmp_path / "out" / "sums.nxs").resolve()


@pytest.mark.parametrize(("edit", "expected"), [
    (("kind: background", "kind: denoise"), "step 'shifted' (denoise), field 'kind': unknown step kind 'denoise'"),
    (("impl: offset", "impl: nosuch"),
     "step 'shifted' (background), field 'impl': unknown implementation 'nosuch' of step kind 'background'; "
     "available: offset"),
    (("{sums: sums}", "{sums: summs}"),
     "step 'shifted' (background), field 'inputs.sums': 'summs' is neither an input of the pipeline nor an earlier step"),
    (("factor: 2.0", "factor: lots"), "step 'sums' (integrate), field 'params.factor': Input should be a valid number"),
    (("chunk: 4", "chunk: 4, colour: red"), "step 'sums' (integrate), field 'params.colour': Extra inputs are not permitted"),
    (("{sums: sums}", "{}"), "step 'shifted' (background), field 'inputs.sums': missing"),
    (("{scans: scans}", "{scans: sums}"), "step 'sums' (integrate), field 'inputs.scans': 'sums' is neither"),
])
def test_each_mistake_is_reported_with_step_and_field(raw_scan, tmp_path, registry, edit, expected):
    raw, _ = raw_scan
    text = pipeline_text(raw).replace(*edit)
    problems = problems_of(write_pipeline(tmp_path / "p.yaml", text), registry)
    assert any(p.startswith(expected) for p in problems), problems


def test_a_missing_input_file_names_the_input_and_file(tmp_path, registry):
    missing = tmp_path / "nothere.nxs"
    problems = problems_of(write_pipeline(tmp_path / "p.yaml", pipeline_text(missing)), registry)
    assert problems == [f"input 'scans', field 'files': file not found: {missing}"]


def test_a_wrong_frames_path_names_the_dataset(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    text = pipeline_text(raw).replace("/entry/instrument/det/data", "/entry/instrument/eiger/data")
    problems = problems_of(write_pipeline(tmp_path / "p.yaml", text), registry)
    assert problems == [f"input 'scans', field 'frames': {raw}: no dataset at '/entry/instrument/eiger/data'"]


def test_structure_errors_name_the_step_and_field(tmp_path, registry):
    text = "name: x\noutput: o.nxs\nsteps:\n  - id: 2bad\n    kind: fit\n  - kind: fit\n"
    problems = problems_of(write_pipeline(tmp_path / "p.yaml", text), registry)
    assert any(p.startswith("step '2bad' (fit), field 'id': String should match pattern") for p in problems)
    assert any(p.startswith("step '#2' (fit), field 'id': Field required") for p in problems)


def test_a_reference_to_a_later_step_is_dangling(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    lines = pipeline_text(raw).split("  - id: shifted")
    text = lines[0].split("steps:")[0] + "steps:\n  - id: shifted" + lines[1] + lines[0].split("steps:")[1]
    problems = problems_of(write_pipeline(tmp_path / "p.yaml", text), registry)
    assert any(p.startswith("step 'shifted' (background), field 'inputs.sums': 'sums' is neither") for p in problems)


def test_a_run_writes_every_step_and_links_them(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", pipeline_text(raw)), registry)
    runs = run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert [(r.step_id, r.status) for r in runs] == [("sums", "ran"), ("shifted", "ran")]
    with h5py.File(plan.output, "r") as handle:
        assert handle.attrs["default"] == "shifted" and handle.attrs["swaxs_pipeline"] == "sums"
        np.testing.assert_allclose(handle["sums/sums/total"][()], expected_sums(frames, 2.0), rtol=1e-12)
        np.testing.assert_allclose(handle["shifted/shifted/I"][()], expected_sums(frames, 2.0) + 1.5, rtol=1e-12)
        assert handle["shifted/reduction/sequence_index"][()] == 2
    assert run_state(plan.output) == (2, 2, True)
    assert all(report.ok for report in validate_file(plan.output))


def test_the_pipeline_default_names_the_step_the_output_opens_on(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    text = pipeline_text(raw).replace("steps:\n", "default: sums\nsteps:\n")
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", text), registry)
    run_pipeline(plan, registry, SerialExecutor(progress=False))
    with h5py.File(plan.output, "r") as handle:
        assert handle.attrs["default"] == "sums"  # not the last step, 'shifted'
    wrong = write_pipeline(tmp_path / "wrong.yaml", text.replace("default: sums", "default: summs"))
    assert problems_of(wrong, registry) == ["field 'default': 'summs' is not a step of this pipeline; the steps are "
                                            "sums, shifted"]


def test_an_unchanged_rerun_skips_and_a_changed_one_needs_overwrite(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw))
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    again = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert [r.status for r in again] == ["unchanged", "unchanged"]
    path.write_text(pipeline_text(raw).replace("offset: 1.5", "offset: 3.0"))
    with pytest.raises(SwaxsError, match="step 'shifted': .* was made from other inputs, parameters or code; run with "
                                         "--from shifted .* or --overwrite"):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    runs = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), overwrite=True)
    assert [r.status for r in runs] == ["ran", "ran"]
    with h5py.File(runs[1].path, "r") as handle:
        np.testing.assert_allclose(handle["shifted/shifted/I"][()], expected_sums(frames, 2.0) + 3.0)


@pytest.mark.parametrize(("fields", "expected"), [
    ("monitor: /entry/instrument/i0/dat", "input 'scans', field 'monitor': {raw}: no dataset at '/entry/instrument/i0/dat'"),
    ("diode: /entry/instrument/det/data", "input 'scans', field 'diode': {raw}: '/entry/instrument/det/data' has 3840 "
                                          "values for 10 frames"),
    ("scan_shape: [3, 4]", "input 'scans', field 'scan_shape': [3, 4] does not hold the 10 frames of {raw}"),
    ("scan_shape: /entry/scan_shape", "input 'scans', field 'scan_shape': {raw}: '/entry/scan_shape' says [2, 4], "
                                      "which does not hold its 10 frames"),
    ("positions: {{x: /entry/instrument/i0/data, y: /entry/y}}", "input 'scans', field 'positions.y': {raw}: no "
                                                                 "dataset at '/entry/y'"),
    ("timestamp: /entry/start_time", "input 'scans', field 'timestamp': {raw}: no dataset at '/entry/start_time'"),
])
def test_check_finds_what_the_metadata_show(raw_scan, tmp_path, registry, fields, expected):
    """Every dataset a raw input names, in every file, against that file's frames: found by check, before a run."""
    raw, _ = raw_scan
    with h5py.File(raw, "a") as handle:
        handle["/entry/scan_shape"] = [2, 4]
    text = pipeline_text(raw).replace("frames: /entry/instrument/det/data", "frames: /entry/instrument/det/data, "
                                      + fields.format())
    assert problems_of(write_pipeline(tmp_path / "p.yaml", text), registry) == [expected.format(raw=raw)]


@pytest.mark.parametrize(("layout", "declared", "expected"), [
    ("raster", "scan_shape: [5, 2]", "input 'scans', field 'scan_shape': {raw}: scan_shape [5, 2] (field "
                                     "'scan_shape') disagrees with the positions, 2 lines of 5 points, x fastest "
                                     "(scan_shape [2, 5], or leave it out)"),
    ("snake", "fast_axis: y", "input 'scans', field 'fast_axis': {raw}: fast_axis y (field 'fast_axis') disagrees "
                              "with the positions, 2 lines of 5 points, x fastest, serpentine"),
])
def test_check_compares_the_scan_shape_with_the_positions(raw_scan, tmp_path, registry, layout, declared, expected):
    """2 lines of 5 points, x fastest: a transposed scan_shape and a wrong fast axis are found by check."""
    raw, _ = raw_scan
    y, x = np.meshgrid([0.0, 0.1], np.arange(5) * 0.02, indexing="ij")
    if layout == "snake":
        x[1] = x[1, ::-1]
    with h5py.File(raw, "a") as handle:
        handle["/entry/y"], handle["/entry/x"] = y.ravel(), x.ravel()
    fields = "positions: {y: /entry/y, x: /entry/x}, " + declared
    text = pipeline_text(raw).replace("frames: /entry/instrument/det/data", f"frames: /entry/instrument/det/data, {fields}")
    [problem] = problems_of(write_pipeline(tmp_path / "p.yaml", text), registry)
    assert problem.startswith(expected.format(raw=raw)), problem


def test_check_passes_datasets_that_fit(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    with h5py.File(raw, "a") as handle:
        handle["/entry/scan_shape"] = [2, 5]
        handle["/entry/start_time"] = "2026-12-02T04:00:00"
    fields = ("monitor: /entry/instrument/i0/data, diode: /entry/instrument/diode/data, scan_shape: /entry/scan_shape, "
              "positions: {x: /entry/instrument/i0/data}, timestamp: /entry/start_time")
    text = pipeline_text(raw).replace("frames: /entry/instrument/det/data", f"frames: /entry/instrument/det/data, {fields}")
    assert [s.config.id for s in check_pipeline(write_pipeline(tmp_path / "p.yaml", text), registry).steps] == \
        ["sums", "shifted"]


def test_rerun_from_a_step_recomputes_it_and_what_depends_on_it(raw_scan, tmp_path, registry):
    """``rerun_from``: the step and the steps reading its output run again, earlier ones are kept; a changed
    later step needs no ``overwrite``; an unknown step is named with the pipeline's steps."""
    raw, frames = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw))
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    for step, statuses in (("shifted", ["unchanged", "ran"]), ("sums", ["ran", "ran"])):
        runs = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), rerun_from=step)
        assert [r.status for r in runs] == statuses, step
    path.write_text(pipeline_text(raw).replace("offset: 1.5", "offset: 3.0"))
    runs = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), rerun_from="shifted")
    assert [r.status for r in runs] == ["unchanged", "ran"]
    with h5py.File(runs[1].path, "r") as handle:
        np.testing.assert_allclose(handle["shifted/shifted/I"][()], expected_sums(frames, 2.0) + 3.0)
    with pytest.raises(PipelineError, match="no step 'shift' to rerun from; the steps are sums, shifted"):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), rerun_from="shift")


def test_a_moved_processed_folder_resumes(tmp_path, registry):
    """A folder with raw data, a parameter file, the pipeline (relative paths) and its results, moved elsewhere:
    every step is unchanged (paths do not enter the fingerprints, content does)."""
    from conftest import write_raw_scan

    site = tmp_path / "site"
    site.mkdir()
    frames = write_raw_scan(site / "scan.nxs")
    np.save(site / "offsets.npy", np.arange(len(frames), dtype=float))
    path = write_pipeline(site / "p.yaml", pipeline_text(Path("scan.nxs"), extra=", offsets: offsets.npy"))
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    moved = shutil.move(site, tmp_path / "moved")
    runs = run_pipeline(check_pipeline(Path(moved) / "p.yaml", registry), registry, SerialExecutor(progress=False))
    assert [r.status for r in runs] == ["unchanged", "unchanged"]
    assert all(r.path.is_relative_to(tmp_path / "moved") for r in runs)


def test_a_plugin_whose_code_changed_is_not_reported_unchanged(raw_scan, tmp_path):
    """The same version, other code (one line added to the plugin file that defines both steps): the first
    step's file counts as made by other code; ``rerun_from`` it recomputes both."""
    raw, _ = raw_scan
    plugins = tmp_path / "plugins"
    shutil.copytree(TEST_PLUGINS, plugins)
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw))
    registry = Registry.discover([plugins])
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    [source] = plugins.glob("*.py")
    source.write_text(source.read_text() + "\nEDITED = True  # a change that leaves the version alone\n")
    registry = Registry.discover([plugins])
    with pytest.raises(SwaxsError, match="step 'sums': .* was made from other inputs, parameters or code"):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    runs = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), rerun_from="sums")
    assert [r.status for r in runs] == ["ran", "ran"]


def test_step_warnings_and_quality_figures_reach_the_run_summary_and_the_file(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    threshold = float(np.median(expected_sums(frames, 2.0)))
    over = int(np.count_nonzero(expected_sums(frames, 2.0) > threshold))
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw, extra=f", warn_above: {threshold!r}"))
    first = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert first[0].warnings == [f"{over} frame sums above {threshold:g}"] and first[1].warnings == []
    assert float(first[0].summary["largest sum"]) == pytest.approx(expected_sums(frames, 2.0).max(), rel=1e-5)
    with h5py.File(first[0].path, "r") as handle:
        assert handle["sums/reduction/warnings/data"][()].decode() == first[0].warnings[0]
    again = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert again[0].status == "unchanged"
    assert (again[0].warnings, again[0].summary) == (first[0].warnings, first[0].summary)


def test_a_failed_run_leaves_no_result_of_the_failed_step_and_resumes(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", textwrap.dedent(pipeline_text(raw)))
    plan = check_pipeline(path, registry)
    failing = plan.steps[1].step_class
    original_finalize = failing.finalize
    failing.finalize = lambda self, results, writer: (_ for _ in ()).throw(MemoryError("node ran out of memory"))
    try:
        with pytest.raises(StepFailed, match=r"^step 'shifted' \(background/offset, frame_steps 0\.1\) failed: "
                                             r"MemoryError: node ran out of memory$"):
            run_pipeline(plan, registry, SerialExecutor(progress=False))
    finally:
        failing.finalize = original_finalize
    assert plan.step_file("sums").exists()
    assert not plan.step_file("shifted").exists()
    assert not list(plan.steps_dir.glob(".*partial"))
    with h5py.File(plan.output, "r") as handle:
        assert list(handle) == ["sums"]
    assert run_state(plan.output) == (1, 2, False)
    incomplete = [r for r in validate_file(plan.output) if not r.ok]
    assert [(r.entry, r.messages) for r in incomplete] == [("/", [
        "incomplete run: 1 of 2 steps completed (the run failed or was interrupted); run the pipeline again to "
        "finish it"])]
    runs = run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert [r.status for r in runs] == ["unchanged", "ran"]
    assert run_state(plan.output) == (2, 2, True)


def test_a_rerun_that_fails_leaves_the_output_marked_incomplete_not_the_old_complete_one(raw_scan, tmp_path,
                                                                                         registry):
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw))
    plan = check_pipeline(path, registry)
    run_pipeline(plan, registry, SerialExecutor(progress=False))
    path.write_text(pipeline_text(raw, extra=", fail_on_frame: 5"))
    with pytest.raises(StepFailed):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False), overwrite=True)
    assert run_state(plan.output) == (0, 2, False)
    assert not any(report.ok for report in validate_file(plan.output))


def test_outputs_that_cannot_be_written_are_refused_by_check_before_any_data_is_read(raw_scan, tmp_path,
                                                                                      registry):
    raw, _ = raw_scan
    (tmp_path / "blocker").write_text("a file where the output folder should be")
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw).replace("out/sums.nxs", "blocker/sums.nxs"))
    output = tmp_path / "blocker" / "sums.nxs"
    assert problems_of(path, registry)[0] == (
        f"field 'output': {output}: cannot write the pipeline output, {tmp_path / 'blocker'} is a file, "
        "not a folder; choose another path")
    assert len(problems_of(path, registry)) == 1  # the step files, under the same file, are not named again
    path.write_text(pipeline_text(raw))
    (tmp_path / "out" / "sums_steps" / "shifted.nxs").mkdir(parents=True)
    assert problems_of(path, registry) == [
        f"step 'shifted' (background), its output: {tmp_path / 'out' / 'sums_steps' / 'shifted.nxs'}: "
        "the step file is a directory; give a file name inside it"]


def test_check_creates_nothing_and_a_run_creates_the_output_folders(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw).replace("out/sums.nxs", "new/deeper/sums.nxs"))
    plan = check_pipeline(path, registry)
    assert not (tmp_path / "new").exists()
    run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert sorted(p.name for p in plan.steps_dir.iterdir()) == ["shifted.nxs", "sums.nxs"]


def test_a_step_error_names_the_step_and_calls_the_error_hook(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    seen = []

    class Watcher:
        from swaxs_plugins.core.hookspecs import hookimpl

        @hookimpl
        def swaxs_step_error(self, step_config, context, error, seconds):
            seen.append((step_config.id, context.impl, str(error), seconds > 0))

    registry.manager.register(Watcher())
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw, extra=", fail_on_frame: 5"))
    with pytest.raises(StepFailed, match=r"^step 'sums' \(integrate/framesum, frame_steps 0\.3\) failed in block 2 of 3 "
                                         r"\(.*\): RuntimeError: asked to fail on frame 5 "
                                         r"\[at plugins/frame_steps\.py:\d+\]$"):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert seen == [("sums", "framesum", "asked to fail on frame 5", True)]


def test_lifecycle_hooks_see_every_step(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    calls = []

    class Recorder:
        from swaxs_plugins.core.hookspecs import hookimpl

        @hookimpl
        def swaxs_before_pipeline(self, pipeline):
            calls.append(("pipeline", pipeline.name))

        @hookimpl
        def swaxs_before_step(self, step_config, context):
            calls.append(("before", step_config.id))

        @hookimpl
        def swaxs_after_step(self, step_config, output, status, seconds):
            calls.append(("after", output.name, status, seconds > 0))

        @hookimpl
        def swaxs_step_skipped(self, step_config, output, reason):
            calls.append(("skipped", output.name, reason.split(":")[0]))

        @hookimpl
        def swaxs_after_pipeline(self, pipeline, outputs):
            calls.append(("done", sorted(outputs)))

    registry.manager.register(Recorder())
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw))
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert calls == [("pipeline", "sums"), ("before", "sums"), ("after", "sums.nxs", "ran", True),
                     ("before", "shifted"), ("after", "shifted.nxs", "ran", True), ("done", ["shifted", "sums"])]
    calls.clear()
    run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))
    assert calls == [("pipeline", "sums"), ("skipped", "sums.nxs", "unchanged"),
                     ("skipped", "shifted.nxs", "unchanged"), ("done", ["shifted", "sums"])]


def test_file_parameters_resolve_against_the_pipeline_folder_and_count_for_resume(raw_scan, tmp_path, registry):
    raw, frames = raw_scan
    np.save(tmp_path / "offsets.npy", np.arange(len(frames), dtype=float))
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw, extra=", offsets: offsets.npy"))
    plan = check_pipeline(path, registry)
    assert plan.steps[0].params.offsets == tmp_path / "offsets.npy"
    [first, _] = run_pipeline(plan, registry, SerialExecutor(progress=False))
    with h5py.File(first.path, "r") as handle:
        np.testing.assert_allclose(handle["sums/sums/total"][()], expected_sums(frames, 2.0) + np.arange(len(frames)))
        assert handle["sums/reduction/source_parameter_offsets/file_name"][()].decode() == str(tmp_path / "offsets.npy")
    np.save(tmp_path / "offsets.npy", np.zeros(len(frames)))
    with pytest.raises(SwaxsError, match="step 'sums': .* was made from other inputs, parameters or code"):
        run_pipeline(check_pipeline(path, registry), registry, SerialExecutor(progress=False))


def test_a_missing_file_parameter_names_step_and_field(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", pipeline_text(raw, extra=", offsets: nowhere.npy"))
    assert problems_of(path, registry) == [
        f"step 'sums' (integrate), field 'params.offsets': file not found: {tmp_path / 'nowhere.npy'}"]
