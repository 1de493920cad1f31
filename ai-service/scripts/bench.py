"""Speed benchmark: our XTTS path against coqui-tts as naive servers use it, in one run.

    make bench                                  # full-size random checkpoint, default sizes
    .venv/bin/python scripts/bench.py --quick   # a smoke run: few tokens, one repeat
    .venv/bin/python scripts/bench.py --checkpoint tiny --quick   # seconds; what the tests run

Paths, each in its own subprocess (so each gets a clean peak-memory figure):
  (a) coqui-inference  `Xtts.inference` per sentence, conditioning recomputed per request
                       (`get_conditioning_latents`, as xtts-api-server-style servers do)
  (b) coqui-stream     `Xtts.inference_stream` per sentence, conditioning computed once
  (c) ours-fp32        our engine (cached conditioning, one GPT pass, windowed vocoder)
  (d) ours-int8        the same engine with the GPT quantised to int8 (CPU only)
  (e) ours-fp32-overlap  (c) with HiFi-GAN on a second thread, overlapping the GPT
  (f) ours-int8-overlap  (d) likewise: the fast CPU option
  (g) ours-fast        (f) with HiFi-GAN in bf16 (CPUs with AVX512-BF16 or AMX)
  (h) ours-fp16        GPT and HiFi-GAN in fp16 (GPU only)

Every path speaks the same three-sentence paragraph with the same forced number of audio tokens
per sentence (random weights never emit [STOP] reliably), so they produce the same amount of
audio and their times compare directly. Figures: time to first audio, real-time factor, GPT
decode ms per token next to the memory-bandwidth bound measured in the same run, peak memory,
throughput relative to the baselines, and int8's numerical difference from fp32.
Prints a table and writes JSON (default bench-results/bench.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = AI_SERVICE_DIR.parent
if str(AI_SERVICE_DIR) not in sys.path:
    sys.path.insert(0, str(AI_SERVICE_DIR))

DEFAULT_OUT = AI_SERVICE_DIR / "bench-results" / "bench.json"
REFERENCE_CLIP = REPO_ROOT / ".." / "shared" / "data" / "speech" / "ljspeech" / "LJ001-0001.wav"
CHECKPOINT_VARIANTS = ("tiny", "full")

# A three-sentence paragraph (Alice in Wonderland). Its length in characters does not matter for
# the timing: every sentence is forced to the same number of audio tokens.
PARAGRAPH = [
    "Alice was beginning to get very tired of sitting by her sister on the bank.",
    "Once or twice she had peeped into the book her sister was reading.",
    "But it had no pictures or conversations in it, thought Alice.",
]
LANGUAGE = "en"
SAMPLING = {"temperature": 0.75, "top_p": 0.85, "top_k": 50, "repetition_penalty": 5.0}
CODES_PER_SECOND = 22050 / 1024  # XTTS: one audio code per 1024 samples at 22.05 kHz
OUTPUT_RATE = 24000

PATHS = {
    "coqui-inference": "(a) coqui Xtts.inference, conditioning per request",
    "coqui-stream": "(b) coqui Xtts.inference_stream",
    "ours-fp32": "(c) ours, fp32",
    "ours-int8": "(d) ours, int8 GPT",
    "ours-fp32-overlap": "(e) ours, fp32, vocoder overlapped",
    "ours-int8-overlap": "(f) ours, int8 GPT, vocoder overlapped",
    "ours-fast": "(g) ours, int8 + bf16 vocoder, overlapped",
    "ours-fp16": "(h) ours, fp16 GPT + vocoder (GPU)",
    "ours-batch": "(i) ours, fp32, the 3 sentences as one batch",
    "ours-fast-batch": "(j) ours, fast option, 3 sentences as one batch",
}
# Book rendering (POST /generate/batch): the batched paths also render BATCH_SENTENCES sentences
# at each of these batch sizes; aggregate throughput is what a long book needs.
BATCH_SIZES = (1, 4, 8)
BATCH_SENTENCES = 8
# The KV-cache comparison: decode steps at this batch size, this far into a sentence.
KV_BATCH = 8
KV_POSITION = 320
KV_STEPS = 8
# (d) is left out by default to keep the run short: (f) is (d) with the vocoder overlapped.
DEFAULT_PATHS = [
    "coqui-inference",
    "coqui-stream",
    "ours-fp32",
    "ours-fp32-overlap",
    "ours-int8-overlap",
    "ours-fast",
    "ours-fp16",
    "ours-batch",
    "ours-fast-batch",
]
BASELINES = ("coqui-inference", "coqui-stream")


@dataclass(frozen=True)
class Sizes:
    tokens_per_sentence: int
    repeats: int
    decode_tokens: int
    numerics_tokens: int

    @classmethod
    def for_run(cls, quick: bool, tokens: int | None, repeats: int | None) -> Sizes:
        # Default: 48 codes (2.2 s of speech) per sentence and two repeats of every path, about
        # 5 minutes on a 2-core CPU. Quick: enough to exercise every code path.
        base = cls(8, 1, 8, 8) if quick else cls(48, 2, 16, 24)
        return cls(
            tokens_per_sentence=tokens or base.tokens_per_sentence,
            repeats=repeats or base.repeats,
            decode_tokens=base.decode_tokens,
            numerics_tokens=base.numerics_tokens,
        )


@dataclass
class WorkerSpec:
    path: str
    checkpoint: str
    device: str
    threads: int | None
    sizes: Sizes
    reference_wav: str
    result_file: str

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "sizes": asdict(self.sizes)})

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        data = json.loads(text)
        data["sizes"] = Sizes(**data["sizes"])
        return cls(**data)


# --- measurements shared by the workers -------------------------------------------------------


def progress(units: int) -> None:
    """Tell the parent process that `units` audio tokens' worth of work is done."""
    print(f"@@progress {units}", flush=True)


