"""Executors run a step's pure ``process`` over its blocks: serially, in threads, or on a Dask cluster.

All return results in block order, and all call the very same function on the very same block,
so results are bit-for-bit identical whichever executor ran them. Threads suit steps whose work
releases the GIL (compiled kernels, numpy, HDF5 reads overlapping computation) on one machine;
Dask spreads work over processes and machines.

An exception a block raises reaches the caller marked with the block (:func:`mark_block`: its
:data:`BLOCK_ATTR` says which, e.g. "block 2 of 3 (range(4, 8))"), so that the step's error names it
whichever executor ran it. Every executor stops promptly on Ctrl-C or a failing block: work not yet
started is cancelled (threads and Dask cannot stop a block already running, so those are waited for), and
:func:`~swaxs_plugins.core.interrupt.check_interrupt` runs between blocks so that an interrupt a
library swallowed still stops the run.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from tqdm.auto import tqdm

from swaxs_plugins.core.interrupt import check_interrupt

POLL_SECONDS = 0.2
"""How often a wait for worker threads looks for an interrupt that a library swallowed."""

BLOCK_ATTR = "swaxs_block"
"""Attribute of an exception raised on a block: which block it was."""

Block = TypeVar("Block")
Result = TypeVar("Result")


def mark_block(error: BaseException, index: int, blocks: Sequence[Any]) -> None:
    """Mark ``error`` as raised on ``blocks[index]`` (once: the innermost mark wins)."""
    if not hasattr(error, BLOCK_ATTR):
        text = repr(blocks[index])
        setattr(error, BLOCK_ATTR, f"block {index + 1} of {len(blocks)} "
                                   f"({text if len(text) <= 60 else text[:57] + '...'})")


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
            for index, block in enumerate(blocks):
                try:
                    results.append(func(block))
                except Exception as error:
                    mark_block(error, index, blocks)
                    raise
                bar.update()
                check_interrupt()
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

        pool = ThreadPoolExecutor(max_workers=self.workers)
        try:
            with self._bar(len(blocks), description) as bar:
                futures = [pool.submit(func, block) for block in blocks]
                for future in futures:
                    future.add_done_callback(lambda _: bar.update())
                _wait_all(futures, blocks)
                return [future.result() for future in futures]
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def _wait_all(futures: Sequence[Any], blocks: Sequence[Any]) -> None:
    """Wait until every future is done, checking for an interrupt as it goes; the first block
    that failed raises at once, marked (:meth:`ThreadExecutor.map` then cancels the blocks not started)."""
    from concurrent.futures import FIRST_EXCEPTION, wait

    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
        check_interrupt()
        for future in done:
            if future.exception() is not None:
                mark_block(future.exception(), futures.index(future), blocks)
                future.result()


def _call(block: Any, *, process: Callable[[Any], Any]) -> Any:
    return process(block)


def _ignore_sigint() -> None:
    """Run on a local cluster's worker processes when it starts: Ctrl-C reaches the whole process
    group, and only the main process should act on it (it cancels the work and closes the cluster),
    not every worker printing its own traceback. A worker the nanny restarts later lacks it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _silence_dask_logs() -> int:
    """Only critical log lines from Dask in this process from now on (a cluster being torn down);
    returns the level it had."""
    logger = logging.getLogger("distributed")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    return level


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
        self._quiet_close = False

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without its client and cluster: a step that keeps its context (and so this
        executor) is shipped to the workers with it, and they have no use for the connection."""
        return {**self.__dict__, "_client": None, "_cluster": None}

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
                self._client.run(_ignore_sigint)
        return self._client

    def map(self, func: Callable[[Block], Result], blocks: Sequence[Block], *, description: str = "") -> list[Result]:
        from distributed import as_completed

        if not blocks:
            return []
        client = self.client
        _ship_local_plugin(func)
        [shared_func] = client.scatter([func], broadcast=True, hash=False)
        futures = client.map(_call, list(blocks), process=shared_func, pure=False)
        try:
            with self._bar(len(futures), description) as bar:
                for future in as_completed(futures):
                    bar.update()
                    check_interrupt()
                    if future.status == "error":
                        self._raise_marked(future, futures.index(future), blocks)
            return client.gather(futures)
        except BaseException as error:
            self._cancel(futures, interrupted=isinstance(error, KeyboardInterrupt))
            raise

    @staticmethod
    def _raise_marked(future: Any, index: int, blocks: Sequence[Any]) -> None:
        try:
            future.result()
        except Exception as error:
            mark_block(error, index, blocks)
            raise

    def _cancel(self, futures: list[Any], *, interrupted: bool) -> None:
        """Cancel the blocks of a map that stopped (a failed block, Ctrl-C). After Ctrl-C the run
        ends and a local cluster is closed: its log lines about cancelled tasks and closing
        connections, from its workers and from this process, are silenced, since the one-line
        message says it all. The workers of an existing scheduler are left as they are."""
        if interrupted and self._cluster is not None:
            self._quiet_close = True
            self.client.run(_silence_dask_logs, on_error="ignore")
        self.client.cancel(futures)

    def close(self) -> None:
        level = _silence_dask_logs() if self._quiet_close else None
        try:
            if self._client is not None:
                self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        finally:
            self._client = self._cluster = None
            self._quiet_close = False
            if level is not None:
                logging.getLogger("distributed").setLevel(level)


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
