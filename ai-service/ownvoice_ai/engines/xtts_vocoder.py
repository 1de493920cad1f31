"""Streaming HiFi-GAN decode of XTTS latents with bounded work per chunk.

coqui's `inference_stream` re-runs HiFi-GAN over the whole sentence prefix at every chunk, so the
vocoder cost grows with the square of the sentence length. Here every chunk decodes only its new
frames plus a fixed window of context: `context_frames` on the left (so the convolutions see the
same input as a full decode) and `lookahead_frames` held back on the right (those samples still
depend on latents not generated yet). The held-back samples are not thrown away: the first
`crossfade_samples` of them are crossfaded with the next window's version, so a join can never
click even if the two versions differ.

HiFi-GAN's input frames come from the latents by XTTS's linear interpolations (speed, x4 to the
mel hop, 22.05 -> 24 kHz). Those are recomputed here for just the frames a window needs, with the
same index arithmetic as `torch.nn.functional.interpolate(mode="linear")`, so a streamed
sentence equals a full `HifiDecoder` decode of the same latents up to float rounding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

# HiFi-GAN's receptive field, measured on XTTS's decoder: outputs more than 16 frames away from a
# window edge are bit-identical to a full decode (12 frames: 1e-7 difference).
DEFAULT_CONTEXT_FRAMES = 16
DEFAULT_LOOKAHEAD_FRAMES = 16
DEFAULT_CROSSFADE_SAMPLES = 512


def _source_index(out_start: int, out_stop: int, scale_factor: float, in_size: int, device):
    """PyTorch's linear (align_corners=False) source indices and weights for output [start, stop)."""
    dst = torch.arange(out_start, out_stop, device=device, dtype=torch.float32)
    src = (dst + 0.5) * torch.tensor(1.0 / scale_factor, dtype=torch.float32) - 0.5
    src = src.clamp(min=0.0)
    lo = src.floor().long().clamp(max=in_size - 1)
    weight = (src - lo.to(src.dtype)).unsqueeze(1)
    hi = (lo + 1).clamp(max=in_size - 1)
    return lo, hi, weight


@dataclass
class FramePlan:
    """The interpolation chain from T latents to HiFi-GAN input frames."""

    scale_factors: list[float]
    sizes: list[int] = field(default_factory=list)  # sizes[0] = latents, sizes[-1] = frames

    def resize(self, n_latents: int) -> None:
        self.sizes = [n_latents]
        for factor in self.scale_factors:
            self.sizes.append(math.floor(self.sizes[-1] * factor))

    @property
    def n_frames(self) -> int:
        return self.sizes[-1]

    def stable_frames(self) -> int:
        """How many leading frames no future latent can change (no clamping at the right edge)."""
        stable = self.sizes[0]
        for factor, in_size, size in zip(
            self.scale_factors, self.sizes[:-1], self.sizes[1:], strict=True
        ):
            if size == in_size:
                # torch copies instead of interpolating when the size does not change; with more
                # latents the stage will interpolate, so nothing from it is final yet.
                return 0
            # frame j is stable when its upper source index lo_j + 1 <= stable - 1
            bound = math.ceil((stable - 0.5) * factor - 0.5) - 1  # margin for float rounding
            stable = max(0, min(size, bound))
        return stable

    def frames(
        self, latents: torch.Tensor, start: int, stop: int, stage: int | None = None
    ) -> torch.Tensor:
        """Frames [start, stop) of stage `stage` (default: the last) as [n, d]."""
        stage = len(self.scale_factors) if stage is None else stage
        if stage == 0:
            return latents[start:stop]
        if self.sizes[stage] == self.sizes[stage - 1]:  # torch's interpolate copies in this case
            return self.frames(latents, start, stop, stage - 1)
        lo, hi, weight = _source_index(
            start, stop, self.scale_factors[stage - 1], self.sizes[stage - 1], latents.device
        )
        first, last = int(lo.min()), int(hi.max()) + 1
        source = self.frames(latents, first, last, stage - 1)
        return source[lo - first] * (1.0 - weight).to(source.dtype) + source[
            hi - first
        ] * weight.to(source.dtype)


