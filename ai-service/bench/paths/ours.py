"""Our engine as the service runs it, and its speed options (paths c to h)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ..config import CODES_PER_SECOND, LANGUAGE, OUTPUT_RATE, PARAGRAPH, SAMPLING, WorkerSpec
from ..probes import ParagraphRun, median_time, progress, timed_stream
from ..reference import read_reference
from .base import SynthesisPath, checkpoint_dir


class OursPath(SynthesisPath):
    """Our engine, exactly as the service runs it (engines/xtts.py)."""

    overlap = False  # vocoder on a second thread while the GPT generates the next chunk

    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__(spec)
        import torch

        from ownvoice_ai.conditioning import Conditioning
        from ownvoice_ai.engines.base import SynthesisOptions
        from ownvoice_ai.engines.xtts import StreamTuning, XttsEngine
        from ownvoice_ai.model_source import ModelSource, model_id_for

        self.torch = torch
        checkpoint = checkpoint_dir(spec)
        source = ModelSource(checkpoint, model_id_for(checkpoint, prefix="bench"), "bench")
        tuning = StreamTuning(fixed_tokens=spec.sizes.tokens_per_sentence)
        # The int8 path loads fp32 first, measures the fp32 reference, then quantises (numerics).
        self.engine = XttsEngine(
            source, requested_device=spec.device, tuning=tuning, precision="fp32"
        )
        status = self.engine.load()
        if not status.available:
            raise RuntimeError(status.reason)
        self.model = self.engine.model
        audio, rate = read_reference(spec.reference_wav)
        start = time.perf_counter()
        latent, speaker = self.engine.compute_conditioning(audio, rate)
        self.conditioning_s = time.perf_counter() - start  # once per voice, then cached
        self.voice = Conditioning(latent, speaker, "bench", source.model_id or "bench")
        self.options = SynthesisOptions(language=LANGUAGE, seed=0, **SAMPLING)
        self.numerics: dict[str, Any] = {}
        self.quantization: dict[str, Any] = {}

    def warm_up(self) -> None:
        from ownvoice_ai.engines.xtts import StreamTuning

        tuning, self.engine.tuning = self.engine.tuning, StreamTuning(fixed_tokens=2)
        try:
            list(self.engine.stream(PARAGRAPH[0], self.voice, self.options))
        finally:
            self.engine.tuning = tuning

    def paragraph(self) -> ParagraphRun:
        start = time.perf_counter()
        first = None
        samples = 0
        for sentence in PARAGRAPH:
            sentence_first, n = timed_stream(self.speak(sentence), start, len)
            first = first if first is not None else sentence_first
            samples += n
            progress(self.sizes.tokens_per_sentence)
        return ParagraphRun(
            ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE
        )

    def speak(self, sentence: str) -> Iterator[Any]:
        """One sentence's audio pieces (numpy), through the engine."""
        if not self.overlap:
            return (
                chunk.samples for chunk in self.engine.stream(sentence, self.voice, self.options)
            )
        return self._overlapped(sentence)

    def _overlapped(self, sentence: str) -> Iterator[Any]:
        """The engine's own parts, in the order XttsEngine._stream_on calls them, with the
        vocoder on a second thread (optimize.overlapped_vocoder_chunks) instead of in line."""
        from ownvoice_ai.engines.xtts_gpt import SamplingSettings, generate_latents
        from ownvoice_ai.engines.xtts_vocoder import VocoderStream
        from ownvoice_ai.optimize import overlapped_vocoder_chunks

        device = self.engine.device
        tuning = self.engine.tuning
        tokens = self.engine.encode_text(sentence, LANGUAGE, device)
        settings = SamplingSettings(fixed_tokens=tuning.fixed_tokens, **SAMPLING)
        generator = self.torch.Generator(device=device)
        generator.manual_seed(self.options.seed or 0)
        speaker = self.voice.speaker_embedding.to(device)
        vocoder = VocoderStream(
            self.model.hifigan_decoder, speaker, self.model.gpt.max_gen_mel_tokens + 1
        )
        latents = generate_latents(
            self.model.gpt, self.voice.gpt_cond_latent.to(device), tokens, settings, generator
        )
        for piece, _is_last in overlapped_vocoder_chunks(
            latents, vocoder, tuning.first_chunk_tokens, tuning.chunk_tokens
        ):
            yield piece.float().cpu().numpy()

    def _text_tokens(self):
        return self.engine.encode_text(PARAGRAPH[0], LANGUAGE)

    def _sampled(self, n: int, seed: int = 0) -> tuple[list[int], Any]:
        """Our token loop alone: n codes and their latents."""
        from ownvoice_ai.engines.xtts_gpt import SamplingSettings, generate_latents

        generator = self.torch.Generator(device=self.engine.device)
        generator.manual_seed(seed)
        settings = SamplingSettings(fixed_tokens=n, **SAMPLING)
        pairs = list(
            generate_latents(
                self.model.gpt, self.voice.gpt_cond_latent, self._text_tokens(), settings, generator
            )
        )
        codes = [token for token, _ in pairs]
        return codes, self.torch.stack([latent for _, latent in pairs])

    def decode_ms_per_token(self) -> float:
        n = self.sizes.decode_tokens

        def decode() -> None:
            self._sampled(n)
            progress(n)

        return median_time(decode, 3) / n * 1000

    def extra(self) -> dict[str, Any]:
        from ownvoice_ai.optimize import gpt_bytes_per_token

        from ..numerics import kv_cache_bytes_per_token

        text_len = int(self._text_tokens().shape[1])
        # Mid-sentence position: 32 conditioning latents + [START] text [STOP] + half the codes.
        position = 32 + text_len + 3 + self.sizes.tokens_per_sentence // 2
        return {
            "conditioning_s_once_per_voice": self.conditioning_s,
            "weight_bytes_per_token": gpt_bytes_per_token(self.model),
            "kv_cache_bytes_per_token": kv_cache_bytes_per_token(self.model, position),
            **self.quantization,
            **self.numerics,
        }


