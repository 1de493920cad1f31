"""Listeners' sentences as rows of one continuous GPT batch (engines/xtts_listeners.py), on the tiny
random checkpoint: each row reads what its single run would sample, whoever shares the batch,
whatever order the streams take turns in, with rows joining, waiting for room, and leaving early.
"""

from __future__ import annotations

import pytest
import torch

from ownvoice_ai.engines.base import GenerationStopped, StopSignal
from ownvoice_ai.engines.xtts_gpt import BatchRow, ConditioningPrefix, SamplingSettings
from ownvoice_ai.engines.xtts_listeners import SharedStreams
from tests.test_xtts_batch import _cond, _generator, _single, _text

TEXTS = [
    "short.",
    "a much longer sentence that goes on and on for quite a while, really it does.",
    "hello world, this is a test.",
    "one more, of middling length.",
]
LIMITS = [9, 30, 17, 5]
# each listener samples with its own settings (the batch keeps per-row sampling)
SETTINGS = [
    SamplingSettings(fixed_tokens=n, temperature=t, top_k=k)
    for n, t, k in zip(LIMITS, [0.75, 0.9, 0.6, 1.0], [50, 20, 50, 5], strict=True)
]
ROUNDING = 1e-4  # batched matrix products round differently from single ones


def _row(model, index: int) -> BatchRow:
    return BatchRow(_cond(model, index), _text(model, TEXTS[index]), SETTINGS[index], _generator())


def _expected(model, index: int):
    return _single(model, _cond(model, index), TEXTS[index], SETTINGS[index])


def _check(model, index: int, got: list[tuple[int, torch.Tensor]]) -> None:
    codes, latents = _expected(model, index)
    assert [code for code, _ in got] == codes and len(codes) == LIMITS[index]
    assert (torch.stack([latent for _, latent in got]) - latents).abs().max() < ROUNDING


def _take_turns(streams: dict[int, object], per_turn: int) -> dict[int, list]:
    """Round-robin: each stream takes `per_turn` items per turn until all have ended."""
    got: dict[int, list] = {index: [] for index in streams}
    live = dict(streams)
    while live:
        for index, stream in list(live.items()):
            for _ in range(per_turn):
                item = next(stream, None)
                if item is None:
                    del live[index]
                    break
                got[index].append(item)
    return got


def admissions(shared: SharedStreams) -> list[int]:
    """From now on, how many rows each prefill pass of `shared` admits."""
    record: list[int] = []
    batch = shared.batch
    admit = batch.admit_waiting

    def counted():
        before = len(batch.waiting)
        result = admit()
        record.append(before - len(batch.waiting))
        return result

    batch.admit_waiting = counted  # type: ignore[method-assign]
    return record


@pytest.mark.parametrize(
    ("per_turn", "prefilled_voices"), [(1, False), (8, False), (1, True), (8, True)]
)
def test_each_listener_hears_its_single_run_whoever_shares_the_batch(
    tiny_model, per_turn, prefilled_voices
):
    """Also with the voices' conditioning positions prefilled once (ConditioningPrefix): the
    joint prefill puts each row's voice first, then its text right-aligned after a masked gap."""
    prefixes = ConditioningPrefix(tiny_model.gpt) if prefilled_voices else None
    shared = SharedStreams(tiny_model.gpt, width=4, device="cpu", prefixes=prefixes)
    passes = admissions(shared)
    indices = {i: shared.join(_row(tiny_model, i)) for i in range(len(TEXTS))}
    assert shared.live_rows == 0 and len(shared.batch.waiting) == len(TEXTS)
    streams = {i: shared.latents(row) for i, row in indices.items()}
    got = _take_turns(streams, per_turn)
    # prefixes of four lengths prefilled in one pass (right-aligned, padding masked)
    assert passes == [len(TEXTS)]
    for index in range(len(TEXTS)):
        _check(tiny_model, index, got[index])
    assert shared.live_rows == 0 and not shared.batch.states and not shared.batch.rows


def test_a_fed_row_gets_each_latent_at_the_step_that_made_it_whoever_steps(tiny_model):
    """The fast path's vocoders are fed by the batch's steps: a listener whose turn it is not
    still gets every latent of its row as soon as it is made, in order, and nothing twice."""
    shared = SharedStreams(tiny_model.gpt, width=4, device="cpu")
    fed: dict[int, list[torch.Tensor]] = {0: [], 2: []}
    rows = {i: shared.join(_row(tiny_model, i), feed=fed[i].append) for i in fed}
    assert not shared.ended(rows[0]) and fed == {0: [], 2: []}
    shared.advance()  # the prefill: each row's first latent
    assert [len(fed[i]) for i in fed] == [1, 1]
    while not shared.ended(rows[0]):  # only row 0's listener steps the batch
        shared.advance()
        assert len(fed[2]) == len(fed[0])  # the other row's latent came with the same step
    assert len(fed[0]) == LIMITS[0] and not shared.ended(rows[2])
    while not shared.ended(rows[2]):
        shared.advance()
    for index in fed:
        codes, latents = _expected(tiny_model, index)
        assert len(fed[index]) == len(codes) == LIMITS[index]
        assert (torch.stack(fed[index]) - latents).abs().max() < ROUNDING
        shared.leave(rows[index])
    assert shared.live_rows == 0 and not shared.feeds and not shared.batch.states


def live_rows_per_decode(shared: SharedStreams) -> list[int]:
    """From now on, the live rows of each decoding step `shared` runs (admissions left out)."""
    record: list[int] = []
    batch = shared.batch
    step = batch.step

    def counted():
        if not (batch.waiting and len(batch.live) < batch.width):  # not an admission
            record.append(len(batch.live))
        return step()

    batch.step = counted  # type: ignore[method-assign]
    return record


