"""What was heard of rendered sentences (docs/API.md, "Verification"), through the real app
server and the real inference service: the stock Piper voice passes on its first take, the
tiny random XTTS (noise) fails every take. Render jobs count it, the cache keeps each
sentence's verdict and word timings, the book's quality report sums it, live sentences are
heard after they played, and Regenerate replaces a sentence's entry."""

from __future__ import annotations

import base64
import io
import json
import posixpath
import re
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from books_fixtures import upload
from conftest import create_user, create_user_with_voice
from cuttable_proxy import CuttableProxy
from lxml import etree
from servers import AppServer, InferenceServer, start_app_on, start_inference
from test_epub_overlay import _epubcheck_command, _thorium_reads
from test_exports import story_epub
from test_exports import wait_for as wait_for_export
from test_renders import import_book, render, tts, unique, wait_for

from app.services.transcode import decoded_pcm

SMIL = "http://www.w3.org/ns/SMIL"
OPS = "http://www.idpf.org/2007/ops"

# Chapter one: four sentences ("It was late." twice, one cache entry), chapter two: one.
STORY = (
    "# One\n\n"
    "It was late. The fox ran across the frozen field.\n\n"
    "It was late. In 1851 nobody in the village saw it go.\n\n"
    "# Two\n\n"
    "Morning came slowly over the hills.\n"
)
CLONE_STORY = "# Noise\n\nThe wind was loud.\n"
WORD = re.compile(r"\S+")


@pytest.fixture(scope="module")
def verifying(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InferenceServer]:
    """An inference service of its own with verification on (the shared one runs without it:
    the tiny model's noise would fail every take of every other test)."""
    inference = start_inference(tmp_path_factory.mktemp("quality-ai") / "ai", OWNVOICE_VERIFY="on")
    yield inference
    inference.stop()


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, verifying: InferenceServer
) -> Iterator[AppServer]:
    app = start_app_on(verifying, tmp_path_factory.mktemp("quality") / "data")
    yield app
    app.stop()


@pytest.fixture(scope="module")
def reader(server: AppServer) -> Iterator[httpx.Client]:
    client = create_user_with_voice(server, unique("reader"))
    yield client
    client.close()


def chapter_sentences(client: httpx.Client, book: dict, chapter: dict) -> list[dict]:
    detail = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").json()
    return [s for p in detail["paragraphs"] for s in p["sentences"]]


def timings(client: httpx.Client, book: dict, sentence: dict, voice: str) -> dict:
    response = client.get(
        f"/api/books/{book['id']}/sentences/{sentence['id']}/timings", params={"voiceId": voice}
    )
    assert response.status_code == 200, response.text
    return response.json()


def words_of(text: str) -> list[str]:
    """The sentence's words as a reader sees them: punctuation around them dropped."""
    return [w.strip(".,;:!?\"'()") for w in WORD.findall(text)]


