"""Layouts, not kinds, connect steps: a new kind writing curves feeds the built-in mask step, a step
that writes a wrong layout or breaks its application definition fails in its own step naming the plugin,
and an input refuses a step that writes none of the layouts it takes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins.core.errors import PipelineError, StepFailed
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.layouts import LAYOUTS, layout_problems
from swaxs_plugins.data.masks import read_masks

LAYOUT_PLUGINS = Path(__file__).parent / "plugins_layouts"
PIPELINE = textwrap.dedent("""
    name: layouts
    output: out/layouts.nxs
    steps:
      - {{id: ramp, kind: synthetic{impl}}}
      - {{id: bright, kind: mask, inputs: {{saxs: ramp}}, params: {{masks: {{right: 'intensity(0.1, 0.3) > 3'}}}}}}
""")


@pytest.fixture
def registry() -> Registry:
    return Registry.discover([TEST_PLUGINS, LAYOUT_PLUGINS])


def test_a_new_kind_writing_curves_feeds_a_builtin_step(tmp_path, registry):
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", PIPELINE.format(impl="")), registry)
    runs = run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert [r.status for r in runs] == ["ran", "ran"]
    masks = read_masks(StepOutputRef("bright", "mask", plan.step_file("bright"), "bright"))
    expected = np.zeros((4, 5), bool)
    expected[:, 3:] = True                     # I = x index + 1 > 3
    np.testing.assert_array_equal(masks["right"], expected)
    with h5py.File(plan.step_file("bright"), "r") as handle:
        assert layout_problems(handle["bright"], ("masks",)) == []


def test_a_step_writing_a_wrong_layout_fails_in_its_own_step_naming_the_plugin(tmp_path, registry):
    plan = check_pipeline(write_pipeline(tmp_path / "p.yaml", PIPELINE.format(impl=", impl: broken")), registry)
    with pytest.raises(StepFailed) as error:
        run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert str(error.value) == (
        "step 'ramp' (synthetic/broken, new_kind unversioned) failed: LayoutError: its output does not hold the "
        "layouts it declares (produces = ('curves',)): layout 'curves': maps/curves/I_errors: missing or not of "
        "the signal's shape (1, 4, 5, 16)")
    assert not plan.step_file("ramp").exists() and not plan.step_file("bright").exists()


def test_a_step_whose_entry_breaks_its_definition_fails_and_leaves_no_file(tmp_path, registry):
    path = write_pipeline(tmp_path / "p.yaml", PIPELINE.format(impl=", impl: misdefined"))
    plan = check_pipeline(path, registry)
    with pytest.raises(StepFailed) as error:
        run_pipeline(plan, registry, SerialExecutor(progress=False))
    assert str(error.value).startswith(
        "step 'ramp' (synthetic/misdefined, new_kind unversioned) failed: DefinitionError: its output does not follow "
        "its application definition NXswaxs_fit: Field: /ramp/model: This required field is not in the NeXus file; ")
    assert str(error.value).endswith("(the file is not kept)")
    assert not plan.step_file("ramp").exists()


def test_an_input_refuses_a_step_writing_none_of_its_layouts(raw_scan, tmp_path, registry):
    raw, _ = raw_scan
    path = write_pipeline(tmp_path / "p.yaml", textwrap.dedent(f"""
        name: refused
        inputs:
          scans: {{files: [{raw}], frames: /entry/instrument/det/data}}
        output: out/refused.nxs
        steps:
          - {{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}}}
          - {{id: bright, kind: mask, inputs: {{saxs: sums}}, params: {{masks: {{all: 'intensity(0.1, 0.3) > 0'}}}}}}
    """))
    with pytest.raises(PipelineError) as error:
        check_pipeline(path, registry)
    assert error.value.problems == [
        "step 'bright' (mask), field 'inputs.saxs': step 'sums' (integrate) writes no declared layout; this input "
        "takes a step writing the layout curves"]


def test_every_layout_names_a_reader_that_exists():
    import importlib

    for layout in LAYOUTS.values():
        module, name = layout.reader.rsplit(".", 1)
        assert callable(getattr(importlib.import_module(module), name)), layout.name


def test_the_testing_helpers_write_every_layout_and_the_readers_read_it(tmp_path):
    from swaxs_plugins.data.curves import read_curves
    from swaxs_plugins.data.geometry import read_poni
    from swaxs_plugins.data.maps import read_map
    from swaxs_plugins.data.projections import read_projections
    from swaxs_plugins.data.volumes import read_volumes
    from swaxs_plugins.testing import WRITERS, Inputs

    assert set(WRITERS) == set(LAYOUTS)
    made = Inputs(tmp_path)
    for name in LAYOUTS:
        ref = made.layout(name)
        with h5py.File(ref.path, "r") as handle:
            assert layout_problems(handle[ref.entry], (name,)) == [], name
    np.testing.assert_array_equal(read_curves(made.curves()).intensity[0, 2],
                                  np.broadcast_to(np.arange(1.0, 6.0)[:, None], (5, 16)))
    assert read_map(made.transmission(), "transmission/T")[0, 0].tolist() == [0.05, 0.5, 0.5, 0.5, 0.5]
    assert read_map(made.maps(), "maps/amplitude")[0, 3, 4] == 7.0
    assert read_masks(made.masks())["right"].sum() == 8
    assert "Distance: 0.5" in read_poni(made.geometry())
    [sample] = read_projections(made.projections())
    assert sample.n == 12 and sample.intensity[:, :, 3:5].min() == 1.0 and sample.intensity[:, :, :3].max() == 0.0
    [volume] = read_volumes(made.volumes())
    np.testing.assert_array_equal(volume.intensity[:, 0, 0, 0], [1.0, 2.0, 3.0, 4.0])
