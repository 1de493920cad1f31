"""Quality: a render job keeps the verification summary of the sentences it rendered.

Revision ID: 0008_quality
Revises: 0007_consent
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0008_quality"
down_revision = "0007_consent"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("render_jobs", sa.Column("verification", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("render_jobs", "verification")
