"""A streamed text's next sentences decode beside the one being heard (`XttsEngine.stream_chunks`,
read-ahead rows of the listeners' batch), on the tiny random checkpoint through the real engine.

What a listener hears must not change (the same audio as the sentences streamed one after
another), the first audio must not wait for the rows read ahead, the rows must really decode in
one batch, never take more than half of it, and leave it however the stream ends.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from ownvoice_ai.conditioning import Conditioning
from ownvoice_ai.engines.base import AudioChunk, GenerationStopped, StopSignal, SynthesisOptions
from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
from ownvoice_ai.model_source import ModelSource
from tests.test_xtts_listeners import live_rows_per_decode

# Sentences of different lengths: each decodes as many tokens as it would be spoken (1.5 per
# character), so rows read ahead end apart and the next ones join while others run.
SENTENCES = [
    "Heard at once.",
    "A longer one decodes beside it.",
    "A short third.",
    "The fourth waits for room.",
    "Fifth.",
    "The sixth ends it.",
]
BATCH_ROUNDING = 1e-5  # as tests/test_listeners.py: batched products round a little differently


def _engine(checkpoint, overlap: bool, **kwargs) -> XttsEngine:
    tuning = StreamTuning(8, 24, speaking_rate_tokens=True, overlap_vocoder=overlap)
    engine = XttsEngine(ModelSource(checkpoint, "tiny", "demo-tiny"), tuning=tuning, **kwargs)
    engine.load()
    return engine


def _voice(engine: XttsEngine) -> Conditioning:
    generator = torch.Generator().manual_seed(3)
    d_model = engine.model.gpt.model_dim
    return Conditioning(
        torch.randn(1, 32, d_model, generator=generator),
        torch.randn(1, 512, 1, generator=generator),
        "voice",
        "tiny",
    )


def _options(stop: StopSignal | None = None) -> SynthesisOptions:
    return SynthesisOptions(language="en", seed=11, stop=stop)


def _audio(chunks) -> np.ndarray:
    return np.concatenate([chunk.samples for chunk in chunks if len(chunk.samples)])


def _vocoder_threads() -> int:
    return sum(thread.name == "ownvoice-vocoder" for thread in threading.enumerate())


@pytest.mark.parametrize("overlap", [False, True], ids=["in line", "vocoder threads"])
def test_a_text_read_ahead_sounds_as_sentence_after_sentence_and_decodes_as_one_batch(
    tiny_checkpoint, overlap
):
    engine = _engine(tiny_checkpoint, overlap, read_ahead=2)
    voice = _voice(engine)
    shared = engine.listeners
    assert shared is not None
    one_by_one = [_audio(engine.stream(text, voice, _options())) for text in SENTENCES]

    decoding = live_rows_per_decode(shared)
    ahead_seen: list[int] = []
    joined_before = shared.batch.added
    rows_at_first_audio: list[int] = []
    pieces: list[AudioChunk] = []
    for chunk in engine.stream_chunks(SENTENCES, voice, _options()):
        if len(chunk.samples) and not rows_at_first_audio:
            rows_at_first_audio.append(shared.batch.added - joined_before)
        ahead_seen.append(len(shared.ahead))
        pieces.append(chunk)

    # the same audio, sentence by sentence (each chunk's last piece closes it)
    ends = [i for i, piece in enumerate(pieces) if piece.is_last]
    assert len(ends) == len(SENTENCES)
    starts = [0] + [end + 1 for end in ends[:-1]]
    for text, start, end, alone in zip(SENTENCES, starts, ends, one_by_one, strict=True):
        heard = _audio(pieces[start : end + 1])
        assert len(heard) == len(alone), text
        np.testing.assert_allclose(heard, alone, rtol=0, atol=BATCH_ROUNDING)

    assert rows_at_first_audio == [1]  # the first audio did not wait for rows read ahead
    assert max(ahead_seen) == 2  # two sentences ahead of the one heard, never more
    spoken = sum(StreamTuning(speaking_rate_tokens=True).token_limits(t)[0] for t in SENTENCES)
    if overlap:
        # The tiny GPT outruns the vocoder threads, so the heard row has often ended by its
        # first audio; the two rows read ahead then join and decode together.
        assert max(decoding) >= 2
    else:  # in line, every turn decodes the heard row's next latents: rows overlap in lockstep
        assert max(decoding) == 3  # two sentences ahead decode in the same steps as the heard
        assert len(decoding) < 0.6 * spoken  # far fewer steps than sentence after sentence
    assert not shared.batch.rows and not shared.batch.states and not shared.ahead
    assert not shared.feeds and _vocoder_threads() == 0


def test_rows_read_ahead_never_take_more_than_half_the_batch(tiny_checkpoint):
    engine = _engine(tiny_checkpoint, overlap=False, read_ahead=8, listener_batch=4)
    voice = _voice(engine)
    shared = engine.listeners
    assert shared is not None
    decoding_ahead = []
    for _chunk in engine.stream_chunks(SENTENCES, voice, _options()):
        decoding_ahead.append(sum(index in shared.batch.rows for index in shared.ahead))
        assert len(shared.batch.live) + len(shared.batch.waiting) <= 4
    # half of 4, though 8 were allowed per stream (rows read ahead that have ended hold no room)
    assert max(decoding_ahead) == 2


def test_with_read_ahead_off_the_sentences_decode_one_at_a_time(tiny_checkpoint):
    engine = _engine(tiny_checkpoint, overlap=False, read_ahead=0)
    shared = engine.listeners
    assert shared is not None
    decoding = live_rows_per_decode(shared)
    audio = _audio(engine.stream_chunks(SENTENCES[:3], _voice(engine), _options()))
    assert len(audio) and max(decoding) == 1 and not shared.ahead


@pytest.mark.parametrize("overlap", [False, True], ids=["in line", "vocoder threads"])
@pytest.mark.parametrize("ending", ["closed", "stopped"])
def test_a_stream_that_ends_early_takes_its_rows_read_ahead_out_of_the_batch(
    tiny_checkpoint, overlap, ending
):
    engine = _engine(tiny_checkpoint, overlap, read_ahead=2)
    shared = engine.listeners
    assert shared is not None
    stop = StopSignal()
    stream = engine.stream_chunks(SENTENCES, _voice(engine), _options(stop))
    while not len(next(stream).samples):
        pass
    next(stream)  # the turn after the first audio: the rows ahead join
    assert len(shared.ahead) == 2 and len(shared.feeds if overlap else shared.batch.states) >= 2
    if ending == "closed":  # the listener went away
        stream.close()
    else:
        stop.cancel("client left")
        with pytest.raises(GenerationStopped):
            for _chunk in stream:
                pass
    assert not shared.batch.rows and not shared.batch.states and not shared.batch.live
    assert not shared.ahead and not shared.feeds and _vocoder_threads() == 0


def test_generate_reads_a_texts_next_sentences_ahead_and_sends_the_same_audio(
    client_factory, ljspeech_wavs, monkeypatch
):
    """POST /generate of three sentences: the service's stream job reads ahead (one sentence,
    by default; rows seen in the batch), and the PCM it sends equals the same request's with
    read-ahead off (same seed), up to the rounding of batched products."""
    from tests.conftest import AUTH
    from tests.test_api import put_voice

    client = client_factory(xtts_fixed_tokens=None)
    assert put_voice(client, "reader", ljspeech_wavs[0].read_bytes()).status_code in (200, 201)
    engine = client.app.state.services.xtts
    shared = engine.listeners
    assert engine.read_ahead == 1 and shared is not None
    ahead_seen: list[int] = []
    join = shared.join

    def counted(*args, **kwargs):
        index = join(*args, **kwargs)
        ahead_seen.append(len(shared.ahead))
        return index

    monkeypatch.setattr(shared, "join", counted)
    body = {"text": " ".join(SENTENCES[:3]), "voice_id": "reader", "format": "pcm_24000", "seed": 5}

    def pcm() -> np.ndarray:
        response = client.post("/generate", json=body, headers=AUTH)
        assert response.status_code == 200, response.text
        return np.frombuffer(response.content, dtype="<i2").astype(np.int32)

    read_ahead = pcm()
    assert ahead_seen == [0, 1, 1]  # the first sentence, then each next one ahead of it
    monkeypatch.setattr(engine, "read_ahead", 0)
    ahead_seen.clear()
    one_by_one = pcm()
    assert ahead_seen == [0, 0, 0]
    assert len(read_ahead) == len(one_by_one) > 24000  # three sentences, over a second
    assert np.abs(read_ahead - one_by_one).max() <= 1  # within one 16-bit step


def test_a_row_read_ahead_gives_its_place_to_a_listener_who_arrives_and_is_decoded_again(
    tiny_checkpoint,
):
    """A batch of two: one stream's heard sentence and the next one read ahead fill it. A second
    listener arrives: at the next step the row read ahead leaves so that the listener's row is
    admitted, and the first stream decodes that sentence again when it comes to it. Both hear
    what they would alone."""
    engine = _engine(tiny_checkpoint, overlap=False, read_ahead=1, listener_batch=2)
    voice = _voice(engine)
    shared = engine.listeners
    assert shared is not None
    texts = [SENTENCES[1], SENTENCES[3], SENTENCES[5]]  # the first still decodes at its 2nd piece
    first_alone = [_audio(engine.stream(text, voice, _options())) for text in texts]
    other_alone = _audio(engine.stream(SENTENCES[0], voice, _options()))

    reader = engine.stream_chunks(texts, voice, _options())
    got: list[AudioChunk] = []
    while not shared.ahead or not all(i in shared.batch.states for i in shared.ahead):
        got.append(next(reader))  # until the row read ahead is in the batch, decoding
    [ahead] = shared.ahead
    assert len(shared.batch.live) == 2  # full

    other = engine.stream(SENTENCES[0], voice, _options())
    heard: list[AudioChunk] = [next(other)]  # joins (END_OF_TURN) and waits for room
    heard.append(next(other))  # its turn steps the batch: the row read ahead makes room
    assert shared.given_up(ahead) and ahead not in shared.batch.rows
    assert len(shared.batch.live) == 2 and not shared.ahead

    turns = {"reader": reader, "other": other}
    while turns:  # round-robin turns, as the device worker takes them
        for name, stream in list(turns.items()):
            chunk = next(stream, None)
            if chunk is None:
                del turns[name]
            else:
                (got if name == "reader" else heard).append(chunk)

    ends = [i for i, piece in enumerate(got) if piece.is_last]
    starts = [0] + [end + 1 for end in ends[:-1]]
    assert len(ends) == 3
    for start, end, alone in zip(starts, ends, first_alone, strict=True):
        np.testing.assert_allclose(_audio(got[start : end + 1]), alone, rtol=0, atol=BATCH_ROUNDING)
    np.testing.assert_allclose(_audio(heard), other_alone, rtol=0, atol=BATCH_ROUNDING)
    assert not shared.batch.rows and not shared.given_back and not shared.ahead
