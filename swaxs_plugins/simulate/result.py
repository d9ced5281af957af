"""What a simulation wrote: the paths the CLI, the demo and the tests pick up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from swaxs_plugins.core.errors import OutputError
from swaxs_plugins.io.output import prepare_folder


def _frozen(mapping: Mapping[str, Path] | None = None) -> Mapping[str, Path]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class SimulationResult:
    """Paths written by one simulation.

    ``raw``: NeXus raw files in acquisition order (what a pipeline reads); ``references``:
    empty-beam scans; ``images``: single frames (EDF) for ``swaxs calibrate IMAGE``; ``masks``:
    detector key -> EDF mask (1 = masked: gaps and beamstop); ``poni``: detector key -> TRUE PONI
    file; ``truth``: ground-truth files no pipeline reads; ``extra``: anything else by name
    (e.g. ``cycler_log``).
    """

    outdir: Path
    raw: tuple[Path, ...] = ()
    references: tuple[Path, ...] = ()
    images: tuple[Path, ...] = ()
    masks: Mapping[str, Path] = field(default_factory=_frozen)
    poni: Mapping[str, Path] = field(default_factory=_frozen)
    truth: tuple[Path, ...] = ()
    extra: Mapping[str, Path] = field(default_factory=_frozen)

    def __post_init__(self) -> None:
        for name in ("masks", "poni", "extra"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


def prepare_outdir(outdir: str | Path) -> Path:
    """Create ``outdir`` if needed, before anything is simulated; a ValueError names the parameter,
    the path and why it cannot be written (see :func:`~swaxs_plugins.io.output.prepare_folder`)."""
    try:
        return prepare_folder(outdir, "simulation folder (outdir)")
    except OutputError as error:
        raise ValueError(str(error)) from error
