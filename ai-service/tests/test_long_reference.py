"""A long reference recording (7.7 minutes, inside the 10-minute limit) is prepared and
conditioned on its clearest minute only: it cannot run into the conditioning timeout."""

from __future__ import annotations

import numpy as np
import pytest

from ownvoice_ai.conditioning import wav_bytes as reference_wav
from ownvoice_ai.prepare import MAX_REFERENCE_SECONDS, REFERENCE_SAMPLE_RATE
from tests.conftest import AUTH
from tests.speech_fixtures import clean_speech, wav_bytes


def _long_speech(seconds: float) -> np.ndarray:
    clips = clean_speech(60.0)  # the LJ Speech clips, joined, repeated to length
    return np.tile(clips, int(seconds * 22050 // len(clips)) + 1)[: int(seconds * 22050)]


@pytest.fixture
def conditioning_inputs(client_factory):
    """The app, and the length in seconds of every reference the model conditions on."""
    client = client_factory()
    model = client.app.state.services.xtts.model
    lengths: list[float] = []
    original = model.get_gpt_cond_latents

    def recording(audio, sr, *args, **kwargs):
        lengths.append(audio.shape[-1] / sr)
        return original(audio, sr, *args, **kwargs)

    model.get_gpt_cond_latents = recording
    return client, lengths


def test_a_long_recording_is_conditioned_on_its_clearest_minute(conditioning_inputs) -> None:
    client, lengths = conditioning_inputs
    upload = wav_bytes(_long_speech(7.7 * 60))
    response = client.put("/voices/long", content=upload, headers=AUTH)
    assert response.status_code == 200, response.text
    report = response.json()["report"]
    assert report["duration_seconds"] == pytest.approx(462, abs=0.5)
    assert [w["code"] for w in report["warnings"]] == ["trimmed"]
    assert len(lengths) == 1 and lengths[0] <= MAX_REFERENCE_SECONDS
    stored = client.app.state.services.settings.data_dir / "voices" / "long.wav"
    assert len(stored.read_bytes()) <= 44 + 2 * MAX_REFERENCE_SECONDS * REFERENCE_SAMPLE_RATE


def test_a_long_reference_stored_earlier_is_conditioned_on_a_bounded_part(
    conditioning_inputs,
) -> None:
    """A voice prepared before references were bounded: its conditioning is computed again
    (no cache yet) from the first MAX_REFERENCE_SECONDS only."""
    client, lengths = conditioning_inputs
    voices = client.app.state.services.settings.data_dir / "voices"
    voices.mkdir(parents=True, exist_ok=True)
    (voices / "legacy.wav").write_bytes(
        reference_wav(_long_speech(90) * 0.5, REFERENCE_SAMPLE_RATE)
    )
    response = client.post(
        "/generate", json={"text": "Hello there.", "voice_id": "legacy"}, headers=AUTH
    )
    assert response.status_code == 200, response.text
    assert len(lengths) == 1 and lengths[0] <= MAX_REFERENCE_SECONDS
