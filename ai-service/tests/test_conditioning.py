"""ConditioningStore: computed once, cached with audio hash + model id, recomputed when either changes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors import safe_open

from ownvoice_ai.conditioning import ConditioningStore


class CountingCompute:
    """Stands in for XttsEngine.compute_conditioning: latents derived from the audio itself."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, audio: np.ndarray, rate: int):
        self.calls += 1
        level = float(np.abs(audio).mean())
        return torch.full((1, 32, 8), level), torch.full((1, 512, 1), float(rate))


def _audio(seed: int, seconds: float = 2.0) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(22050 * seconds)) * 0.1).astype(
        np.float32
    )


def test_saved_voice_is_read_back_without_recomputing(tmp_path):
    compute = CountingCompute()
    store = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "model-a")
    saved = store.save_voice("v1", _audio(1), 22050, compute)
    assert compute.calls == 1
    assert (tmp_path / "voices" / "v1.wav").is_file()
    with safe_open(str(tmp_path / "cond" / "v1.safetensors"), framework="pt") as handle:
        meta = handle.metadata()
    assert meta["model_id"] == "model-a" and meta["audio_sha256"] == saved.audio_sha256
    for _ in range(3):
        assert store.get("v1", compute).conditioning_hash == saved.conditioning_hash
    fresh = ConditioningStore(
        tmp_path / "voices", tmp_path / "cond", "model-a"
    )  # a restart: disk cache
    assert torch.equal(fresh.get("v1", compute).gpt_cond_latent, saved.gpt_cond_latent)
    assert compute.calls == 1


def test_model_change_recomputes_once(tmp_path):
    compute = CountingCompute()
    ConditioningStore(tmp_path / "voices", tmp_path / "cond", "model-a").save_voice(
        "v1", _audio(1), 22050, compute
    )
    other = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "model-b")
    first = other.get("v1", compute)
    other.get("v1", compute)
    assert compute.calls == 2
    assert first.model_id == "model-b"
    with safe_open(str(tmp_path / "cond" / "v1.safetensors"), framework="pt") as handle:
        assert handle.metadata()["model_id"] == "model-b"


def test_changed_reference_audio_recomputes(tmp_path):
    compute = CountingCompute()
    store = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m")
    before = store.save_voice("v1", _audio(1), 22050, compute)
    other = ConditioningStore(tmp_path / "voices2", tmp_path / "cond2", "m")
    other.save_voice("x", _audio(2, 3.0), 22050, compute)
    (tmp_path / "voices" / "v1.wav").write_bytes((tmp_path / "voices2" / "x.wav").read_bytes())
    after = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m").get("v1", compute)
    assert after.audio_sha256 != before.audio_sha256
    assert after.conditioning_hash != before.conditioning_hash
    assert compute.calls == 3


def test_damaged_cache_is_recomputed_not_fatal(tmp_path):
    compute = CountingCompute()
    store = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m")
    store.save_voice("v1", _audio(1), 22050, compute)
    (tmp_path / "cond" / "v1.safetensors").write_bytes(b"garbage")
    ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m").get("v1", compute)
    assert compute.calls == 2


def test_failed_computation_keeps_the_old_voice(tmp_path):
    store = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m")
    store.save_voice("v1", _audio(1), 22050, CountingCompute())
    before = (tmp_path / "voices" / "v1.wav").read_bytes()

    def broken(audio, rate):
        raise RuntimeError("out of memory")

    with pytest.raises(RuntimeError):
        store.save_voice("v1", _audio(2), 22050, broken)
    assert (tmp_path / "voices" / "v1.wav").read_bytes() == before
    assert not [p for p in (tmp_path / "voices").iterdir() if p.name.startswith(".")]


def test_delete_removes_reference_and_cache(tmp_path):
    store = ConditioningStore(tmp_path / "voices", tmp_path / "cond", "m")
    store.save_voice("v1", _audio(1), 22050, CountingCompute())
    store.delete("v1")
    store.delete("v1")  # idempotent
    assert not store.exists("v1")
    assert not (tmp_path / "cond" / "v1.safetensors").exists()
    with pytest.raises(FileNotFoundError):
        store.get("v1", CountingCompute())
