"""swaxs demo end to end: simulate, run the default pipeline, recover the truth, valid NeXus, figures."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from swaxs_plugins.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    outdir = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", str(outdir)])
    return outdir, result


def test_the_demo_recovers_every_quantity_within_tolerance(demo):
    outdir, result = demo
    assert result.exit_code == 0, result.output
    rows = json.loads((outdir / "summary.json").read_text())
    assert all(set(row) == {"name", "recovered", "truth", "tolerance", "unit", "ok"} for row in rows)
    names = {row["name"] for row in rows}
    assert {"SAXS beam centre row", "SAXS direct distance", "WAXS direct distance", "WAXS median |dq|/q over the detector",
            "SAXS pristine electrode I(q) / truth (median)", "mask IoU electrode", "mask IoU current_collector",
            "D micropores op4 (electrode mean)", "D c002 op4 (electrode mean)", "pseudo_metal onset scan",
            "plating onset scan", "d002 shift op4 - pristine", "pseudo-metal onset scan (fit presence map)",
            "low_sodiation alignment residual (rms, rigid translation removed)",
            "high_sodiation micropores reconstruction rel. rms error (electrode)", "low_sodiation electrode mask IoU",
            "high_sodiation micropore histogram width (std, 2x2x2 filtered)",
            "micropore width ratio high/low sodiation", "electrode tensor (micropores) orientation error, median",
            "electrode tensor (micropores) mean intensity rel. rms error"} <= names
    for row in rows:
        assert row["ok"] and abs(row["recovered"] - row["truth"]) <= row["tolerance"], row
    assert "SAXS beam centre row" in result.output


def test_every_nexus_file_it_wrote_is_valid_and_figures_exist(demo):
    outdir, result = demo
    validated = [line for line in result.output.splitlines() if line.startswith("NeXus ")]
    assert len(validated) >= 8 + 13 + 3 + 5  # operando: 6 raw scans, 2 calibrants, 13 entries; tomography: 3, 5
    assert all("valid (0 errors)" in line for line in validated)
    figures = sorted((outdir / "processed" / "operando_steps").glob("*.png"))
    assert {f.name for f in figures} >= {"saxs_geometry.png", "waxs_geometry.png", "differences_maps.png",
                                         "differences_series.png"}
    tomography = sorted((outdir / "processed" / "tomography_steps").glob("*.png"))
    assert {"aligned_sinogram_low_sodiation.png", "volumes_high_sodiation.png", "tensor_electrode.png"} <= {
        f.name for f in tomography}
    assert all(f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)
    assert (outdir / "operando.yaml").read_text().startswith("# The default operando pipeline")
