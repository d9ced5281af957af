"""What a scalar reconstruction reads: every sample's untilted projections, checked, in the chosen q bins.

A sample becomes a :class:`Sinograms`: the untilted projections [n, K, J, q] (q rebinned as asked,
:mod:`.qbins`), their errors, angles, raster step and intensity units. Every problem is an error naming
the step, the input and the file and dataset it is about.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import h5py
import numpy as np

from swaxs_plugins.core.errors import InputDataError
from swaxs_plugins.core.step import StepOutputRef
from swaxs_plugins.data.projections import (
    PROJECTIONS,
    RAW_DATA,
    Projections,
    read_projections,
    sample_names,
)
from swaxs_plugins.io.nexus import text
from swaxs_plugins.io.raw import RawSource
from swaxs_plugins.steps.reconstruct.parameters import ReconstructParameters
from swaxs_plugins.steps.reconstruct.qbins import QBinning, binning


@dataclass(frozen=True)
class Sinograms:
    """One sample's untilted projections in the reconstruction's q bins."""

    name: str
    source: str
    intensity: np.ndarray
    errors: np.ndarray | None
    q: np.ndarray
    angles: np.ndarray
    pixel_um: float | None
    units: str
    n_tilted: int
    transmission_corrected: bool

    @property
    def width(self) -> int:
        return int(self.intensity.shape[2])

    def in_bin(self, index: int) -> Sinograms:
        """This sample in its q bin ``index`` only (views of the arrays, no copy)."""
        return replace(self, intensity=self.intensity[..., index:index + 1], q=self.q[index:index + 1],
                       errors=None if self.errors is None else self.errors[..., index:index + 1])

    def q_bin(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Projections [n, K, J] of one q bin (float64) and their variances."""
        values = self.intensity[..., index].astype(np.float64)
        variances = None if self.errors is None else np.square(self.errors[..., index], dtype=np.float64)
        return values, variances


def read_samples(source: RawSource | StepOutputRef, params: ReconstructParameters, label: str) -> list[Sinograms]:
    """Every sample of the input, checked and rebinned; ``label`` names the step in errors. A raw source is
    read file by file (one sample each), so that only one sample's full projections are in memory."""
    parts = [source] if isinstance(source, StepOutputRef) else [source.model_copy(update={"files": [f]})
                                                                   for f in source.files]
    units = intensity_units(source)
    sinograms = []
    for part in parts:
        try:
            samples = read_projections(part)
        except InputDataError as error:
            raise InputDataError(f"{label}, input 'projections': {error}") from error
        sinograms += [_sinograms(sample, params, label, units) for sample in samples]
    try:
        sample_names(sinograms)
    except InputDataError as error:
        raise InputDataError(f"{label}, input 'projections': {error}") from error
    return sinograms


def _sinograms(sample: Projections, params: ReconstructParameters, label: str, units: str) -> Sinograms:
    where = f"{label}, input 'projections' ({sample.source})"
    _check_shapes(sample, where)
    untilted = sample.untilted
    if untilted.sum() < 2:
        raise InputDataError(f"{where}: {int(untilted.sum())} untilted projections (tilt 0) of {sample.n}; the "
                             "scalar reconstruction needs the untilted series")
    bins = binning(sample.q, params.q_range, params.q_bins, where)
    intensity = bins.apply(sample.intensity[untilted])
    bad = int(np.count_nonzero(~np.isfinite(intensity)))
    if bad:
        raise InputDataError(f"{where}: {bad} values of the untilted projections are not finite (NaN or inf)")
    errors = _errors(sample, untilted, bins)
    return Sinograms(name=sample.name, source=sample.source, intensity=intensity, errors=errors, q=bins.q,
                     angles=sample.rotation[untilted], pixel_um=params.pixel_size or sample.pixel_um, units=units,
                     n_tilted=int(sample.n - untilted.sum()), transmission_corrected=sample.transmission_corrected)


def _errors(sample: Projections, untilted: np.ndarray, bins: QBinning) -> np.ndarray | None:
    if sample.errors is None:
        return None
    errors = bins.apply_errors(sample.errors[untilted])
    return errors if np.all(np.isfinite(errors)) else None


def _check_shapes(sample: Projections, where: str) -> None:
    """Projections [n, K, J, q] with errors and transmission of the same rays."""
    shape = sample.intensity.shape
    if len(shape) != 4 or min(shape) < 1 or shape[2] < 2:
        raise InputDataError(f"{where}: projections of shape {shape}, expected [projection, k, j, q] with j >= 2")
    if shape[3] != sample.q.size:
        raise InputDataError(f"{where}: {shape[3]} q bins in the projections but {sample.q.size} values of q")
    if sample.errors is not None and sample.errors.shape != shape:
        raise InputDataError(f"{where}: errors of shape {sample.errors.shape}, the projections are {shape}: "
                             "projections of different shapes")
    if sample.transmission is not None and sample.transmission.shape != shape[:3]:
        raise InputDataError(f"{where}: transmission of shape {sample.transmission.shape}, the projections hold "
                             f"{shape[:3]} rays: projections of different shapes")


def intensity_units(source: RawSource | StepOutputRef) -> str:
    """The @units of the projections' intensity (``counts`` where none is written)."""
    if isinstance(source, RawSource):
        path, dataset = source.files[0], source.frames or RAW_DATA
    else:
        path, dataset = source.path, None
    with h5py.File(path, "r") as handle:
        if dataset is None:
            entry = handle[source.entry]
            if PROJECTIONS in entry and len(entry[PROJECTIONS]):
                dataset = f"{entry.name}/{PROJECTIONS}/{next(iter(entry[PROJECTIONS]))}/intensity/I"
            else:
                dataset = f"{entry.name}/maps/curves/I"
        node = handle.get(dataset)
        units = text(node.attrs.get("units", "")) if isinstance(node, h5py.Dataset) else ""
    return units or "counts"
