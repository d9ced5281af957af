"""What a simulation wrote: the paths the CLI, the demo and the tests pick up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType


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
    """Create ``outdir`` if needed and check it is writable; a ValueError names the parameter."""
    path = Path(outdir)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".swaxs_write_probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ValueError(f"outdir {str(path)!r} is not a writable directory: {error}") from error
    return path
