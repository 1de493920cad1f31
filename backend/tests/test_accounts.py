"""Accounts over HTTP on the real app: preferences per account, user administration, the audio
cache's size and Clear, and which integrations are configured."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import create_user, login
from servers import ADMIN_API_KEY, AppServer, start_app


def test_preferences_default_then_follow_the_account_into_another_browser(
    app_server: AppServer,
) -> None:
    first = create_user(app_server, "prefs-reader")
    with first:
        assert first.get("/api/preferences").json() == {
            "voice_id": "custom_user_voice",
            "speed": 1.0,
            "font_scale": 1.0,
            "sleep_timer": "off",
        }
        changed = first.patch("/api/preferences", json={"speed": 1.25, "sleep_timer": "30"})
        assert changed.status_code == 200, changed.text
        first.patch("/api/preferences", json={"voice_id": "stock-joe"})
    # A second browser: a separate login, so a separate session cookie.
    with login(app_server, "prefs-reader", "password-123") as second:
        assert second.get("/api/preferences").json() == {
            "voice_id": "stock-joe",
            "speed": 1.25,
            "font_scale": 1.0,
            "sleep_timer": "30",
        }
    with app_server.admin() as admin:  # another account's preferences are its own
        assert admin.get("/api/preferences").json()["speed"] == 1.0


@pytest.mark.parametrize(
    "patch",
    [{"speed": 3}, {"font_scale": 0.1}, {"sleep_timer": "7"}, {"voice_id": ""}, {"colour": "red"}],
)
def test_out_of_range_preferences_are_422_and_change_nothing(
    app_server: AppServer, patch: dict[str, object]
) -> None:
    with create_user(app_server, f"prefs-bad-{abs(hash(str(patch)))}") as client:
        client.patch("/api/preferences", json={"speed": 1.5})
        assert client.patch("/api/preferences", json=patch).status_code == 422
        assert client.get("/api/preferences").json()["speed"] == 1.5


def test_a_disabled_user_loses_sessions_and_keys_and_cannot_sign_in_until_enabled(
    app_server: AppServer,
) -> None:
    with create_user(app_server, "to-disable") as user:
        key = user.post("/api/keys", json={"name": "script"}).json()["key"]
        user_id = user.get("/api/auth/me").json()["id"]
        with app_server.admin() as admin:
            response = admin.patch(f"/api/users/{user_id}", json={"disabled": True})
            assert response.status_code == 200 and response.json()["disabled"] is True
        assert user.get("/api/auth/me").status_code == 401
    with app_server.client(headers={"Authorization": f"Bearer {key}"}) as keyed:
        assert keyed.get("/api/auth/me").status_code == 401
    with app_server.client(headers={"xi-api-key": key}) as eleven:
        assert eleven.get("/v1/voices").status_code == 401
    with app_server.client() as anonymous:
        refused = anonymous.post(
            "/api/auth/login", json={"username": "to-disable", "password": "password-123"}
        )
        assert refused.status_code == 403 and "disabled" in refused.json()["detail"]
    with app_server.admin() as admin:
        assert admin.patch(f"/api/users/{user_id}", json={"disabled": False}).status_code == 200
    with login(app_server, "to-disable", "password-123") as again:
        assert again.get("/api/auth/me").status_code == 200


def test_the_last_active_administrator_cannot_be_disabled_or_demoted(
    app_server: AppServer,
) -> None:
    with app_server.admin() as admin:
        users = admin.get("/api/users").json()
        admins = [u for u in users if u["is_admin"] and not u["disabled"]]
        assert [u["username"] for u in admins] == ["admin"]
        for patch in ({"disabled": True}, {"is_admin": False}):
            response = admin.patch(f"/api/users/{admins[0]['id']}", json=patch)
            assert response.status_code == 409
            assert "only active administrator" in response.json()["detail"]
        assert admin.get("/api/auth/me").status_code == 200


def test_an_admin_reset_sets_the_password_and_ends_the_users_sessions(
    app_server: AppServer,
) -> None:
    with create_user(app_server, "forgetful") as user:
        user_id = user.get("/api/auth/me").json()["id"]
        with app_server.admin() as admin:
            response = admin.post(
                f"/api/users/{user_id}/password", json={"new_password": "a-new-secret-1"}
            )
            assert response.status_code == 204
            assert (
                admin.post(
                    f"/api/users/{user_id}/password", json={"new_password": "short"}
                ).status_code
                == 422
            )
            assert (
                admin.post(
                    "/api/users/nobody/password", json={"new_password": "a-new-secret-1"}
                ).status_code
                == 404
            )
        assert user.get("/api/auth/me").status_code == 401
    with app_server.client() as anonymous:
        old = anonymous.post(
            "/api/auth/login", json={"username": "forgetful", "password": "password-123"}
        )
        assert old.status_code == 401
    with login(app_server, "forgetful", "a-new-secret-1") as fresh:
        assert fresh.get("/api/auth/me").json()["username"] == "forgetful"


def test_only_an_administrator_manages_users_and_clears_the_cache(app_server: AppServer) -> None:
    with create_user(app_server, "not-admin") as client:
        me = client.get("/api/auth/me").json()["id"]
        assert client.get("/api/users").status_code == 403
        assert client.patch(f"/api/users/{me}", json={"is_admin": True}).status_code == 403
        assert (
            client.post(
                f"/api/users/{me}/password", json={"new_password": "a-new-secret-1"}
            ).status_code
            == 403
        )
        assert client.delete("/api/cache").status_code == 403
        assert client.get("/api/cache").status_code == 200


def test_integrations_say_whether_elevenlabs_is_configured_never_the_key(
    app_server: AppServer, tmp_path: Path
) -> None:
    with app_server.admin() as admin:
        assert admin.get("/api/integrations").json() == {"elevenlabs_configured": False}
    server = start_app(tmp_path / "data", ELEVENLABS_API_KEY="sk-secret-never-shown")
    try:
        with server.client(headers={"Authorization": f"Bearer {ADMIN_API_KEY}"}) as admin:
            response = admin.get("/api/integrations")
            assert response.json() == {"elevenlabs_configured": True}
            assert "sk-secret" not in response.text
    finally:
        server.stop()


def test_the_cache_reports_its_size_and_clear_empties_it(stack: AppServer) -> None:
    body = {"text": "A sentence for the cache section.", "voiceId": "stock-joe"}
    with create_user(stack, "cache-admin-view") as user:
        assert user.post("/api/tts", json=body).headers["x-cache"] == "miss"
        assert user.post("/api/tts", json=body).headers["x-cache"] == "hit"
        status = user.get("/api/cache").json()
        assert status["entries"] >= 1 and status["size_bytes"] > 0
        assert status["max_bytes"] > 0
    with stack.admin() as admin:
        assert admin.delete("/api/cache").status_code == 204
        assert admin.get("/api/cache").json() == {
            "size_bytes": 0,
            "max_bytes": status["max_bytes"],
            "entries": 0,
        }
    with login(stack, "cache-admin-view", "password-123") as user:
        assert user.post("/api/tts", json=body).headers["x-cache"] == "miss"
