"""What ``swaxs run`` says while it runs: each step as it starts and ends, with its time, on stderr.

The reporter is a lifecycle-hook plugin of the command itself (the hooks any plugin gets), so the core
prints nothing. Lines go to stderr in any context (a terminal, a batch job's log), flushed as they are
written, and to ``--log-file`` when given; ``-q`` keeps only the step errors.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

from swaxs_plugins.core.hookspecs import hookimpl
from swaxs_plugins.core.plan import PipelineConfig, StepConfig
from swaxs_plugins.core.step import StepContext


PROGRESS_LINE = re.compile(r"\d\d:\d\d:\d\d (pipeline \S+: \d+ steps|step \d+/\d+ \S+ \(.*\) .*)$")
"""A line the reporter writes (for whoever reads stderr and wants the other messages)."""


class RunReporter:
    """``step k/N id (kind/impl)`` as each step starts, ends, is kept unchanged or fails."""

    def __init__(self, quiet: bool = False, log_file: Path | None = None) -> None:
        self.quiet = quiet
        self.log_file = log_file
        self.total = 0
        self.index = 0

    def _write(self, text: str, *, always: bool = False) -> None:
        line = f"{time.strftime('%H:%M:%S')} {text}"
        if always or not self.quiet:
            print(line, file=sys.stderr, flush=True)
        if self.log_file is not None:
            with open(self.log_file, "a", encoding="utf-8") as handle:
                handle.write(line + "\n")

    def _label(self, step: StepConfig, impl: str | None) -> str:
        which = impl or step.impl
        return f"step {self.index}/{self.total} {step.id} ({step.kind}{f'/{which}' if which else ''})"

    @hookimpl
    def swaxs_before_pipeline(self, pipeline: PipelineConfig) -> None:
        self.total, self.index = len(pipeline.steps), 0
        self._write(f"pipeline {pipeline.name}: {self.total} steps")

    @hookimpl
    def swaxs_before_step(self, step_config: StepConfig, context: StepContext) -> None:
        self.index += 1
        self._write(f"{self._label(step_config, context.impl)} started")

    @hookimpl
    def swaxs_after_step(self, step_config: StepConfig, context: StepContext, seconds: float) -> None:
        self._write(f"{self._label(step_config, context.impl)} done in {seconds:.1f} s")

    @hookimpl
    def swaxs_step_skipped(self, step_config: StepConfig, reason: str) -> None:
        self.index += 1
        self._write(f"{self._label(step_config, None)} kept ({reason.split(':')[0]})")

    @hookimpl
    def swaxs_step_error(self, step_config: StepConfig, context: StepContext, seconds: float) -> None:
        self._write(f"{self._label(step_config, context.impl)} FAILED after {seconds:.1f} s", always=True)


def reporter_for(quiet: bool, log_file: Path | None) -> RunReporter:
    """A reporter writing to stderr (and ``log_file``), refusing a log file that cannot be written."""
    if log_file is not None:
        from swaxs_plugins.io.output import prepare_output

        prepare_output(log_file, "log file (option --log-file)")
    return RunReporter(quiet, log_file)
