"""Export jobs: books as M4B, MP3, subtitles or EPUB 3 read-alongs.

Revision ID: 0006_export
Revises: 0005_accounts
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006_export"
down_revision = "0005_accounts"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), _fk("users.id"), nullable=False),
        sa.Column("book_id", sa.String(32), _fk("books.id"), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("voice_id", sa.String(128), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("chapter_ids", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_index("ix_export_jobs_user_id", "export_jobs", ["user_id"])
    op.create_index("ix_export_jobs_book_id", "export_jobs", ["book_id"])
    op.create_index("ix_export_jobs_status_created", "export_jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("export_jobs")
