"""What verification costs: recognition and speaker-embedding seconds per second of audio.

Measured on real speech (the shared LJ Speech clips; the recognizer's cost depends on the audio,
not on the voice that made it), with the recognizer on the bench's threads, as the service runs it
between two batch renders. What it costs book rendering is measured by rendering the same
sentences with verification off and on (bench.paths.service, `verified_rendering`).
"""

from __future__ import annotations

import time
from typing import Any

from .reference import REFERENCE_CLIP, read_reference


def measure_verification(threads: int, clips: int) -> dict[str, Any] | None:
    """None when the shared clips are not here."""
    from ownvoice_ai.verify import asr, speaker
    from ownvoice_ai.verify.takes import check_take

    paths = sorted(REFERENCE_CLIP.parent.glob("LJ001-*.wav"))[:clips]
    if not paths:
        return None
    transcripts = dict(
        line.split("|")[:2]
        for line in (REFERENCE_CLIP.parent / "metadata.csv").read_text().splitlines()
        if line
    )
    asr._default = asr.Recognizer(None, threads)  # the bench's threads, not the service's
    first, rate = read_reference(str(paths[0]))
    check_take(transcripts[paths[0].stem], first[: rate * 2], rate)  # load and warm up
    speaker.speaker_embedding(first[: rate * 2], rate)
    audio_s = check_s = speaker_s = 0.0
    cers = []
    for path in paths:
        samples, rate = read_reference(str(path))
        audio_s += len(samples) / rate
        started = time.perf_counter()
        take = check_take(transcripts[path.stem], samples, rate)
        check_s += time.perf_counter() - started
        started = time.perf_counter()
        speaker.speaker_embedding(samples, rate)
        speaker_s += time.perf_counter() - started
        cers.append(take.verdict.cer)
    return {
        "clips": len(paths),
        "audio_s": audio_s,
        "threads": threads,
        "recognition_s_per_audio_s": check_s / audio_s,
        "speaker_s_per_audio_s": speaker_s / audio_s,
        "verification_s_per_audio_s": (check_s + speaker_s) / audio_s,
        "mean_cer": sum(cers) / len(cers),
    }