class OursFp32(OursPath):
    def extra(self) -> dict[str, Any]:
        self.numerics = {
            "output_vs_coqui": self.compare_with_coqui(),
            "vocoder": self.vocoder_figures(),
        }
        return super().extra()

    def compare_with_coqui(self) -> dict[str, float]:
        """Our single GPT pass and windowed vocoder against coqui's second pass and full decode."""
        from ownvoice_ai.engines.xtts_gpt import teacher_forced_latents
        from ownvoice_ai.engines.xtts_vocoder import VocoderStream, full_decode

        n = self.sizes.numerics_tokens
        codes, latents = self._sampled(n)
        progress(n)
        code_tensor = self.torch.tensor([codes], device=latents.device)
        coqui_latents = teacher_forced_latents(
            self.model.gpt, self.voice.gpt_cond_latent, self._text_tokens(), code_tensor
        )[0]
        m = min(len(coqui_latents), len(latents))
        speaker = self.voice.speaker_embedding.to(latents.device)
        reference = full_decode(self.model.hifigan_decoder, latents, speaker)
        stream = VocoderStream(self.model.hifigan_decoder, speaker, n + 1)
        pieces = []
        for latent in latents:
            stream.push(latent)
            piece = stream.decode_ready()
            if piece is not None:
                pieces.append(piece)
        pieces.append(stream.finish())
        streamed = self.torch.cat(pieces)
        k = min(len(reference), len(streamed))
        return {
            "latents_max_abs_vs_coqui_second_pass": float(
                (latents[:m] - coqui_latents[:m]).abs().max()
            ),
            "streamed_vs_full_decode_max_abs": float((streamed[:k] - reference[:k]).abs().max()),
            "streamed_samples": int(len(streamed)),
            "full_decode_samples": int(len(reference)),
        }

    def vocoder_figures(self) -> dict[str, float]:
        """HiFi-GAN alone, fp32, on one sentence's worth of latents: its real-time factor."""
        from ownvoice_ai.engines.xtts_vocoder import full_decode
        from ownvoice_ai.optimize import cpu_supports_bf16, half_precision_vocoder

        from ..numerics import audio_difference

        n = self.sizes.tokens_per_sentence
        latents = self.torch.randn(n, self.model.gpt.model_dim, device=self.engine.device) * 0.5
        speaker = self.voice.speaker_embedding.to(latents.device)
        decoder = self.model.hifigan_decoder
        audio_s = n / CODES_PER_SECOND
        figures = {
            "hifigan_rtf_fp32": median_time(lambda: full_decode(decoder, latents, speaker), 3)
            / audio_s
        }
        if cpu_supports_bf16() or self.engine.device != "cpu":
            reference = full_decode(decoder, latents, speaker)
            fp32_generator = decoder.waveform_decoder
            half_precision_vocoder(self.model, self.torch.bfloat16)
            try:
                seconds = median_time(lambda: full_decode(decoder, latents, speaker), 3)
                figures["hifigan_rtf_bf16"] = seconds / audio_s
                difference = audio_difference(reference, full_decode(decoder, latents, speaker))
                figures["hifigan_bf16_snr_db"] = difference["audio_snr_db"]
            finally:
                decoder.waveform_decoder = fp32_generator.float()
        return figures


