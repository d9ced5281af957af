"""Validate written files against the NeXus application definitions their entries declare.

Definitions are looked up first among the project's own (``nexus/``), then among those that
nexusformat ships (NXazint1d, NXazint2d, NXcanSAS, ...). nexusformat's validator does the work; it
is given one definitions folder holding both, so that a project definition may ``extends`` another.

A pipeline's output file also records whether its run completed; one that did not (a failed,
interrupted or killed run) fails validation, whatever its linked entries say.
"""

from __future__ import annotations

import importlib.resources
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py

from swaxs_plugins.io.nexus import RunState, read_run_state, resolve_entry, text
from swaxs_plugins.io.raw import open_hdf5


@dataclass
class ValidationReport:
    """The validator's verdict on one entry."""

    file: Path
    entry: str
    definition: str | None
    warnings: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.errors == 0


def project_definitions() -> Path:
    """The folder of the project's own NXDL files."""
    return Path(str(importlib.resources.files("swaxs_plugins.nexus_definitions")))


def combined_definitions(folder: Path) -> Path:
    """Lay out in ``folder`` nexusformat's definitions with the project's among the applications."""
    from nexusformat.nexus.utils import get_definitions

    standard = get_definitions()
    for sub in standard.iterdir():
        if sub.is_dir() and sub.name != "applications":
            (folder / sub.name).symlink_to(sub, target_is_directory=True)
    applications = folder / "applications"
    applications.mkdir()
    for nxdl in [*(standard / "applications").glob("*.nxdl.xml"), *project_definitions().glob("*.nxdl.xml")]:
        (applications / nxdl.name).unlink(missing_ok=True)
        (applications / nxdl.name).symlink_to(nxdl)
    return folder


def validate_file(path: Path) -> list[ValidationReport]:
    """Validate every NXentry of a file (following external links to step files)."""
    reports = []
    with open_hdf5(Path(path)) as handle:
        run_state = read_run_state(handle)
        names = [n for n in handle if _is_entry(handle, n)]
        targets = [(n, *resolve_entry(handle, n), _definition(handle, n)) for n in names]
    if run_state is not None and not run_state.complete:
        reports.append(_incomplete_run(Path(path), run_state))
    with tempfile.TemporaryDirectory(prefix="swaxs-nxdl-") as folder:
        definitions = combined_definitions(Path(folder))
        for name, target_file, target_path, definition in targets:
            report = ValidationReport(Path(path), name, definition)
            if definition is None:
                report.errors, report.messages = 1, [f"entry '{name}' declares no 'definition'"]
            else:
                _run_validator(report, target_file, target_path, definition, definitions)
            reports.append(report)
    if not targets and run_state is None:
        reports.append(ValidationReport(Path(path), "/", None, errors=1, messages=["the file holds no NXentry"]))
    return reports


def validate_step_entry(path: Path, entry: str, definition: str) -> ValidationReport | None:
    """The validator's verdict on the entry a step just wrote, against its declared definition; None where
    that definition is neither the project's nor one nexusformat ships (a plugin's own: not checked)."""
    with tempfile.TemporaryDirectory(prefix="swaxs-nxdl-") as folder:
        definitions = combined_definitions(Path(folder))
        if not any(definitions.glob(f"**/{definition}.nxdl.xml")):
            return None
        report = ValidationReport(Path(path), entry, definition)
        _run_validator(report, Path(path), f"/{entry}", definition, definitions)
        return report


def _incomplete_run(path: Path, state: RunState) -> ValidationReport:
    message = (f"incomplete run: {state.completed} of {state.total} steps completed (the run failed or was "
               "interrupted); run the pipeline again to finish it")
    return ValidationReport(path, "/", "pipeline run", errors=1, messages=[message])


def _is_entry(handle: h5py.File, name: str) -> bool:
    node = handle.get(name)
    nx_class = node.attrs.get("NX_class") if isinstance(node, h5py.Group) else None
    return nx_class is not None and text(nx_class) in ("NXentry", "NXsubentry")


def _definition(handle: h5py.File, name: str) -> str | None:
    node = handle[name].get("definition")
    if node is None:
        return None
    return text(node[()])


def _findings(records: list[logging.LogRecord]) -> list[str]:
    """Warnings and errors, each prefixed with the field or group the validator was looking at."""
    findings, where = [], ""
    for record in records:
        message = record.getMessage().strip()
        if message.startswith(("Field:", "Group:")):
            where = message
        elif logging.WARNING <= record.levelno <= logging.ERROR and message:
            findings.append(f"{where}: {message}" if where else message)
    return findings


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _run_validator(report: ValidationReport, file: Path, entry_path: str, definition: str,
                   definitions: Path) -> None:
    from nexusformat.nexus.validate import logger, validate_application

    collector = _Collector()
    saved_handlers, saved_level = logger.handlers[:], logger.level
    logger.handlers = [collector]
    logger.setLevel(logging.INFO)
    try:
        totals = validate_application(str(file), path=entry_path, application=definition,
                                      definitions=str(definitions))
    finally:
        logger.handlers, logger.level = saved_handlers, saved_level
    report.messages = _findings(collector.records)
    if totals is None:
        report.errors = max(1, sum(r.levelno == logging.ERROR for r in collector.records))
    else:
        report.warnings, report.errors = totals
