"""What makes a step's result the same on resume: its configuration, the content it reads, its code.

A step is kept when this fingerprint equals the one in its file. Files named by parameters (PONI, mask)
enter by their content hash only, not by their paths, so a processed folder that was moved or copied
resumes (the paths stay in the file's provenance). The implementation enters by its version and by a
hash of its code: the source of every module of the top-level package (or the one file) that defines
it, so a plugin whose code changed is never reported unchanged, even without a version bump.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


def step_fingerprint(configuration: Mapping[str, Any], file_parameters: Iterable[str],
                     input_hashes: Mapping[str, str], code: str) -> str:
    """sha256 of the configuration (file parameters by content only), the inputs' hashes and the code hash."""
    params = dict(configuration.get("params", {}))
    for name in file_parameters:
        params[name] = "file (by content hash)"
    identity = {"configuration": {**configuration, "params": params}, "inputs": dict(input_hashes), "code": code}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def code_hash(cls: type, cache: dict[str, str] | None = None) -> str:
    """sha256 of the Python sources of the top-level package that defines ``cls`` (its module file where it is
    not in a package; its own source where it has no file)."""
    cache = {} if cache is None else cache
    top = cls.__module__.split(".")[0]
    if top not in cache:
        cache[top] = _sources_hash(sys.modules.get(top), cls)
    return cache[top]


def _sources_hash(module: Any, cls: type) -> str:
    digest = hashlib.sha256()
    files = _source_files(module)
    if files:
        for root, path in files:
            digest.update(str(path.relative_to(root)).encode())
            digest.update(path.read_bytes())
    else:
        try:
            digest.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            digest.update(f"{cls.__module__}.{cls.__qualname__}".encode())
    return digest.hexdigest()


def _source_files(module: Any) -> list[tuple[Path, Path]]:
    """(root, file) for every ``.py`` file of a package, or the module's one file; [] where there is none."""
    if module is None:
        return []
    roots = [Path(p) for p in getattr(module, "__path__", [])]
    if roots:
        return [(root, path) for root in roots for path in sorted(root.rglob("*.py"))]
    file = getattr(module, "__file__", None)
    return [(Path(file).parent, Path(file))] if file and Path(file).is_file() else []
