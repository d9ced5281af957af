"""Executors: serial, threads and Dask give bit-identical results on a frame-wise step, and stop
promptly on a failed block or an interrupt."""

from __future__ import annotations

import os
import signal
import textwrap
import time

import h5py
import numpy as np
import pytest

from conftest import TEST_PLUGINS, write_pipeline, write_raw_scan
from swaxs_plugins.core.executors import DaskExecutor, SerialExecutor, ThreadExecutor, make_executor
from swaxs_plugins.core.interrupt import interrupt_guard
from swaxs_plugins.core.pipeline import run_pipeline
from swaxs_plugins.core.plan import check_pipeline
from swaxs_plugins.core.registry import Registry
from swaxs_plugins.core.step import chunk_ranges


def run_sums(tmp_path, name, executor):
    raws = [tmp_path / f"scan_{i}.nxs" for i in range(2)]
    for i, raw in enumerate(raws):
        write_raw_scan(raw, n_points=9, seed=i)
    pipeline = write_pipeline(tmp_path / f"{name}.yaml", textwrap.dedent(f'''
        name: {name}
        inputs: {{scans: {{files: [{raws[0]}, {raws[1]}], frames: /entry/instrument/det/data}}}}
        output: {name}/out.nxs
        steps: [{{id: sums, kind: integrate, impl: framesum, inputs: {{scans: scans}}, params: {{chunk: 2, factor: 0.1}}}}]
    '''))
    registry = Registry.discover([TEST_PLUGINS])
    [run] = run_pipeline(check_pipeline(pipeline, registry), registry, executor)
    with h5py.File(run.path, "r") as handle:
        return handle["sums/sums/total"][()]


def test_serial_and_dask_results_are_bit_identical(tmp_path):
    serial = run_sums(tmp_path, "serial", SerialExecutor(progress=False))
    with DaskExecutor(workers=2, progress=False) as dask:
        distributed = run_sums(tmp_path, "dask", dask)
        assert len(dask.client.scheduler_info()["workers"]) == 2
    assert serial.shape == (18,)
    assert np.array_equal(serial, distributed)


def test_serial_and_threads_results_are_bit_identical(tmp_path):
    serial = run_sums(tmp_path, "serial", SerialExecutor(progress=False))
    threaded = run_sums(tmp_path, "threads", ThreadExecutor(workers=3, progress=False))
    assert np.array_equal(serial, threaded)


@pytest.mark.parametrize("executor", [SerialExecutor(progress=False), ThreadExecutor(workers=2, progress=False)])
def test_map_keeps_block_order(executor):
    assert executor.map(lambda r: sum(r), chunk_ranges(10, 3)) == [3, 12, 21, 9]


def test_executor_names():
    assert isinstance(make_executor("serial"), SerialExecutor)
    assert isinstance(make_executor("dask", workers=1), DaskExecutor)
    assert make_executor("threads", workers=3).workers == 3
    with pytest.raises(ValueError, match="unknown executor 'mpi'"):
        make_executor("mpi")
    with pytest.raises(ValueError, match="chunk_size must be >= 1"):
        chunk_ranges(5, 0)


def test_a_failed_block_stops_the_threads_without_running_the_blocks_not_started():
    started = []

    def work(block):
        started.append(block)
        if block == 0:
            raise RuntimeError("block 0 is broken")
        time.sleep(0.05)
        return block

    with pytest.raises(RuntimeError, match="block 0 is broken"):
        ThreadExecutor(workers=2, progress=False).map(work, list(range(100)))
    assert len(started) < 10


def test_an_interrupt_swallowed_by_a_library_stops_the_serial_executor_at_the_next_block():
    done = []

    def work(block):
        if block == 2:  # what a library's weakref callback does with the KeyboardInterrupt of a SIGINT
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)
            except KeyboardInterrupt:
                pass
        done.append(block)

    with interrupt_guard(), pytest.raises(KeyboardInterrupt):
        SerialExecutor(progress=False).map(work, list(range(10)))
    assert done == [0, 1, 2]
