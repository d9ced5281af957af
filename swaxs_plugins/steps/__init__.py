"""The built-in step plugins, one module per step kind; each is declared in ``entrypoints.cfg``."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` (PEP 562) that imports each of ``exports`` (name → submodule) on first
    use, so that importing the package (as ``swaxs describe`` does for a step class) imports no library."""
    def exported(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    return exported
