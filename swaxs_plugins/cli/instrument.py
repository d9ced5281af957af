"""``swaxs integrate``, ``swaxs calibrate`` and ``swaxs geometry``: one frame or one geometry, outside a pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click


@click.command("integrate")
@click.argument("source", metavar="INPUT")
@click.option("--poni", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="PONI file of the geometry.")
@click.option("--orientation", type=click.IntRange(1, 4), default=None,
              help="pyFAI detector orientation 1-4 replacing the PONI's (2: a PONI made on an image flipped "
                   "up-down, as Dioptas does). Default: the PONI's.")
@click.option("--npt", type=click.IntRange(min=2), default=1000, show_default=True, help="Radial bins.")
@click.option("--unit", type=click.Choice(["q_A^-1", "q_nm^-1", "2th_deg"]), default="q_A^-1", show_default=True)
@click.option("--segments", type=click.IntRange(min=0), default=0, show_default=True,
              help="Azimuthal segments I(chi, q); 0 = 1D only.")
@click.option("--mask", default=None, help="Mask image (0 = valid, pyFAI's convention) or file.h5::/path.")
@click.option("--monitor", default=None, metavar="DATASET",
              help="Per-frame monitor dataset in INPUT (HDF5); each frame is divided by its value.")
@click.option("--dummy", type=float, default=None,
              help="A pixel value marking invalid pixels; NaN, ±inf, negative values and the maximum of an "
                   "integer frame type (uint32 4294967295) are masked anyway.")
@click.option("--delta-dummy", type=click.FloatRange(min=0), default=None,
              help="Tolerance of --dummy (|value - dummy| <= delta), as pyFAI's.")
@click.option("--polarization", type=click.FloatRange(-1, 1), default=None, help="Polarization factor.")
@click.option("--method", default="bbox,csr,cython", show_default=True,
              help="pyFAI method: a name or split,algo,impl.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="NeXus file to write (NXazint1d); its folder is created.")
def integrate_command(source: str, poni: Path, orientation: int | None, npt: int, unit: str, segments: int,
                      mask: str | None, monitor: str | None, dummy: float | None, delta_dummy: float | None,
                      polarization: float | None, method: str, output: Path) -> None:
    """Integrate INPUT (an image file, or file.h5::/path/to/frames) azimuthally to I(q) in NeXus.

    Pixels invalid in a frame are masked there and counted; the count is printed and stored in the file.
    """
    from swaxs_plugins.io.raw import RawSource, split_location
    from swaxs_plugins.steps.integrate import IntegrateParameters, integrate_file

    path, dataset = split_location(source)
    parts = tuple(part.strip() for part in method.split(","))
    params = IntegrateParameters(poni=poni, orientation=orientation, npt=npt, unit=unit, segments=segments,
                                 mask=mask, dummy=dummy, delta_dummy=delta_dummy, polarization=polarization,
                                 method=parts if len(parts) == 3 else parts[0])
    context = integrate_file(RawSource(files=[path], frames=dataset, monitor=monitor), params, output)
    for name, value in context.summary.items():
        click.echo(f"{name}: {value}")
    for warning in context.warnings:
        click.echo(f"warning: {warning}")
    click.echo(f"wrote {output}")


@click.command()
@click.argument("image")
@click.option("--calibrant", required=True, help="pyFAI calibrant name: AgBh, LaB6, CeO2, Si, ...")
@click.option("--detector", required=True, help="pyFAI detector name, e.g. Pilatus2M.")
@click.option("--orientation", type=click.IntRange(1, 4), default=None,
              help="pyFAI detector orientation of the image (1-4; 3 is pyFAI's default).")
@click.option("--wavelength", type=float, default=None, help="Wavelength [Å] (or --energy).")
@click.option("--energy", type=float, default=None, help="Energy [keV] (or --wavelength).")
@click.option("--distance", type=float, required=True, help="Sample-detector distance guess [m], within about ±15 %.")
@click.option("--beam-center", nargs=2, type=float, default=None,
              help="Beam centre guess ROW COL [px], on or off the detector; found from the rings when absent.")
@click.option("--center-search", type=click.FloatRange(min=0), default=None,
              help="Search the centre this far around --beam-center [px] (default 40).")
@click.option("--rot1", type=float, default=0.0, help="rot1 guess [rad].")
@click.option("--rot2", type=float, default=0.0, help="rot2 guess [rad].")
@click.option("--rot3", type=float, default=0.0, help="rot3 guess [rad].")
@click.option("--fix", default="rot3", show_default=True, help="Comma-separated parameters to hold fixed.")
@click.option("--mask", "mask_file", default=None, help="Mask image or file.h5::/dataset (nonzero = masked).")
@click.option("--max-rings", type=click.IntRange(min=1), default=None, help="Control points on at most this many rings.")
@click.option("--max-rms", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Quality gate: largest residual rms [px] (default 0.5).")
@click.option("--min-rings", type=click.IntRange(min=1), default=None,
              help="Quality gate: fewest rings holding control points (default 2).")
@click.option("--accept-poor", is_flag=True, help="Write a geometry the quality gate refuses (with warnings).")
@click.option("--time-limit", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Stop with a message after this many seconds (default 60).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PONI file to write.")
def calibrate(image: str, output: Path, fix: str, beam_center: tuple[float, float] | None, accept_poor: bool,
              **options: Any) -> None:
    """Refine the detector geometry from the calibrant frame IMAGE (file or file.h5::/dataset).

    Exits non-zero, saying why, when no calibrant rings are found or the geometry fails the quality
    gate (residual rms, rings found, parameters at bounds, centre and distance errors).
    """
    from pydantic import ValidationError

    from swaxs_plugins.io.output import prepare_output
    from swaxs_plugins.steps.calibrate import CalibrateParameters, calibrate_with, read_image

    values = {name: value for name, value in options.items() if value is not None}
    try:
        params = CalibrateParameters(**values, accept_poor=accept_poor, beam_center=beam_center or None,
                                     fix=[name.strip() for name in fix.split(",") if name.strip()])
    except ValidationError as error:
        problems = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-') or 'options'}: {e['msg']}"
                             for e in error.errors())
        raise click.UsageError(problems) from error
    prepare_output(output, "PONI file")
    result = calibrate_with(params, read_image(image), image)
    partial = output.with_name(f".{output.name}.partial")
    partial.write_text(result.poni_text())
    partial.replace(output)
    g = result.geometry
    click.echo(f"dist {g.dist:.6f} m  poni1 {g.poni1:.6f} m  poni2 {g.poni2:.6f} m  "
               f"rot1 {g.rot1:.6f}  rot2 {g.rot2:.6f}  rot3 {g.rot3:.6f} rad")
    row, col = result.beam_center
    click.echo(f"beam centre (row {row:.3f}, col {col:.3f}) px, direct distance {result.direct_distance:.6f} m")
    click.echo(result.quality.summary())
    for problem in result.problems:
        click.echo(f"warning: poor calibration accepted: {problem}", err=True)
    click.echo(f"wrote {output}")


@click.command()
@click.option("--distance", type=float, required=True, help="Direct-beam distance sample to detector [mm] (Fit2D).")
@click.option("--beam-center", nargs=2, type=float, required=True, metavar="X Y",
              help="Beam centre [px] as Fit2D gives it: X along the detector's fast axis (columns), Y along the rows.")
@click.option("--tilt", type=float, default=0.0, show_default=True, help="Detector tilt [deg] (Fit2D).")
@click.option("--tilt-rotation", type=float, default=0.0, show_default=True,
              help="Rotation of the tilt plane [deg] (Fit2D tiltPlanRotation).")
@click.option("--detector", default=None, help="pyFAI detector name (e.g. Pilatus1M): its pixel size and shape.")
@click.option("--pixel-size", nargs=2, type=float, default=None, metavar="X Y",
              help="Pixel size [um] along X and Y, where no --detector is given.")
@click.option("--wavelength", type=float, default=None, help="Wavelength [Å] (or --energy).")
@click.option("--energy", type=float, default=None, help="Energy [keV] (or --wavelength).")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="PONI file to write.")
def geometry(distance: float, beam_center: tuple[float, float], tilt: float, tilt_rotation: float,
             detector: str | None, pixel_size: tuple[float, float] | None, wavelength: float | None,
             energy: float | None, output: Path) -> None:
    """Write a PONI file from beamline (Fit2D-style) geometry, converted by pyFAI's setFit2D.

    Prints pyFAI's geometry and the Fit2D values pyFAI gives back for it.
    """
    from swaxs_plugins.io.poni import Fit2DValues, fit2d_of, geometry_from_fit2d, wavelength_m, write_poni

    where = "Fit2D values"
    pixel_x, pixel_y = pixel_size or (None, None)
    values = Fit2DValues(distance_mm=distance, center_x_px=beam_center[0], center_y_px=beam_center[1],
                         tilt_deg=tilt, tilt_plane_rotation_deg=tilt_rotation, pixel_x_um=pixel_x, pixel_y_um=pixel_y)
    found = geometry_from_fit2d(values, detector=detector, wavelength=wavelength_m(wavelength, energy, where),
                                where=where)
    write_poni(found, output)
    click.echo(f"pyFAI: dist {found.dist:.6f} m  poni1 {found.poni1:.6f} m  poni2 {found.poni2:.6f} m  "
               f"rot1 {found.rot1:.6f}  rot2 {found.rot2:.6f}  rot3 {found.rot3:.6f} rad"
               + (f"  wavelength {found.wavelength * 1e10:.6f} Å" if found.wavelength else "  (no wavelength)"))
    back = fit2d_of(found)
    click.echo(f"Fit2D back: distance {back.distance_mm:.4f} mm  centre ({back.center_x_px:.3f}, "
               f"{back.center_y_px:.3f}) px  tilt {back.tilt_deg:.4f} deg  tilt rotation "
               f"{back.tilt_plane_rotation_deg:.4f} deg  pixel {back.pixel_x_um:g} x {back.pixel_y_um:g} um")
    click.echo(f"wrote {output}")
