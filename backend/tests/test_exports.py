"""Export jobs (docs/API.md, "Exports"): the real app server renders a small EPUB through the
real inference service (stock Piper voice) and writes M4B, MP3 zips and subtitles, which are
read back here with PyAV (FFmpeg) and parsed."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from datetime import timedelta
from fractions import Fraction
from pathlib import Path

import av
import httpx
import pytest
from books_fixtures import CONTAINER_XML, PNG_1X1, _epub2_opf, _ncx, _xhtml, upload
from conftest import create_user
from servers import AppServer, closed_port_url, start_app

from app.models.user import utcnow
from app.schemas.exports import ExportJob
from app.services.exports.loudness import measure
from app.services.transcode import decoded_pcm

VOICE = "stock-joe"
RATE = 24000
PAUSES = {"sentence": 0.3, "paragraph": 0.7, "chapter": 1.5}  # not the defaults: set by env
CHAPTERS = [
    (
        "one.html",
        "The Frozen Field",
        "<h1>One</h1><p>The fox ran across the field. It was cold.</p><p>Nobody saw it go.</p>",
    ),
    ("two.html", "Morning Comes", "<h1>Two</h1><p>Morning came slowly. The snow kept falling.</p>"),
]
FINISHED = ("done", "failed", "cancelled")


def story_epub() -> bytes:
    """A two-chapter EPUB 2 with an NCX, a PNG cover, a date and a description."""
    opf = _epub2_opf(CHAPTERS).replace(
        "<dc:language>de-DE</dc:language>",
        "<dc:language>en</dc:language><dc:date>1865-11-26</dc:date>"
        "<dc:description>A fox in the snow.</dc:description>",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        archive.writestr("META-INF/container.xml", CONTAINER_XML)
        archive.writestr("OEBPS/content.opf", opf)
        archive.writestr("OEBPS/toc.ncx", _ncx(CHAPTERS))
        archive.writestr("OEBPS/cover.html", _xhtml("Cover", '<img src="cover.png" alt="c"/>'))
        archive.writestr("OEBPS/cover.png", PNG_1X1)
        for name, _title, body in CHAPTERS:
            archive.writestr(f"OEBPS/{name}", _xhtml(name, body))
    return buffer.getvalue()


@pytest.fixture(scope="module")
def export_server(app_on_inference: Callable[..., AppServer]) -> AppServer:
    return app_on_inference(
        "exports",
        OWNVOICE_EXPORT_SENTENCE_PAUSE_S=str(PAUSES["sentence"]),
        OWNVOICE_EXPORT_PARAGRAPH_PAUSE_S=str(PAUSES["paragraph"]),
        OWNVOICE_EXPORT_CHAPTER_PAUSE_S=str(PAUSES["chapter"]),
    )


@pytest.fixture(scope="module")
def client(export_server: AppServer) -> Iterator[httpx.Client]:
    user = create_user(export_server, f"exporter-{uuid.uuid4().hex[:6]}")
    yield user
    user.close()


@pytest.fixture(scope="module")
def book(client: httpx.Client) -> dict:
    response = upload(client, "fox.epub", story_epub(), "application/epub+zip")
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def story(book: dict) -> list[dict]:
    """The two story chapters (the cover page is front matter)."""
    chapters = [c for c in book["chapters"] if c["title"] in {t for _, t, _ in CHAPTERS}]
    assert [c["title"] for c in chapters] == [t for _, t, _ in CHAPTERS]
    return chapters


def export(client: httpx.Client, book: dict, **body: object) -> httpx.Response:
    return client.post(f"/api/books/{book['id']}/exports", json=body)


def wait_for(client: httpx.Client, job_id: str, until: tuple[str, ...] = FINISHED) -> dict:
    """Poll until the status is in `until`; the deadline only bounds a failing test."""
    deadline = time.monotonic() + 300
    while True:
        job = client.get(f"/api/exports/{job_id}").json()
        if job["status"] in until or time.monotonic() > deadline:
            return job
        time.sleep(0.2)


def finished(client: httpx.Client, book: dict, story: list[dict], fmt: str) -> tuple[dict, bytes]:
    created = export(client, book, format=fmt, voiceId=VOICE, chapterIds=[c["id"] for c in story])
    assert created.status_code == 202, created.text
    job = wait_for(client, created.json()["id"])
    assert job["status"] == "done", job
    download = client.get(f"/api/exports/{job['id']}/download")
    assert download.status_code == 200, download.text
    assert len(download.content) == job["bytes"] > 0
    return job, download.content


def expected_timeline(client: httpx.Client, book: dict, chapter: dict) -> tuple[list, int]:
    """[(text, start, end)] in samples from the sentences' cached audio (what POST /api/tts
    answers the reader), with the configured pauses; and the chapter's length in samples."""
    detail = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").json()
    cues, at = [], 0
    flat = [(p["id"], s["text"]) for p in detail["paragraphs"] for s in p["sentences"]]
    for n, (paragraph, text) in enumerate(flat):
        pcm = client.post(
            "/api/tts",
            json={"text": text, "voiceId": VOICE, "language": "en", "format": "pcm_24000"},
        )
        assert pcm.status_code == 200 and pcm.headers.get("x-cache") == "hit", pcm.headers
        cues.append((text, at, at + len(pcm.content) // 2))
        at += len(pcm.content) // 2
        if n + 1 == len(flat):
            pause = PAUSES["chapter"]
        else:
            pause = PAUSES["paragraph" if flat[n + 1][0] != paragraph else "sentence"]
        at += round(pause * RATE)
    return cues, at


@pytest.fixture(scope="module")
def m4b(client: httpx.Client, book: dict, story: list[dict]) -> tuple[dict, bytes]:
    return finished(client, book, story, "m4b")


def decode_s16(data: bytes) -> bytes:
    """The whole audio of a file, decoded and converted to s16 mono 24 kHz."""
    return decoded_pcm(data)


# --- M4B --------------------------------------------------------------------------------


def test_m4b_has_a_chapter_mark_at_each_first_sentence(
    client: httpx.Client, book: dict, story: list[dict], m4b: tuple[dict, bytes]
) -> None:
    job, data = m4b
    assert job["file_name"].endswith(".m4b") and job["total"] == job["done"] == 5
    lengths = [expected_timeline(client, book, chapter)[1] for chapter in story]
    with av.open(io.BytesIO(data)) as container:
        marks = container.chapters()
        audio = container.streams.audio[0]
        assert audio.codec_context.name == "aac" and audio.sample_rate == RATE
        decoded = sum(frame.samples for frame in container.decode(audio))
    assert [m["metadata"]["title"] for m in marks] == [t for _, t, _ in CHAPTERS]
    starts = [m["start"] * m["time_base"] for m in marks]
    assert starts[0] == 0
    # The second chapter starts where the first one's audio and pauses end (mp4 keeps ms).
    assert abs(starts[1] - Fraction(lengths[0], RATE)) <= Fraction(1, 1000)
    # The whole file decodes: every sentence and pause, plus at most one AAC frame of padding.
    assert 0 <= decoded - sum(lengths) < 1024


def test_m4b_carries_tags_and_cover(client: httpx.Client, m4b: tuple[dict, bytes]) -> None:
    stock = {v["voice_id"]: v["name"] for v in client.get("/api/voices").json()["stock"]}
    with av.open(io.BytesIO(m4b[1])) as container:
        tags = dict(container.metadata)
        assert container.format.name.startswith("mov") and tags["major_brand"] == "M4B "
        pictures = [
            s for s in container.streams.video if s.disposition & s.disposition.attached_pic
        ]
        assert len(pictures) == 1
        cover = next(container.demux(pictures[0]))
        assert bytes(cover) == PNG_1X1
        assert container.streams.audio[0].metadata["language"] == "eng"
    assert tags["title"] == tags["album"] == "An EPUB Two Story"
    assert tags["artist"] == "Ada Tester"
    assert tags["composer"] == stock[VOICE]  # the narrator
    assert tags["date"] == "1865" and tags["description"] == "A fox in the snow."


def test_m4b_loudness_is_an_audiobooks(m4b: tuple[dict, bytes]) -> None:
    pcm = decode_s16(m4b[1])
    loudness = measure(pcm[at : at + 48000] for at in range(0, len(pcm), 48000))
    assert abs(loudness.integrated - -18.0) <= 1.0, loudness
    assert loudness.true_peak <= -1.5, loudness


def test_a_download_resumes_with_a_range(client: httpx.Client, m4b: tuple[dict, bytes]) -> None:
    job, whole = m4b
    resumed = client.get(f"/api/exports/{job['id']}/download", headers={"Range": "bytes=1000-"})
    assert resumed.status_code == 206
    assert resumed.headers["content-range"] == f"bytes 1000-{len(whole) - 1}/{len(whole)}"
    assert resumed.content == whole[1000:]


# --- MP3 and subtitles ------------------------------------------------------------------


def test_mp3_zip_has_one_tagged_mp3_per_chapter(
    client: httpx.Client, book: dict, story: list[dict]
) -> None:
    job, data = finished(client, book, story, "mp3")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        files = [archive.read(name) for name in names]
    assert names == ["01 The Frozen Field.mp3", "02 Morning Comes.mp3"]
    for n, (mp3, chapter) in enumerate(zip(files, story, strict=True), start=1):
        assert mp3[:4] == b"ID3\x04"  # ID3v2.4
        with av.open(io.BytesIO(mp3)) as container:
            tags = dict(container.metadata)
            assert container.streams.audio[0].codec_context.name.startswith("mp3")
            assert any(s.disposition & s.disposition.attached_pic for s in container.streams.video)
        assert tags["title"] == chapter["title"] and tags["album"] == "An EPUB Two Story"
        assert tags["artist"] == "Ada Tester" and tags["track"] == f"{n}/2"
        length = expected_timeline(client, book, chapter)[1]
        pcm = decode_s16(mp3)
        assert abs(len(pcm) // 2 - length) < 1152 * 2  # MP3 frames of padding
        assert measure(pcm[at : at + 48000] for at in range(0, len(pcm), 48000)).true_peak <= -1.5


CLOCK = r"(\d\d):(\d\d):(\d\d)[,.](\d\d\d)"


def _seconds(match: tuple[str, ...]) -> float:
    hours, minutes, seconds, millis = (int(x) for x in match)
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def parse_cues(text: str) -> list[tuple[str, float, float]]:
    cues = []
    for block in re.split(r"\n\n+", text.strip()):
        lines = block.splitlines()
        timing = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if timing is None:
            continue  # the WEBVTT header
        start, end = re.findall(CLOCK, lines[timing])
        cues.append(("\n".join(lines[timing + 1 :]), _seconds(start), _seconds(end)))
    return cues


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_subtitles_have_a_cue_per_sentence_on_the_audio_timeline(
    client: httpx.Client, book: dict, story: list[dict], fmt: str
) -> None:
    _job, data = finished(client, book, story, fmt)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = archive.namelist()
        texts = [archive.read(name).decode() for name in names]
    assert names == [f"01 The Frozen Field.{fmt}", f"02 Morning Comes.{fmt}"]
    if fmt == "vtt":
        assert all(text.startswith("WEBVTT\n") for text in texts)
    for text, chapter in zip(texts, story, strict=True):
        expected, _length = expected_timeline(client, book, chapter)
        cues = parse_cues(text)
        assert [cue[0] for cue in cues] == [e[0] for e in expected]
        for (_, start, end), (_, want_start, want_end) in zip(cues, expected, strict=True):
            assert abs(start - want_start / RATE) <= 0.0005
            assert abs(end - want_end / RATE) <= 0.0005


def test_epub_read_along_has_an_overlay_clip_per_sentence(
    client: httpx.Client, book: dict, story: list[dict], tmp_path: Path
) -> None:
    job, data = finished(client, book, story, "epub")
    assert job["file_name"].endswith(".epub")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert (
            archive.namelist()[0] == "mimetype"
            and archive.read("mimetype") == b"application/epub+zip"
        )
        smil = [archive.read(n).decode() for n in archive.namelist() if n.endswith(".smil")]
        audio = [n for n in archive.namelist() if n.endswith(".mp3")]
        opf = next(archive.read(n).decode() for n in archive.namelist() if n.endswith(".opf"))
    assert len(audio) == 2 and "media:narrator" in opf and "media:active-class" in opf
    clips = [re.findall(r'clipBegin="([^"]+)"', text) for text in smil]
    assert sum(len(c) for c in clips) == job["total"] == 5
    command = [shutil.which("java"), "-jar", "/usr/share/java/epubcheck.jar"]
    if command[0] is None or not Path(command[2]).exists():
        pytest.skip("epubcheck is not installed (apt epubcheck)")
    book_file = tmp_path / "read-along.epub"
    book_file.write_bytes(data)
    run = subprocess.run([*command, str(book_file)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "0 errors" in run.stdout + run.stderr, run.stdout + run.stderr


def test_epub_of_a_pasted_book_is_refused(client: httpx.Client) -> None:
    pasted = client.post(
        "/api/books", json={"title": "Pasted", "text": "One. Two.", "language": "en"}
    ).json()
    refused = export(client, pasted, format="epub", voiceId=VOICE)
    assert refused.status_code == 422 and "EPUB" in refused.json()["detail"]


# --- the job's life -----------------------------------------------------------------------


def test_deleting_an_export_removes_its_file(
    client: httpx.Client, book: dict, story: list[dict], export_server: AppServer
) -> None:
    job, _ = finished(client, book, story[1:], "srt")
    folder = export_server.data_dir / "exports" / job["id"]
    assert (folder / job["file_name"]).is_file()
    listed = client.get(f"/api/books/{book['id']}/exports").json()
    assert job["id"] in [j["id"] for j in listed]

    assert client.delete(f"/api/exports/{job['id']}").status_code == 204
    assert not folder.exists()
    assert client.get(f"/api/exports/{job['id']}").status_code == 404
    assert client.get(f"/api/exports/{job['id']}/download").status_code == 404
    listed = client.get(f"/api/books/{book['id']}/exports").json()
    assert job["id"] not in [j["id"] for j in listed]


def test_deleting_a_running_export_stops_it(tmp_path: Path) -> None:
    """With the inference service down, an export is claimed and waits for it: DELETE stops
    that wait, and the runner goes on to the next export."""
    server = start_app(
        tmp_path / "data",
        inference_url=closed_port_url(),
        OWNVOICE_RENDER_READY_PATIENCE_SECONDS="600",
    )
    try:
        with create_user(server, "waiting") as user:
            book = user.post(
                "/api/books", json={"title": "Wait", "text": "One. Two.", "language": "en"}
            ).json()
            first = export(user, book, format="m4b", voiceId=VOICE).json()
            assert wait_for(user, first["id"], ("running",))["status"] == "running"
            second = export(user, book, format="srt", voiceId=VOICE).json()
            assert user.get(f"/api/exports/{second['id']}").json()["status"] == "queued"

            assert user.delete(f"/api/exports/{first['id']}").status_code == 204
            assert user.get(f"/api/exports/{first['id']}").status_code == 404
            # The runner let go of the first one: it claims the second (which waits in turn).
            assert wait_for(user, second["id"], ("running",))["status"] == "running"
            assert not (server.data_dir / "exports" / first["id"]).exists()
    finally:
        server.stop()


def test_an_unfinished_export_cannot_be_downloaded(tmp_path: Path) -> None:
    server = start_app(tmp_path / "data", inference_url=closed_port_url())
    try:
        with create_user(server, "early") as user:
            book = user.post(
                "/api/books", json={"title": "Early", "text": "One. Two.", "language": "en"}
            ).json()
            job = export(user, book, format="vtt", voiceId=VOICE).json()
            answer = user.get(f"/api/exports/{job['id']}/download")
            assert answer.status_code == 409 and "not finished" in answer.json()["detail"]
    finally:
        server.stop()


def test_bad_requests_are_refused(
    client: httpx.Client, book: dict, export_server: AppServer
) -> None:
    assert export(client, book, format="wav", voiceId=VOICE).status_code == 422
    assert export(client, book, format="m4b").status_code == 422  # no voice
    assert export(client, book, format="m4b", voiceId=VOICE, chapterIds=[]).status_code == 422
    unknown = export(client, book, format="m4b", voiceId=VOICE, chapterIds=["nochapter"])
    assert unknown.status_code == 404 and "nochapter" in unknown.json()["detail"]
    assert export(client, {"id": "nobook"}, format="m4b", voiceId=VOICE).status_code == 404
    assert export(client, book, format="m4b", voiceId="stock-nobody").status_code == 404
    with create_user(export_server, f"stranger-{uuid.uuid4().hex[:6]}") as stranger:
        assert export(stranger, book, format="m4b", voiceId=VOICE).status_code == 404
    assert client.get("/api/exports/nosuchexport").status_code == 404


def test_eta_is_the_rendering_left_at_the_rate_so_far() -> None:
    now = utcnow()
    fields = {
        "id": "e1",
        "book_id": "b1",
        "format": "m4b",
        "voice_id": VOICE,
        "speed": 1.0,
        "status": "running",
        "total": 9,
        "done": 5,
        "cached": 1,  # 4 rendered in about 20 s: 5 s each, 4 left
        "skipped": 0,
        "bytes": 0,
        "file_name": None,
        "error": None,
        "created_at": now,
        "started_at": now - timedelta(seconds=20),
        "finished_at": None,
    }
    assert 19.5 <= ExportJob(**fields).eta_s <= 21.0
    assert ExportJob(**{**fields, "done": 1}).eta_s is None  # nothing rendered yet
    assert ExportJob(**{**fields, "status": "done"}).eta_s is None
