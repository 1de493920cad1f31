"""One inference worker thread per device, behind a bounded queue.

The model is not thread-safe and one device runs one generation at a time best, so every job for
a device runs on its one thread, in order. Jobs are generator functions; what they yield is handed
to the request's event loop as it is produced. A full queue is refused at once (the route answers
429 with Retry-After). Every job carries a StopSignal: cancelled when the client goes away,
expiring when the job produces nothing for `timeout_s` (a stuck generation; a long text that keeps
producing audio is not stuck), checked between items here and between tokens in the XTTS loop.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .engines.base import StopSignal
from .engines.xtts_gpt import GenerationStopped

logger = logging.getLogger(__name__)

_END = object()


class QueueFull(Exception):
    pass


@dataclass
class WorkerStats:
    completed: int = 0
    cancelled: int = 0
    timed_out: int = 0
    failed: int = 0


@dataclass
class _Job:
    produce: Callable[[], Iterator[Any]]
    stop: StopSignal
    loop: asyncio.AbstractEventLoop
    output: asyncio.Queue
    timeout_s: float
    started: threading.Event = field(default_factory=threading.Event)


class JobHandle:
    """The request side of a job: iterate its items; `cancel()` stops it."""

    def __init__(self, job: _Job) -> None:
        self._job = job

    @property
    def stop(self) -> StopSignal:
        return self._job.stop

    def cancel(self) -> None:
        self._job.stop.cancel()

    async def next(self, wait_s: float) -> Any:
        """The next item; raises StopAsyncIteration at the end, or the job's exception."""
        try:
            kind, value = await asyncio.wait_for(self._job.output.get(), timeout=wait_s)
        except TimeoutError:
            self._job.stop.cancel("timeout")
            raise GenerationStopped("timeout") from None
        if kind == "error":
            raise value
        if value is _END:
            raise StopAsyncIteration
        return value

    async def items(self, wait_s: float) -> AsyncIterator[Any]:
        while True:
            try:
                yield await self.next(wait_s)
            except StopAsyncIteration:
                return


class DeviceWorker:
    def __init__(self, name: str, queue_size: int, timeout_s: float) -> None:
        self.name = name
        self.capacity = queue_size + 1  # the running job plus the waiting ones
        self.timeout_s = timeout_s
        self.stats = WorkerStats()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._in_flight = 0
        self._running = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"inference-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, wait_s: float = 5.0) -> None:
        self._jobs.put(None)
        self._thread.join(wait_s)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def busy(self) -> bool:
        return self._running

    def submit(self, produce: Callable[[], Iterator[Any]], stop: StopSignal | None = None) -> JobHandle:
        with self._lock:
            if self._in_flight >= self.capacity:
                raise QueueFull(f"{self._in_flight} requests are already running or waiting on {self.name}")
            self._in_flight += 1
        job = _Job(produce, stop or StopSignal(), asyncio.get_running_loop(), asyncio.Queue(), self.timeout_s)
        self._jobs.put(job)
        return JobHandle(job)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                self._running = True
                self._run_job(job)
            finally:
                self._running = False
                with self._lock:
                    self._in_flight -= 1

    def _run_job(self, job: _Job) -> None:
        if job.stop.reason() is not None:  # the client left (or gave up) while it waited
            self.stats.cancelled += 1
            self._deliver(job, "item", _END)
            return
        job.stop.start_clock(job.timeout_s)
        try:
            for item in job.produce():
                if reason := job.stop.reason():
                    raise GenerationStopped(reason)
                self._deliver(job, "item", item)
                job.stop.start_clock(job.timeout_s)  # progress: the stall clock starts again
        except GenerationStopped as stopped:
            if stopped.reason == "timeout":
                self.stats.timed_out += 1
            else:
                self.stats.cancelled += 1
            self._deliver(job, "error", stopped)
        except Exception as error:  # handed to the request, which turns it into an HTTP error
            self.stats.failed += 1
            logger.exception("inference job failed")
            self._deliver(job, "error", error)
        else:
            self.stats.completed += 1
            self._deliver(job, "item", _END)

    @staticmethod
    def _deliver(job: _Job, kind: str, value: Any) -> None:
        try:
            job.loop.call_soon_threadsafe(job.output.put_nowait, (kind, value))
        except RuntimeError:  # the request's loop is gone (server shutting down)
            job.stop.cancel()
