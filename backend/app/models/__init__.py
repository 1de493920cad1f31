"""ORM models. Import every model module here so Alembic sees the whole metadata."""

from app.core.db import Base

__all__ = ["Base"]
