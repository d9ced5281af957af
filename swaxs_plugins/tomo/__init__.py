"""Tomography library shared by the simulator and the tomography steps (align, reconstruct).

- :mod:`.projector` — the parallel-beam projector with a rotation and a tilt axis, and its adjoint;
- :mod:`.harmonics` — real even spherical harmonics, orthonormal on the sphere (mumott's order);
- :mod:`.segments` — the scattering direction of a detector segment and the harmonics it records;
- :mod:`.slices`, :mod:`.reproject` — slice projector, FBP, SIRT; ray-driven re-projection at any tilt;
- :mod:`.blocks` — the 2 × 2 × 2 mean filter of the volume analysis.

Steps import from here, never from :mod:`swaxs_plugins.simulate`.
"""
