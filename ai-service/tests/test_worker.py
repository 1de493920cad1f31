"""The device worker on its own thread: priorities, arrival order, capacity, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ownvoice_ai.engines.base import GenerationStopped, StopSignal
from ownvoice_ai.worker import DeviceWorker, Priority, QueueFull
from tests.conftest import FakeClock

DEADLINE_S = 60  # bounds a failing test only; nothing here waits for time to pass


class Gate:
    """Holds a job on the worker thread: `running` is set once it started, it goes on after `open()`."""

    def __init__(self) -> None:
        self.running = threading.Event()
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    def hold(self) -> None:
        self.running.set()
        assert self._open.wait(DEADLINE_S), "the test never opened the gate"

    async def until_running(self) -> None:
        """Wait (off the event loop) until the worker thread is inside the held job."""
        started = await asyncio.get_running_loop().run_in_executor(
            None, self.running.wait, DEADLINE_S
        )
        assert started, "the job never started"


def job(name: str, ran: list[str], gate: Gate | None = None):
    """A job that records that it ran (held at `gate` first, when given) and yields its name."""

    def produce():
        if gate is not None:
            gate.hold()
        ran.append(name)
        yield name

    return produce


STALL_LIMIT_S = 10  # the worker's timeout_s: how long a job may produce nothing


def run_with_worker(scenario, queue_size: int = 8):
    worker = DeviceWorker("test", queue_size=queue_size, timeout_s=STALL_LIMIT_S)
    worker.start()
    try:
        return asyncio.run(scenario(worker))
    finally:
        worker.close()


async def drain(handle) -> list:
    return [item async for item in handle.items(DEADLINE_S)]


def test_waiting_interactive_jobs_run_before_waiting_batches_fifo_within_each():
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        handles = [worker.submit(job("running batch", ran, gate), priority=Priority.BATCH)]
        await gate.until_running()  # it holds the device while the others queue
        for name, priority in [
            ("batch 1", Priority.BATCH),
            ("listen 1", Priority.INTERACTIVE),
            ("batch 2", Priority.BATCH),
            ("listen 2", Priority.INTERACTIVE),
        ]:
            handles.append(worker.submit(job(name, ran, None), priority=priority))
        assert worker.in_flight == 5
        gate.open()
        return [await drain(handle) for handle in handles]

    outputs = run_with_worker(scenario)
    assert ran == ["running batch", "listen 1", "listen 2", "batch 1", "batch 2"]
    assert outputs == [["running batch"], ["batch 1"], ["listen 1"], ["batch 2"], ["listen 2"]]


def test_without_a_priority_jobs_are_interactive_and_run_in_arrival_order():
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        handles = [worker.submit(job("first", ran, gate))]
        await gate.until_running()
        handles.append(worker.submit(job("batch", ran), priority=Priority.BATCH))
        handles += [worker.submit(job(name, ran)) for name in ("second", "third")]
        gate.open()
        for handle in handles:
            await drain(handle)

    run_with_worker(scenario)
    assert ran == ["first", "second", "third", "batch"]


def test_capacity_counts_every_priority_and_frees_up_when_jobs_end():
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        assert worker.capacity == 2
        handles = [worker.submit(job("running", ran, gate), priority=Priority.BATCH)]
        await gate.until_running()
        handles.append(worker.submit(job("waiting", ran), priority=Priority.BATCH))
        with pytest.raises(QueueFull):
            worker.submit(job("refused", ran))  # interactive goes first, but only once queued
        gate.open()
        for handle in handles:
            await drain(handle)
        await drain(worker.submit(job("later", ran)))

    run_with_worker(scenario, queue_size=1)
    assert ran == ["running", "waiting", "later"]


def test_a_job_cancelled_while_it_waits_never_runs():
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        first = worker.submit(job("first", ran, gate))
        await gate.until_running()
        stop = StopSignal()
        waiting = worker.submit(job("gone", ran), stop, priority=Priority.BATCH)
        waiting.cancel()
        gate.open()
        await drain(first)
        assert await drain(waiting) == []
        return worker.stats

    stats = run_with_worker(scenario)
    assert ran == ["first"]
    assert (stats.completed, stats.cancelled) == (1, 1)


def test_a_job_whose_request_timed_out_while_it_waited_counts_as_timed_out():
    """The request gave up waiting (it answered generation_timeout) before the job started: the
    worker counts a timeout, as when the stall happens mid-generation (no race with the queue)."""
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        first = worker.submit(job("first", ran, gate))
        await gate.until_running()
        stop = StopSignal()
        waiting = worker.submit(job("stalled", ran), stop, priority=Priority.BATCH)
        stop.cancel("timeout")  # what JobHandle.next does when nothing came in time
        gate.open()
        await drain(first)
        assert await drain(waiting) == []
        return worker.stats

    stats = run_with_worker(scenario)
    assert ran == ["first"]
    assert (stats.completed, stats.timed_out, stats.cancelled) == (1, 1, 0)


def test_a_running_batch_steps_aside_for_waiting_listeners_between_two_items():
    """Listeners queued while the batch works on an item run right after that item, before the next."""
    ran: list[str] = []
    gate = Gate()

    def batch():
        for step in range(3):
            if step == 0:
                gate.hold()  # the listeners are queued while this item is being made
            ran.append(f"batch step {step}")
            yield step

    async def scenario(worker: DeviceWorker):
        batch_handle = worker.submit(batch, priority=Priority.BATCH)
        await gate.until_running()
        listeners = [worker.submit(job(name, ran)) for name in ("listener 1", "listener 2")]
        gate.open()
        assert [await drain(listener) for listener in listeners] == [["listener 1"], ["listener 2"]]
        assert await drain(batch_handle) == [0, 1, 2]
        return worker.stats

    stats = run_with_worker(scenario)
    # both listeners ran in the middle of the batch, right after the item in progress, not after the batch
    assert ran == ["batch step 0", "listener 1", "listener 2", "batch step 1", "batch step 2"]
    assert stats.completed == 3


def test_a_listener_does_not_step_aside_for_a_batch():
    ran: list[str] = []
    gate = Gate()

    def listening():
        ran.append("listen start")
        yield "a"
        gate.hold()  # a batch is queued between the listener's two items
        ran.append("listen end")
        yield "b"

    async def scenario(worker: DeviceWorker):
        listener = worker.submit(listening)
        await gate.until_running()
        batch_handle = worker.submit(job("batch", ran), priority=Priority.BATCH)
        gate.open()
        assert await drain(listener) == ["a", "b"]
        await drain(batch_handle)

    run_with_worker(scenario)
    assert ran == ["listen start", "listen end", "batch"]


def test_a_job_that_produces_nothing_for_the_stall_limit_times_out():
    clock = FakeClock()

    def stalling():
        yield "first"
        clock.now += STALL_LIMIT_S + 0.5  # nothing came out for longer than the limit
        yield "too late"

    async def scenario(worker: DeviceWorker):
        handle = worker.submit(stalling, StopSignal(clock=clock))
        received = [await handle.next(DEADLINE_S)]
        with pytest.raises(GenerationStopped) as stopped:
            await handle.next(DEADLINE_S)
        return received, stopped.value.reason, worker.stats

    received, reason, stats = run_with_worker(scenario)
    assert (received, reason) == (["first"], "timeout")
    assert (stats.timed_out, stats.completed) == (1, 0)


def test_steady_progress_restarts_the_stall_clock():
    """Five items, each just inside the limit: four and a half limits in all, yet not stuck."""
    clock = FakeClock()

    def steady():
        for step in range(5):
            clock.now += STALL_LIMIT_S * 0.9
            yield step

    async def scenario(worker: DeviceWorker):
        return await drain(worker.submit(steady, StopSignal(clock=clock))), worker.stats

    items, stats = run_with_worker(scenario)
    assert items == [0, 1, 2, 3, 4]
    assert (stats.completed, stats.timed_out) == (1, 0)


def stepping(name: str, ran: list[str], steps: int, gate: Gate | None = None):
    """A job of `steps` items, noting each one (held at `gate` before the first, when given)."""

    def produce():
        if gate is not None:
            gate.hold()
        for step in range(steps):
            ran.append(f"{name} {step}")
            yield step

    return produce


def listeners_queued_together(interleave: bool) -> list[str]:
    ran: list[str] = []
    gate = Gate()

    async def scenario(worker: DeviceWorker):
        held = worker.submit(stepping("held", ran, 1, gate))
        await gate.until_running()
        handles = [worker.submit(stepping(name, ran, 2)) for name in ("a", "b", "c")]
        gate.open()
        for handle in (held, *handles):
            await drain(handle)

    worker = DeviceWorker("test", queue_size=8, timeout_s=STALL_LIMIT_S, interleave=interleave)
    worker.start()
    try:
        asyncio.run(scenario(worker))
    finally:
        worker.close()
    return ran


def test_listeners_queued_together_take_turns_one_item_each():
    assert listeners_queued_together(interleave=True) == [
        "held 0", "a 0", "b 0", "c 0", "a 1", "b 1", "c 1",
    ]  # fmt: skip


def test_without_interleaving_each_listener_runs_to_its_end_in_arrival_order():
    assert listeners_queued_together(interleave=False) == [
        "held 0", "a 0", "a 1", "b 0", "b 1", "c 0", "c 1",
    ]  # fmt: skip
