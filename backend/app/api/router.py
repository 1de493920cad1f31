"""Every route module of the app, in one list: add a new module here."""

from fastapi import APIRouter

api_router = APIRouter()

# Each routes module exposes `router`; include it below.
# from app.api.routes import books
# api_router.include_router(books.router)
