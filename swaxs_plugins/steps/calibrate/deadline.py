"""A time limit shared by the stages of one calibration: each checks it before its costly work,
so that a calibration ends within the limit or stops with a message saying where and what to try."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from swaxs_plugins.core.errors import SwaxsError


class CalibrationTimeout(SwaxsError):
    """The calibration did not finish within its time limit."""


@dataclass
class Deadline:
    """``seconds`` from creation; :meth:`check` raises :class:`CalibrationTimeout` once they are spent."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def expired(self) -> bool:
        return self.elapsed > self.seconds

    def check(self, stage: str) -> None:
        if self.expired:
            raise CalibrationTimeout(
                f"calibration stopped after {self.elapsed:.0f} s (time limit {self.seconds:g} s) during {stage}; "
                "give a closer beam_center and distance, fix parameters the rings cannot determine, "
                "or raise time_limit")
