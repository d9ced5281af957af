"""Cycler logs (time, voltage, current) placed on the scans' clock: CSV and BioLogic ``.mpt`` text.

CSV: a header line with ``time_s``, ``voltage_V``, ``current_mA`` (as the simulator writes), time in
seconds from an origin given separately (default: the first scan's start). BioLogic EC-Lab text
export (``.mpt``): ``Nb header lines : N``, ``Acquisition started on : MM/DD/YYYY HH:MM:SS[.fff]``,
then tab-separated columns with ``time/s``, ``Ewe/V`` and ``<I>/mA`` (or ``I/mA``); the acquisition
start is taken as UTC unless ``origin`` is given.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.data.curves import parse_time

MPT_COLUMNS = {"time": ("time/s",), "voltage": ("Ewe/V", "Ecell/V"), "current": ("<I>/mA", "I/mA")}


@dataclass(frozen=True)
class CyclerLog:
    """Voltage and current against time in seconds since the first scan's timestamp."""

    time_s: np.ndarray
    voltage: np.ndarray
    current: np.ndarray


def read_cycler_log(path: Path, origin: str | None, scan_times: list[dt.datetime] | None) -> CyclerLog:
    """Read a CSV or .mpt log and express its time in seconds since the first scan."""
    path = Path(path)
    if not path.is_file():
        raise InputDataError(f"{path}: cycler log not found (parameter 'cycler_log')")
    if scan_times is None:
        raise InputDataError(f"{path}: the scans have no timestamps to place the cycler log against "
                             "(field 'timestamp' of the raw input)")
    if path.suffix.lower() == ".mpt":
        start, columns = _read_mpt(path)
    else:
        start, columns = None, _read_csv(path)
    start = parse_time(origin) if origin else (start or scan_times[0])
    offset = (start - scan_times[0]).total_seconds()
    return CyclerLog(columns["time"] + offset, columns["voltage"], columns["current"])


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    header = [h.strip() for h in rows[0]] if rows else []
    wanted = {"time": "time_s", "voltage": "voltage_V", "current": "current_mA"}
    missing = [c for c in wanted.values() if c not in header]
    if missing:
        raise InputDataError(f"{path}: cycler log without column(s) {', '.join(missing)} (header: {header})")
    try:
        table = np.array([[float(row[header.index(c)]) for c in wanted.values()] for row in rows[1:] if row], float)
    except ValueError as error:
        raise InputDataError(f"{path}: a row of the cycler log is not numeric ({error})") from error
    return {key: table[:, i] for i, key in enumerate(wanted)}


def _read_mpt(path: Path) -> tuple[dt.datetime | None, dict[str, np.ndarray]]:
    lines = path.read_text(encoding="latin-1").splitlines()
    match = re.search(r"Nb header lines\s*:\s*(\d+)", "\n".join(lines[:5]))
    if not match:
        raise InputDataError(f"{path}: not a BioLogic text export ('Nb header lines' missing)")
    n_header = int(match.group(1))
    start = None
    for line in lines[:n_header]:
        if line.startswith("Acquisition started on"):
            text = line.split(":", 1)[1].strip()
            fmt = "%m/%d/%Y %H:%M:%S.%f" if "." in text else "%m/%d/%Y %H:%M:%S"
            start = dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)
    header = lines[n_header - 1].split("\t")
    table = np.array([[float(v.replace(",", ".")) for v in line.split("\t") if v.strip()]
                      for line in lines[n_header:] if line.strip()])
    columns = {}
    for key, names in MPT_COLUMNS.items():
        index = next((header.index(n) for n in names if n in header), None)
        if index is None:
            raise InputDataError(f"{path}: BioLogic export without a column {' or '.join(names)}")
        columns[key] = table[:, index]
    return start, columns
