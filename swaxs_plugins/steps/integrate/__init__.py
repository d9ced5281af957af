"""The ``integrate`` step, implementation ``pyfai``: every frame of every scan to I(q) and I(χ, q).

One module per part (the equations open :mod:`.step`):

- :mod:`.step` — parameters, the step (setup, blocks, process, finalize), ``integrate_frames`` and
  ``integrate_file`` for use without a pipeline;
- :mod:`.inputs` — what is read and checked before integrating: geometry (PONI checks,
  orientation), masks, the scans' layout, monitor, diode, timestamps;
- :mod:`.engine` — pyFAI's sparse matrix applied to blocks of frames in one compiled pass, and
  pyFAI's own per-frame path, with the invalid pixels of each frame;
- :mod:`.outputs` — the NXazint1d/NXazint2d entry and the map views silx opens.
"""

from __future__ import annotations


from .inputs import load_geometry, make_integrator, read_mask, static_mask
from .step import IntegrateParameters, PyFAIIntegrate, integrate_file, integrate_frames, report_invalid_pixels

__all__ = ["IntegrateParameters", "PyFAIIntegrate", "integrate_file", "integrate_frames", "load_geometry",
           "make_integrator", "read_mask", "report_invalid_pixels", "static_mask"]
