"""The XTTS v2 engine: cloned voices, streamed sentence by sentence, chunk by chunk.

Pieces, each callable on its own (the benchmark times them separately):
- `load()`: the checkpoint through coqui-tts's real loader, on the chosen device;
- `compute_conditioning(audio, sr)`: GPT latents from the *whole* reference (not XTTS's 6 s
  default) plus the speaker embedding: run once per voice, cached by ConditioningStore;
- `encode_text(text, language)`: XTTS's tokenizer, with its 400-token limit checked;
  `count_tokens(language)` counts for the text splitter and keeps the ids (`TokenizedChunk`);
- `generate_latents(...)`: the GPT token loop (engines/xtts_gpt.py);
- `VocoderStream`: bounded-window HiFi-GAN decode with crossfaded joins (engines/xtts_vocoder.py);
- `stream(text, conditioning, options)`: all of the above for one model-sized text chunk;
  `stream_chunks(chunks, ...)` for a text's chunks in order, the next ones read ahead.
  Concurrent streams' GPT steps run as rows of one batch (`SharedStreams`, engines/xtts_listeners.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import time
from array import array
from collections import deque
from collections.abc import Callable, Generator, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch

from ..checkpoints import load_checkpoint
from ..conditioning import Conditioning
from ..model_source import ModelSource
from ..optimize import (
    InlineDecoder,
    SideDecoder,
    VocoderThread,
    cpu_supports_bf16,
    drop_text_head,
    half_precision_vocoder,
    overlapped_vocoder_chunks,
    quantize_gpt_int8,
    release_freed_memory,
    torch_threads,
)
from .base import (
    END_OF_TURN,
    AudioChunk,
    BatchProgress,
    EngineStatus,
    RenderedChunk,
    SynthesisOptions,
)
from .device import DeviceChoice, pick_device, verify_accelerator
from .precision import PrecisionChoice, Requested, SpeedSample, choose_precision
from .xtts_continuous import generate_latents_continuous
from .xtts_gpt import (
    BatchRow,
    BatchStep,
    ConditioningPrefix,
    SamplingSettings,
    generate_latents,
)
from .xtts_listeners import SharedStreams
from .xtts_static import DecoderPool, generate_latents_batch_static, generate_latents_static
from .xtts_vocoder import VocoderStream, full_decode

logger = logging.getLogger(__name__)

SAMPLE_RATE = 24000
CONDITIONING_SAMPLE_RATE = 22050  # what XTTS's conditioning encoders expect
MAX_TEXT_TOKENS = 400  # XTTS asserts on more (gpt_max_text_tokens 402 incl. start/stop)


class UnsupportedLanguage(ValueError):
    pass


class TextTooLong(ValueError):
    pass


def _check_length(token_count: int) -> None:
    if token_count >= MAX_TEXT_TOKENS:
        raise TextTooLong(
            f"{token_count} text tokens; XTTS reads at most {MAX_TEXT_TOKENS - 1} per chunk"
        )


@dataclass(frozen=True)
class TokenizedChunk:
    """A model-sized piece of text with its XTTS token ids, tokenized once, while it was split."""

    text: str
    ids: Sequence[int]


class ChunkTokenizer:
    """A `text.split_for_model` token counter that remembers the ids of every piece it counted.

    The splitter counts each chunk it returns (its last check is on the exact chunk), so
    `tokenized(chunk)` finds the ids there instead of running the tokenizer a second time. The
    ids are kept compactly (4 bytes each) and live only as long as one request's split.
    """

    def __init__(self, encode: Callable[[str], list[int]]) -> None:
        self._encode = encode
        self._ids: dict[str, array] = {}

    def __call__(self, chunk: str) -> int:
        return len(self._lookup(chunk))

    def tokenized(self, chunk: str) -> TokenizedChunk:
        return TokenizedChunk(chunk, self._lookup(chunk))

    def _lookup(self, chunk: str) -> array:
        ids = self._ids.get(chunk)
        if ids is None:
            ids = self._ids[chunk] = array("I", self._encode(chunk))
        return ids


def _text_of(chunk: str | TokenizedChunk) -> str:
    return chunk if isinstance(chunk, str) else chunk.text


# Speech runs at about 1.5 audio tokens per character (21.53 codes/s, ~14 characters/s). A
# sentence that runs past twice that has lost its way (XTTS's known end-of-sentence rambling):
# the budget below ends it, and a random demo checkpoint, which never samples [STOP], is sized
# to the speaking rate so its noise has the length real speech would have.
SPOKEN_TOKENS_PER_CHAR = 1.5
MAX_TOKENS_PER_CHAR = 2 * SPOKEN_TOKENS_PER_CHAR
MIN_TOKEN_BUDGET = 24


@dataclass(frozen=True)
class StreamTuning:
    first_chunk_tokens: int = 8
    chunk_tokens: int = 24
    fixed_tokens: int | None = None
    # Force each chunk to its spoken length (random demo checkpoints only).
    speaking_rate_tokens: bool = False
    # Decode chunk n on a second thread while the GPT generates chunk n+1 (same samples); in
    # book rendering, vocode the sentences that ended while the batch's next steps run.
    overlap_vocoder: bool = False

    def token_limits(self, text: str) -> tuple[int | None, int]:
        """(fixed token count or None, maximum tokens) for one text chunk."""
        budget = MIN_TOKEN_BUDGET + math.ceil(MAX_TOKENS_PER_CHAR * len(text))
        if self.fixed_tokens is not None:
            return self.fixed_tokens, self.fixed_tokens
        if self.speaking_rate_tokens:
            spoken = max(8, math.ceil(SPOKEN_TOKENS_PER_CHAR * len(text)))
            return spoken, spoken
        return None, budget


# The load-time fp32 speed measurement (precision `auto`): steps discarded, then steps timed.
SPEED_TEST_WARM_UP = 3
SPEED_TEST_TIMED = 8

# Often enough that the device worker can slip a listener's /generate in between (worker.py).
PROGRESS_EVERY_S = 0.25


class _ProgressClock:
    """Counts a batch's tokens and says when a heartbeat is due (the worker's stall clock)."""

    def __init__(self) -> None:
        self.tokens = 0
        self._last = time.monotonic()

    def tick(self, tokens: int) -> bool:
        self.tokens += tokens
        if time.monotonic() - self._last < PROGRESS_EVERY_S:
            return False
        self._last = time.monotonic()
        return True


def _next_step(steps: Iterator[BatchStep], threads: int | None) -> BatchStep | None:
    """The batch's next GPT step on `threads` torch threads (set per step: the device worker
    runs other jobs between two steps of this one)."""
    with torch_threads(threads):
        return next(steps, None)


@dataclass
class _Sentence:
    """One chunk, ready to decode: see `XttsEngine._sentence`."""

    cond_latent: torch.Tensor
    tokens: torch.Tensor
    settings: SamplingSettings
    generator: torch.Generator
    vocoder: VocoderStream


@dataclass
class _SharedRow:
    """A chunk's row in the listeners' batch, with its vocoder (on a thread of its own, fed by
    the batch's steps, on the fast path)."""

    index: int
    chunk: str | TokenizedChunk
    vocoder: VocoderStream
    side: VocoderThread | None


class XttsEngine:
    name = "xtts"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        source: ModelSource,
        requested_device: str = "auto",
        tuning: StreamTuning | None = None,
        precision: Requested = "fp32",
        self_test_tokens: int = 8,
        batch_size: int = 8,
        cuda_graphs: bool = True,
        clock: Callable[[], float] = time.perf_counter,
        listener_batch: int = 8,
        read_ahead: int = 1,
    ) -> None:
        self.source = source
        self.requested_device = requested_device
        self.tuning = tuning or StreamTuning()
        self.requested_precision = precision
        self.precision: PrecisionChoice | None = None  # decided in load()
        self.int8 = False
        self.clock = clock  # times the fp32 speed measurement (tests pass their own)
        self.self_test_tokens = self_test_tokens
        self.batch_size = batch_size
        # Torch threads for book rendering (GPT steps and vocoder); None: the worker thread's.
        # The fast CPU path streams on half the cores per side but renders books on all of them.
        self.batch_threads: int | None = None
        self.cuda_graphs = cuda_graphs
        # On CUDA: fixed-shape decoders replayed as CUDA graphs (engines/xtts_static.py)
        self.decoders: DecoderPool | None = None
        # Concurrent streams' sentences decode as rows of one batch of this many (where no CUDA
        # graphs run): engines/xtts_listeners.py. 1: each stream decodes alone.
        self.listener_batch = listener_batch
        self.listeners: SharedStreams | None = None
        # A text's next chunks that decode beside the one being heard (`stream_chunks`)
        self.read_ahead = read_ahead
        # Each voice's conditioning positions, prefilled once (set at load; xtts_gpt)
        self.prefixes: ConditioningPrefix | None = None
        self.model: Any = None  # coqui's Xtts once loaded (untyped)
        self.device = "cpu"
        self._status = EngineStatus(available=False, model_id=source.model_id, reason=source.reason)

    # --- loading -------------------------------------------------------------------------

    def load(self) -> EngineStatus:
        if self.source.path is None:
            return self._status
        try:
            choice = pick_device(self.requested_device)
            self.model = load_checkpoint(self.source.path, device="cpu")
            drop_text_head(self.model)  # training only
            if choice.device == "mps":
                choice = self._verify_mps()
            self.device = choice.device
            self.model.to(self.device)
            self.precision = choose_precision(
                self.requested_precision, self.device, self._measure_fp32_speed
            )
            if self.precision.chosen == "int8":
                self._apply_fast_cpu_option()
            self.use_cuda_graphs(self.cuda_graphs)
            if self.decoders is None:  # (a CUDA graph prefills whole prefixes)
                # as many voices as a listeners' batch holds rows (8 MB each, full size)
                voices = max(4, min(self.listener_batch, 8))
                self.prefixes = ConditioningPrefix(self.model.gpt, voices)
            if self.listener_batch > 1 and self.decoders is None:
                self.listeners = SharedStreams(
                    self.model.gpt, self.listener_batch, self.device, self.prefixes
                )
            release_freed_memory()  # the checkpoint's state dict (and fp32 weights, with int8)
        except Exception as error:
            logger.exception("loading XTTS from %s failed", self.source.path)
            self.model = None
            self._status = EngineStatus(
                available=False,
                model_id=self.source.model_id,
                reason=f"Loading the XTTS checkpoint in {self.source.path} failed ({type(error).__name__}: "
                f"{error}). Check the files, or set XTTS_MODEL_DIR to another checkpoint.",
            )
            return self._status
        self._status = EngineStatus(
            available=True,
            model_id=self.source.model_id,
            device=self.device,
            dtype=str(next(self.model.gpt.parameters()).dtype).removeprefix("torch."),
            reason=None,
            extra={
                "origin": self.source.origin,
                "device_note": choice.note,
                "int8": self.int8,
                "vocoder_dtype": self.vocoder_dtype,
                "cuda_graphs": self.decoders is not None,
                "listener_batch": self.listener_batch if self.listeners is not None else 1,
                "read_ahead": self.read_ahead if self.listeners is not None else 0,
                "precision": self.precision.as_dict(),
            },
        )
        return self._status

    def use_cuda_graphs(self, enabled: bool) -> None:
        """Decode with CUDA graphs (on a CUDA device only); call again after changing the GPT's
        dtype, since a graph keeps the buffers it was captured with."""
        on_cuda = self.model is not None and self.device == "cuda"
        self.decoders = DecoderPool(self.model.gpt, graphs=True) if enabled and on_cuda else None

    def _latents(self, gpt: Any, cond_latent, tokens, settings, generator, should_stop):
        if self.decoders is not None:
            return generate_latents_static(
                gpt, self.decoders, cond_latent, tokens, settings, generator, should_stop
            )
        prefixes = self.prefixes if gpt is self.model.gpt else None
        return generate_latents(
            gpt, cond_latent, tokens, settings, generator, should_stop, prefixes
        )

    def _apply_fast_cpu_option(self) -> None:
        """int8 GPT, the vocoder overlapped on a second thread, plus a bf16 HiFi-GAN where the CPU
        does bf16 natively (benchmark paths f, g)."""
        quantize_gpt_int8(self.model)
        if cpu_supports_bf16():
            half_precision_vocoder(self.model, torch.bfloat16)
        self.tuning = replace(self.tuning, overlap_vocoder=True)
        self.int8 = True

    def _measure_fp32_speed(self) -> SpeedSample:
        """fp32 ms per audio token here: SPEED_TEST_TIMED GPT steps after SPEED_TEST_WARM_UP
        (one clock reading per token), then the vocoder (warmed up on the first steps' latents)
        on the timed steps' latents."""
        model = self.model
        tokens = self.encode_text("Speed test.", SynthesisOptions().language)
        settings = SamplingSettings(fixed_tokens=SPEED_TEST_WARM_UP + SPEED_TEST_TIMED)
        generator = torch.Generator(device=self.device).manual_seed(0)
        cond_latent = torch.zeros(1, 32, model.gpt.model_dim, device=self.device)
        stamps, latents = [], []
        for _token, latent in generate_latents(model.gpt, cond_latent, tokens, settings, generator):
            stamps.append(self.clock())
            latents.append(latent)
        decode_ms = (stamps[-1] - stamps[SPEED_TEST_WARM_UP - 1]) / SPEED_TEST_TIMED * 1000
        speaker = torch.zeros(1, 512, 1, device=self.device)
        # the first call of the vocoder builds its kernels (several times slower): not timed
        full_decode(model.hifigan_decoder, torch.stack(latents[:SPEED_TEST_WARM_UP]), speaker)
        started = self.clock()
        full_decode(model.hifigan_decoder, torch.stack(latents[SPEED_TEST_WARM_UP:]), speaker)
        vocoder_ms = (self.clock() - started) / SPEED_TEST_TIMED * 1000
        logger.info(
            "xtts fp32 speed: GPT %.1f ms/token, vocoder %.1f ms/token", decode_ms, vocoder_ms
        )
        return SpeedSample(decode_ms, vocoder_ms)

    @property
    def vocoder_dtype(self) -> str:
        if self.model is None:
            return "float32"
        return str(
            next(self.model.hifigan_decoder.waveform_decoder.parameters()).dtype
        ).removeprefix("torch.")

    def status(self) -> EngineStatus:
        return self._status

    @property
    def available(self) -> bool:
        return self.model is not None

    def _verify_mps(self) -> DeviceChoice:
        expected = self._self_test_samples()

        def on(device: str):
            def run() -> int:
                self.model.to(device)
                return self._self_test(device)

            return run

        choice = verify_accelerator("mps", on("mps"), on("cpu"), expected)
        self.model.to("cpu")
        return choice

    def _self_test_samples(self) -> int:
        vocoder = VocoderStream(
            self.model.hifigan_decoder, torch.zeros(1, 512, 1), self.self_test_tokens
        )
        vocoder.plan.resize(self.self_test_tokens)
        return vocoder.plan.n_frames * vocoder.hop

    def _self_test(self, device: str) -> int:
        """A short synthesis with fixed token count on `device`; returns the number of samples."""
        d_model = self.model.gpt.model_dim
        conditioning = Conditioning(
            torch.zeros(1, 32, d_model), torch.zeros(1, 512, 1), "self-test", "self-test"
        )
        options = SynthesisOptions(seed=0)
        tuning = StreamTuning(
            self.tuning.first_chunk_tokens, self.tuning.chunk_tokens, self.self_test_tokens
        )
        pieces = list(self._stream_on(device, "self test", conditioning, options, tuning))
        return sum(len(piece.samples) for piece in pieces)

    # --- conditioning --------------------------------------------------------------------

    def compute_conditioning(
        self, audio: np.ndarray, sample_rate: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """GPT conditioning latents and speaker embedding from the whole cleaned reference."""
        model = self._require_model()
        wav = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32)).unsqueeze(0)
        if sample_rate != CONDITIONING_SAMPLE_RATE:
            import torchaudio

            wav = torchaudio.functional.resample(wav, sample_rate, CONDITIONING_SAMPLE_RATE)
        wav = wav.to(self.device)
        # length=-1: every second of the reference, averaged over gpt_cond_chunk_len-second chunks
        # (XTTS's default would look at the first 6 s only).
        whole = math.ceil(wav.shape[-1] / CONDITIONING_SAMPLE_RATE)
        chunk = min(int(model.config.gpt_cond_chunk_len), max(1, whole))
        latent = model.get_gpt_cond_latents(
            wav, CONDITIONING_SAMPLE_RATE, length=-1, chunk_length=chunk
        )
        embedding = model.get_speaker_embedding(wav, CONDITIONING_SAMPLE_RATE)
        return latent, embedding

    # --- text ----------------------------------------------------------------------------

    def supported_languages(self) -> list[str]:
        model = self._require_model()
        return [language.split("-")[0] for language in model.config.languages]

    def speaks(self, language: str) -> bool:
        return language.split("-")[0].lower() in self.supported_languages()

    def encode_text(self, text: str, language: str, device: str | None = None) -> torch.Tensor:
        if not self.speaks(language):
            raise UnsupportedLanguage(f"XTTS does not speak '{language}'")
        ids = self._encoder(language)(text)
        _check_length(len(ids))
        return torch.tensor([ids], dtype=torch.int32, device=device or self.device)

    def count_tokens(self, language: str) -> ChunkTokenizer:
        """A token counter for text.split_for_model that keeps the ids of what it counted, so that
        the chunks it splits off reach `stream`/`render_batch` tokenized (see `ChunkTokenizer`)."""
        return ChunkTokenizer(self._encoder(language))

    def _encoder(self, language: str) -> Callable[[str], list[int]]:
        """XTTS's tokenizer for `language`, as encode_text and count_tokens both run it."""
        model = self._require_model()
        lang = language.split("-")[0].lower()

        def encode(chunk: str) -> list[int]:
            try:
                return model.tokenizer.encode(chunk.strip().lower(), lang=lang)
            except (ImportError, NotImplementedError) as error:
                raise UnsupportedLanguage(
                    f"'{language}' needs a text package that is not installed ({error})"
                ) from error

        return encode

    def _token_tensor(
        self, chunk: str | TokenizedChunk, language: str, device: str | None = None
    ) -> torch.Tensor:
        if isinstance(chunk, str):
            return self.encode_text(chunk, language, device)
        _check_length(len(chunk.ids))
        return torch.tensor([list(chunk.ids)], dtype=torch.int32, device=device or self.device)

    # --- synthesis -----------------------------------------------------------------------

    def stream(
        self, text: str | TokenizedChunk, voice: Conditioning, options: SynthesisOptions
    ) -> Iterator[AudioChunk]:
        """Audio for one model-sized text chunk (plain, or as `count_tokens` tokenized it), yielded
        every few tokens."""
        return self._stream_on(self.device, text, voice, options, self.tuning)

    def _stream_on(
        self,
        device: str,
        text: str | TokenizedChunk,
        voice: Conditioning,
        options: SynthesisOptions,
        tuning: StreamTuning,
    ) -> Iterator[AudioChunk]:
        shared = self._shared_on(device)
        if shared is not None:
            yield from self._shared_stream(shared, [text], voice, options, tuning, read_ahead=0)
            return
        model = self._require_model()
        sentence = self._sentence(device, text, voice, options, tuning)
        stop = options.stop.reason if options.stop is not None else None
        latents = self._latents(
            model.gpt,
            sentence.cond_latent,
            sentence.tokens,
            sentence.settings,
            sentence.generator,
            stop,
        )
        yield from self._vocoded(latents, sentence.vocoder, tuning)

    def stream_chunks(
        self,
        chunks: Sequence[str | TokenizedChunk],
        voice: Conditioning,
        options: SynthesisOptions,
    ) -> Iterator[AudioChunk]:
        """Audio for a text's model-sized chunks, in order, as `stream` gives each.

        In the listeners' batch, a text's next `read_ahead` chunks decode beside the one being
        heard, as rows of their own (read-ahead): they join once the heard chunk's first audio is
        out (so its first audio comes as soon as alone), while the batch has room for them
        (`SharedStreams.room_ahead`), and their audio waits until its turn. A batch step of two
        rows costs little more than one of one row (the weights are read once), so a text of
        several sentences comes out faster than sentence after sentence; the chunk being heard
        decodes a little slower than alone. A row read ahead gives its place to a listener who
        arrives when the batch is full (`SharedStreams`), and is decoded again when heard. Each
        chunk samples as `stream` would (its own seed), so the audio is the same up to the
        rounding of batched products.
        """
        shared = self._shared_on(self.device)
        if shared is None:
            for chunk in chunks:
                yield from self.stream(chunk, voice, options)
            return
        yield from self._shared_stream(shared, chunks, voice, options, self.tuning, self.read_ahead)

    def _shared_on(self, device: str) -> SharedStreams | None:
        """The listeners' batch, where streams on `device` decode (none with CUDA graphs)."""
        return self.listeners if self.decoders is None and device == self.device else None

    def _shared_stream(
        self,
        shared: SharedStreams,
        chunks: Sequence[str | TokenizedChunk],
        voice: Conditioning,
        options: SynthesisOptions,
        tuning: StreamTuning,
        read_ahead: int,
    ) -> Iterator[AudioChunk]:
        """`chunks` as rows of the listeners' batch, heard in order, up to `read_ahead` of the
        next ones joined ahead (`stream_chunks`); every row leaves however the stream ends."""
        stop = options.stop.reason if options.stop is not None else None
        following = iter(chunks)
        rows: deque[_SharedRow] = deque()

        def join(chunk: str | TokenizedChunk, ahead: bool) -> _SharedRow:
            sentence = self._sentence(self.device, chunk, voice, options, tuning)
            return self._join(shared, chunk, sentence, tuning, ahead)

        def join_next(ahead: bool) -> bool:
            chunk = next(following, None)
            if chunk is None:
                return False
            rows.append(join(chunk, ahead))
            return True

        try:
            join_next(ahead=False)
            yield END_OF_TURN  # the others who arrived with this one join before it decodes
            while rows:
                if shared.given_up(rows[0].index):  # its place went to a listener who arrived
                    self._drop(shared, rows[0])
                    rows[0] = join(rows[0].chunk, ahead=False)
                row = rows[0]
                shared.heard(row.index)
                with contextlib.closing(self._row_audio(shared, row, tuning, stop)) as audio:
                    for piece in audio:
                        yield piece
                        while (
                            len(rows) <= read_ahead
                            and shared.room_ahead()
                            and join_next(ahead=True)
                        ):
                            pass
                self._drop(shared, rows.popleft())
                if not rows:  # nothing read ahead: the next chunk joins as it is heard
                    join_next(ahead=False)
        finally:
            for row in rows:
                self._drop(shared, row)

    def _sentence(
        self,
        device: str,
        text: str | TokenizedChunk,
        voice: Conditioning,
        options: SynthesisOptions,
        tuning: StreamTuning,
    ) -> _Sentence:
        """What one chunk's stream needs: its tokens, sampling settings, seeded generator, voice
        latents and a fresh vocoder."""
        model = self._require_model()
        tokens = self._token_tensor(text, options.language, device)
        fixed_tokens, max_tokens = tuning.token_limits(_text_of(text))
        generator = torch.Generator(device=device)
        generator.manual_seed(options.seed if options.seed is not None else secrets.randbits(63))
        vocoder = VocoderStream(
            model.hifigan_decoder,
            voice.speaker_embedding.to(device),
            model.gpt.max_gen_mel_tokens + 1,
            length_scale=1.0 / max(options.speed, 0.05),
        )
        return _Sentence(
            voice.gpt_cond_latent.to(device),
            tokens,
            self._sampling(options, fixed_tokens, max_tokens),
            generator,
            vocoder,
        )

    def _join(
        self,
        shared: SharedStreams,
        chunk: str | TokenizedChunk,
        sentence: _Sentence,
        tuning: StreamTuning,
        ahead: bool,
    ) -> _SharedRow:
        """`sentence` as a row of the listeners' batch (prefilled at the next step, with every
        other row waiting then, on `batch_threads`: the prefill is compute-bound). On the fast
        path its latents go to a vocoder thread of its own as the batch's steps make them,
        whoever's turn ran the step (xtts_listeners); in line, the stream reads them at its own
        turns. A row read `ahead` is vocoded only once heard, one sentence after another: its
        latents wait meanwhile (the GPT, not the vocoder, is what the batch shares, and on two
        cores several vocoders at once only take turns on the same core)."""
        side = (
            VocoderThread(
                sentence.vocoder,
                tuning.first_chunk_tokens,
                tuning.chunk_tokens,
                started=not ahead,
            )
            if tuning.overlap_vocoder
            else None
        )
        row = BatchRow(sentence.cond_latent, sentence.tokens, sentence.settings, sentence.generator)
        try:
            index = shared.join(
                row, self.batch_threads, feed=side.push if side else None, ahead=ahead
            )
        except BaseException:
            if side is not None:
                side.close()
            raise
        return _SharedRow(index, chunk, sentence.vocoder, side)

    def _row_audio(
        self,
        shared: SharedStreams,
        row: _SharedRow,
        tuning: StreamTuning,
        stop: Callable[[], str | None] | None,
    ) -> Generator[AudioChunk, None, None]:
        if row.side is None:
            yield from self._vocoded(shared.latents(row.index, stop), row.vocoder, tuning)
        else:
            row.side.start()  # (a row read ahead) with the latents the batch fed it meanwhile
            yield from self._fed_pieces(shared, row.index, row.side, stop)

    @staticmethod
    def _drop(shared: SharedStreams, row: _SharedRow) -> None:
        """The row leaves the batch however its stream ended; its vocoder thread is joined."""
        shared.leave(row.index)
        if row.side is not None:
            row.side.close()

    @staticmethod
    def _fed_pieces(
        shared: SharedStreams,
        index: int,
        side: VocoderThread,
        stop: Callable[[], str | None] | None,
    ) -> Iterator[AudioChunk]:
        """A fed row's audio: each piece as soon as it is decoded; while none is, one more step of
        the batch (every row's latents, not only this one's), also once the row has ended while
        other rows (read ahead, or other listeners') remain; else wait for the rest."""
        ended = False
        while not side.finished:
            if not ended and shared.ended(index):
                side.end()
                ended = True
            stepping = not ended or shared.busy
            piece = next(side.pieces(block=not stepping), None)
            if piece is not None:
                yield AudioChunk(piece[0].float().cpu().numpy(), SAMPLE_RATE, is_last=piece[1])
            elif stepping:
                shared.advance(stop)

    @staticmethod
    def _vocoded(
        latents: Iterator[tuple[int, torch.Tensor]], vocoder: VocoderStream, tuning: StreamTuning
    ) -> Iterator[AudioChunk]:
        """The stream's audio chunks from its latents: the vocoder beside the GPT on the fast
        path, else in line, a small first chunk then larger ones."""
        if tuning.overlap_vocoder:
            pieces = overlapped_vocoder_chunks(
                latents, vocoder, tuning.first_chunk_tokens, tuning.chunk_tokens
            )
            for piece, is_last in pieces:
                yield AudioChunk(piece.float().cpu().numpy(), SAMPLE_RATE, is_last=is_last)
            return
        threshold, pending = tuning.first_chunk_tokens, 0
        for _token, latent in latents:
            vocoder.push(latent)
            pending += 1
            if pending >= threshold:
                ready = vocoder.decode_ready()
                if ready is not None:
                    yield AudioChunk(ready.float().cpu().numpy(), SAMPLE_RATE)
                    pending, threshold = 0, tuning.chunk_tokens
        yield AudioChunk(vocoder.finish().float().cpu().numpy(), SAMPLE_RATE, is_last=True)

    def render_batch(
        self, chunks: Sequence[str | TokenizedChunk], voice: Conditioning, options: SynthesisOptions
    ) -> Iterator[RenderedChunk | BatchProgress]:
        """Whole audio for many model-sized chunks (book rendering), `batch_size` GPT rows at a time.

        Chunks enter the batch in order of token length, and a row that ends is replaced by the
        next chunk at the next step (continuous batching, `xtts_continuous`). Every
        row samples as `stream` would with the same seed; each finished row is vocoded whole (as
        coqui's `inference` does) and comes out once vocoded, in the order rows end. With
        `tuning.overlap_vocoder` (the fast CPU path) the vocoder runs on a second thread while
        the GPT's next steps run (`optimize.SideDecoder`; the same samples), each side on
        `batch_threads` torch threads (measured fastest here: README, Performance). A
        BatchProgress heartbeat comes at least every `PROGRESS_EVERY_S` while the GPT or the
        vocoder runs.
        """
        model = self._require_model()
        tokens = [self._token_tensor(chunk, options.language) for chunk in chunks]
        by_length = sorted(range(len(chunks)), key=lambda index: tokens[index].shape[-1])
        seed = options.seed if options.seed is not None else secrets.randbits(63)
        stop = options.stop.reason if options.stop is not None else None
        speaker = voice.speaker_embedding.to(self.device)
        cond_latent = voice.gpt_cond_latent.to(self.device)
        progress = _ProgressClock()
        rows = [
            self._batch_row(_text_of(chunks[i]), tokens[i], cond_latent, options, seed)
            for i in by_length
        ]
        scale = 1.0 / max(options.speed, 0.05)

        def decode(latents: torch.Tensor) -> torch.Tensor:
            return full_decode(model.hifigan_decoder, latents, speaker, scale)

        def rendered(row: int, samples: torch.Tensor) -> RenderedChunk:
            return RenderedChunk(by_length[row], samples.float().cpu().numpy(), SAMPLE_RATE)

        threads = self.batch_threads
        steps = self._batch_steps(model.gpt, rows, stop)
        vocoder = SideDecoder if self.tuning.overlap_vocoder else InlineDecoder
        with vocoder(decode, threads) as decoder:
            while (step := _next_step(steps, threads)) is not None:
                for row, latents in step.ended:
                    decoder.submit(row, latents)
                for row, samples in decoder.ready():
                    yield rendered(row, samples)
                if progress.tick(step.tokens):
                    yield BatchProgress(progress.tokens)
            while decoder:  # the last sentences' decodes (beside): heartbeats while they run
                done = decoder.next_done(PROGRESS_EVERY_S)
                yield rendered(*done) if done else BatchProgress(progress.tokens)

    def _batch_steps(self, gpt: Any, rows: list[BatchRow], stop) -> Iterator[BatchStep]:
        """The GPT steps of `render_batch`: a continuous batch of `batch_size` rows; on CUDA with
        graphs, fixed batches of that size (a captured graph has a fixed shape)."""
        if self.decoders is None:
            yield from generate_latents_continuous(
                gpt, rows, self.batch_size, should_stop=stop, prefixes=self.prefixes
            )
            return
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            for step in generate_latents_batch_static(gpt, self.decoders, batch, should_stop=stop):
                yield BatchStep(step.tokens, [(start + i, lat) for i, lat in step.ended])

    def _batch_row(
        self,
        text: str,
        tokens: torch.Tensor,
        cond_latent: torch.Tensor,
        options: SynthesisOptions,
        seed: int,
    ) -> BatchRow:
        fixed_tokens, max_tokens = self.tuning.token_limits(text)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(seed)
        return BatchRow(
            cond_latent, tokens, self._sampling(options, fixed_tokens, max_tokens), generator
        )

    @staticmethod
    def _sampling(
        options: SynthesisOptions, fixed_tokens: int | None, max_tokens: int | None
    ) -> SamplingSettings:
        return SamplingSettings(
            temperature=options.temperature,
            top_p=options.top_p,
            top_k=options.top_k,
            repetition_penalty=options.repetition_penalty,
            fixed_tokens=fixed_tokens,
            max_tokens=max_tokens,
        )

    def _require_model(self):
        if self.model is None:
            raise RuntimeError(self._status.reason or "XTTS is not loaded")
        return self.model


__all__ = [
    "SAMPLE_RATE",
    "ChunkTokenizer",
    "StreamTuning",
    "TextTooLong",
    "TokenizedChunk",
    "UnsupportedLanguage",
    "XttsEngine",
]