def stage(text: str) -> None:
    """Tell the parent process what this worker is doing (shown next to the progress bar)."""
    print(f"@@stage {text}", flush=True)


def current_rss_bytes() -> int:
    return _status_kib("VmRSS") * 1024


def peak_rss_bytes() -> int:
    return _status_kib("VmHWM") * 1024


def reset_peak_rss() -> bool:
    """Reset the kernel's RSS high-water mark (Linux >= 4.0), so the peak covers synthesis only."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _status_kib(field_name: str) -> int:
    try:
        match = re.search(rf"^{field_name}:\s+(\d+)", Path("/proc/self/status").read_text(), re.M)
    except OSError:
        match = None
    if match:
        return int(match.group(1))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; best effort elsewhere


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure_bandwidth(threads: int | None, megabytes: int = 512, repeats: int = 5) -> dict[str, float]:
    """Main-memory bandwidth in GB/s: reading a buffer far larger than the caches, and copying it.

    Reading is what a batch-1 GPT decode step does with its weights, so the read figure is the
    one the decode bound uses.
    """
    import torch

    from ownvoice_ai.optimize import configure_threads

    configure_threads(threads)
    n = megabytes * 1024 * 1024 // 4
    source = torch.ones(n, dtype=torch.float32)
    target = torch.empty_like(source)
    nbytes = source.numel() * 4
    source.sum()  # fault the pages in before timing
    target.copy_(source)
    read_s = median_time(lambda: source.sum(), repeats)
    copy_s = median_time(lambda: target.copy_(source), repeats)
    return {"read_gb_s": nbytes / read_s / 1e9, "copy_gb_s": 2 * nbytes / copy_s / 1e9, "buffer_mb": megabytes}


@dataclass
class ParagraphRun:
    ttfa_s: float
    total_s: float
    audio_s: float


def timed_stream(chunks: Iterator[Any], start: float, samples_of: Callable[[Any], int]) -> tuple[float | None, int]:
    """Consume an audio stream; return (seconds from `start` to the first non-empty chunk, samples)."""
    first = None
    samples = 0
    for chunk in chunks:
        n = samples_of(chunk)
        if n and first is None:
            first = time.perf_counter() - start
        samples += n
    return first, samples


# --- the paths --------------------------------------------------------------------------------


class SynthesisPath:
    """One synthesis path: load once, then speak the paragraph; optionally time the GPT alone."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.sizes = spec.sizes

    def warm_up(self) -> None: ...

    def paragraph(self) -> ParagraphRun:
        raise NotImplementedError

    def decode_ms_per_token(self) -> float | None:
        return None

    def extra(self) -> dict[str, Any]:
        return {}


def _checkpoint_dir(spec: WorkerSpec) -> Path:
    return Path(spec.checkpoint)


