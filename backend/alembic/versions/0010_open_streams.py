"""Open audio streams: each user's limit on streams open at once moves from each app server's
memory into `open_streams`, so that it holds across app servers sharing the database
(app.core.limits.StreamLimiter).

Revision ID: 0010_open_streams
Revises: 0009_leases
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0010_open_streams"
down_revision = "0009_leases"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "open_streams",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_open_streams_user_id", "open_streams", ["user_id"])
    op.create_index("ix_open_streams_owner", "open_streams", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_open_streams_owner", table_name="open_streams")
    op.drop_index("ix_open_streams_user_id", table_name="open_streams")
    op.drop_table("open_streams")
