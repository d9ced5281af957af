"""PONI files from beamline metadata: a Fit2D-style geometry converted by pyFAI itself.

Beamlines record a geometry as Fit2D does: the direct-beam distance D [mm], the beam centre (x, y) [px]
on the detector (x along its fast axis, the columns; y along the rows), the tilt τ [deg] of the
detector and the rotation φ [deg] of the tilt plane, and the pixel size [µm]. pyFAI's
``Geometry.setFit2D`` turns them into its own (dist, poni1, poni2, rot1, rot2, rot3) — the conversion
is pyFAI's, not re-derived here — and ``Geometry.getFit2D`` back, which :func:`fit2d_of` reports so
that the scientist sees the numbers round-trip. A tilt gives all three of pyFAI's rotations (rot3 small).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swaxs_plugins.core.errors import InputDataError, OutputError
from swaxs_plugins.io.output import prepare_output

PLANCK_KEV_ANGSTROM = 12.398419843320026
"""h·c [keV·Å]: λ [Å] = 12.398 / E [keV] (CODATA 2018)."""


@dataclass(frozen=True)
class Fit2DValues:
    """A geometry as Fit2D and most beamline metadata give it (module docstring)."""

    distance_mm: float
    center_x_px: float
    center_y_px: float
    tilt_deg: float = 0.0
    tilt_plane_rotation_deg: float = 0.0
    pixel_x_um: float | None = None
    pixel_y_um: float | None = None


def wavelength_m(wavelength_angstrom: float | None, energy_kev: float | None, where: str) -> float | None:
    """The wavelength [m] from one of λ [Å] or E [keV] (both or a non-positive one: an error naming ``where``)."""
    if wavelength_angstrom is not None and energy_kev is not None:
        raise InputDataError(f"{where}: give the wavelength or the energy, not both")
    for name, value in (("wavelength", wavelength_angstrom), ("energy", energy_kev)):
        if value is not None and not value > 0:
            raise InputDataError(f"{where}: the {name} must be positive, got {value}")
    if energy_kev is not None:
        return PLANCK_KEV_ANGSTROM / energy_kev * 1e-10
    return None if wavelength_angstrom is None else wavelength_angstrom * 1e-10


def geometry_from_fit2d(values: Fit2DValues, *, detector: str | None = None, wavelength: float | None = None,
                        where: str = "geometry"):
    """A pyFAI ``Geometry`` from Fit2D values; the pixel size from ``detector`` (a pyFAI detector name) or the
    values (both: they must agree). ``wavelength`` in m."""
    from pyFAI.detectors import detector_factory
    from pyFAI.geometry import Geometry

    if not values.distance_mm > 0:
        raise InputDataError(f"{where}: the distance must be positive, got {values.distance_mm} mm")
    pixels = (values.pixel_x_um, values.pixel_y_um)
    if any(p is not None and not p > 0 for p in pixels):
        raise InputDataError(f"{where}: pixel sizes must be positive, got {pixels} um")
    chip = None
    if detector is not None:
        try:
            chip = detector_factory(detector)
        except (RuntimeError, KeyError, ValueError) as error:
            raise InputDataError(f"{where}: pyFAI knows no detector '{detector}' ({error})") from error
        own = (chip.pixel2 * 1e6, chip.pixel1 * 1e6)           # x along pixel2 (columns), y along pixel1
        for axis, given, known in zip("xy", pixels, own):
            if given is not None and abs(given - known) > 1e-6 * known:
                raise InputDataError(f"{where}: pixel size {axis} {given:g} um differs from detector '{detector}' "
                                     f"({known:g} um); give one of them")
        pixels = own
    if any(p is None for p in pixels):
        raise InputDataError(f"{where}: the pixel size is unknown; give a detector name or both pixel sizes")
    geometry = Geometry(detector=chip)
    geometry.setFit2D(values.distance_mm, values.center_x_px, values.center_y_px, tilt=values.tilt_deg,
                      tiltPlanRotation=values.tilt_plane_rotation_deg, pixelX=pixels[0], pixelY=pixels[1])
    if wavelength is not None:
        geometry.wavelength = wavelength
    return geometry


def fit2d_of(geometry) -> Fit2DValues:
    """The Fit2D values pyFAI gives back for ``geometry`` (``getFit2D``)."""
    found = geometry.getFit2D()
    return Fit2DValues(distance_mm=found["directDist"], center_x_px=found["centerX"], center_y_px=found["centerY"],
                       tilt_deg=found["tilt"], tilt_plane_rotation_deg=found["tiltPlanRotation"],
                       pixel_x_um=found["pixelX"], pixel_y_um=found["pixelY"])


def write_poni(geometry, path: str | Path) -> Path:
    """Write ``geometry`` as a PONI file pyFAI reads, whole or not at all (a partial file renamed into place)."""
    path = prepare_output(path, "PONI file")
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.unlink(missing_ok=True)
        geometry.write(str(partial))
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write the PONI file: {error}") from error
    return path
