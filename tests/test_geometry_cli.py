"""``swaxs geometry``: a PONI from Fit2D-style beamline values, against pyFAI's setFit2D and against the
geometry itself (the direct beam meets the detector at the given centre, at the given distance)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyFAI
import pytest
from click.testing import CliRunner
from pyFAI.geometry import Geometry

from swaxs_plugins.cli import main

VALUES = {"distance": 1234.5, "center": (612.25, 701.75), "tilt": 3.2, "rotation": -47.0, "pixel": (75.0, 75.0)}


def run(tmp_path: Path, *extra: str, name: str = "beam.poni"):
    result = CliRunner().invoke(main, ["geometry", "--distance", str(VALUES["distance"]), "--beam-center",
                                       *map(str, VALUES["center"]), "-o", str(tmp_path / name), *extra])
    return result, tmp_path / name


def test_the_poni_is_pyfais_own_conversion_and_puts_the_beam_where_fit2d_says(tmp_path: Path) -> None:
    """pyFAI reads the PONI back as the geometry its setFit2D makes of the same numbers; in it the direct
    beam (2θ = 0) falls on the pixel position of the given centre (Fit2D counts from the pixel corner, pyFAI's
    pixel indices from the centre: index = centre − ½) and the sample is the given distance away along it."""
    result, path = run(tmp_path, "--tilt", str(VALUES["tilt"]), "--tilt-rotation", str(VALUES["rotation"]),
                       "--pixel-size", *map(str, VALUES["pixel"]), "--energy", "12.0")
    assert result.exit_code == 0, result.output
    found = pyFAI.load(str(path))
    expected = Geometry()
    expected.setFit2D(VALUES["distance"], *VALUES["center"], tilt=VALUES["tilt"], tiltPlanRotation=VALUES["rotation"],
                      pixelX=VALUES["pixel"][0], pixelY=VALUES["pixel"][1])
    for name in ("dist", "poni1", "poni2", "rot1", "rot2", "rot3"):
        assert getattr(found, name) == pytest.approx(getattr(expected, name), abs=1e-12), name
    assert found.wavelength == pytest.approx(12.398419843320026 / 12.0 * 1e-10, rel=1e-12)
    x, y = VALUES["center"]
    assert float(found.tth(np.array([y - 0.5]), np.array([x - 0.5]))[0]) < 1e-9
    assert found.dist / (np.cos(found.rot1) * np.cos(found.rot2)) == pytest.approx(VALUES["distance"] * 1e-3, rel=1e-9)
    assert abs(found.rot1) > 1e-3 and abs(found.rot2) > 1e-3                       # the tilt reached the geometry
    assert "Fit2D back: distance 1234.5000 mm  centre (612.250, 701.750) px  tilt 3.2000 deg" in result.output


def test_untilted_the_poni_is_the_centre_times_the_pixel(tmp_path: Path) -> None:
    """No tilt: dist = D, poni1 = y × pixel y, poni2 = x × pixel x, no rotations; a detector name gives the
    pixel size (Pilatus1M: 172 µm) and stays in the PONI."""
    result, path = run(tmp_path, "--detector", "Pilatus1M", "--wavelength", "1.0")
    assert result.exit_code == 0, result.output
    found = pyFAI.load(str(path))
    x, y = VALUES["center"]
    assert (found.dist, found.poni1, found.poni2) == pytest.approx((1.2345, y * 172e-6, x * 172e-6), abs=1e-12)
    assert (found.rot1, found.rot2, found.rot3) == (0.0, 0.0, 0.0)
    assert found.detector.name == "Pilatus 1M" and found.wavelength == pytest.approx(1e-10)


@pytest.mark.parametrize(("extra", "message"), [
    ((), "pixel size is unknown; give a detector name or both pixel sizes"),
    (("--detector", "Pilatus1M", "--pixel-size", "75", "75"), "pixel size x 75 um differs from detector 'Pilatus1M'"),
    (("--detector", "NoSuchDetector"), "pyFAI knows no detector 'NoSuchDetector'"),
    (("--pixel-size", "75", "75", "--energy", "12", "--wavelength", "1"), "the wavelength or the energy, not both"),
    (("--pixel-size", "75", "-1"), "pixel sizes must be positive"),
])
def test_bad_values_are_one_message_and_no_file(tmp_path: Path, extra: tuple[str, ...], message: str) -> None:
    result, path = run(tmp_path, *extra)
    assert result.exit_code == 1 and message in result.output and "[geometry]" in result.output, result.output
    assert not path.exists() and not list(tmp_path.iterdir())
