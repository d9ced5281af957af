"""The swaxs command: version, plugins, describe, check, run, validate; clear errors, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from click.testing import CliRunner

from conftest import TEST_PLUGINS, write_pipeline
from swaxs_plugins import __version__
from swaxs_plugins.cli import main


def invoke(*args: str):
    return CliRunner().invoke(main, ["--plugins-dir", str(TEST_PLUGINS), *args])


@pytest.fixture
def pipeline(raw_scan, tmp_path):
    raw, _ = raw_scan
    return write_pipeline(tmp_path / "p.yaml", textwrap.dedent(f'''
        name: cli
        inputs: {{scans: {{files: [{raw}], frames: /entry/instrument/det/data}}}}
        output: out/cli.nxs
        steps: [{{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}}}]
    '''))


def test_version_and_help_everywhere():
    assert invoke("--version").output.strip() == f"swaxs, version {__version__}"
    for command in ("plugins", "describe", "check", "run", "validate", "view"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage: main " in result.output


def test_plugins_json_lists_builtins_and_test_plugins():
    rows = json.loads(invoke("plugins", "--json").output)
    by_name = {(r["kind"], r["name"]): r for r in rows}
    assert by_name[("integrate", "pyfai")]["distribution"] == "swaxs-plugins"
    assert by_name[("integrate", "pyfai")]["default"] is True
    assert by_name[("integrate", "framesum")]["default"] is False
    assert set(by_name[("integrate", "pyfai")]) == {"kind", "name", "version", "distribution", "source", "default",
                                                     "error", "description"}


def test_describe_exports_the_parameter_schema_with_units():
    schema = json.loads(invoke("describe", "integrate", "framesum").output)
    assert schema["parameters"]["properties"]["factor"]["default"] == 1.0
    assert schema["inputs"]["scans"]["source"] == "raw"


def test_check_then_run_then_validate(pipeline, tmp_path):
    checked = invoke("check", str(pipeline))
    assert checked.exit_code == 0 and "OK, 1 steps" in checked.output and "sums [10]" in checked.output
    ran = invoke("run", str(pipeline))
    assert ran.exit_code == 0 and "ran" in ran.output
    assert "unchanged" in invoke("run", str(pipeline)).output
    validated = invoke("validate", str(tmp_path / "out" / "cli.nxs"))
    assert validated.exit_code == 0 and "[NXswaxs_step] OK: 0 errors" in validated.output


def test_errors_are_one_clear_message_and_a_nonzero_exit(pipeline, tmp_path):
    pipeline.write_text(pipeline.read_text().replace("impl: framesum", "impl: nosuch"))
    result = subprocess.run([sys.executable, "-m", "swaxs_plugins.cli", "--plugins-dir", str(TEST_PLUGINS),
                             "check", str(pipeline)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "step 'sums' (integrate), field 'impl': unknown implementation 'nosuch'" in result.stderr
    missing = invoke("validate", str(tmp_path / "none.nxs"))
    assert missing.exit_code == 1 and "none.nxs: file not found" in missing.output
