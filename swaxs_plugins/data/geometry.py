"""Geometry: a calibrated detector geometry, as the PONI text pyFAI reads, in an earlier step's entry.

Layout (``geometry``): ``<entry>/poni`` (string), the whole PONI file (``pyFAI.load`` reads it once
written to a file); a calibrate step also writes ``<entry>/geometry`` (NXcollection) with the same
values, the beam centre and the residuals, for people.

Example::

    from swaxs_plugins.data.geometry import read_poni
    text = read_poni(context.inputs["geometry"])
"""

from __future__ import annotations

import h5py

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.io.nexus import text as nexus_text


def read_poni(ref: StepOutputRef) -> str:
    """The PONI text of ``ref``'s entry."""
    try:
        with h5py.File(ref.path, "r") as handle:
            value = handle[ref.entry]["poni"][()]
    except (OSError, KeyError) as error:
        raise InputDataError(f"{ref.path}: no PONI at '{ref.entry}/poni' (input 'geometry', step "
                             f"'{ref.step_id}')") from error
    return nexus_text(value)
