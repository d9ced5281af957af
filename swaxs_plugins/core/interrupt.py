"""Ctrl-C (SIGINT) that always stops a run, even where a library swallows the KeyboardInterrupt.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives. Inside
a weakref callback or a ``__del__`` (the import system's module locks, h5py objects being freed)
the exception is printed as "Exception ignored ..." and dropped, and the run went on to finish
with exit 0. Within :func:`interrupt_guard` (the ``swaxs`` command holds it for every command) a
SIGINT still raises KeyboardInterrupt at once, so long computations stop promptly, and it is also
remembered: :func:`check_interrupt`, called by the executors between blocks and by the pipeline
between steps, raises it again if it was swallowed, and the swallowed copy is not printed.
Outside the guard (library use) Python's own handling is left as it is.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class _State:
    """Whether SIGINT arrived while the guard was held."""

    requested = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _State.requested = True
    raise KeyboardInterrupt


def _make_unraisable_hook(fallback: Any) -> Any:
    def hook(unraisable: Any) -> None:
        """Drop a swallowed KeyboardInterrupt (the next check raises it again); report anything else."""
        if _State.requested and isinstance(unraisable.exc_value, KeyboardInterrupt):
            return
        fallback(unraisable)
    return hook


@contextmanager
def interrupt_guard() -> Iterator[None]:
    """Within: SIGINT raises KeyboardInterrupt and is remembered for :func:`check_interrupt`.

    Only the main thread can install a signal handler; elsewhere the guard does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous_handler = signal.signal(signal.SIGINT, _on_sigint)
    previous_hook = sys.unraisablehook
    sys.unraisablehook = _make_unraisable_hook(previous_hook)
    _State.requested = False
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook
        _State.requested = False


def interrupt_requested() -> bool:
    """True once SIGINT arrived within the guard (whether or not its KeyboardInterrupt got through)."""
    return _State.requested


def check_interrupt() -> None:
    """Raise KeyboardInterrupt if SIGINT arrived within the guard: a swallowed interrupt still stops."""
    if _State.requested:
        raise KeyboardInterrupt
