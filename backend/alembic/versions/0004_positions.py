"""Sentence positions in document order; render jobs count the sentences they skipped.

Books imported before this revision have book-wide `position` values that step by more than
one inside a paragraph (n, n+2, n+4 ...) and overlap the next paragraph's, so anything
ordered by `position` interleaved paragraphs. This renumbers every book's sentences
0, 1, 2 ... in document order (chapter index, paragraph index, sentence index). Sentence ids
are kept, so reading progress and audio-cache entries (keyed by text) stay valid.

`render_jobs.skipped`: sentences a job could not speak (nothing speakable in them) and went
past, so that one bad sentence never fails a job.

Revision ID: 0004_positions
Revises: 0003_render_jobs
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0004_positions"
down_revision = "0003_render_jobs"
branch_labels = None
depends_on = None

UPDATE_BATCH = 5000

_books = sa.table("books", sa.column("id", sa.String))
_chapters = sa.table(
    "chapters",
    sa.column("id", sa.String),
    sa.column("book_id", sa.String),
    sa.column("index", sa.Integer),
)
_paragraphs = sa.table("paragraphs", sa.column("id", sa.String), sa.column("index", sa.Integer))
_sentences = sa.table(
    "sentences",
    sa.column("id", sa.String),
    sa.column("book_id", sa.String),
    sa.column("chapter_id", sa.String),
    sa.column("paragraph_id", sa.String),
    sa.column("index", sa.Integer),
    sa.column("position", sa.Integer),
)


def _document_order(connection: sa.Connection, book_id: str) -> list[str]:
    """The book's sentence ids in reading order."""
    query = (
        sa.select(_sentences.c.id)
        .select_from(
            _sentences.join(_chapters, _chapters.c.id == _sentences.c.chapter_id).join(
                _paragraphs, _paragraphs.c.id == _sentences.c.paragraph_id
            )
        )
        .where(_sentences.c.book_id == book_id)
        .order_by(_chapters.c.index, _paragraphs.c.index, _sentences.c.index, _sentences.c.id)
    )
    return list(connection.scalars(query))


def renumber_positions(connection: sa.Connection) -> None:
    update = (
        sa.update(_sentences)
        .where(_sentences.c.id == sa.bindparam("sentence_id"))
        .values(position=sa.bindparam("new_position"))
    )
    for book_id in list(connection.scalars(sa.select(_books.c.id))):
        ids = _document_order(connection, book_id)
        for start in range(0, len(ids), UPDATE_BATCH):
            connection.execute(
                update,
                [
                    {"sentence_id": sentence_id, "new_position": start + offset}
                    for offset, sentence_id in enumerate(ids[start : start + UPDATE_BATCH])
                ],
            )


def upgrade() -> None:
    renumber_positions(op.get_bind())
    with op.batch_alter_table("render_jobs") as batch:
        batch.add_column(sa.Column("skipped", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    # Positions stay in document order: the old numbering was a bug, not a format.
    with op.batch_alter_table("render_jobs") as batch:
        batch.drop_column("skipped")
