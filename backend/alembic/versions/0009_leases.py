"""Leases: a running render or export job names the app server working on it, until when.

Several app servers share one database: a job is claimed by exactly one of them, which renews
its lease while it works; a job whose lease ran out (its app server was killed) is claimed
again by another (app.services.renders). Failed logins move from each app server's memory into
`login_failures`, so that the login limiter holds across app servers (app.core.security).

Revision ID: 0009_leases
Revises: 0008_quality
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0009_leases"
down_revision = "0008_quality"
branch_labels = None
depends_on = None

TABLES = ("render_jobs", "export_jobs")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("lease_owner", sa.String(64), nullable=True))
            batch.add_column(
                sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True)
            )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", sa.Float(), nullable=False),
    )
    op.create_index("ix_login_failures_scope_key_at", "login_failures", ["scope", "key", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_scope_key_at", table_name="login_failures")
    op.drop_table("login_failures")
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("lease_expires_at")
            batch.drop_column("lease_owner")
