"""Tomography library shared by the simulator and the tomography steps (align, reconstruct).

- :mod:`.projector` — the parallel-beam projector with a rotation and a tilt axis, and its adjoint;
- :mod:`.harmonics` — real even spherical harmonics, orthonormal on the sphere (mumott's order).

Steps import from here, never from :mod:`swaxs_plugins.simulate`.
"""
