"""Render jobs: chapters or books rendered ahead into the audio cache.

Revision ID: 0003_render_jobs
Revises: 0002_books
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0003_render_jobs"
down_revision = "0002_books"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def _fk(target: str) -> sa.ForeignKey:
    return sa.ForeignKey(target, ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "render_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("user_id", sa.String(32), _fk("users.id"), nullable=False),
        sa.Column("book_id", sa.String(32), _fk("books.id"), nullable=False),
        sa.Column("chapter_id", sa.String(32), _fk("chapters.id"), nullable=True),
        sa.Column("voice_id", sa.String(128), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("cached", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("finished_at", TZ, nullable=True),
    )
    op.create_index("ix_render_jobs_user_id", "render_jobs", ["user_id"])
    op.create_index("ix_render_jobs_book_id", "render_jobs", ["book_id"])
    op.create_index("ix_render_jobs_status_created", "render_jobs", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("render_jobs")
