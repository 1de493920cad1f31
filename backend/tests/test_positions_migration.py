"""Migration 0004_positions repairs books stored with the old, interleaving `position` numbers.

The database is built the way the old importer left it: Alice imported at revision 0003 with
positions that step n, n+2, n+4 ... inside a paragraph (the bug), a reading position and a
render job. After the upgrade the real app server must serve every chapter in document order,
with the same sentence ids, and the saved reading position must still be where it was.
"""

from __future__ import annotations

from pathlib import Path

import database
import sqlalchemy as sa
from alembic.config import Config
from books_fixtures import ALICE_EPUB
from servers import start_app

from alembic import command
from app.core.db import make_engine
from app.core.security import hash_password
from app.main import BACKEND_DIR, run_migrations
from app.models.user import new_id, utcnow
from app.services.books.epub import parse_epub
from app.services.books.store import book_rows

PASSWORD = "password-for-the-old-library"


def old_positions(sentences: list[dict]) -> list[int]:
    """The numbering the importer wrote before 0004: inside a paragraph, the k-th sentence got
    (sentences stored before it) + 2k, so paragraphs overlapped."""
    positions, first, paragraph = [], 0, None
    for count, row in enumerate(sentences):
        if row["paragraph_id"] != paragraph:
            first, paragraph = count, row["paragraph_id"]
        positions.append(first + 2 * row["index"])
    return positions


def upgrade_to(engine: sa.Engine, revision: str) -> None:
    config = Config(str(BACKEND_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(BACKEND_DIR / "alembic"))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def store_old_library(engine: sa.Engine) -> tuple[str, dict, list[dict]]:
    """Alice as the old importer stored it; (user name, book rows, sentence rows in order)."""
    rows = book_rows(parse_epub(ALICE_EPUB))
    sentences = [
        dict(row, position=p)
        for row, p in zip(rows.sentences, old_positions(rows.sentences), strict=True)
    ]
    assert len({row["position"] for row in sentences}) < len(sentences), "no overlap to repair"
    meta = sa.MetaData()
    meta.reflect(engine)
    user_id, now = new_id(), utcnow()
    with engine.begin() as db:
        db.execute(
            meta.tables["users"].insert(),
            [
                {
                    "id": user_id,
                    "username": "old-reader",
                    "password_hash": hash_password(PASSWORD),
                    "is_admin": False,
                    "created_at": now,
                }
            ],
        )
        db.execute(
            meta.tables["books"].insert(),
            [
                {
                    "id": rows.book_id,
                    "user_id": user_id,
                    "title": "Alice",
                    "language": "en",
                    "source_format": "epub",
                    "sentence_count": len(sentences),
                    "created_at": now,
                }
            ],
        )
        db.execute(meta.tables["chapters"].insert(), rows.chapters)
        db.execute(meta.tables["paragraphs"].insert(), rows.paragraphs)
        db.execute(meta.tables["sentences"].insert(), sentences)
        saved = sentences[len(sentences) // 2]
        db.execute(
            meta.tables["reading_progress"].insert(),
            [
                {
                    "user_id": user_id,
                    "book_id": rows.book_id,
                    "chapter_id": saved["chapter_id"],
                    "sentence_id": saved["id"],
                    "updated_at": now,
                }
            ],
        )
        db.execute(
            meta.tables["render_jobs"].insert(),
            [
                {
                    "id": new_id(),
                    "user_id": user_id,
                    "book_id": rows.book_id,
                    "chapter_id": None,
                    "voice_id": "stock-joe",
                    "speed": 1.0,
                    "status": "done",
                    "total": len(sentences),
                    "done": len(sentences),
                    "cached": 0,
                    "created_at": now,
                }
            ],
        )
    return user_id, {"id": rows.book_id, "saved": saved}, rows.sentences


def test_old_positions_are_renumbered_in_document_order_keeping_ids(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    engine = make_engine(database.url_for(data_dir))
    upgrade_to(engine, "0003_render_jobs")
    _, book, in_order = store_old_library(engine)

    run_migrations(engine)  # what the app server does at start: up to the newest revision
    with engine.connect() as db:
        stored = dict(
            db.execute(
                sa.text("SELECT id, position FROM sentences WHERE book_id = :b"), {"b": book["id"]}
            ).all()
        )
        skipped = db.execute(sa.text("SELECT skipped FROM render_jobs")).scalars().all()
    engine.dispose()
    assert [stored[row["id"]] for row in in_order] == list(range(len(in_order)))
    assert skipped == [0]

    server = start_app(data_dir)
    try:
        with server.client() as client:
            login = client.post(
                "/api/auth/login", json={"username": "old-reader", "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            detail = client.get(f"/api/books/{book['id']}").json()
            served = []
            for chapter in detail["chapters"]:
                body = client.get(f"/api/books/{book['id']}/chapters/{chapter['id']}").json()
                paragraph_ids = [p["id"] for p in body["paragraphs"]]
                assert len(paragraph_ids) == len(set(paragraph_ids)), chapter["title"]
                served += [s["id"] for p in body["paragraphs"] for s in p["sentences"]]
            progress = client.get(f"/api/books/{book['id']}/progress").json()
    finally:
        server.stop()
    assert served == [row["id"] for row in in_order]
    assert progress["sentence_id"] == book["saved"]["id"]
