"""Bench-only numerics: how far a speed option moves the GPT's outputs and the audio, bytes moved
per token, and forcing coqui's generate() to a fixed length (random weights rarely say [STOP]).

Two variants are compared with `teacher_forced_outputs` + `compare_outputs`: both read the same
audio codes, so the difference is the arithmetic alone, not a different sampled path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ownvoice_ai.optimize import gpt_generation_modules


def kv_cache_bytes_per_token(model: Any, position: int) -> int:
    """Bytes of cached keys and values read when generating at sequence `position`."""
    generation = gpt_generation_modules(model)
    config = generation.config
    element = 2 if _transformer_dtype(model) in (torch.float16, torch.bfloat16) else 4
    return 2 * config.n_layer * position * config.n_embd * element


def _transformer_dtype(model: Any) -> torch.dtype:
    for p in gpt_generation_modules(model).transformer.parameters():
        return p.dtype
    return torch.float32


def fixed_length_generate_kwargs(tokens: int) -> dict[str, int]:
    """Hugging Face generate() arguments that make coqui-tts's GPT emit exactly `tokens` audio codes.

    Random weights never emit [STOP] reliably, so benchmarks force the length: min_new_tokens
    masks the stop token until `tokens` codes exist, max_new_tokens stops right there. Works for
    `Xtts.inference` and `Xtts.inference_stream` (both forward extra kwargs to generate()).
    """
    if tokens < 1:
        raise ValueError("tokens must be at least 1")
    return {"min_new_tokens": tokens, "max_new_tokens": tokens}


# --- numerical difference between two variants of the same GPT -------------------------------


@dataclass(frozen=True)
class GptNumerics:
    """How far a variant's GPT outputs are from the fp32 reference on identical inputs."""

    latent_max_abs: float
    latent_rel_l2: float  # ||variant - ref|| / ||ref|| over all latent frames
    logits_max_abs: float
    top1_agreement: float  # fraction of positions whose most likely next code is unchanged

    def as_dict(self) -> dict[str, float]:
        return {
            "latent_max_abs": self.latent_max_abs,
            "latent_rel_l2": self.latent_rel_l2,
            "logits_max_abs": self.logits_max_abs,
            "top1_agreement": self.top1_agreement,
        }


@torch.inference_mode()
def teacher_forced_outputs(
    model: Any, cond_latents: torch.Tensor, text_tokens: torch.Tensor, codes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Latents (final-normed hidden states) and logits of the per-token GPT path for given codes.

    One parallel pass over [conditioning, text, start, codes]: position for position the same
    arithmetic the token loop does, without sampling, so two model variants can be compared.
    """
    gpt = model.gpt
    prefix_ids = gpt.compute_embeddings(
        cond_latents, text_tokens
    )  # also stores the prefix embedding
    input_ids = torch.cat([prefix_ids, codes.to(prefix_ids.device)], dim=1)
    generation = gpt_generation_modules(model)
    out = generation(
        input_ids=input_ids, use_cache=False, output_hidden_states=True, return_dict=True
    )
    start = prefix_ids.shape[1] - 1  # the position that predicts the first code
    end = start + codes.shape[1]  # as in the token loop: latent i comes with code i
    latents = generation.final_norm(out.hidden_states[-1][:, start:end])
    logits = out.logits[:, start:end]
    return latents.float(), logits.float()


def compare_outputs(
    reference: tuple[torch.Tensor, torch.Tensor], variant: tuple[torch.Tensor, torch.Tensor]
) -> GptNumerics:
    ref_latents, ref_logits = reference
    latents, logits = variant
    diff = latents - ref_latents
    return GptNumerics(
        latent_max_abs=float(diff.abs().max()),
        latent_rel_l2=float(diff.norm() / ref_latents.norm().clamp_min(1e-12)),
        logits_max_abs=float((logits - ref_logits).abs().max()),
        top1_agreement=float((logits.argmax(-1) == ref_logits.argmax(-1)).float().mean()),
    )


def audio_difference(reference: torch.Tensor, variant: torch.Tensor) -> dict[str, float]:
    """Max abs difference and signal-to-difference ratio (dB) of two waveforms of equal length."""
    n = min(reference.numel(), variant.numel())
    ref = reference.flatten()[:n].float()
    var = variant.flatten()[:n].float()
    noise = (var - ref).pow(2).sum().clamp_min(1e-20)
    snr = 10.0 * torch.log10(ref.pow(2).sum().clamp_min(1e-20) / noise)
    return {"audio_max_abs": float((var - ref).abs().max()), "audio_snr_db": float(snr)}
