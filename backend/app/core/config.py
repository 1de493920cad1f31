"""All backend settings, read once from the environment (pydantic-settings)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    data_dir: Path = Field(default=Path("./data"), alias="OWNVOICE_DATA_DIR")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    host: str = Field(default="0.0.0.0", alias="OWNVOICE_HOST")
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
    max_voice_upload_bytes: int = 25 * 1024 * 1024
    max_book_upload_bytes: int = 50 * 1024 * 1024
    audio_cache_max_bytes: int = Field(default=5 * 1024**3, alias="OWNVOICE_AUDIO_CACHE_MAX_BYTES")
    # Sentences per POST /generate/batch of a render job (the inference service takes 1..32).
    render_batch_size: int = Field(default=8, ge=1, le=32, alias="OWNVOICE_RENDER_BATCH_SIZE")
    # EPUB zip-bomb limits: what an archive may unpack to, how many files, how compressed.
    max_book_uncompressed_bytes: int = 200 * 1024 * 1024
    max_book_archive_members: int = 5000
    max_book_compression_ratio: float = 100.0
    max_book_member_bytes: int = 16 * 1024 * 1024  # any one file inside an EPUB, unpacked
    # Reading and splitting one book may take this long; past it the import is refused (422).
    book_import_timeout_s: float = Field(
        default=180.0, gt=0, alias="OWNVOICE_BOOK_IMPORT_TIMEOUT_S")
    # Text to split and store per book (about three times War and Peace): bounds import CPU time.
    max_book_text_chars: int = 10_000_000

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
