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
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "user_preferences",
        sa.Column(
            "user_id", sa.String(32), sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("user_preferences")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled")
