"""Services raise domain errors (app.services.errors), never HTTP; one handler answers each in
the shape of the API surface it came in on. And the layering rules that keep one home for
each rule: no route module imports another, stock voices are told by the inference service's
listing."""

from __future__ import annotations

import ast
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from servers import serving

from app.main import install_error_handlers
from app.services.errors import DomainError, TooMany, VoiceNotFound
from app.services.speech import is_stock_voice

APP_DIR = Path(__file__).resolve().parents[1] / "app"


def _app_raising(error: DomainError) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/{path:path}")
    async def _raise(path: str) -> None:
        raise error

    return app


def test_a_voice_not_found_is_answered_in_each_surfaces_shape() -> None:
    with serving(_app_raising(VoiceNotFound("v1x", "No such voice."))) as url:
        own = httpx.post(f"{url}/api/tts")
        eleven = httpx.post(f"{url}/v1/text-to-speech/v1x")
        openai = httpx.post(f"{url}/v1/audio/speech")
    assert (own.status_code, own.json()) == (404, {"detail": "No such voice."})
    assert (eleven.status_code, eleven.json()) == (
        404,
        {
            "detail": {
                "status": "voice_not_found",
                "message": "A voice with id 'v1x' was not found.",
            }
        },
    )
    assert (openai.status_code, openai.json()) == (
        404,
        {
            "error": {
                "message": "No such voice.",
                "type": "not_found_error",
                "param": None,
                "code": "not_found",
            }
        },
    )


def test_a_domain_error_keeps_its_code_and_retry_after() -> None:
    error = TooMany("Too many streams: let one finish.", code="too_many", retry_after=5)
    with serving(_app_raising(error)) as url:
        own = httpx.post(f"{url}/api/tts")
    assert own.status_code == 429 and own.headers["retry-after"] == "5"
    assert own.json() == {"detail": "Too many streams: let one finish.", "code": "too_many"}


def _modules(folder: Path) -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text())) for path in sorted(folder.rglob("*.py"))]


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_services_never_speak_http() -> None:
    for path, tree in _modules(APP_DIR / "services"):
        assert "fastapi.HTTPException" not in _imported(tree), path


def test_route_modules_never_import_each_other() -> None:
    for path, tree in _modules(APP_DIR / "api" / "routes"):
        imported = _imported(tree)
        assert not [n for n in imported if n.startswith(("app.api.routes", "."))], path


@pytest.mark.parametrize(
    ("voice_id", "listing", "stock"),
    [
        ("narrator", [{"voice_id": "narrator"}], True),  # listed: stock, whatever its name
        ("stock-nobody", [{"voice_id": "stock-joe"}], False),  # unlisted: not stock
        ("stock-joe", None, True),  # no listing to be had: the service's id form
        ("narrator", None, False),
    ],
)
def test_the_inference_services_listing_decides_what_is_a_stock_voice(
    voice_id: str, listing: list[dict[str, str]] | None, stock: bool
) -> None:
    assert is_stock_voice(voice_id, listing) is stock
