"""The baselines: coqui-tts's own API, as xtts-api-server-style servers call it (paths a, b)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from ..config import LANGUAGE, OUTPUT_RATE, PARAGRAPH, SAMPLING, WorkerSpec
from ..probes import ParagraphRun, median_time, progress, timed_stream
from ..reference import read_reference, write_wav
from .base import SynthesisPath, checkpoint_dir, device_of


def _coqui_audio_loader() -> str:
    """Make coqui's reference loader work here; return which reader is in use.

    coqui reads reference files with torchaudio.load, which needs a system FFmpeg for torchcodec.
    Where that is missing, read the (16-bit PCM WAV) reference with the standard library instead:
    the same samples, and the rest of `get_conditioning_latents` stays coqui's own code.
    """
    import torch
    import torchaudio
    import TTS.tts.models.xtts as coqui_xtts

    with tempfile.NamedTemporaryFile(suffix=".wav", delete=False) as probe:
        pass
    try:
        write_wav(Path(probe.name), [0.0] * 2205, 22050)
        torchaudio.load(probe.name)
        return "torchaudio.load"
    except Exception:

        def load_audio(audiopath: str, sampling_rate: int) -> torch.Tensor:
            samples, rate = read_reference(str(audiopath))
            audio = torch.from_numpy(samples).unsqueeze(0)
            if rate != sampling_rate:
                audio = torchaudio.functional.resample(audio, rate, sampling_rate)
            return audio.clip_(-1, 1)

        coqui_xtts.load_audio = load_audio
        return "wave (torchaudio.load needs a system FFmpeg, absent here)"
    finally:
        os.unlink(probe.name)


class CoquiPath(SynthesisPath):
    """coqui-tts's own API, as xtts-api-server-style servers call it."""

    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__(spec)
        import torch

        from ownvoice_ai.checkpoints import load_checkpoint

        from ..numerics import fixed_length_generate_kwargs

        self.torch = torch
        self.loader = _coqui_audio_loader()
        self.model = load_checkpoint(checkpoint_dir(spec), device="cpu").to(device_of(spec.device))
        self.config = self.model.config
        self.fixed = fixed_length_generate_kwargs
        self.cond_latent, self.speaker = self.conditioning()

    def conditioning(self):
        return self.model.get_conditioning_latents(
            audio_path=self.spec.reference_wav,
            gpt_cond_len=self.config.gpt_cond_len,
            gpt_cond_chunk_len=self.config.gpt_cond_chunk_len,
            max_ref_length=self.config.max_ref_len,
        )

    def warm_up(self) -> None:
        self.torch.manual_seed(0)
        self.model.inference(
            PARAGRAPH[0], LANGUAGE, self.cond_latent, self.speaker, **SAMPLING, **self.fixed(2)
        )

    def decode_ms_per_token(self) -> float:
        """coqui's GPT alone: Hugging Face generate() for a fixed number of codes."""
        n = self.sizes.decode_tokens
        text = self.torch.IntTensor(
            self.model.tokenizer.encode(PARAGRAPH[0].lower(), lang=LANGUAGE)
        ).unsqueeze(0)
        text = text.to(self.model.device)

        def generate() -> None:
            self.torch.manual_seed(0)
            self.model.gpt.generate(
                cond_latents=self.cond_latent,
                text_inputs=text,
                do_sample=True,
                **SAMPLING,
                **self.fixed(n),
            )
            progress(n)

        return median_time(generate, 3) / n * 1000

    def extra(self) -> dict[str, Any]:
        cond_s = median_time(self.conditioning, 3)
        return {"reference_loader": self.loader, "conditioning_s": cond_s}


class CoquiInference(CoquiPath):
    def paragraph(self) -> ParagraphRun:
        start = time.perf_counter()
        cond_latent, speaker = self.conditioning()  # what a naive server does per request
        samples = 0
        for sentence in PARAGRAPH:
            self.torch.manual_seed(0)
            out = self.model.inference(
                sentence,
                LANGUAGE,
                cond_latent,
                speaker,
                **SAMPLING,
                **self.fixed(self.sizes.tokens_per_sentence),
            )
            samples += len(out["wav"])
            progress(self.sizes.tokens_per_sentence)
        total = time.perf_counter() - start
        # A non-streaming server answers with the whole file: the first audio is the last.
        return ParagraphRun(ttfa_s=total, total_s=total, audio_s=samples / OUTPUT_RATE)


class CoquiStream(CoquiPath):
    def paragraph(self) -> ParagraphRun:
        start = time.perf_counter()
        first = None
        samples = 0
        for sentence in PARAGRAPH:
            self.torch.manual_seed(0)
            chunks = self.model.inference_stream(
                sentence,
                LANGUAGE,
                self.cond_latent,
                self.speaker,
                **SAMPLING,
                **self.fixed(self.sizes.tokens_per_sentence),
            )
            sentence_first, n = timed_stream(chunks, start, lambda chunk: int(chunk.shape[0]))
            first = first if first is not None else sentence_first
            samples += n
            progress(self.sizes.tokens_per_sentence)
        return ParagraphRun(
            ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE
        )
