"""The ``calibrate`` step of a pipeline: its parameters, the run on the first calibrant frame, and the
NeXus entry it writes (PONI text, geometry, quality figures, control points, frame with rings)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from pydantic import field_validator, model_validator

from swaxs_plugins.core.errors import SwaxsError
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepContext, StepParameters, parameter
from swaxs_plugins.io.nexus import Axis, StepWriter, set_nx_class
from swaxs_plugins.io.raw import frame_files

from .gate import CENTER_SEARCH_PX, QualityLimits

if TYPE_CHECKING:
    from .result import CalibrationResult

GeometryName = Literal["dist", "poni1", "poni2", "rot1", "rot2", "rot3"]
LIMITS = QualityLimits()


class CalibrateParameters(StepParameters):
    """Calibrant, detector, the initial guess, what to fix or bound, and the quality gate."""

    calibrant: str = parameter(description="pyFAI calibrant name: AgBh, LaB6, CeO2, Si, ...")
    detector: str = parameter(description="pyFAI detector name, e.g. Pilatus2M, Pilatus300kw, Eiger9M")
    orientation: Literal[1, 2, 3, 4] | None = parameter(
        None, description="pyFAI detector orientation of the image (1-4; 3 is pyFAI's default): how it is flipped")
    wavelength: float | None = parameter(None, description="X-ray wavelength (or give energy)", unit="angstrom", gt=0)
    energy: float | None = parameter(None, description="X-ray energy (or give wavelength)", unit="keV", gt=0)
    distance: float = parameter(description="sample to detector-plane distance (guess, within about ±15 %)",
                                unit="m", gt=0)
    beam_center: tuple[float, float] | None = parameter(
        None, description="direct-beam centre [row, col] (guess, on or off the detector); found from the rings' "
                          "symmetry when absent (needs the beam on or near the detector)", unit="pixel")
    center_search: float = parameter(CENTER_SEARCH_PX, description="the centre is searched this far around "
                                                                   "beam_center", unit="pixel", ge=0)
    rot1: float = parameter(0.0, description="pyFAI rot1 (guess)", unit="rad")
    rot2: float = parameter(0.0, description="pyFAI rot2 (guess)", unit="rad")
    rot3: float = parameter(0.0, description="pyFAI rot3 (guess)", unit="rad")
    fix: list[GeometryName] = parameter(["rot3"], description="parameters held at their guess (wavelength always is)")
    bounds: dict[GeometryName, tuple[float, float]] | None = parameter(
        None, description="(low, high) per parameter, m or rad; default: tilts ±0.1 rad, distance x0.75-1.33")
    max_rings: int = parameter(8, description="control points on at most this many rings", ge=1)
    iterations: int = parameter(3, description="at most this many pyFAI pick-and-refine rounds", ge=1)
    mask_file: Path | None = parameter(None, description="mask image or file.h5::/dataset, nonzero = masked")
    max_rms: float = parameter(LIMITS.max_rms_px, description="quality gate: largest residual rms", unit="pixel",
                               gt=0)
    min_rings: int = parameter(LIMITS.min_rings, description="quality gate: fewest rings holding control points",
                               ge=1)
    min_ring_share: float = parameter(LIMITS.min_ring_share, description="quality gate: smallest share of the "
                                                                         "calibrant's rings in range found", ge=0, le=1)
    max_center_error: float = parameter(LIMITS.max_center_error_px, description="quality gate: largest standard "
                                                                                "error of the beam centre",
                                        unit="pixel", gt=0)
    max_distance_error: float = parameter(LIMITS.max_distance_error, description="quality gate: largest relative "
                                                                                 "standard error of the direct "
                                                                                 "distance", gt=0)
    accept_poor: bool = parameter(False, description="use a geometry the quality gate refuses (its problems become "
                                                     "warnings) instead of failing")
    time_limit: float = parameter(60.0, description="stop with a message after this long", unit="s", gt=0)

    @field_validator("calibrant")
    @classmethod
    def _known_calibrant(cls, value: str) -> str:
        from .frame import check_calibrant

        try:
            return check_calibrant(value)
        except SwaxsError as error:
            raise ValueError(str(error)) from error

    @field_validator("detector")
    @classmethod
    def _known_detector(cls, value: str) -> str:
        from .frame import make_detector

        try:
            make_detector(value)
        except SwaxsError as error:
            raise ValueError(str(error)) from error
        return value

    @model_validator(mode="after")
    def _one_of_wavelength_energy(self) -> CalibrateParameters:
        if (self.wavelength is None) == (self.energy is None):
            raise ValueError("give exactly one of wavelength [angstrom] or energy [keV]")
        return self

    def limits(self) -> QualityLimits:
        return QualityLimits(self.max_rms, self.min_rings, self.min_ring_share, self.max_center_error,
                             self.max_distance_error)


def calibrate_with(params: CalibrateParameters, frame: np.ndarray, source: str) -> CalibrationResult:
    """Run the calibration of ``frame`` with a step's (or the command's) parameters."""
    from .frame import read_image, wavelength_angstrom
    from .recipe import calibrate_frame

    mask = read_image(params.mask_file) if params.mask_file is not None else None
    return calibrate_frame(
        frame, params.calibrant, params.detector, wavelength_angstrom(params.wavelength, params.energy),
        params.distance, params.beam_center, rot1=params.rot1, rot2=params.rot2, rot3=params.rot3, fix=params.fix,
        bounds=params.bounds, mask=mask, orientation=params.orientation, max_rings=params.max_rings,
        iterations=params.iterations, center_search_px=params.center_search, limits=params.limits(),
        accept_poor=params.accept_poor, time_limit=params.time_limit, source=source)


class PyFAICalibrate(Step):
    """Refine the detector geometry from the first frame of a calibrant measurement."""

    Parameters: ClassVar[type[StepParameters]] = CalibrateParameters
    inputs: ClassVar[Mapping[str, InputSpec]] = {
        "image": InputSpec("calibrant frames; the first frame of the first file is used", source="raw")}
    definition: ClassVar[str] = "NXswaxs_calibration"
    produces: ClassVar[tuple[str, ...]] = ("geometry",)

    def estimate(self, input_shapes: Mapping[str, Mapping[str, tuple[int, ...]]]) -> Estimate:
        frames = input_shapes.get("image", {}).get("frames")
        if not frames:
            return Estimate()
        shape = tuple(frames[1:])
        return Estimate(outputs={"frame": shape}, memory_bytes=int(np.prod(shape)) * 8 * 16)

    def setup(self, context: StepContext) -> None:
        p: CalibrateParameters = self.params  # type: ignore[assignment]
        self._context = context
        first = frame_files(context.inputs["image"])[0]
        self._frame = first.read(0, 1)[0]
        where = f"{first.path}::{first.dataset}" if first.dataset else str(first.path)
        self._result = calibrate_with(p, self._frame, where)
        context.geometry = self._result.geometry
        context.summary["beam centre"] = "({:.3f}, {:.3f}) px".format(*self._result.beam_center)
        context.summary["direct distance"] = f"{self._result.direct_distance * 1e3:.3f} mm"
        context.summary["quality"] = self._result.quality.summary()
        for problem in self._result.problems:
            context.warn(f"poor calibration accepted (accept_poor): {problem}")

    def finalize(self, results: list[Any], writer: StepWriter) -> None:
        from .figure import ring_map, save_picture

        result, context = self._result, self._context
        poni = result.poni_text()
        writer.entry["poni"] = poni
        (context.workdir / f"{context.step_id}.poni").write_text(poni)
        write_geometry(writer.entry, result)
        write_quality(writer.entry, result)
        write_control_points(writer, result)
        rings = ring_map(result.geometry, result.calibrant)
        rows, cols = self._frame.shape
        group = writer.nxdata("frame", np.where(result.mask, np.nan, self._frame).astype(np.float32),
                              [Axis("row", np.arange(rows, dtype=np.float64) + 0.5, "pixel", "row (pixel)"),
                               Axis("col", np.arange(cols, dtype=np.float64) + 0.5, "pixel", "column (pixel)")],
                              default=True, signal_name="data", long_name="calibrant frame", units="counts",
                              interpretation="image", auxiliary={"fitted_rings": rings}, chunks=(rows, cols),
                              silx_style={"signal_scale_type": "log"})  # gaps and mask NaN: no colour
        group["fitted_rings"].attrs.update({"units": "", "long_name": "pixels on the fitted calibrant rings"})
        save_picture(context.workdir / f"{context.step_id}.png", self._frame, result, rings)


def write_geometry(entry: Any, result: CalibrationResult) -> None:
    """``<entry>/geometry`` (NXcollection): PONI parameters, beam centre, direct distance, residuals."""
    group = set_nx_class(entry.create_group("geometry"), "NXcollection")
    g = result.geometry
    (row, col), direct = result.beam_center, result.direct_distance
    fields = {"dist": (g.dist, "m"), "poni1": (g.poni1, "m"), "poni2": (g.poni2, "m"), "rot1": (g.rot1, "rad"),
              "rot2": (g.rot2, "rad"), "rot3": (g.rot3, "rad"), "wavelength": (g.wavelength * 1e10, "angstrom"),
              "beam_center_row": (row, "pixel"), "beam_center_col": (col, "pixel"), "direct_distance": (direct, "m"),
              "residual_rms_px": (result.rms_px, "pixel"), "residual_rms_two_theta": (result.rms_two_theta_deg, "deg")}
    if result.beam_center_error is not None and result.direct_distance_error is not None:
        fields.update({"beam_center_row_error": (result.beam_center_error[0], "pixel"),
                       "beam_center_col_error": (result.beam_center_error[1], "pixel"),
                       "direct_distance_error": (result.direct_distance_error, "m")})
    for name, (value, units) in fields.items():
        group.create_dataset(name, data=float(value)).attrs["units"] = units
    group["n_control_points"] = np.int64(len(result.control_points))
    group["n_rings"] = np.int64(len(result.rings))
    group["iterations"] = np.int64(result.iterations)
    group["converged"] = bool(result.converged)
    group["calibrant"] = result.calibrant
    group["detector"] = g.detector.name
    group["orientation"] = np.int64(int(g.detector.orientation))


def write_quality(entry: Any, result: CalibrationResult) -> None:
    """``<entry>/quality`` (NXcollection): the quality gate's figures and verdict."""
    quality = result.quality
    group = set_nx_class(entry.create_group("quality"), "NXcollection")
    group["trusted"] = not result.problems
    group["problems"] = "\n".join(result.problems)
    group["rings_used"] = np.array(quality.rings_used, dtype=np.int64) + 1
    group["rings_in_range"] = np.array(quality.rings_examined, dtype=np.int64) + 1
    group["ring_share"] = quality.ring_share
    group["parameters_at_bounds"] = ", ".join(quality.at_bounds)
    group["significance"] = quality.significance
    group["significance"].attrs["long_name"] = "ring pixels on calibrant rings, binomial standard deviations above chance"
    for name in ("rings_used", "rings_in_range"):
        group[name].attrs["long_name"] = "calibrant ring orders (1 = innermost)"


def write_control_points(writer: StepWriter, result: CalibrationResult) -> None:
    """``<entry>/control_points`` (NXdata): residual px per point, with row, col, ring, residual 2θ."""
    points = result.control_points
    group = writer.nxdata("control_points", result.residual_px,
                          [Axis("point", np.arange(len(points), dtype=np.float64), "", "control point index")],
                          signal_name="residual", long_name="residual along the 2θ gradient (pixel)", units="pixel")
    for name, values, units, long_name in (("row", points[:, 0] + 0.5, "pixel", "row (pixel)"),
                                           ("col", points[:, 1] + 0.5, "pixel", "column (pixel)"),
                                           ("ring", points[:, 2].astype(np.int64), "", "calibrant ring index"),
                                           ("residual_two_theta", np.degrees(result.residual_two_theta), "deg",
                                            "residual 2θ (deg)")):
        group.create_dataset(name, data=values).attrs.update({"units": units, "long_name": long_name})
