"""The operando simulator: raw layout, frames vs truth curves, transmission, masks, time behaviour, seeds."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import datetime

import h5py
import hdf5plugin  # noqa: F401  (registers the bitshuffle filter for reading)
import numpy as np
import pyFAI
import pytest

from swaxs_plugins.simulate import simulate_operando
from swaxs_plugins.simulate import detectors as det
from swaxs_plugins.simulate.operando import REGIONS, THICKNESS_MM, TIME_ORIGIN, params_at
from swaxs_plugins.simulate.physics import AMPLITUDES, model_curve

NPT = {"saxs": 800, "waxs": 800}


@pytest.fixture(scope="module")
def operando(tmp_path_factory):
    return simulate_operando(tmp_path_factory.mktemp("operando"), seed=0)


@pytest.fixture(scope="module")
def truth(operando):
    with h5py.File(operando.outdir / "truth" / "operando_truth.h5", "r") as handle:
        data = {name: handle[name][()] for name in ("transmission", "d002", "q", "curves", "i0")}
        data["masks"] = {name: handle[f"masks/{name}"][()] for name in handle["masks"]}
        data["params"] = {name: handle[f"params/{name}"][()] for name in handle["params"]}
        data["relative_change"] = handle["regions/relative_change"][()]
        data["labels"] = [label.decode() for label in handle["labels"][()]]
    data["json"] = json.loads((operando.outdir / "truth" / "operando_truth.json").read_text())
    return data


@pytest.fixture(scope="module")
def integrators(operando):
    return {key: pyFAI.load(str(path)) for key, path in operando.poni.items()}


def read_scan(path):
    """Monitors, positions and the two pixel masks of one scan file (frames are read on demand)."""
    with h5py.File(path, "r") as handle:
        instrument = handle["entry/instrument"]
        return {"i0": instrument["i0/data"][()], "diode": instrument["diode/data"][()],
                "shape": tuple(handle["entry/scan/shape"][()]),
                "masks": {key: instrument[f"{key}/pixel_mask"][()] != 0 for key in ("saxs", "waxs")}}


def frame(path, key, index):
    with h5py.File(path, "r") as handle:
        return handle[f"entry/instrument/{key}/data"][index].astype(np.float64)


def integrate(ai, image, mask, normalization, npt):
    return ai.integrate1d_ng(image, npt, unit="q_A^-1", mask=mask, polarization_factor=det.POLARIZATION,
                             normalization_factor=normalization, error_model="poisson",
                             method=("no", "histogram", "cython"))


def measured_transmission(operando):
    """T = (diode / I0) / <diode / I0>_empty per scan, [n_scans, ny, nx]."""
    empty = read_scan(operando.references[0])
    reference = np.mean(empty["diode"] / empty["i0"])
    maps = []
    for path in operando.raw:
        scan = read_scan(path)
        maps.append((scan["diode"] / scan["i0"] / reference).reshape(scan["shape"]))
    return np.array(maps)


def test_raw_files_follow_the_documented_layout(operando, truth):
    ny, nx = truth["json"]["shape"]
    assert [p.name for p in operando.raw] == [f"scan_{label}.nxs" for label in truth["labels"]]
    assert operando.references[0].name == "scan_empty.nxs"
    with h5py.File(operando.raw[0], "r") as handle:
        entry = handle["entry"]
        assert entry.attrs["NX_class"] == "NXentry"
        for key, detector in (("saxs", "Pilatus200k"), ("waxs", "Pilatus300kw")):
            group = entry[f"instrument/{key}"]
            assert group.attrs["NX_class"] == "NXdetector"
            assert group["description"][()].decode() == detector
            data = group["data"]
            assert data.dtype == np.uint32
            assert data.shape == (ny * nx, *pyFAI.detector_factory(detector).shape)
            assert data.chunks == (1, *data.shape[1:])
            assert data.id.get_create_plist().get_filter(0)[0] == 32008
            for name, units in (("x_pixel_size", "m"), ("y_pixel_size", "m"), ("distance", "m"), ("count_time", "s")):
                assert group[name].attrs["units"] == units
        assert entry["instrument/monochromator/energy"][()] == pytest.approx(13.2)
        assert entry["instrument/monochromator/wavelength"].attrs["units"] == "angstrom"
        for name in ("i0", "diode"):
            assert entry[f"instrument/{name}"].attrs["NX_class"] == "NXmonitor"
            assert entry[f"instrument/{name}/data"].shape == (ny * nx,)
        scan = entry["scan"]
        assert tuple(scan["shape"][()]) == (ny, nx)
        x, y = scan["x"][()].reshape(ny, nx), scan["y"][()].reshape(ny, nx)
        assert np.all(np.diff(x, axis=1) > 0) and np.all(np.diff(y, axis=0) > 0), "row-major, x fastest"
        assert scan["x"].attrs["units"] == "mm"


def test_scan_times_fall_on_the_cycler_log(operando):
    with open(operando.extra["cycler_log"]) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["time_s", "voltage_V", "current_mA"]
    time_s, voltage = (np.array([float(row[name]) for row in rows]) for name in ("time_s", "voltage_V"))
    assert voltage[0] == pytest.approx(2.5, abs=0.01) and voltage[-1] == pytest.approx(0.0, abs=0.01)
    assert np.all(np.diff(time_s) > 0)
    for path in operando.raw + operando.references:
        with h5py.File(path, "r") as handle:
            start, end = (datetime.fromisoformat(handle[f"entry/{name}"][()].decode()) for name in ("start_time", "end_time"))
        assert time_s[0] <= (start - TIME_ORIGIN).total_seconds() < (end - TIME_ORIGIN).total_seconds() <= time_s[-1]


def test_transmission_and_masks_match_the_truth(operando, truth):
    measured = measured_transmission(operando)
    np.testing.assert_allclose(measured, truth["transmission"], rtol=0.01)
    np.testing.assert_array_equal(measured[0] < 0.1, truth["masks"]["current_collector"])
    classes = np.sum([truth["masks"][name] for name in ("current_collector", "electrode", "electrolyte", "capillary")], axis=0)
    assert np.all(classes == 1), "every map point belongs to exactly one material"


@pytest.mark.parametrize("key", ["saxs", "waxs"])
def test_a_frame_integrates_back_to_its_truth_curve_within_poisson_noise(operando, truth, integrators, key):
    scan_index = len(operando.raw) - 1
    iy, ix = np.argwhere(truth["masks"]["collector_interface"])[0]   # has every term, Na metal included
    scan = read_scan(operando.raw[scan_index])
    point = iy * scan["shape"][1] + ix
    norm = scan["i0"][point] * truth["transmission"][scan_index, iy, ix] * THICKNESS_MM
    result = integrate(integrators[key], frame(operando.raw[scan_index], key, point), scan["masks"][key], norm, NPT[key])
    valid = result.count > 10
    params = params_at({name: values[scan_index] for name, values in truth["params"].items()}, (iy, ix))
    model = model_curve(result.radial[valid], params)
    binned = binned_model(integrators[key], params, scan["masks"][key], NPT[key])[valid]
    residual = (result.intensity[valid] - binned) / result.sigma[valid]
    n = valid.sum()
    assert n > 300
    assert abs(residual.mean()) < 5 / np.sqrt(n)
    assert residual.std() == pytest.approx(1.0, abs=0.1)
    # binning only matters where the curve bends within a bin: the steep q^-4 next to the beamstop
    # and the top of the sharp Na-metal peak (FWHM 0.02 1/Å over 0.004 1/Å bins: ~1.5 %)
    smooth = result.radial[valid] > 0.01
    np.testing.assert_allclose(binned[smooth], model[smooth], rtol=0.02)
    # the stored truth curves are this model on the truth q grid (float32)
    np.testing.assert_allclose(truth["curves"][scan_index, iy, ix], model_curve(truth["q"], params), rtol=1e-6)


def binned_model(ai, params, mask, npt):
    """The truth curve as pyFAI bins it: evaluated at every pixel (times solid angle and polarization,
    as a detector records it) and integrated with the same mask and corrections."""
    q = ai.array_from_unit(unit="q_A^-1", typ="center")
    image = model_curve(q, params) * ai.solidAngleArray() * ai.polarization(factor=det.POLARIZATION)
    return integrate(ai, image, mask, 1.0, npt).intensity


def region_means_from_frames(operando, integrators, scan_index, transmission, points):
    """Mean intensity of each truth q-region at the given points, from integrated frames: [n_points, n_regions]."""
    path = operando.raw[scan_index]
    scan = read_scan(path)
    means = []
    for point in points:
        norm = scan["i0"][point] * transmission.ravel()[point] * THICKNESS_MM
        curves = {key: integrate(integrators[key], frame(path, key, point), scan["masks"][key], norm, NPT[key])
                  for key in ("saxs", "waxs")}
        row = []
        for lo, hi in REGIONS.values():
            result = curves["saxs" if hi < 1.0 else "waxs"]
            inside = (result.radial >= lo) & (result.radial <= hi) & (result.count > 0)
            row.append(result.intensity[inside].mean())
        means.append(row)
    return np.array(means)


def test_time_behaviour_in_the_frames_is_the_truth(operando, truth, integrators):
    transmission = measured_transmission(operando)
    electrode = np.flatnonzero(truth["masks"]["electrode"])
    means = np.array([region_means_from_frames(operando, integrators, k, transmission[k], electrode)
                      for k in range(len(operando.raw))])
    measured = ((means - means[0]) / means[0]).mean(axis=1)          # [scan, region]
    expected = truth["relative_change"]
    np.testing.assert_allclose(measured, expected, atol=0.02)
    facts = truth["json"]
    micropores = list(REGIONS).index("micropores")
    assert expected[1, micropores] > 0.005, "micropore intensity first rises"
    assert expected[-1, micropores] == pytest.approx(-0.35, abs=0.05)
    assert 0.01 <= facts["d002_relative_growth"] <= 0.02
    assert facts["onset"] == {"pseudo_metal": "op3", "plating": "op4"}
    pseudo, plating = list(REGIONS).index("pseudo_metal"), list(REGIONS).index("plating")
    assert measured[2, pseudo] < 0.02 < 0.3 < measured[3, pseudo]
    assert measured[3, plating] < measured[4, plating] - 0.5


def test_frames_contain_the_002_shift(operando, truth, integrators):
    """Fit only the 002 centre of the truth model to the last scan's frame: it is the truth centre."""
    scan_index = len(operando.raw) - 1
    iy, ix = np.argwhere(truth["masks"]["electrode"])[0]
    scan = read_scan(operando.raw[scan_index])
    point = iy * scan["shape"][1] + ix
    norm = scan["i0"][point] * truth["transmission"][scan_index, iy, ix] * THICKNESS_MM
    result = integrate(integrators["waxs"], frame(operando.raw[scan_index], "waxs", point), scan["masks"]["waxs"], norm, 800)
    valid = (result.count > 10) & (result.radial > 1.2) & (result.radial < 2.0)
    q, intensity, sigma = result.radial[valid], result.intensity[valid], result.sigma[valid]
    params = params_at({name: values[scan_index] for name, values in truth["params"].items()}, (iy, ix))
    candidates = np.linspace(1.55, 1.70, 301)
    chi2 = [np.sum(((intensity - model_curve(q, replace(params, q002=c))) / sigma) ** 2) for c in candidates]
    assert candidates[int(np.argmin(chi2))] == pytest.approx(params.q002, abs=0.002)
    assert truth["params"]["q002"][0][iy, ix] / params.q002 - 1 > 0.01, "d002 grew by more than 1 %"


