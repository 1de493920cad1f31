"""One inference worker thread per device, behind a bounded queue.

The model is not thread-safe and one device runs one generation at a time best, so every job for
a device runs on its one thread, in order. Jobs are generator functions; what they yield is handed
to the request's event loop as it is produced. A full queue is refused at once (the route answers
429 with Retry-After). Every job carries a StopSignal: cancelled when the client goes away,
expiring when the job produces nothing for `timeout_s` (a stuck generation; a long text that keeps
producing audio is not stuck), checked between items here and between tokens in the XTTS loop.

Waiting jobs run by priority, then in arrival order: someone listening (/generate) never waits
behind a book being rendered ahead (/generate/batch). A running batch job steps aside too: between
two of its items (the XTTS batch yields a heartbeat every fraction of a second) the worker runs
every waiting interactive job to the end, then resumes the batch where its generator paused.

Listeners share the device: interactive jobs run round-robin, one item (an audio chunk) per turn
each, and a listener who arrives joins the round at the next turn. Eight listeners arriving
together each hear their first chunk after at most eight first chunks, instead of waiting for
whole texts in line. Each job's stall clock restarts at its turn, so waiting for the others'
turns is not stalling. (Jobs must therefore not hold thread-local state, such as torch's
inference mode, across a `yield`: engines/xtts_gpt.py enters it per step.) A job may end its turn
without an item by yielding `engines.base.END_OF_TURN`, which is not delivered: XTTS streams do
so once they have joined the listeners' shared GPT batch (engines/xtts_listeners.py), so that all
the listeners who arrived together join before any of them decodes. An engine whose streams
share state on the device (CUDA graphs over one static KV cache) runs them one after another
instead: `interleave=False`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from .engines.base import END_OF_TURN, GenerationStopped, StopSignal

logger = logging.getLogger(__name__)

_END = object()


class Priority(IntEnum):
    """Lower runs first."""

    INTERACTIVE = 0  # /generate: someone is waiting to hear it
    BATCH = 1  # /generate/batch: rendering ahead, nobody is waiting on it right now


_CLOSE = max(Priority) + 1  # after every waiting job, as the queue was FIFO before priorities


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
    priority: Priority = Priority.INTERACTIVE
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
    def __init__(
        self, name: str, queue_size: int, timeout_s: float, interleave: bool = True
    ) -> None:
        self.name = name
        self.interleave = interleave  # listeners take turns (else each runs to its end)
        self.capacity = queue_size + 1  # the running job plus the waiting ones
        self.timeout_s = timeout_s
        self.stats = WorkerStats()
        # (priority, arrival number, job): the arrival number keeps FIFO within a priority
        self._jobs: queue.PriorityQueue[tuple[int, int, _Job | None]] = queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._in_flight = 0
        self._running = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"inference-{name}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self, wait_s: float = 5.0) -> None:
        self._jobs.put((_CLOSE, next(self._arrivals), None))
        self._thread.join(wait_s)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def busy(self) -> bool:
        return self._running

    def submit(
        self,
        produce: Callable[[], Iterator[Any]],
        stop: StopSignal | None = None,
        priority: Priority = Priority.INTERACTIVE,
    ) -> JobHandle:
        """Queue a job; QueueFull when `capacity` jobs (of any priority) are running or waiting."""
        job = _Job(
            produce,
            stop or StopSignal(),
            asyncio.get_running_loop(),
            asyncio.Queue(),
            self.timeout_s,
            priority,
        )
        with self._lock:
            if self._in_flight >= self.capacity:
                raise QueueFull(
                    f"{self._in_flight} requests are already running or waiting on {self.name}"
                )
            self._in_flight += 1
            self._jobs.put((priority, next(self._arrivals), job))
        return JobHandle(job)

    def _run(self) -> None:
        while (job := self._jobs.get()[2]) is not None:
            self._running = True
            try:
                if job.priority == Priority.INTERACTIVE:
                    self._serve_interactive(job)
                else:
                    self._run_batch(job)
            finally:
                self._running = False

    def _run_batch(self, job: _Job) -> None:
        """A batch job to its end, running every waiting listener between two of its items."""
        items = self._begin(job)
        while items is not None and self._step(job, items):
            self._serve_interactive(None)

    def _serve_interactive(self, first: _Job | None) -> None:
        """Interactive jobs round-robin, one item per turn each, admitting the ones that arrive,
        until none is running or waiting."""
        turns: deque[tuple[_Job, Iterator[Any]]] = deque()
        arrived = first if first is not None else self._take_interactive()
        while True:
            while arrived is not None:
                items = self._begin(arrived)
                if items is not None:
                    turns.append((arrived, items))
                arrived = self._take_interactive()
            if not turns:
                return
            job, items = turns.popleft()
            if self._step(job, items):
                if self.interleave:
                    turns.append((job, items))
                else:
                    turns.appendleft((job, items))
            arrived = self._take_interactive()

    def _take_interactive(self) -> _Job | None:
        with self._jobs.mutex:
            waiting = self._jobs.queue[0] if self._jobs.queue else None
        if waiting is None or waiting[0] != Priority.INTERACTIVE:
            return None
        # Only this thread takes jobs, and others only add: the head is still interactive.
        return self._jobs.get_nowait()[2]

    def _begin(self, job: _Job) -> Iterator[Any] | None:
        """The job's items, or None when it was cancelled while it waited (then it is over)."""
        if (reason := job.stop.reason()) is not None:  # the client left (or gave up) while waiting
            self._count_stop(reason)
            self._end(job, None, "item", _END)
            return None
        return iter(job.produce())

    def _step(self, job: _Job, items: Iterator[Any]) -> bool:
        """Run the job until its next item and deliver it; False once the job is over."""
        job.stop.start_clock(job.timeout_s)  # its turn: the stall clock starts again
        try:
            item = next(items)
            if reason := job.stop.reason():
                raise GenerationStopped(reason)
        except StopIteration:
            self.stats.completed += 1
            self._end(job, items, "item", _END)
        except GenerationStopped as stopped:
            self._count_stop(stopped.reason)
            self._end(job, items, "error", stopped)
        except Exception as error:  # handed to the request, which turns it into an HTTP error
            self.stats.failed += 1
            logger.exception("inference job failed")
            self._end(job, items, "error", error)
        else:
            if item is not END_OF_TURN:
                self._deliver(job, "item", item)
            return True
        return False

    def _end(self, job: _Job, items: Iterator[Any] | None, kind: str, value: Any) -> None:
        close = getattr(items, "close", None)
        if close is not None:
            close()  # a generator stopped early runs its cleanup (the vocoder thread) now
        self._deliver(job, kind, value)
        with self._lock:
            self._in_flight -= 1

    def _count_stop(self, reason: str) -> None:
        """A stopped job counts once, by why it stopped, whether or not it had started: a request
        that gave up waiting for its first item timed out even if the job was still queued."""
        if reason == "timeout":
            self.stats.timed_out += 1
        else:
            self.stats.cancelled += 1

    @staticmethod
    def _deliver(job: _Job, kind: str, value: Any) -> None:
        try:
            job.loop.call_soon_threadsafe(job.output.put_nowait, (kind, value))
        except RuntimeError:  # the request's loop is gone (server shutting down)
            job.stop.cancel()
