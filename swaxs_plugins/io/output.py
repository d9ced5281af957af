"""Output paths checked before any computation: a result is never computed only to be lost.

:func:`prepare_output` creates the folder of an output file or says, in one line naming the path,
why it cannot be written there (its parent is a file, it is a directory, the folder is read-only).
"""

from __future__ import annotations

import os
from pathlib import Path

from swaxs_plugins.core.errors import OutputError


def prepare_output(path: str | Path, what: str = "output file") -> Path:
    """``path`` made ready to be written as a file (its folder created when missing), or an
    :class:`OutputError` naming ``what`` and the path and saying what to do."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: the {what} is a directory; give a file name inside it")
    for parent in (path.parent, *path.parent.parents):
        if parent.exists():
            if not parent.is_dir():
                raise OutputError(f"{path}: cannot write the {what}, {parent} is a file, not a folder")
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"{path}: cannot create the folder of the {what} ({error.strerror})") from error
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputError(f"{path}: the {what} is not writable here; choose another folder or fix its permissions")
    return path