def test_same_seed_same_files(operando, tmp_path):
    again = simulate_operando(tmp_path / "again", seed=0)
    for first, second in zip(operando.raw + operando.references, again.raw + again.references):
        with h5py.File(first, "r") as a, h5py.File(second, "r") as b:
            for name in ("instrument/saxs/data", "instrument/waxs/data", "instrument/i0/data", "instrument/diode/data"):
                np.testing.assert_array_equal(a[f"entry/{name}"][()], b[f"entry/{name}"][()])
    with h5py.File(operando.truth[0], "r") as a, h5py.File(again.truth[0], "r") as b:
        np.testing.assert_array_equal(a["curves"][()], b["curves"][()])


def test_another_cell_scatters_and_absorbs_as_asked(operando, truth, integrators, tmp_path):
    """intensity_scale 3 and electrolyte_transmission 0.8, pristine scan only: the truth's amplitudes are 3 x
    the default cell's (not the air), its T 0.8^(electrolyte path) x; the diode, frames and truth agree;
    monitor and empty beam are untouched, and writing one scan leaves every other random stream as it was."""
    cell = simulate_operando(tmp_path, seed=0, intensity_scale=3.0, electrolyte_transmission=0.8, scans=["pristine"])
    assert [p.name for p in cell.raw] == ["scan_pristine.nxs"]
    with h5py.File(cell.truth[0], "r") as handle:
        transmission = handle["transmission"][()]
        params = {name: handle[f"params/{name}"][()] for name in handle["params"]}
    masks = truth["masks"]
    electrolyte_path = {"current_collector": 0.0, "electrode": 0.4, "electrolyte": 1.0, "capillary": 0.5}
    for name, fraction in electrolyte_path.items():
        expected = 0.8**fraction * truth["transmission"][:, masks[name]]
        np.testing.assert_allclose(transmission[:, masks[name]], expected, rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(measured_transmission(cell)[0], transmission[0], rtol=0.01)
    for name, values in truth["params"].items():
        factor = 3.0 if name in AMPLITUDES and name != "air" else 1.0
        np.testing.assert_allclose(params[name], factor * values, rtol=1e-12, err_msg=name)
    for name in ("i0", "diode"):
        np.testing.assert_array_equal(read_scan(cell.references[0])[name], read_scan(operando.references[0])[name])
    np.testing.assert_array_equal(read_scan(cell.raw[0])["i0"], read_scan(operando.raw[0])["i0"])
    np.testing.assert_array_equal(frame(cell.references[0], "saxs", 0), frame(operando.references[0], "saxs", 0))
    iy, ix = np.argwhere(masks["electrode"])[0]
    scan = read_scan(cell.raw[0])
    point = iy * scan["shape"][1] + ix
    norm = scan["i0"][point] * transmission[0, iy, ix] * THICKNESS_MM
    result = integrate(integrators["saxs"], frame(cell.raw[0], "saxs", point), scan["masks"]["saxs"], norm, NPT["saxs"])
    valid = result.count > 10
    point_params = params_at({name: values[0] for name, values in params.items()}, (iy, ix))
    binned = binned_model(integrators["saxs"], point_params, scan["masks"]["saxs"], NPT["saxs"])[valid]
    residual = (result.intensity[valid] - binned) / result.sigma[valid]
    assert abs(residual.mean()) < 5 / np.sqrt(valid.sum())
    assert residual.std() == pytest.approx(1.0, abs=0.1)


def test_bad_arguments_raise_value_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        simulate_operando(tmp_path, scale="medium")
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="outdir"):
        simulate_operando(blocker / "sub")
    with pytest.raises(ValueError, match="workers"):
        simulate_operando(tmp_path, workers=0)
    with pytest.raises(ValueError, match="intensity_scale"):
        simulate_operando(tmp_path, intensity_scale=0.0)
    with pytest.raises(ValueError, match="electrolyte_transmission .* T = 1.04 > 1"):
        simulate_operando(tmp_path, electrolyte_transmission=1.3)
    with pytest.raises(ValueError, match="scans"):
        simulate_operando(tmp_path, scans=["op9"])
