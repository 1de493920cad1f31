"""Verification: the service listens to what it rendered.

- `asr`:     faster-whisper transcripts with word times (bundled tiny.en, or OWNVOICE_ASR_MODEL);
- `speaker`: speaker similarity (resemblyzer d-vectors);
- `check`:   spoken forms, character error rate, word timings on the source text, the verdict;
- `trim`:    silence to a natural pause, babble after the last word cut, with a fade;
- `takes`:   one take checked end to end, and the best-of-N rules (which take, how to retake).
"""

from .asr import Transcript, Word, transcribe
from .check import TimedWord, Verdict, align_words, character_error_rate, spoken_form
from .speaker import speaker_embedding, speaker_similarity
from .takes import CheckedTake, check_take, retake_options
from .trim import apply_cut, find_cut

__all__ = [
    "CheckedTake",
    "TimedWord",
    "Transcript",
    "Verdict",
    "Word",
    "align_words",
    "apply_cut",
    "character_error_rate",
    "check_take",
    "find_cut",
    "retake_options",
    "speaker_embedding",
    "speaker_similarity",
    "spoken_form",
    "transcribe",
]