class OursVariant(OursPath):
    """Our engine with a speed option applied after loading fp32, compared with fp32 first."""

    def __init__(self, spec: WorkerSpec) -> None:
        super().__init__(spec)
        reference = self.reference_outputs()
        self.convert()
        self.numerics = {"vs_fp32": self.compare(reference)}

    def convert(self) -> None:
        raise NotImplementedError

    def reference_outputs(self) -> dict[str, Any]:
        from ..numerics import teacher_forced_outputs

        n = self.sizes.numerics_tokens
        generator = self.torch.Generator().manual_seed(1234)
        codes = self.torch.randint(0, 1024, (1, n), generator=generator)
        outputs = teacher_forced_outputs(
            self.model, self.voice.gpt_cond_latent, self._text_tokens(), codes
        )
        sampled, _ = self._sampled(n)
        progress(n)
        return {
            "codes": codes,
            "outputs": outputs,
            "sampled": sampled,
            "audio": self._audio(outputs[0]),
        }

    def _audio(self, latents):
        from ownvoice_ai.engines.xtts_vocoder import full_decode

        speaker = self.voice.speaker_embedding.to(latents.device)
        return full_decode(self.model.hifigan_decoder, latents[0], speaker)

    def compare(self, reference: dict[str, Any]) -> dict[str, Any]:
        """Teacher-forced (same codes) GPT and audio differences, and how long sampling agrees."""
        from ..numerics import audio_difference, compare_outputs, teacher_forced_outputs

        codes = reference["codes"]
        outputs = teacher_forced_outputs(
            self.model, self.voice.gpt_cond_latent, self._text_tokens(), codes
        )
        sampled, _ = self._sampled(len(reference["sampled"]))
        progress(len(sampled))
        same_prefix = next(
            (
                i
                for i, (a, b) in enumerate(zip(sampled, reference["sampled"], strict=False))
                if a != b
            ),
            len(sampled),
        )
        return {
            **compare_outputs(reference["outputs"], outputs).as_dict(),
            **audio_difference(reference["audio"], self._audio(outputs[0])),
            "sampled_codes_identical_prefix": same_prefix,
            "sampled_codes_compared": len(sampled),
        }


