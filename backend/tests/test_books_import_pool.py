"""Book imports run off the event loop, at most IMPORT_THREADS at a time; the rest wait their turn."""

from __future__ import annotations

import threading
import time

import anyio

from app.services.books.imports import IMPORT_THREADS, _import_limiters
from app.services.books.imports import in_import_pool as _in_import_pool


def test_at_most_import_threads_parse_at_once_and_the_rest_wait() -> None:
    imports = IMPORT_THREADS + 3
    release = threading.Event()
    lock = threading.Lock()
    running: list[int] = []
    most = 0

    def parse(index: int) -> int:
        nonlocal most
        with lock:
            running.append(index)
            most = max(most, len(running))
        assert release.wait(30), "never released"
        with lock:
            running.remove(index)
        return index

    def others_queued() -> bool:
        limiters = list(_import_limiters.values())
        return bool(limiters) and limiters[0].statistics().tasks_waiting == imports - IMPORT_THREADS

    async def main() -> list[int]:
        results: list[int] = []

        async def one(index: int) -> None:
            results.append(await _in_import_pool(parse, index))

        async with anyio.create_task_group() as tasks:
            for index in range(imports):
                tasks.start_soon(one, index)
            deadline = time.monotonic() + 30
            while not (len(running) == IMPORT_THREADS and others_queued()):
                assert time.monotonic() < deadline, f"the pool never filled: {len(running)} running"
                await anyio.sleep(0.01)  # the event loop stays free while every thread is busy
            release.set()
        return sorted(results)

    assert anyio.run(main) == list(range(imports))
    assert most == IMPORT_THREADS  # a queued import starts only when a running one has finished
