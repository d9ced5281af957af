"""Maps: one value per scan point, [scan, y, x] or [y, x], at a path in an earlier step's entry.

What the ``maps`` layout holds (``<entry>/maps/<name>``, NXdata, e.g. a fit step's parameters) and the
``transmission`` layout (``<entry>/transmission``, signal ``T`` [scan, y, x]). A 1-D series comes back
as a map of one line, as :func:`~swaxs_plugins.io.nexus.read_signal` restores it.

Example::

    from swaxs_plugins.data.maps import read_map
    t = read_map(context.inputs["transmission"], "transmission/T")      # [scan, y, x]
    d002 = read_map(context.inputs["fit"], "maps/d002")
"""

from __future__ import annotations

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.curves import where
from swaxs_plugins.io.nexus import read_signal


def read_map(ref: StepOutputRef, path: str) -> np.ndarray:
    """The map (float64) at ``path`` in ``ref``'s entry: an NXdata group (its signal) or a dataset in one."""
    with h5py.File(ref.path, "r") as handle:
        node = handle.get(f"{ref.entry}/{path}")
        if isinstance(node, h5py.Group) and "signal" in node.attrs:
            data = read_signal(node)
        elif isinstance(node, h5py.Dataset):
            data = read_signal(node.parent, node.name.rsplit("/", 1)[1])
        else:
            data = None
        if data is None or data.ndim not in (2, 3):
            raise InputDataError(f"{where(ref, path)}: no map [scan, y, x] or [y, x] there")
        return data.astype(np.float64)
