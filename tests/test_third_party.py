"""A third-party distribution, end to end: found through its entry point, selected by name in a
pipeline instead of the default, and named with its own version in the NeXus output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

from conftest import write_pipeline
from swaxs_plugins.core.executors import SerialExecutor
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry

PACKAGE = textwrap.dedent('''
    """acme_swaxs: a facility's own integration step (a mean per frame instead of an azimuthal integral)."""
    import numpy as np
    from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
    from swaxs_plugins.core.step import InputSpec, Step, StepParameters
    from swaxs_plugins.io.nexus import Axis
    from swaxs_plugins.io.raw import frame_files

    class MeanFrame(Step):
        inputs = {"scans": InputSpec("frames", source="raw")}

        def setup(self, context):
            self.files = frame_files(context.inputs["scans"])

        def blocks(self):
            return [(f, i) for f in self.files for i in range(f.shape[0])]

        def process(self, block):
            frame_file, index = block
            return float(frame_file.read(index, index + 1).mean())

        def finalize(self, results, writer):
            values = np.asarray(results)
            writer.nxdata("means", values, [Axis("frame", np.arange(len(values)), "", "frame index")],
                          long_name="mean counts", units="counts", default=True)

    @hookimpl
    def swaxs_register_steps():
        return [StepImpl("integrate", "acme-mean", MeanFrame, "1.2.3", "ACME facility mean-per-frame step")]
''')


@pytest.fixture
def acme_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away distribution 'acme-swaxs' 1.2.3 with its dist-info, put on the import path."""
    site = tmp_path / "site"
    (site / "acme_swaxs").mkdir(parents=True)
    (site / "acme_swaxs" / "__init__.py").write_text(PACKAGE)
    info = site / "acme_swaxs-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-swaxs\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text("[swaxs_plugins]\nacme = acme_swaxs\n")
    (info / "RECORD").write_text("")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_the_registry_finds_the_distribution_through_its_entry_point(acme_site):
    step = Registry.discover().get("integrate", "acme-mean")
    assert (step.source.distribution, step.source.version) == ("acme-swaxs", "1.2.3")
    assert step.source.origin == "entry point acme = acme_swaxs"
    assert Registry.discover().default_name("integrate") == "pyfai"


def test_a_pipeline_selects_it_by_name_and_its_output_carries_its_name_and_version(acme_site, raw_scan, tmp_path):
    path, frames = raw_scan
    pipeline = write_pipeline(tmp_path / "p.yaml", textwrap.dedent(f'''
        name: acme
        inputs:
          scans: {{files: [{path}], frames: /entry/instrument/det/data}}
        output: out/acme.nxs
        steps:
          - id: means
            kind: integrate
            impl: acme-mean
            inputs: {{scans: scans}}
    '''))
    registry = Registry.discover()
    plan = check_pipeline(pipeline, registry)
    [run] = run_pipeline(plan, registry, SerialExecutor(progress=False))
    with h5py.File(run.path, "r") as handle:
        process = handle["means/reduction"]
        assert process["program"][()].decode() == "acme-swaxs"
        assert process["version"][()].decode() == "1.2.3"
        config = json.loads(process["configuration/data"][()])
        assert config["implementation"] == "acme-mean"
        np.testing.assert_allclose(handle["means/means/I"][()], frames.reshape(len(frames), -1).mean(axis=1))


def test_swaxs_plugins_lists_it_from_a_fresh_process(acme_site):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(acme_site), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "swaxs_plugins.cli", "plugins", "--json"], env=env,
                            capture_output=True, text=True, check=True)
    rows = {(r["kind"], r["name"]): r for r in json.loads(result.stdout)}
    assert rows[("integrate", "acme-mean")]["distribution"] == "acme-swaxs"
    assert rows[("integrate", "acme-mean")]["version"] == "1.2.3"
    assert rows[("integrate", "pyfai")]["default"] is True
