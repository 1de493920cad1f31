"""The synthesis pipeline (ownvoice_ai/synthesis): one tokenization per chunk, one home per error."""

from __future__ import annotations

from collections import Counter

import pytest

from ownvoice_ai import errors
from ownvoice_ai.api.errors import HTTP_STATUS, status_of
from ownvoice_ai.synthesis import VoiceKind, resolve_voice, synthesis_options
from tests.conftest import AUTH

LONG_TEXT = " ".join(
    [
        "Alice was beginning to get very tired of sitting by her sister on the bank, and of having",
        "nothing to do: once or twice she had peeped into the book her sister was reading, but it had",
        "no pictures or conversations in it, and what is the use of a book, thought Alice, without",
        "pictures or conversations? So she was considering in her own mind, as well as she could.",
    ]
)


def test_each_chunk_is_tokenized_once_from_request_to_model(client_factory, ljspeech_wavs):
    client = client_factory()
    assert (
        client.put("/voices/alice", content=ljspeech_wavs[0].read_bytes(), headers=AUTH).status_code
        == 200
    )
    tokenizer = client.app.state.services.xtts.model.tokenizer
    encoded: Counter[str] = Counter()
    original = tokenizer.encode

    def counting(text, *args, **kwargs):
        encoded[text] += 1
        return original(text, *args, **kwargs)

    tokenizer.encode = counting
    try:
        response = client.post(
            "/generate", json={"text": LONG_TEXT, "voice_id": "alice", "seed": 1}, headers=AUTH
        )
    finally:
        tokenizer.encode = original

    assert response.status_code == 200, response.text
    assert len(response.content) > 44  # audio after the WAV header
    assert encoded, "the tokenizer never ran"
    twice = {text: count for text, count in encoded.items() if count > 1}
    assert twice == {}  # the splitter's count is the model's input: no text goes through it again


def test_the_voice_kind_comes_from_the_listed_stock_voices(client_factory, ljspeech_wavs):
    client = client_factory(load_piper=True)
    services = client.app.state.services
    assert (
        client.put("/voices/bob", content=ljspeech_wavs[0].read_bytes(), headers=AUTH).status_code
        == 200
    )
    [stock] = [voice.voice_id for voice in services.piper.voices()]

    assert resolve_voice(services, stock).kind is VoiceKind.STOCK
    assert resolve_voice(services, "bob").kind is VoiceKind.CLONE
    with pytest.raises(errors.UnknownVoice, match="GET /stock-voices"):
        resolve_voice(services, "stock-nobody")  # the stock namespace, but not a listed voice
    with pytest.raises(errors.NoVoiceNamed):
        resolve_voice(services, None)


def test_options_fill_what_the_request_left_out_from_one_set_of_defaults():
    given = synthesis_options(language="en-US", temperature=0.5, top_k=None, format="mp3")
    defaults = synthesis_options()

    assert (given.language, given.temperature, given.format) == ("en", 0.5, "mp3")
    assert given.top_k == defaults.top_k and given.speed == defaults.speed == 1.0
    assert (defaults.language, defaults.format) == ("en", "wav")
    with pytest.raises(TypeError, match="text"):
        synthesis_options(text="not an option")


def test_every_domain_error_has_its_own_status():
    kinds = set(_subclasses(errors.ServiceError))
    assert kinds == set(HTTP_STATUS)  # none falls through to a generic 500
    assert status_of(errors.Busy("full", retry_after_s=2)) == 429
    assert status_of(errors.UnknownVoice("no")) == 404


def _subclasses(kind: type) -> list[type]:
    found = []
    for sub in kind.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found
