"""Shared fixtures: small raw files written like a beamline's, and the test-only plugin folder."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import hdf5plugin
import numpy as np
import pytest

TEST_PLUGINS = Path(__file__).parent / "plugins"
REAL_DATA = Path(os.environ.get("SWAXS_REAL_DATA", Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real"))


def write_raw_scan(path: Path, n_points: int = 10, shape: tuple[int, int] = (16, 24), seed: int = 0) -> np.ndarray:
    """A NeXus scan with bitshuffle-compressed frames, monitor and diode; returns the frames."""
    rng = np.random.default_rng(seed)
    frames = rng.poisson(50, (n_points, *shape)).astype(np.uint32)
    with h5py.File(path, "w") as handle:
        handle.create_dataset("/entry/instrument/det/data", data=frames, chunks=(1, *shape), **hdf5plugin.Bitshuffle())
        handle["/entry/instrument/i0/data"] = rng.uniform(0.9, 1.1, n_points) * 1e5
        handle["/entry/instrument/diode/data"] = rng.uniform(0.4, 0.6, n_points) * 1e5
    return frames


@pytest.fixture
def raw_scan(tmp_path: Path) -> tuple[Path, np.ndarray]:
    path = tmp_path / "scan.nxs"
    return path, write_raw_scan(path)


def write_pipeline(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data folder {REAL_DATA} is absent (set SWAXS_REAL_DATA)")
    return REAL_DATA
