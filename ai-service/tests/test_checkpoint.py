"""The random checkpoints have the real XTTS v2 file layout and load through coqui-tts's loader."""

from __future__ import annotations

import json

import torch
from TTS.tts.layers.xtts.tokenizer import VoiceBpeTokenizer

from ownvoice_ai.random_checkpoints import VARIANTS, XTTS_LANGUAGES, build_config


def test_tiny_checkpoint_has_the_real_files(tiny_checkpoint):
    names = {path.name for path in tiny_checkpoint.iterdir()}
    assert {"config.json", "model.pth", "vocab.json"} <= names
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["model"] == "xtts"
    assert config["model_args"]["gpt_use_perceiver_resampler"] is True
    assert config["model_args"]["gpt_stop_audio_token"] == 1025


def test_vocab_loads_in_xtts_tokenizer_with_special_tokens(tiny_checkpoint):
    tokenizer = VoiceBpeTokenizer(vocab_file=str(tiny_checkpoint / "vocab.json"))
    vocab = tokenizer.tokenizer.get_vocab()
    assert vocab["[STOP]"] == 0
    for token in ["[UNK]", "[SPACE]", "[START]", "[en]", "[zh-cn]", "[de]"]:
        assert token in vocab
    ids = tokenizer.encode("hello world", lang="en")
    assert ids[0] == vocab["[en]"]
    assert vocab["[SPACE]"] in ids
    assert tokenizer.decode(ids).endswith("hello world")


def test_loaded_model_is_the_real_xtts_class(tiny_model):
    from TTS.tts.models.xtts import Xtts

    assert isinstance(tiny_model, Xtts)
    assert tiny_model.gpt.layers == VARIANTS["tiny"]["gpt_layers"]
    assert not torch.all(tiny_model.mel_stats == 1.0)  # the saved buffer, not the init value
    assert hasattr(tiny_model.gpt, "gpt_inference")  # init_gpt_for_inference ran (eval=True)


def test_full_variant_has_xtts_v2_dimensions():
    args = build_config("full", 6681, 261).model_args
    assert (args.gpt_layers, args.gpt_n_model_channels, args.gpt_n_heads) == (30, 1024, 16)
    assert args.gpt_max_audio_tokens == 605 and args.gpt_max_text_tokens == 402
    assert build_config("full", 6681, 261).languages == XTTS_LANGUAGES
