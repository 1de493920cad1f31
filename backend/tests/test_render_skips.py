"""One bad sentence never fails a render job: the real app server and inference service (Piper
stock voice) render a chapter that holds a sentence with nothing speakable in it, as books
imported before unspeakable fragments were joined to their neighbours do (Alice had a lone
closing quote). The job skips it, counts it in `skipped`, renders the rest and ends `done`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import database
import pytest
from conftest import create_user
from servers import AppServer, start_app
from test_renders import import_book, render, sentences, tts, unique, wait_for

BATCH_SIZE = 2  # the bad sentence shares a batch with a good one
STORY = (
    "# Down the hole\n\n"
    "Alice sat by the river. Her sister read a book.\n\n"
    "It had no pictures in it. The day was hot.\n\n"
    "# The pool\n\nCuriouser and curiouser.\n"
)


@pytest.fixture(scope="module")
def skip_server(app_on_inference: Callable[..., AppServer]) -> AppServer:
    return app_on_inference("render-skips", OWNVOICE_RENDER_BATCH_SIZE=str(BATCH_SIZE))


def store_unspeakable(server: AppServer, book: dict, text: str, replaces: str) -> None:
    """Turn one stored sentence into `text`, as the old importer stored a lone quote."""
    changed = database.execute(
        server.data_dir,
        "UPDATE sentences SET text = :text WHERE book_id = :book AND text = :old",
        text=text,
        book=book["id"],
        old=replaces,
    )
    assert changed == 1


def test_a_sentence_with_nothing_to_say_is_skipped_and_the_job_is_done(
    skip_server: AppServer,
) -> None:
    with create_user(skip_server, unique("skipper")) as client:
        book = import_book(client, STORY, "Skips")
        first = book["chapters"][0]
        store_unspeakable(skip_server, book, "\u201d", "Her sister read a book.")
        texts = sentences(client, book, first)
        assert texts == [
            "Alice sat by the river.",
            "\u201d",
            "It had no pictures in it.",
            "The day was hot.",
        ]

        created = render(client, book, voiceId="stock-joe", chapterId=first["id"])
        assert created.status_code == 202, created.text
        job = wait_for(client, created.json()["id"])
        assert (job["status"], job["error"]) == ("done", None), job
        assert (job["total"], job["done"], job["skipped"]) == (4, 3, 1), job
        for text in ("Alice sat by the river.", "It had no pictures in it.", "The day was hot."):
            assert tts(client, text, "stock-joe", 1.0).headers["x-cache"] == "hit", text

        # The book's other chapter renders as before: nothing skipped.
        other = render(client, book, voiceId="stock-joe", chapterId=book["chapters"][1]["id"])
        clean = wait_for(client, other.json()["id"])
        assert (clean["status"], clean["done"], clean["skipped"]) == ("done", 1, 0), clean


def test_a_job_of_only_unspeakable_sentences_is_done_with_all_skipped(
    skip_server: AppServer,
) -> None:
    with create_user(skip_server, unique("silent")) as client:
        book = import_book(client, STORY, "Silent")
        store_unspeakable(skip_server, book, "* * *", "Curiouser and curiouser.")
        created = render(client, book, voiceId="stock-joe", chapterId=book["chapters"][1]["id"])
        job = wait_for(client, created.json()["id"])
        assert (job["status"], job["total"], job["done"], job["skipped"]) == ("done", 1, 0, 1), job


def test_a_service_that_is_gone_still_fails_the_job(tmp_path: Path) -> None:
    """Skipping is for sentences the service refuses, never for a service that is not there
    (once the job's patience for the service to come back is spent)."""
    offline = start_app(tmp_path / "data", OWNVOICE_RENDER_READY_PATIENCE_SECONDS="1")
    try:
        with create_user(offline, unique("gone")) as client:
            book = import_book(client, STORY, "Gone")
            created = render(client, book, voiceId="stock-joe").json()["id"]
            job = wait_for(client, created, timeout=30)
            assert (job["status"], job["skipped"]) == ("failed", 0), job
            assert job["error"].startswith("The inference service is not reachable")
    finally:
        offline.stop()
