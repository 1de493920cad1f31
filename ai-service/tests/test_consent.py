"""Finding the consent sentence in a transcript's words (ownvoice_ai.consent.locate), and telling
the consent segment's speaker from the rest of the recording (consent.same_speaker)."""

from __future__ import annotations

import numpy as np

from ownvoice_ai.consent import SAME_SPEAKER_MIN, locate, same_speaker


def words(text: str) -> list[str]:
    return text.split()


PASSAGE = words("she laughed and pointed past the harbour where fishing boats bobbed")


def test_the_sentence_with_the_name_is_found_even_heard_loosely() -> None:
    heard = PASSAGE + words(
        "I, Maya Brown, agree that own voice may create a synthetic copy of my voice."
    )
    found = locate(heard, "Maya Brown")
    assert found is not None and found.name_heard
    assert heard[found.first] == "I," and heard[found.last] == "voice."


def test_a_misheard_word_or_two_still_counts() -> None:
    heard = PASSAGE + words(
        "I, Maya Brown, agreed that Own Voice may create the synthetic copy of my voice"
    )
    found = locate(heard, "maya brown")
    assert found is not None and found.name_heard


def test_another_name_is_not_the_name() -> None:
    heard = PASSAGE + words(
        "I, Oliver Twist, agree that Ownvoice may create a synthetic copy of my voice."
    )
    found = locate(heard, "Maya Brown")
    assert found is not None and not found.name_heard


def test_no_sentence_is_none() -> None:
    assert locate(PASSAGE, "Maya Brown") is None
    assert locate(PASSAGE + words("I agree to nothing at all."), "Maya Brown") is None
    assert locate([], "Maya Brown") is None


# --- the consent segment's speaker against the rest (real speech) ------------------------------

RATE = 16000
CONSENT_SECONDS = 4  # about as long as the consent sentence


def _clip(path) -> np.ndarray:
    from ownvoice_ai.audio import decode_audio

    return decode_audio(path.read_bytes(), RATE)


def test_two_librispeech_speakers_spliced_are_told_apart(librispeech_speakers) -> None:
    """A reader's two clips with 4 s of a clip at the end, where the consent sentence would be:
    of the same reader, one speaker; of the next reader in the list, another."""
    speakers = list(librispeech_speakers)
    assert len(speakers) >= 2
    verdicts = {}
    for at, reader in enumerate(speakers):
        rest = np.concatenate([_clip(p) for p in librispeech_speakers[reader][:2]])
        for other in (reader, speakers[(at + 1) % len(speakers)]):
            segment = _clip(librispeech_speakers[other][2])[: RATE * CONSENT_SECONDS]
            audio = np.concatenate([rest, segment])
            similarity, same = same_speaker(audio, RATE, len(rest) / RATE, len(audio) / RATE)
            verdicts[(reader, other)] = same
            assert (similarity >= SAME_SPEAKER_MIN) is same
    assert verdicts == {pair: pair[0] == pair[1] for pair in verdicts}, verdicts
