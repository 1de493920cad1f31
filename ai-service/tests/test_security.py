"""The shared bearer token: configured, or created once (0600) and shared by racing processes."""

from __future__ import annotations

import stat
from concurrent.futures import ProcessPoolExecutor

from ownvoice_ai.security import read_or_create_token, resolve_token


def test_token_file_is_created_private_and_reused(tmp_path):
    token = read_or_create_token(tmp_path / "secrets")
    path = tmp_path / "secrets" / "inference_token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(token) >= 32
    assert read_or_create_token(tmp_path / "secrets") == token
    assert list((tmp_path / "secrets").iterdir()) == [path]  # no temp files left


def test_configured_token_wins(tmp_path):
    assert resolve_token("from-env", tmp_path / "secrets") == "from-env"
    assert not (tmp_path / "secrets").exists()


def test_racing_processes_agree_on_one_token(tmp_path):
    with ProcessPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(read_or_create_token, [tmp_path / "secrets"] * 16))
    assert len(set(tokens)) == 1
    assert (tmp_path / "secrets" / "inference_token").read_text().strip() == tokens[0]
