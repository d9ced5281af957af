"""The simulated operando scans rewritten as a BLISS beamline (ESRF) writes them, for the facility tests.

One file per scan, entry ``/1.1``; frames under ``instrument/<detector>/data`` (NXdetector, with the
detector's nominal distance and pixel size), counters ``mon`` and ``pin`` as 1-D NXdetectors, motors
``samy`` and ``samx`` under ``instrument/positioners`` and as NXpositioners, everything per frame also
under ``measurement/`` (with ``epoch`` and ``elapsed_time``), and no scan shape anywhere. The frames
are written in the order the motors ran: x fastest line by line, or serpentine (``snake``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import hdf5plugin
import numpy as np

from swaxs_plugins.io.scan_geometry import declared_order

DETECTORS = {"saxs": "pilatus_saxs", "waxs": "pilatus_waxs"}
COUNTERS = {"i0": "mon", "diode": "pin"}


def write_bliss_scans(raw: Path, folder: Path, *, snake: bool = False) -> list[Path]:
    """Every ``raw/scan_*.nxs`` of a simulated operando folder as ``folder/<name>.h5`` in the BLISS layout."""
    folder.mkdir(parents=True, exist_ok=True)
    return [write_bliss_scan(path, folder / f"{path.stem}.h5", snake=snake) for path in sorted(raw.glob("scan_*.nxs"))]


def write_bliss_scan(source: Path, target: Path, *, snake: bool) -> Path:
    with h5py.File(source, "r") as raw, h5py.File(target, "w") as out:
        entry = _group(out, "1.1", "NXentry")
        for name in ("title", "start_time", "end_time"):
            entry[name] = raw[f"/entry/{name}"][()]
        n = raw["/entry/instrument/i0/data"].shape[0]
        shape = tuple(int(v) for v in raw["/entry/scan/shape"][()]) if "/entry/scan/shape" in raw else (1, n)
        order = declared_order((shape[0], shape[1]), "x", snake)
        instrument = _group(entry, "instrument", "NXinstrument")
        measurement = _group(entry, "measurement", "NXcollection")
        mono = _group(instrument, "mono", "NXmonochromator")
        mono["energy"] = raw["/entry/instrument/monochromator/energy"][()]
        mono["energy"].attrs["units"] = "keV"
        for key, name in DETECTORS.items():
            detector = _group(instrument, name, "NXdetector")
            detector.create_dataset("data", data=_acquired(raw[f"/entry/instrument/{key}/data"][()], order),
                                    chunks=(1, *raw[f"/entry/instrument/{key}/data"].shape[1:]),
                                    **hdf5plugin.Bitshuffle(cname="lz4"))
            for field in ("distance", "x_pixel_size", "y_pixel_size"):
                detector[field] = raw[f"/entry/instrument/{key}/{field}"][()]
                detector[field].attrs["units"] = "m"
            measurement[name] = detector["data"]
        for key, name in COUNTERS.items():
            counter = _group(instrument, name, "NXdetector")
            counter["data"] = _acquired(raw[f"/entry/instrument/{key}/data"][()], order)
            measurement[name] = counter["data"]
        positioners = _group(instrument, "positioners", "NXcollection")
        for motor, values in _positions(raw, shape).items():
            positioners[motor] = _acquired(values, order)
            positioners[motor].attrs["units"] = "mm"
            _group(instrument, motor, "NXpositioner")["value"] = positioners[motor]
            measurement[motor] = positioners[motor]
        positioners["samz"] = 12.5
        measurement["elapsed_time"] = np.arange(n) * 0.5
        measurement["epoch"] = 1.7e9 + measurement["elapsed_time"][()]
    return target


def _positions(raw: h5py.File, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """samy, samx per map point (C order): the simulation's positions, or a fixed point for the empty beam."""
    if "/entry/scan/y" in raw:
        return {"samy": raw["/entry/scan/y"][()], "samx": raw["/entry/scan/x"][()]}
    n = int(np.prod(shape))
    return {"samy": np.full(n, -5.0), "samx": np.full(n, 40.0)}


def _acquired(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Per-map-point ``values`` (C order) in the order the frames were taken."""
    acquired = np.empty_like(values)
    acquired[order] = values
    return acquired


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    group = parent.create_group(name)
    group.attrs["NX_class"] = nx_class
    return group