def assert_timed(answer: dict, text: str, seconds: float) -> None:
    words = answer["words"]
    assert [w["word"] for w in words] == words_of(text)  # "1851" stays "1851"
    times = [t for w in words for t in (w["start"], w["end"])]
    assert times == sorted(times), words  # monotonic
    assert times[0] >= 0 and times[-1] <= seconds + 0.01, (words, seconds)
    # Every word is timed; a take that passes may still have one word in five unmatched (the
    # check passes a sentence within its character error rate, and Piper's takes vary), whose
    # times are then placed between its heard neighbours.
    unheard = [w["word"] for w in words if not w["heard"]]
    assert len(unheard) <= max(1, len(words) // 5), words
    assert [w["offset"] for w in words] == [text.index(w["word"]) for w in words]


def pcm_seconds(audio: bytes) -> float:
    return len(audio) / 2 / 24000


def heard_eventually(
    client: httpx.Client, book: dict, sentence: dict, voice: str, check: Callable[[dict], bool]
) -> dict:
    """Poll a sentence's timings until `check` holds (a live sentence is heard off the request
    path); the deadline only bounds a failing test."""
    deadline = time.monotonic() + 240
    while True:
        answer = timings(client, book, sentence, voice)
        if check(answer) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_a_render_job_counts_what_was_heard_and_caches_word_timings(
    reader: httpx.Client,
) -> None:
    book = import_book(reader, STORY, "Heard")
    first, second = book["chapters"]
    job = wait_for(
        reader, render(reader, book, voiceId="stock-joe", chapterId=first["id"]).json()["id"]
    )
    assert job["status"] == "done", job
    # "It was late." twice: one entry, two sentences heard. Piper's noise is drawn inside its
    # ONNX graph (not seedable), and once in a clean-clone run Whisper tiny misheard a correct
    # take, which was rendered again and passed: the counts must say so, sentence by sentence.
    heard = job["verification"]
    assert (heard["checked"], heard["failed"], heard["failed_sentences"]) == (4, 0, [])
    assert heard["passed_first_take"] + heard["regenerated"] == 4
    assert heard["passed_first_take"] >= 2, heard

    retaken = 0
    for sentence in chapter_sentences(reader, book, first):
        answer = timings(reader, book, sentence, "stock-joe")
        assert answer["cached"] and answer["verification"]["passed"], answer
        retaken += answer["verification"]["takes"] > 1
        played = tts(reader, sentence["text"], "stock-joe", 1.0)
        assert played.headers["x-cache"] == "hit"
        assert_timed(answer, sentence["text"], pcm_seconds(played.content))

    report = reader.get(f"/api/books/{book['id']}/quality", params={"voiceId": "stock-joe"})
    assert report.status_code == 200, report.text
    quality = report.json()
    assert retaken == heard["regenerated"]
    assert (quality["checked"], quality["passed_first_take"], quality["failed"]) == (
        4,
        heard["passed_first_take"],
        0,
    )
    one, two = quality["chapters"]
    assert (one["chapter_id"], one["checked"], one["cached"]) == (first["id"], 4, 4)
    assert (two["chapter_id"], two["checked"], two["cached"]) == (second["id"], 0, 0)
    # Another speed is another sound: nothing of it was heard.
    other = reader.get(
        f"/api/books/{book['id']}/quality", params={"voiceId": "stock-joe", "speed": 1.5}
    ).json()
    assert other["checked"] == 0


@pytest.fixture
def fresh(server: AppServer) -> Iterator[httpx.Client]:
    """A user of their own: a stock voice's cache entries are the user's, so nothing of another
    test's is cached for them."""
    client = create_user(server, unique("fresh"))
    yield client
    client.close()


# Said by the stock Piper voice, this is heard right (the render job test shows it); "The heron
# waited by the cold river." is not (a false alarm of tiny.en, which the batch path retakes).
HEARD_RIGHT = "# Heard\n\nThe fox ran across the frozen field.\n"


def test_a_live_sentence_is_heard_after_it_played(fresh: httpx.Client) -> None:
    reader = fresh
    book = import_book(reader, HEARD_RIGHT, "Live")
    (sentence,) = chapter_sentences(reader, book, book["chapters"][0])
    assert timings(reader, book, sentence, "stock-joe")["cached"] is False

    live = tts(reader, sentence["text"], "stock-joe", 1.0)
    assert live.status_code == 200 and live.headers["x-cache"] == "miss"
    answer = heard_eventually(reader, book, sentence, "stock-joe", lambda a: bool(a["words"]))
    assert answer["verification"]["checked"] and answer["verification"]["passed"], answer
    assert answer["verification"]["takes"] == 1

    again = tts(reader, sentence["text"], "stock-joe", 1.0)
    assert again.headers["x-cache"] == "hit"
    assert again.content == live.content  # heard right: kept as the listener heard it
    assert_timed(answer, sentence["text"], pcm_seconds(again.content))

    quality = reader.get(f"/api/books/{book['id']}/quality", params={"voiceId": "stock-joe"}).json()
    assert (quality["checked"], quality["passed_first_take"]) == (1, 1)


def cache_entry_of(server: AppServer, audio: bytes) -> Path:
    """The sidecar of the app server's cache entry holding `audio` (found by its bytes)."""
    for path in (server.data_dir / "audio_cache").glob("*/*.audio"):
        if path.read_bytes() == audio:
            return path.with_suffix(".json")
    raise AssertionError("no cache entry holds this audio")


def published(sidecar: Path) -> dict | None:
    """A cache entry's sidecar once the entry is visible (its audio written last), else None."""
    try:
        meta = json.loads(sidecar.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return meta if sidecar.with_suffix(".audio").exists() else None


def test_a_live_mp3_sentence_is_heard_after_it_played(
    server: AppServer, fresh: httpx.Client
) -> None:
    """Not only raw PCM: a live MP3 take is decoded and heard, and its entry keeps its MP3 with
    the verdict and the words (read from the app server's cache on disk: no API answers for
    an MP3 entry's timings, and asking for the audio again must not render it anew)."""
    text = "The fox ran across the frozen field."
    live = fresh.post(
        "/api/tts", json={"text": text, "voiceId": "stock-joe", "language": "en", "format": "mp3"}
    )
    assert live.status_code == 200 and live.headers["x-cache"] == "miss", live.text
    heard = heard_on_disk(server, live.content, "audio/mpeg")
    assert_timed(heard, text, len(decoded_pcm(live.content)) / 2 / 24000)


def heard_on_disk(server: AppServer, audio: bytes, media_type: str) -> dict:
    """The cache entry holding `audio`, once the live checker heard it: passed, its bytes kept."""
    sidecar = cache_entry_of(server, audio)
    deadline = time.monotonic() + 240
    while (heard := published(sidecar)) is None or "verification" not in heard:
        assert time.monotonic() < deadline, "the live take was never heard"
        time.sleep(0.2)
    assert heard["verification"]["checked"] and heard["verification"]["passed"], heard
    assert heard["media_type"] == media_type
    assert sidecar.with_suffix(".audio").read_bytes() == audio  # kept as it was heard
    return heard


@pytest.mark.parametrize(
    ("output_format", "media_type"),
    [("mp3_44100_128", "audio/mpeg"), ("pcm_16000", "audio/pcm")],
)
def test_a_live_take_transcoded_for_the_elevenlabs_api_is_heard_after_it_played(
    server: AppServer, fresh: httpx.Client, output_format: str, media_type: str
) -> None:
    """A take the app server transcoded for the ElevenLabs-compatible API (another rate, MP3 at
    44.1 kHz) is decoded back to 24 kHz, heard, and kept in its own format with the words."""
    text = "The fox ran across the frozen field."
    key = fresh.post("/api/keys", json={"name": output_format}).json()["key"]
    live = httpx.post(
        f"{server.url}/v1/text-to-speech/stock-joe",
        params={"output_format": output_format},
        json={"text": text, "language_code": "en"},
        headers={"xi-api-key": key},
        timeout=120,
    )
    assert live.status_code == 200, live.text
    heard = heard_on_disk(server, live.content, media_type)
    if output_format.startswith("pcm_"):
        seconds = len(live.content) / 2 / 16000
    else:
        seconds = len(decoded_pcm(live.content)) / 2 / 24000
    assert_timed(heard, text, seconds)


def test_verify_true_answers_with_a_heard_take(fresh: httpx.Client) -> None:
    reader = fresh
    book = import_book(reader, HEARD_RIGHT, "Verified")
    (sentence,) = chapter_sentences(reader, book, book["chapters"][0])
    answer = reader.post(
        "/api/tts",
        json={
            "text": sentence["text"],
            "voiceId": "stock-joe",
            "language": "en",
            "format": "pcm_24000",
            "verify": True,
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["x-cache"] == "hit"  # rendered and heard before it was answered
    heard = timings(reader, book, sentence, "stock-joe")  # at once: no waiting
    assert heard["verification"]["passed"] and heard["verification"]["takes"] == 1
    assert_timed(heard, sentence["text"], pcm_seconds(answer.content))


def test_noise_fails_every_take_is_reported_and_regenerate_replaces_it(
    reader: httpx.Client,
) -> None:
    book = import_book(reader, CLONE_STORY, "Noise")
    (chapter,) = book["chapters"]
    (sentence,) = chapter_sentences(reader, book, chapter)
    job = wait_for(
        reader,
        render(reader, book, voiceId="custom_user_voice", chapterId=chapter["id"]).json()["id"],
    )
    assert job["status"] == "done", job
    verification = job["verification"]
    assert (verification["checked"], verification["failed"]) == (1, 1), verification
    (failed,) = verification["failed_sentences"]
    assert (failed["sentence_id"], failed["text"], failed["takes"]) == (
        sentence["id"],
        sentence["text"],
        3,
    )
    assert failed["cer"] > 0.35

    quality = reader.get(
        f"/api/books/{book['id']}/quality", params={"voiceId": "custom_user_voice"}
    ).json()
    assert quality["failed"] == 1
    assert [s["sentence_id"] for s in quality["chapters"][0]["failed_sentences"]] == [
        sentence["id"]
    ]

    before = tts(reader, sentence["text"], "custom_user_voice", 1.0)
    assert before.headers["x-cache"] == "hit"
    again = reader.post(
        f"/api/books/{book['id']}/sentences/{sentence['id']}/regenerate",
        json={"voiceId": "custom_user_voice"},
    )
    assert again.status_code == 200, again.text
    assert again.json()["verification"]["regenerated"] is True
    after = tts(reader, sentence["text"], "custom_user_voice", 1.0)
    assert after.headers["x-cache"] == "hit"
    assert after.content != before.content  # a new seed: another take replaced the entry

    missing = reader.post(
        f"/api/books/{book['id']}/sentences/nope/regenerate", json={"voiceId": "stock-joe"}
    )
    assert missing.status_code == 404


def test_a_live_take_that_fails_is_rendered_again_into_the_cache(reader: httpx.Client) -> None:
    book = import_book(reader, "# Live noise\n\nThe rain kept on falling.\n", "Live noise")
    (sentence,) = chapter_sentences(reader, book, book["chapters"][0])
    live = tts(reader, sentence["text"], "custom_user_voice", 1.0)
    assert live.headers["x-cache"] == "miss"
    answer = heard_eventually(
        reader, book, sentence, "custom_user_voice", lambda a: a["verification"] is not None
    )
    # Noise fails: the batch path took it again (best of its takes), marked as a regeneration.
    assert answer["verification"]["regenerated"] is True, answer
    assert answer["verification"]["takes"] == 3 and answer["verification"]["passed"] is False
    again = tts(reader, sentence["text"], "custom_user_voice", 1.0)
    assert again.headers["x-cache"] == "hit" and again.content != live.content


def test_an_epub_export_of_heard_sentences_highlights_each_word(
    reader: httpx.Client, tmp_path: Path
) -> None:
    """The export renders the book through the verified path, so every sentence's cache entry
    has word timings: the read-along wraps each word inside its sentence and plays each
    sentence as a <seq> of word <par>s, clips in order inside the sentence's; EPUBCheck
    finds no error."""
    book = upload(reader, "fox.epub", story_epub(), "application/epub+zip").json()
    story = [c for c in book["chapters"] if not c["front_matter"]]
    created = reader.post(
        f"/api/books/{book['id']}/exports",
        json={"format": "epub", "voiceId": "stock-joe", "chapterIds": [c["id"] for c in story]},
    )
    assert created.status_code == 202, created.text
    job = wait_for_export(reader, created.json()["id"])
    assert job["status"] == "done", (job["status"], job["error"])
    data = reader.get(f"/api/exports/{job['id']}/download").content
    texts = [s["text"] for c in story for s in chapter_sentences(reader, book, c)]
    sequences = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pages = {
            posixpath.basename(n): etree.fromstring(archive.read(n))
            for n in archive.namelist()
            if n.endswith(".html")
        }
        for name in sorted(n for n in archive.namelist() if n.endswith(".smil")):
            body = etree.fromstring(archive.read(name)).find(f"{{{SMIL}}}body")
            sequences += list(body)
    assert [etree.QName(s).localname for s in sequences] == ["seq"] * len(texts)
    for seq, text in zip(sequences, texts, strict=True):
        page, _, sentence_id = seq.get(f"{{{OPS}}}textref").partition("#")
        sentence = pages[posixpath.basename(page)].find(f".//*[@id='{sentence_id}']")
        assert re.sub(r"\s+", " ", "".join(sentence.itertext())).strip() == text
        clips = []
        for par in seq:
            word_id = par.find(f"{{{SMIL}}}text").get("src").partition("#")[2]
            word = sentence.find(f".//*[@id='{word_id}']")
            assert word is not None, word_id
            audio = par.find(f"{{{SMIL}}}audio")
            clips.append((float(audio.get("clipBegin")[:-1]), float(audio.get("clipEnd")[:-1])))
        assert len(clips) == len(words_of(text))
        times = [t for clip in clips for t in clip]
        assert times == sorted(times) and all(b < e for b, e in clips), clips
    book_file = tmp_path / "read-along.epub"
    book_file.write_bytes(data)
    # Thorium Reader's parser reads the same word clips, each inside its sentence
    thorium = [clip for page in _thorium_reads(book_file)["spine"] for clip in page["clips"] or []]
    assert len(thorium) == sum(len(words_of(text)) for text in texts)
    assert all(clip["within"] is not None for clip in thorium)
    command = _epubcheck_command()
    if command is None:
        pytest.skip("epubcheck is not installed (apt epubcheck)")
    run = subprocess.run([*command, str(book_file)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "0 errors" in run.stdout + run.stderr, run.stdout + run.stderr


TIMED = ["The fox ran across the frozen field.", "Morning came slowly over the hills."]


def test_with_timestamps_answers_from_the_cached_word_timings(
    tmp_path_factory: pytest.TempPathFactory, verifying: InferenceServer
) -> None:
    """Sentences heard already are not listened to again: with the inference service gone,
    the ElevenLabs timestamp routes still answer, their times the cache entries' words."""
    proxy = CuttableProxy(verifying.url)
    app = start_app_on(verifying, tmp_path_factory.mktemp("timed") / "data", via=proxy.url)
    try:
        with create_user(app, unique("timed")) as reader:
            key = reader.post("/api/keys", json={"name": "timed"}).json()["key"]
            book = import_book(reader, "# Timed\n\n" + " ".join(TIMED) + "\n", "Timed")
            sentences = chapter_sentences(reader, book, book["chapters"][0])
            assert [s["text"] for s in sentences] == TIMED
            heard = [verified_tts(reader, text) for text in TIMED]
            words = [timings(reader, book, s, "stock-joe")["words"] for s in sentences]
            proxy.down()  # no /align (nor anything else of the inference service) from here

            text = "  ".join(TIMED)
            url = f"{app.url}/v1/text-to-speech/stock-joe"
            body = {"text": text, "language_code": "en"}
            whole = httpx.post(
                f"{url}/with-timestamps",
                params={"output_format": "pcm_24000"},
                headers={"xi-api-key": key},
                json=body,
                timeout=60,
            )
            assert whole.status_code == 200, whole.text
            answer = whole.json()
            assert base64.b64decode(answer["audio_base64"]) == b"".join(h.content for h in heard)
            alignment = answer["alignment"]
            assert "".join(alignment["characters"]) == text
            # Each word's first and last characters start and end when the cache says it is said.
            offset, at = 0.0, 0
            for sentence, said, audio in zip(TIMED, words, heard, strict=True):
                at = text.index(sentence, at)
                for word in said:
                    first = at + word["offset"]
                    last = first + len(word["word"]) - 1
                    assert alignment["character_start_times_seconds"][first] == round(
                        offset + word["start"], 3
                    )
                    assert alignment["character_end_times_seconds"][last] == round(
                        offset + word["end"], 3
                    )
                offset += pcm_seconds(audio.content)

            streamed = httpx.post(
                f"{url}/stream/with-timestamps",
                params={"output_format": "pcm_24000"},
                headers={"xi-api-key": key},
                json=body,
                timeout=60,
            )
            assert streamed.status_code == 200, streamed.text
            chunks = [json.loads(line)["alignment"] for line in streamed.text.splitlines()]
            assert len(chunks) == 2  # one per sentence, together the same timings
            assert {k: [x for c in chunks for x in c[k]] for k in alignment} == alignment
    finally:
        app.stop()
        proxy.down()


def verified_tts(client: httpx.Client, text: str) -> httpx.Response:
    """A sentence rendered and heard before it is answered, as the timestamp routes ask for it
    (raw PCM, English, speed 1): its cache entry has word timings."""
    answer = client.post(
        "/api/tts",
        json={
            "text": text,
            "voiceId": "stock-joe",
            "language": "en",
            "format": "pcm_24000",
            "verify": True,
        },
    )
    assert answer.status_code == 200 and answer.headers["x-cache"] == "hit", answer.text
    return answer
