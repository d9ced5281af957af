"""Test-only one-file plugin for the Ctrl-C tests: a step that takes its time where a test wants it.

Only while a test watches (``SWAXS_TEST_MARKERS`` set to a folder) does the step take its time, and
the plugin drops an empty file in that folder at each moment a test may interrupt (``pipeline``,
``before_<step>``, ``<step>_block_<i>``, ``<step>_finalize``), so the test sends SIGINT at that
moment and not at a guessed time; ``SWAXS_TEST_PIPELINE_PAUSE`` (seconds) holds the start of the
pipeline. Unwatched, the same pipeline runs at once (a test's resume). Kept out of
``tests/plugins`` so that other tests never load it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import Step, StepParameters, parameter
from swaxs_plugins.io.nexus import Axis


def mark(name: str, seconds: float = 0.0) -> None:
    """Drop the marker ``name`` and take ``seconds``, while a test watches; else nothing."""
    folder = os.environ.get("SWAXS_TEST_MARKERS")
    if folder:
        Path(folder, name).touch()
        time.sleep(seconds)


class SlowParameters(StepParameters):
    blocks: int = parameter(4, description="number of blocks", ge=1)
    block_seconds: float = parameter(0.0, description="time each block takes (watched)", unit="s", ge=0)
    finalize_seconds: float = parameter(0.0, description="time spent writing, the step file half written "
                                                         "(watched)", unit="s", ge=0)


class Slow(Step):
    """Block i gives i; the results are written as one NXdata. Takes the time its parameters say."""

    Parameters = SlowParameters

    def setup(self, context):
        self.step_id = context.step_id

    def blocks(self):
        return list(range(self.params.blocks))

    def process(self, block):
        mark(f"{self.step_id}_block_{block}", self.params.block_seconds)
        return float(block)

    def finalize(self, results, writer):
        values = np.array(results)
        writer.nxdata("values", values, [Axis("block", np.arange(len(values)), "", "block index")],
                      long_name="block value", units="", default=True)
        mark(f"{self.step_id}_finalize", self.params.finalize_seconds)


@hookimpl
def swaxs_register_steps():
    return [StepImpl("slow", "sleepy", Slow, "0.1", "takes its time (Ctrl-C tests only)")]


@hookimpl
def swaxs_before_pipeline(pipeline):
    mark("pipeline", float(os.environ.get("SWAXS_TEST_PIPELINE_PAUSE", "0")))


@hookimpl
def swaxs_before_step(step_config, context):
    mark(f"before_{step_config.id}")
