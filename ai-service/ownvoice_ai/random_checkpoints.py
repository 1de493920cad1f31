"""Randomly initialised XTTS v2 checkpoint directories with the real file layout (tests, demo, bench).

The directory holds what coqui-tts's real loader (`Xtts.init_from_config` + `load_checkpoint`)
reads from a downloaded XTTS v2: `config.json`, `model.pth` and `vocab.json`. The weights are
random, so the audio is noise, but every code path (tokenizer, GPT, conditioning, HiFi-GAN) is
the real one, and the full-size variant costs the same compute as the real model.

Command line: `python scripts/make_checkpoint.py {tiny,full} [--out DIR] [--verify]`. The service
loads any checkpoint, random or downloaded, with `checkpoints.load_checkpoint`.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINTS_DIR = AI_SERVICE_DIR / "checkpoints"

# The languages of XTTS v2, spelled as its tokenizer spells them ("zh-cn").
XTTS_LANGUAGES = [
    "en", "es", "fr", "de", "it", "pt", "pl", "tr", "ru", "nl",
    "cs", "ar", "zh-cn", "hu", "ko", "ja", "hi",
]  # fmt: skip

# Architecture sizes. "full" is XTTS v2 as published; "tiny" keeps the structure but shrinks the
# GPT so tests run in seconds (the HiFi-GAN and speaker encoder sizes are fixed by coqui-tts).
VARIANTS: dict[str, dict[str, int]] = {
    "full": {"gpt_layers": 30, "gpt_n_model_channels": 1024, "gpt_n_heads": 16, "vocab_size": 6681},
    "tiny": {"gpt_layers": 2, "gpt_n_model_channels": 128, "gpt_n_heads": 4, "vocab_size": 400},
}

# Text the BPE merges are learned from; coverage comes from the initial alphabet below.
_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "alice was beginning to get very tired of sitting by her sister on the bank",
    "printing in the only sense with which we are at present concerned",
    "one two three four five six seven eight nine ten hundred thousand million",
    "der schnelle braune fuchs springt über den faulen hund",
    "le vif renard brun saute par dessus le chien paresseux",
    "el rápido zorro marrón salta sobre el perro perezoso",
    "быстрая коричневая лиса прыгает через ленивую собаку",
    "ni3 hao3 shi4 jie4 zhong1 guo2",
]
_ALPHABET = (
    "abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"-()"
    "àáâãäåæçèéêëìíîïñòóôõöøùúûüýÿßąćęłńśźżčďěňřšťůžğışőű"
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
    "ءآأؤإئابةتثجحخدذرزسشصضطظعغفقكلمنهوىي"
    "अआइईउऊएऐओऔकखगघचछजझटठडढणतथदधनपफबभमयरलवशषसहािीुूेैोौंः्"
)


def special_tokens() -> list[str]:
    """XTTS's special tokens; [STOP] must be id 0 (gpt_stop_text_token)."""
    return ["[STOP]", "[UNK]", "[SPACE]", "[START]"] + [f"[{lang}]" for lang in XTTS_LANGUAGES]


def build_vocab(path: Path, vocab_size: int) -> None:
    """Train a small BPE tokenizer file that XTTS's VoiceBpeTokenizer loads like the real vocab.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens(),
        initial_alphabet=list(_ALPHABET),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS * 4, trainer)
    # The little corpus yields fewer merges than XTTS v2's 6681 tokens; pad with private-use
    # placeholders (never produced by text normalisation) so the text embedding has the real size.
    missing = vocab_size - tokenizer.get_vocab_size()
    if missing > 0:
        tokenizer.add_special_tokens([f"\ue000{index}" for index in range(missing)])
    tokenizer.save(str(path))


def build_config(variant: str, number_text_tokens: int, start_text_token: int):
    from TTS.tts.configs.xtts_config import XttsArgs, XttsConfig

    sizes = VARIANTS[variant]
    args = XttsArgs(
        gpt_layers=sizes["gpt_layers"],
        gpt_n_model_channels=sizes["gpt_n_model_channels"],
        gpt_n_heads=sizes["gpt_n_heads"],
        decoder_input_dim=sizes["gpt_n_model_channels"],
        gpt_number_text_tokens=number_text_tokens,
        gpt_start_text_token=start_text_token,
        gpt_stop_text_token=0,
        gpt_max_audio_tokens=605,
        gpt_max_text_tokens=402,
        gpt_max_prompt_tokens=70,
        gpt_num_audio_tokens=1026,
        gpt_start_audio_token=1024,
        gpt_stop_audio_token=1025,
        gpt_use_masking_gt_prompt_approach=True,
        gpt_use_perceiver_resampler=True,
        kv_cache=True,
    )
    return XttsConfig(
        model_args=args,
        languages=list(XTTS_LANGUAGES),
        temperature=0.75,
        length_penalty=1.0,
        repetition_penalty=5.0,
        top_k=50,
        top_p=0.85,
        gpt_cond_len=30,
        gpt_cond_chunk_len=4,
        max_ref_len=30,
    )


def build_checkpoint(variant: str, out_dir: Path, seed: int = 0) -> Path:
    """Write config.json, vocab.json and model.pth into out_dir (atomically: temp dir + rename)."""
    import torch
    from tokenizers import Tokenizer
    from TTS.tts.models.xtts import Xtts

    out_dir = out_dir.resolve()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    torch.manual_seed(seed)

    vocab_path = staging / "vocab.json"
    build_vocab(vocab_path, VARIANTS[variant]["vocab_size"])
    vocab = Tokenizer.from_file(str(vocab_path)).get_vocab()
    config = build_config(variant, max(vocab.values()) + 1, vocab["[START]"])
    config.model_args.tokenizer_file = ""
    config.save_json(str(staging / "config.json"))

    model = Xtts(config)
    model.tokenizer = None  # the loader reads vocab.json itself
    # Mel normalisation stats are positive in the real checkpoint; random in (0.5, 1.5) here.
    model.mel_stats.copy_(0.5 + torch.rand(80))
    torch.save({"model": model.state_dict()}, staging / "model.pth")
    staging.chmod(0o755)  # mkdtemp makes it 0700

    if out_dir.exists():
        _replace_dir(staging, out_dir)
    else:
        os.replace(staging, out_dir)
    return out_dir


def _replace_dir(new: Path, target: Path) -> None:
    import shutil

    old = target.with_name(f".{target.name}-old")
    if old.exists():
        shutil.rmtree(old)
    os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)
