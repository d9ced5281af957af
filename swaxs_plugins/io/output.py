"""Output paths checked before any computation: a result is never computed only to be lost.

:func:`check_output` says, in one line naming the path, why a file cannot be written there (it is a
directory, a folder above it is a file, the folder or the file is read-only) without touching the
disk, for ``swaxs check``; :func:`prepare_output` also creates the file's folder, for a run.
:func:`check_folder` and :func:`prepare_folder` do the same for an output folder (the step files'
folder, simulations, the demo).
"""

from __future__ import annotations

import os
from pathlib import Path

from swaxs_plugins.core.errors import OutputError


def check_output(path: str | Path, what: str = "output file") -> Path:
    """``path`` if it can be written as a file (creating the folders it needs), else an
    :class:`OutputError` naming ``what`` and the path and saying what to do. Changes nothing."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: the {what} is a directory; give a file name inside it")
    _check_folder(path.parent, path, what)
    if path.exists() and not os.access(path, os.W_OK):
        raise OutputError(f"{path}: the {what} exists and is read-only; choose another path or fix its permissions")
    return path


def prepare_output(path: str | Path, what: str = "output file") -> Path:
    """``path`` made ready to be written as a file (its folder created when missing), or an
    :class:`OutputError` as :func:`check_output` raises it."""
    path = check_output(path, what)
    _make_folder(path.parent, path, what)
    return path


def check_folder(folder: str | Path, what: str = "output folder") -> Path:
    """``folder`` if it can be created or written into, else an :class:`OutputError` naming it. Changes nothing."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{folder}: the {what} is a file; move it away or choose another place")
    _check_folder(folder, folder, what)
    return folder


def prepare_folder(folder: str | Path, what: str = "output folder") -> Path:
    """``folder`` created when missing and checked writable, or an :class:`OutputError` naming it."""
    folder = check_folder(folder, what)
    _make_folder(folder, folder, what)
    return folder


def _check_folder(folder: Path, target: Path, what: str) -> None:
    """The nearest existing folder at or above ``folder`` must be a writable folder."""
    for existing in (folder, *folder.parents):
        if existing.exists():
            if not existing.is_dir():
                raise OutputError(f"{target}: cannot write the {what}, {existing} is a file, not a folder; "
                                  "choose another path")
            if not os.access(existing, os.W_OK | os.X_OK):
                raise OutputError(f"{target}: cannot write the {what}, {existing} is read-only; "
                                  "choose another folder or fix its permissions")
            return


def _make_folder(folder: Path, target: Path, what: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{target}: cannot create the folder of the {what} ({error.strerror})") from error
