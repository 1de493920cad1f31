"""Concurrent listeners on the real engine (tiny checkpoint): round-robin turns on the device worker.

Four listeners queued together must each hear a first chunk before any hears a third, and taking
turns must not change what anyone hears (same seed, same samples as a run alone).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from ownvoice_ai.engines.base import AudioChunk, StopSignal, SynthesisOptions
from ownvoice_ai.synthesis import jobs
from ownvoice_ai.synthesis.options import with_stop
from ownvoice_ai.synthesis.text import xtts_chunks
from tests.conftest import AUTH
from tests.test_api import put_voice
from tests.test_worker import Gate
from tests.test_xtts_listeners import live_rows_per_decode

TEXT = "Four listeners arrive together, and each of them wants to hear the story now."
LISTENERS = 4
DEADLINE_S = 600  # bounds a failing test only (a loaded 2-core machine is slow)
# Listeners' GPT steps run as one batch (engines/xtts_listeners.py): the float rounding of
# batched matrix products moves samples by about 3e-8 here; a different code would move them
# by far more than this.
BATCH_ROUNDING = 1e-5


@pytest.fixture
def voice_bytes(ljspeech_wavs) -> bytes:
    return ljspeech_wavs[0].read_bytes()


async def drain(handle) -> list:
    return [item async for item in handle.items(DEADLINE_S)]


def recorded(name: str, produce, note: Callable[[str], object]):
    """`produce`, calling `note(name)` (on the worker thread) each time it yields audio (not the
    empty END_OF_TURN, which the worker does not deliver)."""

    def run():
        for item in produce():
            if isinstance(item, AudioChunk) and len(item.samples):
                note(name)
            yield item

    return run


def held(gate: Gate):
    def produce():
        gate.hold()
        yield "held"

    return produce


async def listen_together(
    services, names: list[str], note: Callable[[str], object] = lambda name: None
) -> dict[str, np.ndarray]:
    """Queue one stream per name while the worker is held, then let them all run."""
    gate = Gate()
    blocker = services.worker.submit(held(gate))
    await gate.until_running()
    [tokenized] = await xtts_chunks(services, [TEXT], "en")
    handles = {}
    for name in names:
        stop = StopSignal()
        options = with_stop(SynthesisOptions(language="en", seed=7), stop)
        produce = jobs.xtts_stream_job(services, "reader", tokenized, options)
        handles[name] = services.worker.submit(recorded(name, produce, note), stop)
    gate.open()
    await drain(blocker)
    audio = {}
    for name, handle in handles.items():
        items = await drain(handle)
        audio[name] = np.concatenate([i.samples for i in items if isinstance(i, AudioChunk)])
    return audio


@pytest.mark.parametrize("vocoder_thread", [False, True], ids=["in line", "vocoder threads"])
def test_listeners_started_together_each_hear_a_first_chunk_before_any_hears_a_third(
    client_factory, voice_bytes, monkeypatch, vocoder_thread
):
    """In line (fp32) and with a vocoder thread per stream (the fast path, whose vocoders the
    batch's steps feed: xtts_listeners)."""
    # 80 tokens: chunks after 8, 32, 56 and 80 tokens, then the tail
    client = client_factory(xtts_fixed_tokens=80)
    assert put_voice(client, "reader", voice_bytes).status_code in (200, 201)
    services = client.app.state.services
    engine = services.xtts
    monkeypatch.setattr(engine, "tuning", replace(engine.tuning, overlap_vocoder=vocoder_thread))
    shared = engine.listeners
    fed_at_first_audio: list[list[int]] = []
    record: list[str] = []

    def note(name: str) -> None:
        if name not in record:  # its first chunk: what every fed row's vocoder has had by now
            fed_at_first_audio.append([feed.sent for feed in shared.feeds.values()])
        record.append(name)

    names = [f"listener {n}" for n in range(LISTENERS)]
    together = asyncio.run(asyncio.wait_for(listen_together(services, names, note), DEADLINE_S))
    if vocoder_thread:
        # By the first listener's first chunk, every listener's vocoder had its first chunk's
        # latents (8), fed by the steps of whoever's turn it was.
        assert len(fed_at_first_audio[0]) == LISTENERS
        assert min(fed_at_first_audio[0]) >= engine.tuning.first_chunk_tokens
    else:
        assert fed_at_first_audio[0] == []

    def position(name: str, nth: int) -> int:
        return [i for i, who in enumerate(record) if who == name][nth - 1]

    assert all(record.count(name) >= 3 for name in names), record
    last_first = max(position(name, 1) for name in names)
    first_third = min(position(name, 3) for name in names)
    assert last_first < first_third, record

    alone = asyncio.run(asyncio.wait_for(listen_together(services, ["alone"]), DEADLINE_S))
    for name in names:  # turns and the shared batch change when, not what, a listener hears
        assert len(together[name]) == len(alone["alone"])
        np.testing.assert_allclose(together[name], alone["alone"], rtol=0, atol=BATCH_ROUNDING)
    assert client.get("/ready", headers=AUTH).json()["worker"]["completed"] >= LISTENERS + 2


def test_token_loops_of_different_lengths_can_take_turns_on_one_thread(tiny_model):
    """The worker steps several token loops on its one thread; one ending (and leaving torch's
    inference mode) must not switch the mode off under another still running."""
    import torch

    from ownvoice_ai.engines.xtts_gpt import SamplingSettings, generate_latents

    gpt = tiny_model.gpt
    cond = torch.zeros(1, 32, gpt.model_dim)
    text = torch.tensor([tiny_model.tokenizer.encode("turns", lang="en")], dtype=torch.int32)

    def loop(tokens: int):
        settings = SamplingSettings(fixed_tokens=tokens)
        return generate_latents(gpt, cond, text, settings, torch.Generator().manual_seed(0))

    def alone(tokens: int) -> list[int]:
        return [token for token, _ in loop(tokens)]

    short, long = loop(2), loop(6)
    taken: dict[str, list[int]] = {"short": [], "long": []}
    # the short loop starts first (its mode is the outer one) and ends first
    for name, tokens in (("short", short), ("long", long), ("short", short), ("long", long)):
        taken[name].append(next(tokens)[0])
    assert next(short, None) is None  # the short loop ends while the long one is paused
    taken["long"] += [token for token, _ in long]
    assert taken == {"short": alone(2), "long": alone(6)}


def test_listeners_started_together_decode_as_one_batch(client_factory, voice_bytes):
    """The four streams join the shared GPT batch before any decodes, so their tokens come from
    about as many batch steps as one stream needs, and the batch is empty when they are done."""
    client = client_factory(xtts_fixed_tokens=80)
    assert put_voice(client, "reader", voice_bytes).status_code in (200, 201)
    services = client.app.state.services
    shared = services.xtts.listeners
    assert shared is not None and shared.batch.width == services.settings.listener_batch
    live_per_decode = live_rows_per_decode(shared)
    names = [f"listener {n}" for n in range(LISTENERS)]
    audio = asyncio.run(asyncio.wait_for(listen_together(services, names), DEADLINE_S))
    assert all(len(samples) == len(audio[names[0]]) > 0 for samples in audio.values())
    assert max(live_per_decode) == LISTENERS
    assert len(live_per_decode) < 80 + LISTENERS  # one stream alone needs 79 decoding steps
    assert shared.live_rows == 0 and not shared.batch.states and not shared.batch.rows
    ready = client.get("/ready", headers=AUTH).json()["engines"]["xtts"]
    assert ready["listener_batch"] == services.settings.listener_batch
    assert ready["read_ahead"] == services.settings.read_ahead == 1


def test_with_a_listener_batch_of_one_each_stream_decodes_alone(client_factory, voice_bytes):
    client = client_factory(xtts_fixed_tokens=20, listener_batch=1)
    services = client.app.state.services
    assert services.xtts.listeners is None
    assert put_voice(client, "reader", voice_bytes).status_code in (200, 201)
    audio = asyncio.run(asyncio.wait_for(listen_together(services, ["a", "b"]), DEADLINE_S))
    np.testing.assert_array_equal(audio["a"], audio["b"])  # same seed, each alone
    ready = client.get("/ready", headers=AUTH).json()["engines"]["xtts"]
    assert ready["listener_batch"] == 1 and ready["read_ahead"] == 0  # no batch to read ahead in
