"""Accounts, sessions, API keys, users and the login rate limit, over HTTP on the real app."""

from __future__ import annotations

import re

import database
from conftest import create_user, login
from servers import ADMIN_API_KEY, ADMIN_PASSWORD, AppServer


def test_login_sets_an_httponly_samesite_cookie_and_me_answers(app_server: AppServer) -> None:
    with app_server.client() as client:
        response = client.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert response.status_code == 200
        assert response.json()["user"]["username"] == "admin"
        assert response.json()["user"]["is_admin"] is True
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("ownvoice_session=")
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
        me = client.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["username"] == "admin"


def test_session_token_is_stored_hashed(app_server: AppServer) -> None:
    with login(app_server) as client:
        token = client.cookies["ownvoice_session"]
    hashes = [
        row[0] for row in database.rows(app_server.data_dir, "SELECT token_hash FROM auth_sessions")
    ]
    assert token not in hashes and len(hashes) >= 1


def test_logout_ends_the_session(app_server: AppServer) -> None:
    with login(app_server) as client:
        token = client.cookies["ownvoice_session"]
        assert client.post("/api/auth/logout").status_code == 204
    with app_server.client(cookies={"ownvoice_session": token}) as stale:
        assert stale.get("/api/auth/me").status_code == 401


def test_wrong_password_is_401(app_server: AppServer) -> None:
    with app_server.client() as client:
        response = client.post("/api/auth/login", json={"username": "admin", "password": "nope"})
        assert response.status_code == 401
        assert "password" in response.json()["detail"].lower()


def test_every_api_route_but_health_and_login_needs_auth(app_server: AppServer) -> None:
    with app_server.client() as client:
        assert client.get("/api/health").status_code == 200
        schema = client.get("/openapi.json").json()
        checked = 0
        for path, methods in schema["paths"].items():
            if not path.startswith("/api") or path in ("/api/health", "/api/auth/login"):
                continue
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            for method in methods:
                response = client.request(method.upper(), concrete)
                assert response.status_code == 401, (method, path, response.status_code)
                checked += 1
        assert checked >= 10


def test_login_is_rate_limited_per_username_and_ip(app_server: AppServer) -> None:
    with create_user(app_server, "ratelimited", "right-password-1") as _, app_server.client() as c:
        for _attempt in range(5):
            assert (
                c.post(
                    "/api/auth/login", json={"username": "ratelimited", "password": "wrong"}
                ).status_code
                == 401
            )
        blocked = c.post(
            "/api/auth/login", json={"username": "ratelimited", "password": "right-password-1"}
        )
        assert blocked.status_code == 429
        assert 1 <= int(blocked.headers["retry-after"]) <= 60
        # Another username from the same address is not affected.
        assert (
            c.post(
                "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
            ).status_code
            == 200
        )


def test_provisioned_admin_api_key_works_as_bearer(app_server: AppServer) -> None:
    with app_server.admin() as admin:
        me = admin.get("/api/auth/me")
        assert me.status_code == 200 and me.json()["is_admin"] is True
        keys = admin.get("/api/keys").json()
        assert any(k["prefix"] == ADMIN_API_KEY[:11] for k in keys)
    with app_server.client(headers={"Authorization": "Bearer ov_not_a_key"}) as bad:
        assert bad.get("/api/auth/me").status_code == 401


def test_api_keys_are_shown_once_usable_and_revocable(app_server: AppServer) -> None:
    with create_user(app_server, "keyholder") as client:
        created = client.post("/api/keys", json={"name": "my script"})
        assert created.status_code == 201
        key = created.json()["key"]
        assert key.startswith(created.json()["prefix"])
        listed = client.get("/api/keys").json()
        assert [k["name"] for k in listed] == ["my script"]
        assert "key" not in listed[0]
        with app_server.client(headers={"Authorization": f"Bearer {key}"}) as bot:
            assert bot.get("/api/auth/me").json()["username"] == "keyholder"
            assert client.get("/api/keys").json()[0]["last_used_at"] is not None
            assert client.delete(f"/api/keys/{created.json()['id']}").status_code == 204
            assert bot.get("/api/auth/me").status_code == 401
    stored = [row[0] for row in database.rows(app_server.data_dir, "SELECT key_hash FROM api_keys")]
    assert key not in stored


def test_users_cannot_see_or_revoke_each_others_keys(app_server: AppServer) -> None:
    with create_user(app_server, "alice-keys") as alice, create_user(app_server, "bob-keys") as bob:
        key_id = alice.post("/api/keys", json={"name": "alice's"}).json()["id"]
        assert bob.get("/api/keys").json() == []
        assert bob.delete(f"/api/keys/{key_id}").status_code == 404
        assert len(alice.get("/api/keys").json()) == 1


def test_only_admins_create_users_and_names_are_unique(app_server: AppServer) -> None:
    with create_user(app_server, "plainuser") as plain:
        response = plain.post("/api/users", json={"username": "x-user", "password": "password-1"})
        assert response.status_code == 403
    with app_server.admin() as admin:
        again = admin.post("/api/users", json={"username": "plainuser", "password": "password-1"})
        assert again.status_code == 409
        short = admin.post("/api/users", json={"username": "shorty", "password": "short"})
        assert short.status_code == 422
        names = [u["username"] for u in admin.get("/api/users").json()]
        assert "plainuser" in names and "admin" in names


def test_password_change(app_server: AppServer) -> None:
    with create_user(app_server, "changer", "first-password") as client:
        wrong = client.post(
            "/api/auth/password",
            json={"current_password": "nope", "new_password": "second-password"},
        )
        assert wrong.status_code == 400
        ok = client.post(
            "/api/auth/password",
            json={"current_password": "first-password", "new_password": "second-password"},
        )
        assert ok.status_code == 204
    login(app_server, "changer", "second-password").close()


def test_password_change_signs_out_every_other_session(app_server: AppServer) -> None:
    create_user(app_server, "two-browsers", "first-password").close()
    laptop = login(app_server, "two-browsers", "first-password")
    phone = login(app_server, "two-browsers", "first-password")
    with laptop, phone:
        assert phone.get("/api/auth/me").status_code == 200
        changed = laptop.post(
            "/api/auth/password",
            json={"current_password": "first-password", "new_password": "second-password"},
        )
        assert changed.status_code == 204
        assert laptop.get("/api/auth/me").status_code == 200  # the browser that changed it
        assert phone.get("/api/auth/me").status_code == 401  # every other one is signed out


def test_wrong_current_passwords_count_as_failed_logins(app_server: AppServer) -> None:
    with create_user(app_server, "stolen-session", "the-password") as thief:
        for n in range(5):
            body = {"current_password": f"guess-{n}", "new_password": "taken-over-1"}
            assert thief.post("/api/auth/password", json=body).status_code == 400
        body = {"current_password": "the-password", "new_password": "taken-over-1"}
        blocked = thief.post("/api/auth/password", json=body)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1


def test_health_says_why_the_inference_service_is_unavailable(app_server: AppServer) -> None:
    with app_server.admin() as admin:
        body = admin.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["inference"]["ready"] is False
    assert "not reachable" in body["inference"]["reason"]
