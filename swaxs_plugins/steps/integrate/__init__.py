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

from swaxs_plugins.steps import lazy_exports

EXPORTS = {"load_geometry": "inputs", "make_integrator": "inputs", "read_mask": "inputs", "static_mask": "inputs",
           "IntegrateParameters": "step", "PyFAIIntegrate": "step", "integrate_file": "step",
           "integrate_frames": "step", "report_invalid_pixels": "step"}
"""Name → module of what the package exports, imported on first use (PEP 562): importing the package, as
``swaxs describe`` does for the step class, does not import pyFAI."""

__all__ = sorted(EXPORTS)
__getattr__ = lazy_exports(__name__, EXPORTS)