def _read_reference(path: str) -> tuple[Any, int]:
    import numpy as np

    with wave.open(path, "rb") as source:
        rate = source.getframerate()
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2")
    return pcm.astype(np.float32) / 32768.0, rate


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
        pass  # only its name is needed, closed before torchaudio opens it
    try:
        write_wav(Path(probe.name), [0.0] * 2205, 22050)
        torchaudio.load(probe.name)
        return "torchaudio.load"
    except Exception:

        def load_audio(audiopath: str, sampling_rate: int) -> torch.Tensor:
            samples, rate = _read_reference(str(audiopath))
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
        from ownvoice_ai.optimize import fixed_length_generate_kwargs

        self.torch = torch
        self.loader = _coqui_audio_loader()
        self.model = load_checkpoint(_checkpoint_dir(spec), device="cpu").to(_device(spec.device))
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
        self.model.inference(PARAGRAPH[0], LANGUAGE, self.cond_latent, self.speaker, **SAMPLING, **self.fixed(2))

    def decode_ms_per_token(self) -> float:
        """coqui's GPT alone: Hugging Face generate() for a fixed number of codes."""
        n = self.sizes.decode_tokens
        text = self.torch.IntTensor(self.model.tokenizer.encode(PARAGRAPH[0].lower(), lang=LANGUAGE)).unsqueeze(0)
        text = text.to(self.model.device)

        def generate() -> None:
            self.torch.manual_seed(0)
            self.model.gpt.generate(
                cond_latents=self.cond_latent, text_inputs=text, do_sample=True, **SAMPLING, **self.fixed(n)
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
                sentence, LANGUAGE, cond_latent, speaker, **SAMPLING, **self.fixed(self.sizes.tokens_per_sentence)
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
        return ParagraphRun(ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE)


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
        checkpoint = _checkpoint_dir(spec)
        source = ModelSource(checkpoint, model_id_for(checkpoint, prefix="bench"), "bench")
        tuning = StreamTuning(fixed_tokens=spec.sizes.tokens_per_sentence)
        # The int8 path loads fp32 first, measures the fp32 reference, then quantises (numerics).
        self.engine = XttsEngine(source, requested_device=spec.device, tuning=tuning, int8=False)
        status = self.engine.load()
        if not status.available:
            raise RuntimeError(status.reason)
        self.model = self.engine.model
        audio, rate = _read_reference(spec.reference_wav)
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
        return ParagraphRun(ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE)

    def speak(self, sentence: str) -> Iterator[Any]:
        """One sentence's audio pieces (numpy), through the engine."""
        if not self.overlap:
            return (chunk.samples for chunk in self.engine.stream(sentence, self.voice, self.options))
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
        vocoder = VocoderStream(self.model.hifigan_decoder, speaker, self.model.gpt.max_gen_mel_tokens + 1)
        latents = generate_latents(self.model.gpt, self.voice.gpt_cond_latent.to(device), tokens, settings, generator)
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
            generate_latents(self.model.gpt, self.voice.gpt_cond_latent, self._text_tokens(), settings, generator)
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
        from ownvoice_ai.optimize import gpt_bytes_per_token, kv_cache_bytes_per_token

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
        self.numerics = {"output_vs_coqui": self.compare_with_coqui(), "vocoder": self.vocoder_figures()}
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
            "latents_max_abs_vs_coqui_second_pass": float((latents[:m] - coqui_latents[:m]).abs().max()),
            "streamed_vs_full_decode_max_abs": float((streamed[:k] - reference[:k]).abs().max()),
            "streamed_samples": int(len(streamed)),
            "full_decode_samples": int(len(reference)),
        }

    def vocoder_figures(self) -> dict[str, float]:
        """HiFi-GAN alone, fp32, on one sentence's worth of latents: its real-time factor."""
        from ownvoice_ai.engines.xtts_vocoder import full_decode
        from ownvoice_ai.optimize import audio_difference, cpu_supports_bf16, half_precision_vocoder

        n = self.sizes.tokens_per_sentence
        latents = self.torch.randn(n, self.model.gpt.model_dim, device=self.engine.device) * 0.5
        speaker = self.voice.speaker_embedding.to(latents.device)
        decoder = self.model.hifigan_decoder
        audio_s = n / CODES_PER_SECOND
        figures = {"hifigan_rtf_fp32": median_time(lambda: full_decode(decoder, latents, speaker), 3) / audio_s}
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
        from ownvoice_ai.optimize import teacher_forced_outputs

        n = self.sizes.numerics_tokens
        generator = self.torch.Generator().manual_seed(1234)
        codes = self.torch.randint(0, 1024, (1, n), generator=generator)
        outputs = teacher_forced_outputs(self.model, self.voice.gpt_cond_latent, self._text_tokens(), codes)
        sampled, _ = self._sampled(n)
        progress(n)
        return {"codes": codes, "outputs": outputs, "sampled": sampled, "audio": self._audio(outputs[0])}

    def _audio(self, latents):
        from ownvoice_ai.engines.xtts_vocoder import full_decode

        speaker = self.voice.speaker_embedding.to(latents.device)
        return full_decode(self.model.hifigan_decoder, latents[0], speaker)

    def compare(self, reference: dict[str, Any]) -> dict[str, Any]:
        """Teacher-forced (same codes) GPT and audio differences, and how long sampling agrees."""
        from ownvoice_ai.optimize import audio_difference, compare_outputs, teacher_forced_outputs

        outputs = teacher_forced_outputs(
            self.model, self.voice.gpt_cond_latent, self._text_tokens(), reference["codes"]
        )
        sampled, _ = self._sampled(len(reference["sampled"]))
        progress(len(sampled))
        pairs = enumerate(zip(sampled, reference["sampled"], strict=False))
        same_prefix = next((i for i, (a, b) in pairs if a != b), len(sampled))
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
        self.engine.tuning = StreamTuning(tuning.first_chunk_tokens, tuning.chunk_tokens, self.sizes.numerics_tokens)
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


