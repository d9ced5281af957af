"""The data layouts that steps exchange, as public readers and writers for built-in steps and plugins.

- :mod:`.projections` — SAXS projections of tomography samples: intensity per projection, raster
  point, (azimuthal segment) and q, with transmission and the rotation and tilt angles;
- :mod:`.volumes` — reconstructed volumes per sample: intensity per voxel and q, and per q-region.

Each module documents the NeXus layout it reads and writes; a step that writes a layout with the
module's writer can be read by every step that takes it.
"""
