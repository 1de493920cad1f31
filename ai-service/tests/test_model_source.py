"""Where the model comes from, and what happens when it cannot come."""

from __future__ import annotations

import shutil

import pytest

from ownvoice_ai.model_source import ModelConfigError, model_id_for, resolve_model_source
from tests.conftest import make_settings


def test_no_model_configured_says_what_to_set(tmp_path):
    source = resolve_model_source(make_settings(tmp_path, demo_model=None))
    assert source.path is None
    assert "XTTS_MODEL_DIR" in source.reason and "COQUI_TOS_AGREED=1" in source.reason


def test_incomplete_model_dir_is_a_config_error(tmp_path, tiny_checkpoint):
    partial = tmp_path / "xtts"
    partial.mkdir()
    shutil.copy(tiny_checkpoint / "config.json", partial)
    with pytest.raises(ModelConfigError, match="lacks model.pth, vocab.json"):
        resolve_model_source(make_settings(tmp_path, demo_model=None, xtts_model_dir=partial))
    with pytest.raises(ModelConfigError, match="not a directory"):
        resolve_model_source(
            make_settings(tmp_path, demo_model=None, xtts_model_dir=tmp_path / "missing")
        )


def test_local_dir_model_id_tracks_the_files(tmp_path, tiny_checkpoint):
    copy = tmp_path / "xtts"
    shutil.copytree(tiny_checkpoint, copy)
    source = resolve_model_source(make_settings(tmp_path, demo_model=None, xtts_model_dir=copy))
    assert source.path == copy and source.origin == "local"
    assert source.model_id == model_id_for(tiny_checkpoint)
    with (copy / "model.pth").open("ab") as weights:
        weights.write(b"\0")  # a different checkpoint
    assert model_id_for(copy) != source.model_id


def test_offline_download_leaves_cloning_unavailable_with_a_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # as on a machine without internet
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    source = resolve_model_source(make_settings(tmp_path, demo_model=None, coqui_tos_agreed=True))
    assert source.path is None
    assert "failed" in source.reason and "XTTS_MODEL_DIR" in source.reason


def test_demo_model_is_built_on_demand(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    source = resolve_model_source(make_settings(tmp_path), checkpoints_dir=checkpoints)
    assert source.origin == "demo-tiny"
    assert (checkpoints / "tiny" / "model.pth").is_file()
    assert source.model_id.startswith("xtts-v2-random-tiny-")
