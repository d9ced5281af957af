"""Test-only one-file plugin: frame-wise steps with answers a test can compute by hand.

Loaded through ``--plugins-dir``/``Registry.discover([...])`` exactly as a facility's file would be.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from swaxs_plugins.core.hookspecs import StepImpl, hookimpl
from swaxs_plugins.core.step import Estimate, InputSpec, Step, StepParameters, chunk_ranges, parameter
from swaxs_plugins.io.nexus import Axis
from swaxs_plugins.io.raw import frame_files


class FrameSumParameters(StepParameters):
    factor: float = parameter(1.0, description="Multiplier applied to every frame sum")
    chunk: int = parameter(3, description="Frames per block", ge=1)
    fail_on_frame: int = parameter(-1, description="Raise when this frame index is processed (tests)")
    offsets: Path | None = parameter(None, description="A .npy file of one offset per frame, added to the sums")
    warn_above: float | None = parameter(None, description="Warn about the frames whose sum exceeds this (tests)")


class FrameSum(Step):
    """Sum of every frame times ``factor``: a frame-wise step whose answer is known exactly."""

    Parameters = FrameSumParameters
    inputs = {"scans": InputSpec("frames to sum", source="raw")}

    def setup(self, context):
        self.files = frame_files(context.inputs["scans"])
        self.context = context

    def blocks(self):
        return [(f, r.start, r.stop) for f in self.files for r in chunk_ranges(f.shape[0], self.params.chunk)]

    def process(self, block):
        frame_file, start, stop = block
        if start <= self.params.fail_on_frame < stop:
            raise RuntimeError(f"asked to fail on frame {self.params.fail_on_frame}")
        frames = frame_file.read(start, stop).astype(np.float64)
        return frames.sum(axis=(1, 2)) * self.params.factor + np.sin(frames).sum(axis=(1, 2))

    def finalize(self, results, writer):
        sums = np.concatenate(results)
        if self.params.offsets is not None:
            sums = sums + np.load(self.params.offsets)
        self.context.summary["largest sum"] = f"{sums.max():.6g}"
        if self.params.warn_above is not None and np.any(sums > self.params.warn_above):
            self.context.warn(f"{np.count_nonzero(sums > self.params.warn_above)} frame sums above "
                              f"{self.params.warn_above:g}")
        writer.nxdata("sums", sums, [Axis("frame", np.arange(len(sums)), "", "frame index")],
                      signal_name="total", long_name="frame sum", units="counts", errors=np.sqrt(np.abs(sums)),
                      default=True)

    def estimate(self, input_shapes):
        n_frames = input_shapes.get("scans", {}).get("frames", (0,))[0]
        return Estimate(outputs={"sums": (n_frames,)}, memory_bytes=8 * n_frames)


class ScaleParameters(StepParameters):
    offset: float = parameter(0.0, description="Added to every sum", unit="counts")


class Rescale(Step):
    """Reads an earlier step's sums and adds an offset: exercises step-to-step references."""

    Parameters = ScaleParameters
    inputs = {"sums": InputSpec("an earlier frame-sum step", step_kinds=("integrate",))}

    def setup(self, context):
        import h5py

        ref = context.inputs["sums"]
        with h5py.File(ref.path, "r") as handle:
            self.sums = handle[ref.entry]["sums/total"][()]

    def finalize(self, results, writer):
        shifted = self.sums + self.params.offset
        writer.nxdata("shifted", shifted, [Axis("frame", np.arange(len(shifted)), "", "frame index")],
                      long_name="shifted sum", units="counts", default=True)


@hookimpl
def swaxs_register_steps():
    return [
        StepImpl("integrate", "framesum", FrameSum, "0.3", "frame sums (test only)"),
        StepImpl("background", "offset", Rescale, "0.1", "adds an offset (test only)"),
    ]
