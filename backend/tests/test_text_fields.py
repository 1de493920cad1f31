"""Names, ids and texts that a database cannot store, or that are never meant (a NUL, another
control character), are refused with a 422 that names the character, on SQLite and PostgreSQL
alike (PostgreSQL cannot store a NUL in text: before app.schemas.text this was a 500 there); a
NUL in the address is a 400 on both. Nothing is stored."""

from __future__ import annotations

import pytest
from audio_files import CLEAN_WAV
from conftest import create_user
from servers import AppServer

NUL = "bad\x00name"
ESCAPE = "bad\x1bname"

# (method, path, body): every request body field that is stored or looked up by.
STORED_FIELDS = [
    ("post", "/api/keys", {"name": NUL}),
    ("post", "/api/keys", {"name": ESCAPE}),
    ("post", "/api/books", {"title": NUL, "text": "Hello there.", "language": "en"}),
    ("post", "/api/books", {"title": "Fine", "text": "Hello\x00there.", "language": "en"}),
    ("patch", "/api/preferences", {"voice_id": NUL}),
    ("patch", "/api/voices/some-voice", {"name": NUL}),
    ("post", "/api/tts", {"text": "Hello.", "voiceId": NUL}),
    ("post", "/v1/audio/speech", {"model": "tts-1", "input": "Hello.", "voice": NUL}),
]


@pytest.mark.parametrize(("method", "path", "body"), STORED_FIELDS)
def test_a_control_character_in_a_stored_field_is_a_422_naming_it(
    app_server: AppServer, method: str, path: str, body: dict[str, str]
) -> None:
    with app_server.admin() as admin:
        response = admin.request(method, path, json=body)
        # OpenAI's surface answers malformed requests with 400, as OpenAI does
        assert response.status_code == (400 if path.startswith("/v1/") else 422), response.text
        assert "U+0000" in response.text or "U+001B" in response.text, response.text
        assert "remove it" in response.text
        assert NUL not in str(admin.get("/api/keys").json())
        assert all(book["title"] != NUL for book in admin.get("/api/books").json())


def test_a_control_character_in_a_username_is_refused_at_creation_and_login(
    app_server: AppServer,
) -> None:
    with app_server.admin() as admin:
        created = admin.post("/api/users", json={"username": NUL, "password": "password-123"})
        assert created.status_code == 422, created.text
    with app_server.client() as client:
        login = client.post("/api/auth/login", json={"username": NUL, "password": "x"})
        assert login.status_code == 422 and "U+0000" in login.text, login.text


def test_a_control_character_in_a_voice_name_upload_is_a_422(app_server: AppServer) -> None:
    with create_user(app_server, "text-fields-voice") as client:
        response = client.post(
            "/api/voice/upload",
            data={"name": NUL, "language": "en", "consent": "attested"},
            files={"audio": ("me.wav", CLEAN_WAV.read_bytes(), "audio/wav")},
        )
        assert response.status_code == 422, response.text
        assert "U+0000" in response.json()["detail"]
        assert client.get("/api/voices").json()["voices"] == []


@pytest.mark.parametrize(
    "address", ["/api/books/%00", "/api/renders/a%00b", "/api/books?q=%00", "/v1/voices/%00"]
)
def test_a_nul_in_the_address_is_a_400_on_every_database(
    app_server: AppServer, address: str
) -> None:
    with app_server.admin() as admin:
        response = admin.get(address)
        assert response.status_code == 400, response.text
        assert "NUL" in response.text


def test_tabs_and_line_breaks_stay_allowed_in_a_pasted_text(app_server: AppServer) -> None:
    with app_server.admin() as admin:
        body = {"title": "Tabs", "text": "One\tline.\r\nAnother line.\fA page.", "language": "en"}
        response = admin.post("/api/books", json=body)
        assert response.status_code == 201, response.text
