"""The ``calibrate`` step, implementation ``pyfai``: detector geometry (a pyFAI PONI) from one calibrant
frame, headless, right or loud.

One module per stage of the method (:mod:`.recipe` runs them in order):

- :mod:`.frame` — inputs: calibrant, detector (and its orientation), invalid pixels, ring pixels;
- :mod:`.search` — the global stage: beam centre and distance from the rings' own evidence,
  D = D₀ + ρ / tan 2θₙ − z for every (ring pixel, ring) pair, so that no wrong ring order reaches pyFAI;
- :mod:`.picking` — pyFAI's ``extract_cp`` and ``refine3`` from the search's geometry;
- :mod:`.subpixel` — ring positions per arc sector to a few hundredths of a pixel, weighted least squares;
- :mod:`.gate` — residual rms, rings used and found, parameters at bounds, centre and distance errors:
  a geometry the figures do not support is refused with a message saying what to try;
- :mod:`.step` — the pipeline step and its NeXus entry; :mod:`.figure` — the picture.
"""

from __future__ import annotations


from .frame import check_calibrant, invalid_pixels, make_detector, read_image, wavelength_angstrom
from .gate import NoRingsFound, PoorCalibration, Quality, QualityLimits
from .geometry import beam_center_and_direct_distance, geometry_from_beam_center
from .recipe import calibrate_frame
from .result import CalibrationResult
from .step import CalibrateParameters, PyFAICalibrate, calibrate_with

__all__ = ["CalibrateParameters", "CalibrationResult", "NoRingsFound", "PoorCalibration", "PyFAICalibrate", "Quality",
           "QualityLimits", "beam_center_and_direct_distance", "calibrate_frame", "calibrate_with", "check_calibrant",
           "geometry_from_beam_center", "invalid_pixels", "make_detector", "read_image", "wavelength_angstrom"]