class BatchRendering(OursPath):
    """Book rendering: the paragraph as one batch (XttsEngine.render_batch), then a batch-size sweep."""

    def paragraph(self) -> ParagraphRun:
        self.engine.batch_size = len(PARAGRAPH)
        run = self._render(PARAGRAPH)
        progress(self.sizes.tokens_per_sentence * len(PARAGRAPH))
        return run

    def _render(self, sentences: list[str]) -> ParagraphRun:
        from ownvoice_ai.engines.base import RenderedChunk

        start = time.perf_counter()
        first, samples = timed_stream(
            self.engine.render_batch(sentences, self.voice, self.options),
            start,
            lambda event: len(event.samples) if isinstance(event, RenderedChunk) else 0,
        )
        return ParagraphRun(ttfa_s=first or 0.0, total_s=time.perf_counter() - start, audio_s=samples / OUTPUT_RATE)

    def decode_ms_per_token(self) -> float:
        return OursPath.decode_ms_per_token(self)

    def batching(self) -> dict[str, Any]:
        sentences = [PARAGRAPH[i % len(PARAGRAPH)] for i in range(BATCH_SENTENCES)]
        sweep = {}
        for size in BATCH_SIZES:
            self.engine.batch_size = size
            run = self._render(sentences)
            progress(self.sizes.tokens_per_sentence * BATCH_SENTENCES)
            sweep[str(size)] = {**asdict(run), "x_real_time": run.audio_s / run.total_s}
        return {"sentences": BATCH_SENTENCES, "by_batch_size": sweep, "peak_rss_bytes": peak_rss_bytes()}

    def kv_cache(self) -> dict[str, Any]:
        """Decode ms per step with HF's DynamicCache (torch.cat per token) and our preallocated one.

        Both start from the same random cache contents at KV_POSITION (a prefill that long would
        take minutes on a CPU; the step's cost does not depend on the values).
        """
        from transformers import DynamicCache

        from ownvoice_ai.engines.kv_cache import PreallocatedCache

        gpt = self.model.gpt
        torch = self.torch
        heads = gpt.gpt.config.n_head
        shape = (KV_BATCH, heads, KV_POSITION, gpt.model_dim // heads)
        contents = [(torch.randn(shape), torch.randn(shape)) for _ in range(len(gpt.gpt.h))]
        steps = torch.randn(KV_BATCH, KV_STEPS, gpt.model_dim)

        def ms_per_step(cache) -> float:
            with torch.inference_mode():
                for layer, (keys, values) in enumerate(contents):
                    cache.update(keys, values, layer)
                start = time.perf_counter()
                for step in range(KV_STEPS):
                    gpt.gpt(inputs_embeds=steps[:, step : step + 1], past_key_values=cache, use_cache=True)
                return (time.perf_counter() - start) / KV_STEPS * 1000

        dynamic = min(ms_per_step(DynamicCache()) for _ in range(2))
        preallocated = min(ms_per_step(PreallocatedCache(KV_POSITION + KV_STEPS)) for _ in range(2))
        progress(4 * KV_STEPS)
        return {
            "batch": KV_BATCH,
            "position": KV_POSITION,
            "dynamic_ms_per_step": dynamic,
            "preallocated_ms_per_step": preallocated,
        }

    def extra(self) -> dict[str, Any]:
        return {**super().extra(), "batching": self.batching(), "kv_cache": self.kv_cache()}


class OursFastBatch(BatchRendering, OursInt8):
    """(j): the fast CPU option's GPT and vocoder (no overlap thread: the batch keeps both cores busy)."""

    def convert(self) -> None:
        from ownvoice_ai.optimize import cpu_supports_bf16, half_precision_vocoder

        super().convert()
        if cpu_supports_bf16():
            half_precision_vocoder(self.model, self.torch.bfloat16)


WORKERS: dict[str, type[SynthesisPath]] = {
    "coqui-inference": CoquiInference,
    "coqui-stream": CoquiStream,
    "ours-fp32": OursFp32,
    "ours-int8": OursInt8,
    "ours-fp32-overlap": OursFp32Overlap,
    "ours-int8-overlap": OursInt8Overlap,
    "ours-fast": OursFast,
    "ours-fp16": OursHalf,
    "ours-batch": BatchRendering,
    "ours-fast-batch": OursFastBatch,
}


def _device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return requested


def run_worker(spec: WorkerSpec) -> dict[str, Any]:
    import torch

    from ownvoice_ai.optimize import configure_threads, release_freed_memory

    configure_threads(spec.threads)
    stage("loading")
    start = time.perf_counter()
    path = WORKERS[spec.path](spec)
    load_s = time.perf_counter() - start
    release_freed_memory()  # every path alike: RSS then reflects what the model holds
    threads = torch.get_num_threads()  # an overlapped path splits the cores
    rss_after_load = current_rss_bytes()
    stage("warming up")
    path.warm_up()
    peak_reset = reset_peak_rss()
    stage("speaking the paragraph")
    runs = [path.paragraph() for _ in range(spec.sizes.repeats)]
    stage("timing the GPT decode")
    decode_ms = path.decode_ms_per_token()
    peak_synthesis = peak_rss_bytes() if peak_reset else None
    stage("numerics")
    result = {
        "path": spec.path,
        "label": PATHS[spec.path],
        "threads": threads,
        "device": _device(spec.device),
        "torch": torch.__version__,
        "load_s": load_s,
        "runs": [asdict(run) for run in runs],
        "ttfa_s": statistics.median(run.ttfa_s for run in runs),
        "total_s": statistics.median(run.total_s for run in runs),
        "best_total_s": min(run.total_s for run in runs),
        "audio_s": runs[0].audio_s,
        "decode_ms_per_token": decode_ms,
        "rss_after_load_bytes": rss_after_load,
        "peak_rss_synthesis_bytes": peak_synthesis,
        "peak_rss_overall_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **path.extra(),
    }
    result["rtf"] = result["total_s"] / result["audio_s"] if result["audio_s"] else None
    return result


# --- the parent: checkpoint, bandwidth, workers, table, JSON ----------------------------------


def ensure_checkpoint(name: str) -> Path:
    """A checkpoint directory: tiny/full are built by make_checkpoint.py when missing."""
    if name not in CHECKPOINT_VARIANTS:
        path = Path(name).expanduser().resolve()
        if not (path / "model.pth").is_file():
            raise SystemExit(f"bench: {path} is not an XTTS checkpoint directory (no model.pth)")
        return path
    path = AI_SERVICE_DIR / "checkpoints" / name
    if not all((path / f).is_file() for f in ("config.json", "model.pth", "vocab.json")):
        print(f"bench: building the {name} random XTTS checkpoint in {path} (once) ...", flush=True)
        subprocess.run([sys.executable, str(AI_SERVICE_DIR / "scripts" / "make_checkpoint.py"), name], check=True)
    return path


def reference_wav(workdir: Path) -> tuple[Path, str]:
    """A speech clip for the voice (LJ Speech when the shared test data is here, else a stand-in).

    Written as 16-bit PCM WAV at 22.05 kHz; random weights make the content irrelevant to speed.
    """
    import numpy as np

    out = workdir / "reference.wav"
    clip = REFERENCE_CLIP.resolve()
    if clip.is_file():
        samples, rate = _read_reference(str(clip))
        write_wav(out, samples.tolist(), rate)
        return out, f"LJ Speech {clip.name}"
    rng = np.random.default_rng(0)
    t = np.arange(22050 * 6) / 22050
    voiced = 0.3 * np.sin(2 * np.pi * 140 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))
    write_wav(out, (voiced + 0.01 * rng.standard_normal(t.size)).tolist(), 22050)
    return out, "synthetic 6 s tone (shared test data not found)"


