"""The device worker on its own thread: priorities, arrival order, capacity, cancellation."""

from __future__ import annotations

import asyncio
import threading

import pytest

from ownvoice_ai.engines.base import StopSignal
from ownvoice_ai.worker import DeviceWorker, Priority, QueueFull


def job(name: str, ran: list[str], gate: threading.Event | None = None):
    """A job that records that it ran (after `gate` opens, when given) and yields its name."""

    def produce():
        if gate is not None:
            assert gate.wait(10), "the test never opened the gate"
        ran.append(name)
        yield name

    return produce


def run_with_worker(scenario, queue_size: int = 8):
    worker = DeviceWorker("test", queue_size=queue_size, timeout_s=10)
    worker.start()
    try:
        return asyncio.run(scenario(worker))
    finally:
        worker.close()


async def wait_until_running(worker: DeviceWorker) -> None:
    for _ in range(200):
        if worker.busy:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the first job never started")


async def drain(handle) -> list:
    return [item async for item in handle.items(10)]


def test_waiting_interactive_jobs_run_before_waiting_batches_fifo_within_each():
    ran: list[str] = []
    gate = threading.Event()

    async def scenario(worker: DeviceWorker):
        handles = [worker.submit(job("running batch", ran, gate), priority=Priority.BATCH)]
        await wait_until_running(worker)  # it holds the device while the others queue
        for name, priority in [
            ("batch 1", Priority.BATCH),
            ("listen 1", Priority.INTERACTIVE),
            ("batch 2", Priority.BATCH),
            ("listen 2", Priority.INTERACTIVE),
        ]:
            handles.append(worker.submit(job(name, ran, None), priority=priority))
        assert worker.in_flight == 5
        gate.set()
        return [await drain(handle) for handle in handles]

    outputs = run_with_worker(scenario)
    assert ran == ["running batch", "listen 1", "listen 2", "batch 1", "batch 2"]
    assert outputs == [["running batch"], ["batch 1"], ["listen 1"], ["batch 2"], ["listen 2"]]


def test_without_a_priority_jobs_are_interactive_and_run_in_arrival_order():
    ran: list[str] = []
    gate = threading.Event()

    async def scenario(worker: DeviceWorker):
        handles = [worker.submit(job("first", ran, gate))]
        await wait_until_running(worker)
        handles.append(worker.submit(job("batch", ran), priority=Priority.BATCH))
        handles += [worker.submit(job(name, ran)) for name in ("second", "third")]
        gate.set()
        for handle in handles:
            await drain(handle)

    run_with_worker(scenario)
    assert ran == ["first", "second", "third", "batch"]


def test_capacity_counts_every_priority_and_frees_up_when_jobs_end():
    ran: list[str] = []
    gate = threading.Event()

    async def scenario(worker: DeviceWorker):
        assert worker.capacity == 2
        handles = [worker.submit(job("running", ran, gate), priority=Priority.BATCH)]
        await wait_until_running(worker)
        handles.append(worker.submit(job("waiting", ran), priority=Priority.BATCH))
        with pytest.raises(QueueFull):
            worker.submit(job("refused", ran))  # interactive goes first, but only once queued
        gate.set()
        for handle in handles:
            await drain(handle)
        await drain(worker.submit(job("later", ran)))

    run_with_worker(scenario, queue_size=1)
    assert ran == ["running", "waiting", "later"]


def test_a_job_cancelled_while_it_waits_never_runs():
    ran: list[str] = []
    gate = threading.Event()

    async def scenario(worker: DeviceWorker):
        first = worker.submit(job("first", ran, gate))
        await wait_until_running(worker)
        stop = StopSignal()
        waiting = worker.submit(job("gone", ran), stop, priority=Priority.BATCH)
        waiting.cancel()
        gate.set()
        await drain(first)
        assert await drain(waiting) == []
        return worker.stats

    stats = run_with_worker(scenario)
    assert ran == ["first"]
    assert (stats.completed, stats.cancelled) == (1, 1)


def test_a_running_batch_steps_aside_for_a_listener_between_two_items():
    ran: list[str] = []
    first_item_out = threading.Event()
    listener_queued = threading.Event()

    def batch():
        for step in range(3):
            ran.append(f"batch step {step}")
            if step == 0:
                first_item_out.set()
            if step == 1:
                assert listener_queued.wait(10), "the listener was never queued"
            yield step

    async def scenario(worker: DeviceWorker):
        batch_handle = worker.submit(batch, priority=Priority.BATCH)
        await asyncio.get_running_loop().run_in_executor(None, first_item_out.wait, 10)
        listener = worker.submit(job("listener", ran))
        listener_queued.set()
        assert await drain(listener) == ["listener"]
        assert await drain(batch_handle) == [0, 1, 2]
        return worker.stats

    stats = run_with_worker(scenario)
    # the listener ran in the middle of the batch, not after it
    assert ran == ["batch step 0", "batch step 1", "listener", "batch step 2"]
    assert stats.completed == 2


def test_a_listener_does_not_step_aside_for_a_batch():
    ran: list[str] = []
    release = threading.Event()

    def listening():
        ran.append("listen start")
        yield "a"
        assert release.wait(10)
        ran.append("listen end")
        yield "b"

    async def scenario(worker: DeviceWorker):
        listener = worker.submit(listening)
        await wait_until_running(worker)
        batch_handle = worker.submit(job("batch", ran), priority=Priority.BATCH)
        release.set()
        assert await drain(listener) == ["a", "b"]
        await drain(batch_handle)

    run_with_worker(scenario)
    assert ran == ["listen start", "listen end", "batch"]
