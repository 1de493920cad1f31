"""A render job's lanes (renders.staggered): their first batches leave one after another, each
once the one before has reached a replica, so that Ray Serve's router sees each land (README,
"Scaling"). Fakes stand for the batches: each lane's first batch is a gate the test opens."""

from __future__ import annotations

import asyncio

import pytest

from app.services.renders import Turn, staggered


class Lanes:
    """Lane bodies that each send `batches` requests and record when each one is sent; a
    request reaches its replica (sets `started`) when the test opens that lane's gate."""

    def __init__(self, lanes: int, batches: int = 1) -> None:
        self.batches = batches
        self.sent: list[tuple[int, int]] = []  # (lane, request), in the order they left
        self.gates = [asyncio.Event() for _ in range(lanes)]
        self._numbers = iter(range(lanes))

    async def body(self, turn: Turn) -> None:
        lane = next(self._numbers)
        for request in range(self.batches):
            await turn.wait()
            self.sent.append((lane, request))
            await self.gates[lane].wait()
            turn.started.set()


async def settle() -> None:
    """Let every ready task run until all wait on something."""
    for _ in range(20):
        await asyncio.sleep(0)


def test_each_lane_sends_its_first_batch_once_the_lane_before_has_started() -> None:
    async def scenario() -> list[list[tuple[int, int]]]:
        lanes = Lanes(3, batches=2)
        run = asyncio.create_task(staggered(3, lanes.body))
        seen = []
        await settle()
        seen.append(list(lanes.sent))  # only lane 0 has sent
        lanes.gates[0].set()
        await settle()
        seen.append(list(lanes.sent))  # lane 0 started: lane 1 goes; lane 0 sends its second
        lanes.gates[1].set()
        lanes.gates[2].set()
        await run
        seen.append(lanes.sent)
        return seen

    first, second, everything = asyncio.run(scenario())
    assert first == [(0, 0)]
    assert sorted(second) == [(0, 0), (0, 1), (1, 0)]  # not yet lane 2
    assert sorted(everything) == [(lane, n) for lane in range(3) for n in range(2)]
    assert [lane for lane, n in everything if n == 0] == [0, 1, 2]


def test_a_lane_with_nothing_to_send_lets_the_next_one_go() -> None:
    async def scenario() -> list[int]:
        order: list[int] = []
        numbers = iter(range(3))

        async def body(turn: Turn) -> None:
            lane = next(numbers)
            if lane == 1:
                return  # every batch it took was in the cache already
            await turn.wait()
            order.append(lane)
            turn.started.set()

        await asyncio.wait_for(staggered(3, body), 5)
        return order

    assert asyncio.run(scenario()) == [0, 2]


def test_a_failing_lane_stops_the_others_and_its_error_is_the_jobs() -> None:
    async def scenario() -> None:
        numbers = iter(range(3))

        async def body(turn: Turn) -> None:
            lane = next(numbers)
            await turn.wait()
            if lane == 0:
                raise RuntimeError("the service is gone")
            await asyncio.Event().wait()  # would wait for ever

        await asyncio.wait_for(staggered(3, body), 5)

    with pytest.raises(RuntimeError, match="the service is gone"):
        asyncio.run(scenario())