def write_wav(path: Path, samples: list[float], rate: int) -> None:
    import numpy as np

    pcm = (np.clip(np.asarray(samples, dtype=np.float32), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def work_units(path: str, sizes: Sizes, cores: int) -> int:
    """Audio tokens a worker reports, for the progress bar."""
    units = sizes.repeats * sizes.tokens_per_sentence * len(PARAGRAPH) + 3 * sizes.decode_tokens
    if path == "ours-fp32":
        units += sizes.numerics_tokens
    if path == "ours-fp32-overlap":
        units += 2 * sizes.numerics_tokens
    if path in ("ours-int8", "ours-int8-overlap", "ours-fast", "ours-fp16", "ours-fast-batch"):
        units += 2 * sizes.numerics_tokens
    if path in ("ours-batch", "ours-fast-batch"):
        units += len(BATCH_SIZES) * BATCH_SENTENCES * sizes.tokens_per_sentence + 4 * KV_STEPS
    if path in ("ours-int8", "ours-int8-overlap"):
        units += 3 * sizes.decode_tokens * (len({1, cores}) - 1)
    return units


@dataclass
class WorkerFailure:
    path: str
    message: str


@dataclass
class Bench:
    args: argparse.Namespace
    sizes: Sizes
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    failures: list[WorkerFailure] = field(default_factory=list)

    def run_path(self, path: str, checkpoint: Path, reference: Path, workdir: Path, bar: Any) -> None:
        result_file = workdir / f"{path}.json"
        spec = WorkerSpec(
            path, str(checkpoint), self.args.device, self.args.threads, self.sizes, str(reference), str(result_file)
        )
        log_file = workdir / f"{path}.log"
        bar.set_description(PATHS[path])
        with log_file.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, str(Path(__file__).resolve()), "--worker", spec.to_json()],
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                env={**os.environ, "TRANSFORMERS_VERBOSITY": "error", "PYTHONWARNINGS": "ignore"},
            )
            assert process.stdout is not None
            for line in process.stdout:
                if line.startswith("@@progress "):
                    bar.update(int(line.split()[1]))
                elif line.startswith("@@stage "):
                    bar.set_postfix_str(line[len("@@stage ") :].strip())
            process.wait()
        if process.returncode == 0 and result_file.is_file():
            self.results[path] = json.loads(result_file.read_text())
        else:
            tail = log_file.read_text().strip().splitlines()[-3:]
            self.failures.append(WorkerFailure(path, " | ".join(tail) or f"exit status {process.returncode}"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from ownvoice_ai.optimize import available_cores, cpu_supports_bf16

    sizes = Sizes.for_run(args.quick, args.tokens, args.repeats)
    checkpoint = ensure_checkpoint(args.checkpoint)
    paths = [p for p in PATHS if p in (args.paths or DEFAULT_PATHS)]
    skipped = {}
    if _device(args.device) != "cpu":
        cpu_only = ("ours-int8", "ours-int8-overlap", "ours-fast", "ours-fast-batch")
        skipped.update({p: "int8 dynamic quantisation is a CPU option" for p in cpu_only})
    else:
        skipped["ours-fp16"] = "a GPU option (fp16 matrix products are slow on CPUs)"
        if not cpu_supports_bf16():
            skipped["ours-fast"] = "this CPU has no native bf16 (AVX512-BF16 or AMX)"
    skipped = {p: why for p, why in skipped.items() if p in paths}
    paths = [p for p in paths if p not in skipped]
    bench = Bench(args, sizes)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]  # other work on the machine skews every timing
    with tempfile.TemporaryDirectory(prefix="ownvoice-bench-") as tmp:
        workdir = Path(tmp)
        reference, reference_note = reference_wav(workdir)
        print("bench: measuring memory bandwidth ...", flush=True)
        bandwidth = measure_bandwidth(args.threads)
        total = sum(work_units(p, sizes, available_cores()) for p in paths)
        with tqdm(total=total, unit="tok", file=sys.stderr, dynamic_ncols=True) as bar:
            for path in paths:
                bench.run_path(path, checkpoint, reference, workdir, bar)
    report = summarise(bench, bandwidth, checkpoint, reference_note, time.perf_counter() - started)
    report["skipped"] = skipped
    report["machine"]["load_average_1min"] = {"start": load_before, "end": os.getloadavg()[0]}
    return report


def summarise(bench: Bench, bandwidth: dict[str, float], checkpoint: Path, reference: str, wall_s: float):
    results = bench.results
    for result in results.values():
        weights = result.get("weight_bytes_per_token")
        if weights:
            moved = weights + result.get("kv_cache_bytes_per_token", 0)
            result["decode_bound_ms_per_token"] = moved / (bandwidth["read_gb_s"] * 1e9) * 1000
    if "coqui-inference" in results and "ours-fp32" in results:
        # coqui's GPT reads the same fp32 weights as ours: the same bound.
        for name in BASELINES:
            if name in results:
                results[name]["decode_bound_ms_per_token"] = results["ours-fp32"]["decode_bound_ms_per_token"]
    for result in results.values():
        result["throughput_vs"] = {
            base: results[base]["total_s"] / result["total_s"] for base in BASELINES if base in results
        }
    return {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "memory_bandwidth": bandwidth,
        },
        "checkpoint": str(checkpoint),
        "reference": reference,
        "paragraph": PARAGRAPH,
        "sizes": asdict(bench.sizes),
        "sampling": SAMPLING,
        "paths": results,
        "failures": [asdict(f) for f in bench.failures],
        "targets": targets(results),
        "wall_s": wall_s,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def targets(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Issue 6's CPU targets, checked for each of our paths that ran."""
    base = results.get("coqui-inference")
    out: dict[str, dict[str, Any]] = {}
    for name in ("ours-fp32", "ours-int8", "ours-fp32-overlap", "ours-int8-overlap", "ours-fast", "ours-fp16"):
        # (the batched paths are for throughput: their first audio waits for a whole sentence)
        ours = results.get(name)
        if not ours:
            continue
        checks = {
            "ttfa_at_most_1_5_s": {"value": ours["ttfa_s"], "met": ours["ttfa_s"] <= 1.5},
            "rtf_at_most_1_0": {"value": ours["rtf"], "met": ours["rtf"] <= 1.0},
        }
        if base:
            ratio = base["total_s"] / ours["total_s"]
            checks["throughput_at_least_3x_baseline"] = {"value": ratio, "met": ratio >= 3}
        out[name] = checks
    return out


def format_table(report: dict[str, Any]) -> str:
    bw = report["machine"]["memory_bandwidth"]
    header = (
        f"{'path':<48} {'TTFA s':>7} {'total s':>8} {'audio s':>8} {'RTF':>6} {'ms/tok':>7} "
        f"{'bound':>6} {'peak GB':>8} {'x (a)':>6} {'x (b)':>6}"
    )
    lines = [header, "-" * len(header)]
    for result in report["paths"].values():
        peak = result.get("peak_rss_synthesis_bytes") or result["peak_rss_overall_bytes"]
        ratios = result["throughput_vs"]
        lines.append(
            f"{result['label']:<48} {result['ttfa_s']:>7.2f} {result['total_s']:>8.2f} {result['audio_s']:>8.2f} "
            f"{result['rtf']:>6.2f} {result['decode_ms_per_token']:>7.1f} "
            f"{_num(result.get('decode_bound_ms_per_token'), 6, 1)} {peak / 1e9:>8.2f} "
            f"{_num(ratios.get('coqui-inference'), 6, 2)} {_num(ratios.get('coqui-stream'), 6, 2)}"
        )
    lines.append("")
    lines.append(
        f"memory bandwidth: read {bw['read_gb_s']:.1f} GB/s, copy {bw['copy_gb_s']:.1f} GB/s; "
        "bound = weight + KV-cache bytes per token / read bandwidth"
    )
    sizes = report["sizes"]
    lines.append(
        f"{len(report['paragraph'])} sentences x {sizes['tokens_per_sentence']} audio tokens, "
        f"median of {sizes['repeats']} run(s); peak GB = RSS high-water mark during synthesis"
    )
    load = report["machine"].get("load_average_1min")
    if load:
        lines.append(f"machine load (1-min average): {load['start']:.1f} at the start, {load['end']:.1f} at the end")
    lines += format_batching(report)
    for name in ("ours-int8", "ours-int8-overlap", "ours-fast", "ours-fp16", "ours-fast-batch"):
        diff = report["paths"].get(name, {}).get("vs_fp32")
        if diff:
            lines.append(
                f"{name} vs fp32 on the same codes: GPT latent rel. error {diff['latent_rel_l2']:.2e}, "
                f"next-code top-1 agreement {diff['top1_agreement']:.1%}, audio SNR {diff['audio_snr_db']:.1f} dB"
            )
    vocoder = report["paths"].get("ours-fp32", {}).get("vocoder")
    if vocoder:
        bf16 = (
            f", bf16 {vocoder['hifigan_rtf_bf16']:.3f} (SNR {vocoder['hifigan_bf16_snr_db']:.1f} dB)"
            if "hifigan_rtf_bf16" in vocoder
            else ""
        )
        lines.append(f"HiFi-GAN alone, RTF: fp32 {vocoder['hifigan_rtf_fp32']:.3f}{bf16}")
    int8_paths = [report["paths"].get(name, {}) for name in ("ours-int8", "ours-int8-overlap")]
    by_threads = next(
        (p["decode_ms_per_token_by_threads"] for p in int8_paths if p.get("decode_ms_per_token_by_threads")),
        None,
    )
    if by_threads:
        lines.append(
            "int8 decode ms/token by threads: " + ", ".join(f"{t}: {ms:.1f}" for t, ms in by_threads.items())
        )
    overlap = report["paths"].get("ours-fp32-overlap", {}).get("output_vs_sequential")
    if overlap:
        lines.append(
            f"ours fp32 overlapped vs sequential (same seed): max abs diff {overlap['max_abs_diff']:.1e}, "
            f"samples {overlap['overlapped_samples']} vs {overlap['sequential_samples']}"
        )
    same = report["paths"].get("ours-fp32", {}).get("output_vs_coqui")
    if same:
        lines.append(
            f"ours fp32 vs coqui: latents max abs diff {same['latents_max_abs_vs_coqui_second_pass']:.1e}, "
            f"streamed vs full vocoder decode max abs diff {same['streamed_vs_full_decode_max_abs']:.1e}"
        )
    for path, checks in report["targets"].items():
        verdicts = ", ".join(
            f"{name} {check['value']:.2f} {'met' if check['met'] else 'MISSED'}" for name, check in checks.items()
        )
        lines.append(f"targets {path}: {verdicts}")
    for path, why in report.get("skipped", {}).items():
        lines.append(f"skipped {path}: {why}")
    for failure in report["failures"]:
        lines.append(f"FAILED {failure['path']}: {failure['message']}")
    return "\n".join(lines)


def format_batching(report: dict[str, Any]) -> list[str]:
    """Book-rendering throughput by batch size, against coqui's Xtts.inference in the same run."""
    base = report["paths"].get("coqui-inference")
    lines = []
    for name in ("ours-batch", "ours-fast-batch"):
        batching = report["paths"].get(name, {}).get("batching")
        if not batching:
            continue
        cells = []
        for size, run in batching["by_batch_size"].items():
            versus = f", {run['x_real_time'] * base['total_s'] / base['audio_s']:.1f}x (a)" if base else ""
            cells.append(f"batch {size}: {run['x_real_time']:.2f}x real time{versus}")
        lines.append(f"{name} rendering {batching['sentences']} sentences: " + "; ".join(cells))
        kv = report["paths"][name].get("kv_cache")
        if kv:
            lines.append(
                f"{name} decode step at batch {kv['batch']}, position {kv['position']}: "
                f"{kv['dynamic_ms_per_step']:.0f} ms with HF DynamicCache, "
                f"{kv['preallocated_ms_per_step']:.0f} ms with the preallocated KV cache"
            )
    return lines


def format_markdown(report: dict[str, Any]) -> str:
    """The table for the README's Performance section."""
    rows = [
        "| path | time to first audio (s) | total (s) | RTF | GPT decode ms/token (bound) "
        "| peak RSS (GB) | throughput vs (a) | vs (b) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in report["paths"].values():
        peak = result.get("peak_rss_synthesis_bytes") or result["peak_rss_overall_bytes"]
        ratios = result["throughput_vs"]
        bound = result.get("decode_bound_ms_per_token")
        rows.append(
            f"| {result['label']} | {result['ttfa_s']:.2f} | {result['total_s']:.1f} | {result['rtf']:.2f} "
            f"| {result['decode_ms_per_token']:.0f} ({bound:.0f}) | {peak / 1e9:.2f} "
            f"| {ratios.get('coqui-inference', float('nan')):.2f}x | {ratios.get('coqui-stream', float('nan')):.2f}x |"
        )
    batching = format_batching(report)
    if batching:
        rows += ["", *(f"- {line}" for line in batching)]
    return "\n".join(rows)


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(temp, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="few tokens and one repeat: a smoke run")
    parser.add_argument("--checkpoint", default="full", help="tiny, full (built when missing) or a checkpoint dir")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: available cores)")
    parser.add_argument("--tokens", type=int, default=None, help="audio tokens per sentence (default 48; quick 8)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per path, median reported")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), help="run only these paths")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})")
    parser.add_argument("--markdown", type=Path, metavar="JSON", help="print a bench.json as a Markdown table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def set_omp_environment() -> dict[str, str]:
    """OpenMP settings for this process and the workers (before torch is imported), unless the
    user set them: the same for every path, so the comparison stays fair (see optimize.py)."""
    applied = {}
    for name, value in OMP_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
        applied[name] = os.environ[name]
    return applied


# kept in sync with ownvoice_ai.optimize.OMP_ENVIRONMENT; read before torch is imported
OMP_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    omp = set_omp_environment()
    if args.markdown:
        print(format_markdown(json.loads(args.markdown.read_text())))
        return 0
    if args.worker:
        spec = WorkerSpec.from_json(args.worker)
        write_json(Path(spec.result_file), run_worker(spec))
        return 0
    report = run(args)
    report["machine"]["openmp"] = omp
    write_json(args.out, report)
    print(format_table(report))
    print(f"\nJSON: {args.out}  ({report['wall_s']:.0f} s)")
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