class VocoderStream:
    """Feed latents as they are generated; get waveform pieces whose concatenation is the sentence."""

    def __init__(
        self,
        hifigan_decoder,
        speaker_embedding: torch.Tensor,
        max_latents: int,
        length_scale: float = 1.0,
        context_frames: int = DEFAULT_CONTEXT_FRAMES,
        lookahead_frames: int = DEFAULT_LOOKAHEAD_FRAMES,
        crossfade_samples: int = DEFAULT_CROSSFADE_SAMPLES,
    ) -> None:
        self.decoder = hifigan_decoder
        self.speaker_embedding = speaker_embedding
        factors = [hifigan_decoder.ar_mel_length_compression / hifigan_decoder.output_hop_length]
        if hifigan_decoder.output_sample_rate != hifigan_decoder.input_sample_rate:
            factors.append(hifigan_decoder.output_sample_rate / hifigan_decoder.input_sample_rate)
        if length_scale != 1.0:
            factors.insert(0, length_scale)
        self.plan = FramePlan(factors)
        self.hop = 256  # HiFi-GAN upsampling: 8 * 8 * 2 * 2 samples per frame
        self.context_frames = context_frames
        self.lookahead_frames = lookahead_frames
        self.crossfade_samples = min(crossfade_samples, lookahead_frames * self.hop)
        self._latents: torch.Tensor | None = None
        self._max_latents = max_latents
        self._count = 0
        self._emitted_frames = 0
        self._tail: torch.Tensor | None = None
        self.window_frames: list[
            int
        ] = []  # HiFi-GAN input length of every decode (for tests/bench)

    def push(self, latent: torch.Tensor) -> None:
        if self._latents is None:
            # the vocoder's dtype, whatever the GPT runs in (fp16/bf16 GPT on a GPU, fp32 HiFi-GAN)
            dtype = next(self.decoder.waveform_decoder.parameters()).dtype
            self._latents = latent.new_zeros((self._max_latents, latent.shape[-1]), dtype=dtype)
        self._latents[self._count] = latent
        self._count += 1

    @property
    def latent_count(self) -> int:
        return self._count

    def decode_ready(self) -> torch.Tensor | None:
        """Decode what is stable so far; None if nothing new can be emitted yet."""
        if self._count == 0:
            return None
        self.plan.resize(self._count)
        stable = self.plan.stable_frames()
        end = stable - self.lookahead_frames
        if end <= self._emitted_frames:
            return None
        return self._decode(end, stable, final=False)

    def finish(self) -> torch.Tensor:
        """Decode everything left, as a full decode would end the sentence."""
        if self._count == 0:
            return torch.zeros(0)
        self.plan.resize(self._count)
        end = self.plan.n_frames
        if end <= self._emitted_frames:
            return self._tail if self._tail is not None else torch.zeros(0)
        return self._decode(end, end, final=True)

    def _decode(self, end: int, window_end: int, final: bool) -> torch.Tensor:
        assert self._latents is not None, "decode before any push"
        start = self._emitted_frames
        window_start = max(0, start - self.context_frames)
        z = self.plan.frames(self._latents[: self._count], window_start, window_end)
        self.window_frames.append(window_end - window_start)
        with torch.inference_mode():
            wav = self.decoder.waveform_decoder(z.T.unsqueeze(0), g=self.speaker_embedding)[0, 0]
        offset = (start - window_start) * self.hop
        piece = wav[offset : offset + (end - start) * self.hop].clone()
        if self._tail is not None:
            n = min(len(self._tail), len(piece))
            fade_in = torch.linspace(0.0, 1.0, n, device=piece.device, dtype=piece.dtype)
            piece[:n] = self._tail[:n] * (1.0 - fade_in) + piece[:n] * fade_in
        self._tail = None
        if not final:
            tail_start = offset + (end - start) * self.hop
            self._tail = wav[tail_start : tail_start + self.crossfade_samples].clone()
        self._emitted_frames = end
        return piece


def full_decode(
    hifigan_decoder,
    latents: torch.Tensor,
    speaker_embedding: torch.Tensor,
    length_scale: float = 1.0,
):
    """What coqui's `Xtts.inference` does with a sentence's latents (reference for tests and bench)."""
    with torch.inference_mode():
        x = latents.unsqueeze(0)
        if length_scale != 1.0:
            x = torch.nn.functional.interpolate(
                x.transpose(1, 2), scale_factor=length_scale, mode="linear"
            ).transpose(1, 2)
        return hifigan_decoder(x, g=speaker_embedding)[0, 0]
