"""Measure what verification thresholds correct speech needs (ownvoice_ai/verify/check.py).

    .venv/bin/python scripts/measure_verification.py            # about 10 minutes on 2 cores
    .venv/bin/python scripts/measure_verification.py --per-bucket 8 --beam 1

Correct speech: the shared LJ Speech clips against their transcripts, and Piper renders of
sentences from the shared Alice EPUB. Wrong speech (the control): each Piper render checked
against the NEXT sentence's text. Every take goes through `check_take` exactly as the batch path
runs it (recognition, trimming, CER of what is kept). Printed per spoken-length bucket (the
buckets of CER_THRESHOLDS): the CER distribution of correct and of wrong speech, the spoken
characters per second, speaker similarity of same and different LibriSpeech speakers, and the
recognizer's seconds per second of audio. The thresholds in check.py sit above the correct
speech's worst CER and below the wrong speech's best.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import time
import wave
import zipfile
from pathlib import Path

import numpy as np

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(AI_SERVICE_DIR))

from ownvoice_ai.audio import decode_audio  # noqa: E402
from ownvoice_ai.engines.base import SynthesisOptions  # noqa: E402
from ownvoice_ai.text import sentences  # noqa: E402
from ownvoice_ai.verify import asr  # noqa: E402
from ownvoice_ai.verify.check import CER_THRESHOLDS, spoken_form  # noqa: E402
from ownvoice_ai.verify.speaker import speaker_similarity  # noqa: E402
from ownvoice_ai.verify.takes import check_takes  # noqa: E402

DATA = AI_SERVICE_DIR.parent / ".." / "shared" / "data"


# Finer than CER_THRESHOLDS' buckets, so that the thresholds' edges can be chosen from them.
REPORT_BUCKETS = (10, 20, 40, 80, 150, float("inf"))


def bucket_of(spoken: str, edges: tuple[float, ...] = REPORT_BUCKETS) -> int:
    return next(i for i, longest in enumerate(edges) if len(spoken) <= longest)


def bucket_name(index: int, edges: tuple[float, ...] = REPORT_BUCKETS) -> str:
    low = 0 if index == 0 else int(edges[index - 1]) + 1
    high = edges[index]
    return f"{low}+ chars" if high == float("inf") else f"{low}-{int(high)} chars"


def threshold_of(spoken: str) -> float:
    edges = tuple(longest for longest, _ in CER_THRESHOLDS)
    return CER_THRESHOLDS[bucket_of(spoken, edges)][1]


def lj_clips() -> list[tuple[str, np.ndarray, int]]:
    root = DATA / "speech" / "ljspeech"
    texts = dict(
        line.split("|")[:2] for line in (root / "metadata.csv").read_text().splitlines() if line
    )
    clips = []
    for name, text in sorted(texts.items()):
        with wave.open(str(root / f"{name}.wav"), "rb") as reader:
            rate = reader.getframerate()
            pcm = np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16)
        clips.append((text, pcm.astype(np.float32) / 32768.0, rate))
    return clips


def book_sentences() -> list[str]:
    with zipfile.ZipFile(DATA / "books" / "alice.epub") as book:
        names = sorted(n for n in book.namelist() if re.search(r"chapter_\d+\.xhtml$", n))
        pages = [book.read(name).decode("utf-8") for name in names]
    found = []
    for page in pages:
        for paragraph in re.findall(r"<p[^>]*>(.*?)</p>", page, flags=re.S):
            text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", paragraph)).split())
            found.extend(s for s in sentences(text, "en") if re.search(r"[A-Za-z]", s))
    return found


def pick_per_bucket(texts: list[str], per_bucket: int) -> list[str]:
    """Up to `per_bucket` sentences of each length bucket, spread over the book."""
    by_bucket: dict[int, list[str]] = {}
    for text in texts:
        spoken = spoken_form(text, "en")
        if len(spoken) <= 250:  # one XTTS chunk: what the batch path checks
            by_bucket.setdefault(bucket_of(spoken), []).append(text)
    chosen = []
    for bucket in sorted(by_bucket):
        pool = by_bucket[bucket]
        step = max(1, len(pool) // per_bucket)
        chosen.extend(pool[::step][:per_bucket])
    return chosen


def piper_renders(texts: list[str]) -> tuple[list[np.ndarray], int]:
    from ownvoice_ai.engines.piper import PiperEngine

    engine = PiperEngine()
    assert engine.load().available, "Piper did not load"
    renders = [
        np.concatenate([c.samples for c in engine.stream(t, "stock-joe", SynthesisOptions())])
        for t in texts
    ]
    return renders, engine.sample_rate


def stats(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    array = np.asarray(values)
    return {
        "n": len(values),
        "median": round(float(np.median(array)), 3),
        "p90": round(float(np.percentile(array, 90)), 3),
        "max": round(float(array.max()), 3),
        "min": round(float(array.min()), 3),
    }


def librispeech_similarity(count: int) -> dict:
    root = DATA / "speech" / "librispeech"
    speakers = {
        d.name: sorted(d.glob("*.flac"))[:count] for d in sorted(root.iterdir()) if d.is_dir()
    }
    audio = {
        name: [decode_audio(path.read_bytes(), 16000) for path in paths]
        for name, paths in speakers.items()
    }
    same, different = [], []
    names = sorted(audio)
    for i, name in enumerate(names):
        clips = audio[name]
        same.extend(speaker_similarity(clips[0], 16000, c, 16000) for c in clips[1:])
        for other in names[i + 1 :]:
            different.append(speaker_similarity(clips[0], 16000, audio[other][0], 16000))
    return {"same_speaker": stats(same), "different_speakers": stats(different)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-bucket", type=int, default=30, help="book sentences per bucket")
    parser.add_argument("--beam", type=int, default=asr.BEAM_SIZE)
    parser.add_argument("--threads", type=int, default=1, help="recognizer CPU threads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    asr.BEAM_SIZE = args.beam
    asr._default = asr.Recognizer(None, args.threads)

    correct: dict[int, list[float]] = {}
    wrong: dict[int, list[float]] = {}
    rates: list[float] = []
    records: list[dict] = []
    recognized_s = audio_s = 0.0

    def run_all(source: str, texts: list[str], clips: list[np.ndarray], rate: int, into):
        """Checked together, as the batch path checks a take's texts (shared windows)."""
        nonlocal recognized_s, audio_s
        started = time.perf_counter()
        takes = check_takes(list(zip(texts, clips, strict=True)), rate)
        recognized_s += time.perf_counter() - started
        audio_s += sum(len(clip) for clip in clips) / rate
        return [
            record(source, text, take, rate, into) for text, take in zip(texts, takes, strict=True)
        ]

    def record(source: str, text: str, take, rate: int, into: dict[int, list[float]]):
        spoken = spoken_form(text, "en")
        into.setdefault(bucket_of(spoken), []).append(take.verdict.cer)
        records.append(
            {
                "source": source,
                "text": text,
                "chars": len(spoken),
                "cer": take.verdict.cer,
                "heard": take.heard,
                "seconds": len(take.samples) / rate,
            }
        )
        if source != "wrong_text" and take.verdict.cer > threshold_of(spoken):
            print(
                f"correct speech over its threshold: {take.verdict.cer:.2f} {text!r} heard "
                f"{take.heard!r}",
                flush=True,
            )
        return take, spoken

    lj = lj_clips()
    lj_rate = lj[0][2]
    for take, spoken in run_all(
        "ljspeech", [t for t, _, _ in lj], [a for _, a, _ in lj], lj_rate, correct
    ):
        rates.append(len(spoken) / (len(take.samples) / lj_rate))
    texts = pick_per_bucket(book_sentences(), args.per_bucket)
    renders, rate = piper_renders(texts)
    for take, spoken in run_all("piper", texts, renders, rate, correct):
        rates.append(len(spoken) / (len(take.samples) / rate))
    run_all("wrong_text", texts[1:] + texts[:1], renders, rate, wrong)

    results = {
        "beam_size": args.beam,
        "cer_correct": {bucket_name(b): stats(v) for b, v in sorted(correct.items())},
        "cer_wrong_text": {bucket_name(b): stats(v) for b, v in sorted(wrong.items())},
        "thresholds": [[longest, limit] for longest, limit in CER_THRESHOLDS],
        "spoken_chars_per_second": stats(rates),
        "check_s_per_audio_s": round(recognized_s / audio_s, 3),
        "speaker_similarity": librispeech_similarity(4),
    }
    if args.json:
        args.json.with_suffix(".records.json").write_text(json.dumps(records, indent=1))
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
