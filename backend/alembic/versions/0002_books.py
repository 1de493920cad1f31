"""Books: books, covers, chapters, paragraphs, sentences, reading progress.

Revision ID: 0002_books
Revises: 0001_core
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002_books"
down_revision = "0001_core"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "books",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), _fk("users.id"), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("author", sa.String(300), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("original_file", sa.String(100), nullable=True),
        sa.Column("sentence_count", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
    )
    op.create_index("ix_books_user_id", "books", ["user_id"])

    op.create_table(
        "book_covers",
        sa.Column("book_id", sa.String(32), _fk("books.id"), primary_key=True),
        sa.Column("media_type", sa.String(32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )

    op.create_table(
        "chapters",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("book_id", sa.String(32), _fk("books.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(300), nullable=False),
        sa.Column("front_matter", sa.Boolean(), nullable=False),
        sa.Column("sentence_count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("book_id", "index", name="uq_chapters_book_index"),
    )
    op.create_index("ix_chapters_book_id", "chapters", ["book_id"])

    op.create_table(
        "paragraphs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("chapter_id", sa.String(32), _fk("chapters.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
    )
    op.create_index("ix_paragraphs_chapter_index", "paragraphs", ["chapter_id", "index"])

    op.create_table(
        "sentences",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("book_id", sa.String(32), _fk("books.id"), nullable=False),
        sa.Column("chapter_id", sa.String(32), _fk("chapters.id"), nullable=False),
        sa.Column("paragraph_id", sa.String(32), _fk("paragraphs.id"), nullable=False),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_sentences_chapter_position", "sentences", ["chapter_id", "position"])
    op.create_index("ix_sentences_book_id", "sentences", ["book_id"])
    op.create_index("ix_sentences_paragraph_id", "sentences", ["paragraph_id"])

    op.create_table(
        "reading_progress",
        sa.Column("user_id", sa.String(32), _fk("users.id"), primary_key=True),
        sa.Column("book_id", sa.String(32), _fk("books.id"), primary_key=True),
        sa.Column("chapter_id", sa.String(32), _fk("chapters.id"), nullable=False),
        sa.Column("sentence_id", sa.String(32), _fk("sentences.id"), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reading_progress")
    op.drop_table("sentences")
    op.drop_table("paragraphs")
    op.drop_table("chapters")
    op.drop_table("book_covers")
    op.drop_table("books")
