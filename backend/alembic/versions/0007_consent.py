"""Consent: one record per cloned voice (who, when, how, transcript, audio hash).

Revision ID: 0007_consent
Revises: 0006_export
"""

from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0007_consent"
down_revision = "0006_export"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voice_consents",
        sa.Column(
            "voice_id",
            sa.String(32),
            sa.ForeignKey("voices.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id",
            sa.String(32),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("transcript", sa.Text(), nullable=True),
        sa.Column("speaker_similarity", sa.Float(), nullable=True),
        sa.Column("audio_sha256", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_voice_consents_user_id", "voice_consents", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_voice_consents_user_id", "voice_consents")
    op.drop_table("voice_consents")