def test_the_batch_steps_once_for_all_its_rows(tiny_model):
    """Four rows together take as many decoding steps as the longest row, not the sum."""
    shared = SharedStreams(tiny_model.gpt, width=4, device="cpu")
    decoding = live_rows_per_decode(shared)
    streams = {i: shared.latents(shared.join(_row(tiny_model, i))) for i in range(len(TEXTS))}
    _take_turns(streams, per_turn=4)
    assert len(decoding) < max(LIMITS) + len(TEXTS) < sum(LIMITS)
    assert max(decoding) == len(TEXTS)


def test_a_listener_beyond_the_width_waits_for_room_then_hears_its_own_run(tiny_model):
    shared = SharedStreams(tiny_model.gpt, width=2, device="cpu")
    passes = admissions(shared)
    indices = {i: shared.join(_row(tiny_model, i)) for i in range(len(TEXTS))}
    got = _take_turns({i: shared.latents(row) for i, row in indices.items()}, per_turn=3)
    assert passes[0] == 2 and sum(passes) == len(TEXTS)  # two at first, the rest as rows end
    for index in range(len(TEXTS)):
        _check(tiny_model, index, got[index])


def test_a_listener_who_leaves_takes_its_row_out_and_the_others_are_unchanged(tiny_model):
    shared = SharedStreams(tiny_model.gpt, width=4, device="cpu")
    indices = {i: shared.join(_row(tiny_model, i)) for i in range(len(TEXTS))}
    streams = {i: shared.latents(row) for i, row in indices.items()}
    leaving = 1  # the longest: it leaves after 6 of its 30 codes (row 3, 5 codes, has ended)
    taken = [next(streams[leaving]) for _ in range(6)]
    assert shared.live_rows == 3
    streams[leaving].close()
    assert [state.index for state in shared.batch.live] == [indices[0], indices[2]]
    assert indices[leaving] not in shared.batch.states
    assert [code for code, _ in taken] == _expected(tiny_model, leaving)[0][:6]
    rest = _take_turns({i: s for i, s in streams.items() if i != leaving}, per_turn=2)
    for index in rest:
        _check(tiny_model, index, rest[index])
    assert shared.live_rows == 0 and not shared.batch.states and not shared.batch.rows


def test_a_waiting_listener_who_leaves_never_enters(tiny_model):
    shared = SharedStreams(tiny_model.gpt, width=2, device="cpu")
    indices = [shared.join(_row(tiny_model, i)) for i in range(3)]
    assert indices[2] in shared.batch.waiting
    shared.leave(indices[2])
    assert indices[2] not in shared.batch.waiting and indices[2] not in shared.batch.rows
    assert list(shared.latents(indices[2])) == []  # nothing to read, and no step taken for it
    got = _take_turns({i: shared.latents(indices[i]) for i in range(2)}, per_turn=5)
    for index in range(2):
        _check(tiny_model, index, got[index])


def test_a_stop_signal_ends_only_that_listener(tiny_model):
    shared = SharedStreams(tiny_model.gpt, width=4, device="cpu")
    stop = StopSignal()
    stopped = shared.latents(shared.join(_row(tiny_model, 1)), stop.reason)
    other = shared.latents(shared.join(_row(tiny_model, 2)))
    next(stopped)
    stop.cancel()
    with pytest.raises(GenerationStopped, match="cancelled"):
        list(stopped)  # the step it needs next is refused
    assert shared.live_rows == 1
    _check(tiny_model, 2, list(other))


def test_sharing_needs_two_rows(tiny_model):
    with pytest.raises(ValueError, match="at least two rows"):
        SharedStreams(tiny_model.gpt, width=1, device="cpu")


def test_the_cache_holds_the_rows_in_use_and_is_freed_when_the_batch_empties(tiny_model):
    """A single listener's batch keeps one row's cache, not a full batch's; rows are added
    as listeners join (up to the width); when the last row ends the cache's memory goes."""
    shared = SharedStreams(tiny_model.gpt, width=8, device="cpu")
    layer = shared.batch.cache.layers[0]

    def buffer_rows() -> int:
        return layer._key_buffer.shape[0]  # type: ignore[attr-defined]

    rows = [shared.join(_row(tiny_model, 0))]
    shared.advance()  # its prefill
    assert buffer_rows() == 1 and shared.live_rows == 1
    # the prefix's columns and a little headroom, once (kv_cache._headroom)
    length = shared.batch.cache.length
    assert layer._key_buffer.shape[-2] == length + max(16, length // 8)  # type: ignore[attr-defined]
    grown_to: list[int] = []
    reallocate = layer._reallocate  # type: ignore[attr-defined]

    def recorded(capacity: int, left: int, rows: int) -> None:
        grown_to.append(rows)
        reallocate(capacity, left, rows)

    layer._reallocate = recorded  # type: ignore[attr-defined]
    rows += [shared.join(_row(tiny_model, index)) for index in (1, 2)]
    shared.advance()  # both admitted in one pass: the cache grows to three rows at once
    assert buffer_rows() == 3 and shared.live_rows == 3
    assert grown_to and set(grown_to) == {3}
    got = _take_turns({i: shared.latents(row) for i, row in enumerate(rows)}, per_turn=4)
    for index in range(3):
        _check(tiny_model, index, got[index])
    assert shared.live_rows == 0 and layer._key_buffer is None  # type: ignore[attr-defined]
