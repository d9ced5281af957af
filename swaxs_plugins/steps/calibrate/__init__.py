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

from swaxs_plugins.steps import lazy_exports

EXPORTS = {"check_calibrant": "frame", "invalid_pixels": "frame", "make_detector": "frame", "read_image": "frame",
           "wavelength_angstrom": "frame", "NoRingsFound": "gate", "PoorCalibration": "gate", "Quality": "gate",
           "QualityLimits": "gate", "beam_center_and_direct_distance": "geometry",
           "geometry_from_beam_center": "geometry", "calibrate_frame": "recipe", "CalibrationResult": "result",
           "CalibrateParameters": "step", "PyFAICalibrate": "step", "calibrate_with": "step"}
"""Name → module of what the package exports, imported on first use (PEP 562): importing the package, as
``swaxs describe`` does for the step class, does not import pyFAI."""

__all__ = sorted(EXPORTS)
__getattr__ = lazy_exports(__name__, EXPORTS)
