"""Text work from request handlers runs off the event loop in a bounded pool of threads."""

from __future__ import annotations

import threading
import time

import anyio

from ownvoice_ai.synthesis.text import TEXT_THREADS, _text_limiters, in_text_pool


def test_at_most_text_threads_split_at_once_and_the_rest_wait() -> None:
    requests = TEXT_THREADS + 3
    release = threading.Event()
    lock = threading.Lock()
    running: list[int] = []
    most = 0

    def split(index: int) -> int:
        nonlocal most
        with lock:
            running.append(index)
            most = max(most, len(running))
        assert release.wait(30), "never released"
        with lock:
            running.remove(index)
        return index

    async def main() -> list[int]:
        results: list[int] = []

        async def one(index: int) -> None:
            results.append(await in_text_pool(split, index))

        async with anyio.create_task_group() as tasks:
            for index in range(requests):
                tasks.start_soon(one, index)
            deadline = time.monotonic() + 30
            # the pool fills up, the rest queue for it...
            while not (len(running) == TEXT_THREADS and _others_queued(requests)):
                assert time.monotonic() < deadline, f"the pool never filled: {len(running)} running"
                await anyio.sleep(0.01)
            # ...and the event loop is still free: this line runs while every thread is busy.
            release.set()
        return sorted(results)

    assert anyio.run(main) == list(range(requests))
    assert most == TEXT_THREADS  # a queued split starts only when a running one has finished


def _others_queued(requests: int) -> bool:
    """Every request that has no thread of the pool is queued for one."""
    limiters = list(_text_limiters.values())
    return bool(limiters) and limiters[0].statistics().tasks_waiting == requests - TEXT_THREADS
