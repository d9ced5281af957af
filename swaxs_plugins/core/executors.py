"""Executors run a step's pure ``process`` over its blocks: serially, in threads, or on a Dask cluster.

All return results in block order, and all call the very same function on the very same block,
so results are bit-for-bit identical whichever executor ran them. Threads suit steps whose work
releases the GIL (compiled kernels, numpy, HDF5 reads overlapping computation) on one machine;
Dask spreads work over processes and machines.
"""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

Block = TypeVar("Block")
Result = TypeVar("Result")


class Executor(ABC):
    """Maps a function over blocks and returns the results in block order."""

    name: str = "executor"

    def __init__(self, progress: bool = True) -> None:
        self.progress = progress

    @abstractmethod
    def map(self, func: Callable[[Block], Result], blocks: Sequence[Block], *, description: str = "") -> list[Result]:
        """Apply ``func`` to every block; results in block order."""

    def close(self) -> None:
        """Release workers; a closed executor may not be used again."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _bar(self, total: int, description: str) -> tqdm:
        return tqdm(total=total, desc=description, unit="block", disable=None if self.progress else True, leave=False)


class SerialExecutor(Executor):
    """Runs every block in this process, one after the other."""

    name = "serial"

    def map(self, func: Callable[[Block], Result], blocks: Sequence[Block], *, description: str = "") -> list[Result]:
        results = []
        with self._bar(len(blocks), description) as bar:
            for block in blocks:
                results.append(func(block))
                bar.update()
        return results


class ThreadExecutor(Executor):
    """Runs blocks in a pool of threads of this process (``workers``, default: one per core).

    A step run this way must be thread-safe: ``process`` may run concurrently on different blocks.
    """

    name = "threads"

    def __init__(self, workers: int | None = None, progress: bool = True) -> None:
        super().__init__(progress)
        self.workers = workers or os.cpu_count() or 1

    def map(self, func: Callable[[Block], Result], blocks: Sequence[Block], *, description: str = "") -> list[Result]:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=self.workers) as pool, self._bar(len(blocks), description) as bar:
            futures = [pool.submit(func, block) for block in blocks]
            for future in futures:
                future.add_done_callback(lambda _: bar.update())
            return [future.result() for future in futures]


def _call(block: Any, *, process: Callable[[Any], Any]) -> Any:
    return process(block)


def _ship_local_plugin(func: Callable[..., Any]) -> None:
    """One-file plugins are not importable on workers: send their code along (by value)."""
    import cloudpickle

    from swaxs_plugins.core.registry import LOCAL_PLUGIN_PREFIX

    module = sys.modules.get(getattr(func, "__module__", "") or "")
    if module is not None and module.__name__.startswith(LOCAL_PLUGIN_PREFIX):
        cloudpickle.register_pickle_by_value(module)


class DaskExecutor(Executor):
    """Runs blocks on a Dask distributed cluster: a local one, or an existing scheduler.

    The function (usually a bound ``Step.process`` carrying the step's setup state) is sent to
    every worker once, then only blocks travel. Workers run one thread each: pyFAI and numpy
    parallelise better over frames than inside one frame on small machines.
    """

    name = "dask"

    def __init__(self, workers: int | None = None, scheduler: str | None = None, progress: bool = True) -> None:
        super().__init__(progress)
        self.workers = workers
        self.scheduler = scheduler
        self._client: Any = None
        self._cluster: Any = None

    @property
    def client(self) -> Any:
        """The Dask client, connected on first use (starting a LocalCluster unless a scheduler is given)."""
        if self._client is None:
            from distributed import Client, LocalCluster

            if self.scheduler:
                self._client = Client(self.scheduler)
            else:
                self._cluster = LocalCluster(
                    n_workers=self.workers, threads_per_worker=1, processes=True, dashboard_address=None
                )
                self._client = Client(self._cluster)
        return self._client

    def map(self, func: Callable[[Block], Result], blocks: Sequence[Block], *, description: str = "") -> list[Result]:
        from distributed import as_completed

        if not blocks:
            return []
        client = self.client
        _ship_local_plugin(func)
        [shared_func] = client.scatter([func], broadcast=True, hash=False)
        futures = client.map(_call, list(blocks), process=shared_func, pure=False)
        with self._bar(len(futures), description) as bar:
            for _ in as_completed(futures):
                bar.update()
        return client.gather(futures)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None


def make_executor(name: str = "serial", *, workers: int | None = None, scheduler: str | None = None,
                  progress: bool = True) -> Executor:
    """The executor a user asked for by name (``serial``, ``threads`` or ``dask``)."""
    if name == "serial":
        return SerialExecutor(progress=progress)
    if name == "threads":
        return ThreadExecutor(workers=workers, progress=progress)
    if name == "dask":
        return DaskExecutor(workers=workers, scheduler=scheduler, progress=progress)
    raise ValueError(f"unknown executor {name!r}: choose 'serial', 'threads' or 'dask'")
