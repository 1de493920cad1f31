"""All backend settings, read once from the environment (pydantic-settings)."""

from __future__ import annotations

import socket
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("./data"), alias="OWNVOICE_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    # Loopback by default: exposing the app is a choice (OWNVOICE_HOST=0.0.0.0), ideally
    # behind HTTPS; README "Limits and security".
    host: str = Field(default="127.0.0.1", alias="OWNVOICE_HOST")
    port: int = Field(default=8080, alias="OWNVOICE_PORT")
    inference_url: str = Field(default="http://127.0.0.1:8000", alias="OWNVOICE_INFERENCE_URL")
    inference_token: str | None = Field(default=None, alias="OWNVOICE_INFERENCE_TOKEN")
    admin_username: str = Field(default="admin", alias="OWNVOICE_ADMIN_USERNAME")
    admin_password: str | None = Field(default=None, alias="OWNVOICE_ADMIN_PASSWORD")
    admin_api_key: str | None = Field(default=None, alias="OWNVOICE_ADMIN_API_KEY")
    elevenlabs_api_key: str | None = Field(default=None, alias="ELEVENLABS_API_KEY")
    elevenlabs_base_url: str = Field(
        default="https://api.elevenlabs.io", alias="ELEVENLABS_BASE_URL"
    )
    frontend_dist: Path = Field(
        default=Path(__file__).resolve().parents[3] / "frontend" / "dist",
        alias="OWNVOICE_FRONTEND_DIST",
    )
    secure_cookies: bool = Field(default=False, alias="OWNVOICE_SECURE_COOKIES")
    # Request bodies (see app/api/body_limit.py): JSON and every route without a larger class;
    # requests without credentials get the anonymous cap, whatever the route.
    max_json_body_bytes: int = Field(
        default=1024 * 1024, ge=1, alias="OWNVOICE_MAX_JSON_BODY_BYTES"
    )
    max_anonymous_body_bytes: int = Field(
        default=64 * 1024, ge=1, alias="OWNVOICE_MAX_ANONYMOUS_BODY_BYTES"
    )
    # Audio streams one user may have open at once, and render jobs queued or running.
    max_streams_per_user: int = Field(default=4, ge=1, alias="OWNVOICE_MAX_STREAMS_PER_USER")
    max_render_jobs_per_user: int = Field(
        default=10, ge=1, alias="OWNVOICE_MAX_RENDER_JOBS_PER_USER"
    )
    # The address people open (e.g. https://books.example.com): an allowed Origin, and
    # https here means Secure cookies.
    public_url: str | None = Field(default=None, alias="OWNVOICE_PUBLIC_URL")
    # Reverse proxies (addresses or networks, comma-separated, "*" for any) whose
    # X-Forwarded-For/-Proto are believed; unset: those headers are ignored.
    trusted_proxies: str | None = Field(default=None, alias="OWNVOICE_TRUSTED_PROXIES")
    max_voice_upload_bytes: int = 25 * 1024 * 1024
    max_book_upload_bytes: int = 50 * 1024 * 1024
    audio_cache_max_bytes: int = Field(default=5 * 1024**3, alias="OWNVOICE_AUDIO_CACHE_MAX_BYTES")
    # Sentences per POST /generate/batch of a render job (the inference service takes 1..32).
    render_batch_size: int = Field(default=8, ge=1, le=32, alias="OWNVOICE_RENDER_BATCH_SIZE")
    # A render or export job's batches in flight per inference replica (app.services.renders).
    render_batches_per_replica: int = Field(
        default=1, ge=1, le=8, alias="OWNVOICE_RENDER_BATCHES_PER_REPLICA"
    )
    # How long a render job waits for the inference service to be up and loaded (it may be
    # starting next to the app server, or restarting after a crash) before it fails.
    render_ready_patience_s: float = Field(
        default=600.0, ge=0, alias="OWNVOICE_RENDER_READY_PATIENCE_SECONDS"
    )
    # Several app servers on one data directory: at start, leave temporary files younger than
    # this (and half-imported book rows) alone, as another app server's work in flight (0: one
    # app server, everything left at start is a crash's).
    orphan_min_age_s: float = Field(default=0.0, ge=0, alias="OWNVOICE_ORPHAN_MIN_AGE_SECONDS")
    # How long a running render or export job stays claimed by its app server without a renewal
    # (renewed every third of it): after a crash, another app server (or this one, restarted)
    # takes the job over this long after the last renewal (docs/deploy.md). The same app server
    # restarted takes its own jobs back at once (see `replica`). An open audio stream counted
    # against its user's limit is held under a lease as long.
    job_lease_s: float = Field(default=30.0, ge=0.3, le=3600, alias="OWNVOICE_JOB_LEASE_SECONDS")
    # This app server's name in job leases, the same across its restarts (default host:port,
    # which one process at a time can hold: the port is bound before the app starts).
    # Left empty (an unset variable in a compose file), it is the default.
    replica_id: str | None = Field(
        default=None, max_length=40, pattern=r"^[^/]*$", alias="OWNVOICE_REPLICA_ID"
    )
    # Silence in exported audiobooks, in seconds: after a sentence, a paragraph, a chapter.
    export_sentence_pause_s: float = Field(
        default=0.4, ge=0, le=10, alias="OWNVOICE_EXPORT_SENTENCE_PAUSE_S"
    )
    export_paragraph_pause_s: float = Field(
        default=0.9, ge=0, le=10, alias="OWNVOICE_EXPORT_PARAGRAPH_PAUSE_S"
    )
    export_chapter_pause_s: float = Field(
        default=2.0, ge=0, le=30, alias="OWNVOICE_EXPORT_CHAPTER_PAUSE_S"
    )
    # Exports: disk space that must stay free once an export is written (it is refused, 507,
    # when its estimated size would eat into this), and the space one user's exports may take.
    export_reserve_bytes: int = Field(
        default=512 * 1024**2, ge=0, alias="OWNVOICE_EXPORT_RESERVE_BYTES"
    )
    export_quota_bytes: int = Field(default=10 * 1024**3, ge=0, alias="OWNVOICE_EXPORT_QUOTA_BYTES")
    # EPUB zip-bomb limits: what an archive may unpack to, how many files, how compressed.
    max_book_uncompressed_bytes: int = 200 * 1024 * 1024
    max_book_archive_members: int = 5000
    max_book_compression_ratio: float = 100.0
    max_book_member_bytes: int = 16 * 1024 * 1024  # any one file inside an EPUB, unpacked
    # Reading and splitting one book may take this long; past it the import is refused (422).
    book_import_timeout_s: float = Field(
        default=180.0, gt=0, alias="OWNVOICE_BOOK_IMPORT_TIMEOUT_S"
    )
    # Text to split and store per book (about three times War and Peace): bounds import CPU time.
    max_book_text_chars: int = 10_000_000

    @property
    def replica(self) -> str:
        """Empty when it cannot be told apart from another app server's (an ephemeral port)."""
        if self.replica_id:
            return self.replica_id
        return f"{socket.gethostname()}:{self.port}" if self.port else ""

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_data_dir / 'ownvoice.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