class OursInt8(OursVariant):
    def convert(self) -> None:
        from ownvoice_ai.optimize import quantize_gpt_int8

        if self.engine.device != "cpu":
            raise RuntimeError("int8 dynamic quantisation is a CPU option; skip this path on a GPU")
        result = quantize_gpt_int8(self.model)
        self.engine.int8 = True
        self.quantization = {
            "quantized_linear_layers": result.linear_layers,
            "weight_bytes_per_token_fp32": result.bytes_per_token_before,
        }

    def decode_ms_per_token(self) -> float:
        """Also time the decode at every thread count up to the cores (thread tuning)."""
        from ownvoice_ai.optimize import available_cores, configure_threads

        configured = self.torch.get_num_threads()
        by_threads = {}
        for threads in sorted({1, available_cores(), configured}):
            self.torch.set_num_threads(threads)
            by_threads[str(threads)] = super().decode_ms_per_token()
        configure_threads(configured)
        self.quantization["decode_ms_per_token_by_threads"] = by_threads
        return by_threads[str(configured)]


class OursFast(OursInt8):
    """Every CPU speed option at once: int8 GPT, bf16 HiFi-GAN, vocoder overlapped."""

    overlap = True

    def __init__(self, spec: WorkerSpec) -> None:
        _split_threads(spec)
        super().__init__(spec)

    def convert(self) -> None:
        from ownvoice_ai.optimize import half_precision_vocoder

        super().convert()
        half_precision_vocoder(self.model, self.torch.bfloat16)

    def decode_ms_per_token(self) -> float:
        return OursPath.decode_ms_per_token(self)  # the GPT is (d)'s; no second thread sweep


def _split_threads(spec: WorkerSpec) -> None:
    from ownvoice_ai.optimize import available_cores, configure_threads, overlap_threads

    configure_threads(overlap_threads(spec.threads or available_cores()))


class OursFp32Overlap(OursPath):
    """(c) with the vocoder overlapping the GPT; the cores split between the two threads."""

    overlap = True

    def __init__(self, spec: WorkerSpec) -> None:
        _split_threads(spec)
        super().__init__(spec)

    def decode_ms_per_token(self) -> float:
        return OursPath.decode_ms_per_token(self)

    def extra(self) -> dict[str, Any]:
        self.numerics = {"output_vs_sequential": self.compare_with_sequential()}
        return super().extra()

    def compare_with_sequential(self) -> dict[str, float]:
        """Same seed, same thread count: the overlapped sentence against the engine's own loop."""
        import numpy as np

        from ownvoice_ai.engines.xtts import StreamTuning

        tuning = self.engine.tuning
        self.engine.tuning = StreamTuning(
            tuning.first_chunk_tokens, tuning.chunk_tokens, self.sizes.numerics_tokens
        )
        try:
            self.overlap = False
            sequential = np.concatenate(list(self.speak(PARAGRAPH[0])))
            self.overlap = True
            overlapped = np.concatenate(list(self.speak(PARAGRAPH[0])))
        finally:
            self.engine.tuning, self.overlap = tuning, True
        progress(2 * self.sizes.numerics_tokens)
        n = min(len(sequential), len(overlapped))
        return {
            "max_abs_diff": float(np.abs(sequential[:n] - overlapped[:n]).max()),
            "sequential_samples": int(len(sequential)),
            "overlapped_samples": int(len(overlapped)),
        }


class OursInt8Overlap(OursInt8):
    """(d) with the vocoder overlapping the GPT (the decode is timed at 1 and at all cores)."""

    overlap = True

    def __init__(self, spec: WorkerSpec) -> None:
        _split_threads(spec)
        super().__init__(spec)


class OursHalf(OursVariant):
    """GPU: GPT and vocoder in fp16. Written for a lent GPU; not measured in this project yet."""

    def convert(self) -> None:
        from ownvoice_ai.optimize import half_precision_gpt, half_precision_vocoder

        half_precision_gpt(self.model, self.torch.float16)
        half_precision_vocoder(self.model, self.torch.float16)
