"""A plugin as its author makes it: ``swaxs new-plugin`` writes it, pip installs it into a temporary target,
``swaxs plugins verify`` passes it, its own tests pass, and a pipeline runs it between two built-in steps
(integrate before it, mask after it, taking its curves). Also: listing plugins and ``--help`` import no step
library, and describing any built-in step imports none of pyFAI, numba, scikit-image or matplotlib."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from swaxs_plugins.cli import main
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.curves import read_curves
from swaxs_plugins.data.masks import read_masks
from swaxs_plugins.testing import write_raw_frames

NAME = "acme-scale"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """The scaffolded package, pip-installed into a folder of its own; the environment that sees it."""
    folder = tmp_path_factory.mktemp("plugin")
    written = CliRunner().invoke(main, ["new-plugin", NAME, "--kind", "smooth", "-o", str(folder)])
    assert written.exit_code == 0, written.output
    target = folder / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--target", str(target), str(folder / NAME)], capture_output=True, text=True)
    assert pip.returncode == 0, pip.stderr
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    return folder / NAME, env


def swaxs(env: dict[str, str], *arguments: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "swaxs_plugins.cli", *arguments], capture_output=True, text=True,
                          env=env, cwd=cwd)


def test_the_scaffold_installs_lists_and_verifies(installed):
    _, env = installed
    listing = swaxs(env, "plugins")
    assert listing.returncode == 0, listing.stderr
    [row] = [line for line in listing.stdout.splitlines() if NAME in line]
    assert row.split() == ["*", "smooth", NAME, "0.1.0", NAME]        # the kind's only one; the distribution's version
    checked = swaxs(env, "plugins", "verify", NAME)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    lines = [line.split() for line in checked.stdout.splitlines() if f"smooth/{NAME}" in line]
    assert [line[2] for line in lines] == ["imports", "parameters", "layouts", "run", "picklable", "threads=serial",
                                           "deterministic"]
    assert [line[0] for line in lines] == ["PASS"] * 7


def test_the_scaffolds_own_tests_pass(installed):
    root, env = installed
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", "tests"],
                           capture_output=True, text=True, env=env, cwd=root)
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert "2 passed" in tests.stdout


def test_the_scaffold_runs_between_builtin_steps(installed, tmp_path):
    _, env = installed
    from pyFAI.detectors import Detector
    from pyFAI.integrator.azimuthal import AzimuthalIntegrator

    raw = write_raw_frames(tmp_path / "scan.nxs", n_points=8, shape=(64, 64))
    AzimuthalIntegrator(dist=0.5, poni1=3.2e-3, poni2=3.2e-3, wavelength=1e-10,
                        detector=Detector(pixel1=1e-4, pixel2=1e-4, max_shape=(64, 64))).write(str(tmp_path / "d.poni"))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(textwrap.dedent(f"""
        name: scaffolded
        inputs:
          scans: {{files: [{raw.files[0]}], frames: {raw.frames}, monitor: {raw.monitor}, scan_shape: [2, 4]}}
        output: out/scaffolded.nxs
        steps:
          - {{id: integrated, kind: integrate, inputs: {{scans: scans}}, params: {{poni: d.poni, npt: 40}}}}
          - {{id: scaled, kind: smooth, impl: {NAME}, inputs: {{curves: integrated}}, params: {{factor: 3.0}}}}
          - {{id: masks, kind: mask, inputs: {{saxs: scaled}}, params: {{masks: {{all: 'intensity(0.01, 0.05) > 0'}}}}}}
    """))
    run = swaxs(env, "run", str(pipeline))
    assert run.returncode == 0, run.stdout + run.stderr
    steps = tmp_path / "out" / "scaffolded_steps"
    before = read_curves(StepOutputRef("integrated", "integrate", steps / "integrated.nxs", "integrated"))
    after = read_curves(StepOutputRef("scaled", "smooth", steps / "scaled.nxs", "scaled"))
    np.testing.assert_allclose(after.intensity, 3.0 * before.intensity, rtol=1e-6, equal_nan=True)
    masks = read_masks(StepOutputRef("masks", "mask", steps / "masks.nxs", "masks"))
    assert masks["all"].shape == (2, 4) and masks["all"].all()


HEAVY = ("pyFAI", "numba", "skimage", "matplotlib")
DESCRIBED = ["calibrate", "integrate", "transmission", "mask", "fit", "difference", "background", "align",
             "reconstruct", "reconstruct skimage", "reconstruct tensor", "volume"]


@pytest.mark.parametrize(("arguments", "absent"), [
    (["plugins"], (*HEAVY, "scipy")), (["--help"], (*HEAVY, "scipy")),
    *[(["describe", *step.split()], HEAVY) for step in DESCRIBED],
], ids=["plugins", "help", *[f"describe {step}" for step in DESCRIBED]])
def test_listing_and_describing_import_no_step_library(arguments, absent):
    probe = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import sys
        from swaxs_plugins.cli import main
        try:
            main({arguments!r})
        except SystemExit:
            pass
        print(sorted(name for name in {absent!r} if name in sys.modules))
    """)], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines()[-1] == "[]"
