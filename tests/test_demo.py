"""swaxs demo end to end: simulate, run the default pipeline, recover the truth, valid NeXus, figures."""

from __future__ import annotations

import json

import h5py
import numpy as np
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
    for name in ("operando", "tomography"):
        assert f"report {outdir / 'processed' / f'{name}_report' / 'index.html'}" in result.output
    assert any("saxs_electrode_nxcansas.h5" in line and "[NXcanSAS]: valid (0 errors)" in line for line in validated)


CURVE, IMAGE = "_NXdataCurveView", "_NXdataImageView"
OPENED_ON = {  # file (under processed/) → the silx view, x label, y label, scales x/y, colormap (images)
    "operando.nxs": (CURVE, "time since the first scan (h)", None, "linear", "linear", None),
    "tomography.nxs": (CURVE, "mean intensity 0.12-0.3 1/Å (counts/mm)", None, "linear", "linear", None),
    "operando_steps/saxs_geometry.nxs": (IMAGE, "column (pixel)", "row (pixel)", "linear", "linear", "log"),
    "operando_steps/saxs_curves.nxs": (CURVE, "q (Å⁻¹)", None, "log", "log", None),
    "operando_steps/waxs_curves.nxs": (CURVE, "q (Å⁻¹)", None, "linear", "linear", None),
    "operando_steps/saxs_transmission.nxs": (IMAGE, "x (mm)", "y (mm)", "linear", "linear", "linear"),
    "operando_steps/map_masks.nxs": (IMAGE, "x (mm)", "y (mm)", "linear", "linear", "linear"),
    "operando_steps/saxs_subtracted.nxs": (CURVE, "q (Å⁻¹)", None, "log", "log", None),
    "operando_steps/differences.nxs": (CURVE, "time since the first scan (h)", None, "linear", "linear", None),
    "operando_steps/waxs_fit.nxs": (CURVE, "scan number", None, "linear", "linear", None),
    "operando_steps/saxs_fit.nxs": (CURVE, "scan number", None, "linear", "linear", None),
    "tomography_steps/aligned.nxs": (CURVE, "projection index", None, "linear", "linear", None),
    "tomography_steps/volumes.nxs": (IMAGE, "x (µm)", "y (µm)", "linear", "linear", "linear"),
    "tomography_steps/tensor.nxs": (IMAGE, "x (µm)", "y (µm)", "linear", "linear", "linear"),
    "tomography_steps/histograms.nxs": (CURVE, "mean intensity 0.12-0.3 1/Å (counts/mm)", None, "linear", "linear",
                                        None),
}
CURVES_SHOWN = {  # the legends of the curves a file opens on: one quantity per plot, each with its unit
    "operando.nxs": ["mean D over 'electrode', particle_surface (%)", "mean D, micropores (%)", "mean D, c002 (%)",
                     "mean D, pseudo_metal (%)", "mean D, plating (%)"],
    "operando_steps/saxs_curves.nxs": ["mean I, all points of the scan (a.u.)"],
    "operando_steps/saxs_subtracted.nxs": ["mean I, mask 'electrode' (a.u.)"],
    "operando_steps/waxs_fit.nxs": ["d002 = 2 pi / q002 of the region-averaged curve (Å)", "d002 region mean (Å)"],
    "tomography_steps/aligned.nxs": ["dj: shift applied across the beam (pixel)", "dk: shift applied up (pixel)"],
}


@pytest.mark.parametrize("name", sorted(OPENED_ON))
def test_silx_view_opens_every_output_on_the_plot_a_scientist_wants(demo, name):
    """Each output kind opened in silx view's own data panel (headless): the view selected, its axis labels with
    units, its scales; images show data (not an all-zero reference scan or an empty slice)."""
    from silx_views import opened_view

    outdir, _ = demo
    opened = opened_view(outdir / "processed" / name)
    view, x_label, y_label, x_scale, y_scale, colormap = OPENED_ON[name]
    assert (opened.view, opened.x_label, opened.x_scale, opened.y_scale) == (view, x_label, x_scale, y_scale)
    if y_label is not None:
        assert opened.y_label == y_label
    if name in CURVES_SHOWN:
        assert opened.curves == CURVES_SHOWN[name]
    if colormap is not None:
        assert opened.colormap == colormap
        assert np.isfinite(opened.image).any() and np.nanmax(np.abs(opened.image)) > 0


def test_fit_maps_are_nan_outside_the_fitted_region_and_stacks_leave_out_the_reference(demo):
    outdir, _ = demo
    steps = outdir / "processed" / "operando_steps"
    with h5py.File(steps / "waxs_fit.nxs", "r") as handle:
        region = handle["waxs_fit/region/mask"][()].astype(bool)
        for name in ("d002", "c002_area", "reduced_chi2"):
            values = handle[f"waxs_fit/maps/{name}/{name}"][()]
            assert np.isnan(values[~region]).all() and np.isfinite(values[region]).mean() > 0.9, name
    with h5py.File(steps / "differences.nxs", "r") as handle:
        stack = handle["differences/differences/micropores"]
        assert stack.attrs["reference_scan"] == 0 and len(stack["time"]) == len(handle["differences/time_series/time"]) - 1
        assert np.nanmax(np.abs(stack["D"][0])) > 1.0  # % : the first scan shown has changed
