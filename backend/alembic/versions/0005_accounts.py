"""Accounts: a user can be disabled; reader preferences are stored per account.

Revision ID: 0005_accounts
Revises: 0004_positions
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005_accounts"
down_revision = "0004_positions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch (copy-and-move) migration would drop the users table, and
    # with foreign keys on, SQLite would cascade that to every book, voice and session.
    op.add_column(
        "users", sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_table(
        "user_preferences",
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
    op.drop_column("users", "disabled")
