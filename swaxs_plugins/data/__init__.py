"""The data layouts that steps exchange, as public readers and writers for built-in steps and plugins.

Every layout has a name (:mod:`.layouts`: ``Step.produces`` and ``InputSpec(layouts=...)`` use it,
and the framework checks a step's entry against the layouts it declares), a module that documents
it on file and reads (and writes) it, and an example in its module docstring:

- ``curves`` — :mod:`.curves`: curves of every scan point, I[scan, y, x, q] with errors and axes
  (integrate, transmission, background), with the scans they came from;
- ``transmission`` — :mod:`.maps`: the transmission map T[scan, y, x] (transmission);
- ``masks`` — :mod:`.masks`: named boolean maps [y, x] (mask);
- ``maps`` — :mod:`.maps`: named maps of fitted or derived values, [scan, y, x] or [y, x] (fit);
- ``geometry`` — :mod:`.geometry`: a calibrated geometry as PONI text (calibrate);
- ``projections`` — :mod:`.projections`: tomography projections per sample with their angles (align);
- ``volumes`` — :mod:`.volumes`: reconstructed volumes per sample (reconstruct).

Stability: these names, the readers' signatures and the fields they return only grow within a
major version of swaxs-plugins; anything else under ``swaxs_plugins.steps`` is internal to the
built-in steps and may change in any release.
"""
