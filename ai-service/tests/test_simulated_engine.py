"""The simulated XTTS of scaling runs (OWNVOICE_SIMULATE_TOKEN_S, make bench-scale): a fixed time
per audio token, spent asleep; a batch's rows share each step, as on a GPU; silence as audio."""

from __future__ import annotations

import pytest
import torch

from ownvoice_ai.engines.base import (
    AudioChunk,
    GenerationStopped,
    RenderedChunk,
    StopSignal,
    SynthesisOptions,
)

TEXTS = ["Hello there.", "A second one.", "And a third."]


class Sleeps:
    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


@pytest.fixture(scope="module")
def loaded(tiny_checkpoint):
    from ownvoice_ai.engines.simulated import SimulatedXttsEngine
    from ownvoice_ai.engines.xtts import StreamTuning
    from ownvoice_ai.model_source import ModelSource

    sleeps = Sleeps()
    engine = SimulatedXttsEngine(
        ModelSource(tiny_checkpoint, "tiny", "demo-tiny"),
        tuning=StreamTuning(first_chunk_tokens=4, chunk_tokens=8, fixed_tokens=10),
        batch_size=2,
        token_s=0.05,
        sleep=sleeps,
    )
    status = engine.load()
    assert status.available and status.extra["simulated_token_s"] == 0.05
    return engine, sleeps


@pytest.fixture
def voice(loaded):
    from ownvoice_ai.conditioning import Conditioning

    d_model = loaded[0].model.gpt.model_dim
    return Conditioning(torch.zeros(1, 32, d_model), torch.zeros(1, 512, 1), "v", "tiny")


def test_a_batch_costs_one_token_time_per_step_for_all_its_rows(loaded, voice):
    engine, sleeps = loaded
    sleeps.taken.clear()
    events = list(engine.render_batch(TEXTS, voice, SynthesisOptions()))
    rendered = [event for event in events if isinstance(event, RenderedChunk)]
    assert sorted(chunk.index for chunk in rendered) == [0, 1, 2]
    assert all(len(chunk.samples) == 10 * 1024 and not chunk.samples.any() for chunk in rendered)
    # rows 0 and 1 together (10 steps), then row 2 alone (10 steps): not 30 steps
    assert sleeps.taken == [0.05] * 20


def test_a_stream_sleeps_per_token_and_stops_on_its_signal(loaded, voice):
    engine, sleeps = loaded
    sleeps.taken.clear()
    chunks = list(engine.stream(TEXTS[0], voice, SynthesisOptions()))
    assert all(isinstance(chunk, AudioChunk) for chunk in chunks)
    assert [len(chunk.samples) // 1024 for chunk in chunks] == [4, 6]
    assert chunks[-1].is_last and sleeps.taken == [0.05] * 10

    stop = StopSignal()
    stream = engine.stream(TEXTS[0], voice, SynthesisOptions(stop=stop))
    next(stream)
    stop.cancel()
    with pytest.raises(GenerationStopped):
        next(stream)


def test_the_setting_selects_it(tmp_path, tiny_checkpoint):
    from ownvoice_ai.engines.simulated import SimulatedXttsEngine
    from ownvoice_ai.services import build_services
    from tests.conftest import make_settings

    services = build_services(make_settings(tmp_path / "data", simulate_token_s=0.01))
    try:
        assert isinstance(services.xtts, SimulatedXttsEngine)
        assert services.xtts.token_s == 0.01
    finally:
        services.close()
