"""Speed options for XTTS inference: threads, int8 GPT on CPU, half precision, overlapped vocoder.

Each option works on a loaded coqui-tts `Xtts` model in place, so the engine can apply it after
loading and the benchmark (the `bench` package) can measure it on the same weights; what an
option costs in accuracy is measured there (bench/numerics.py). This module holds only what the
service runs (and `half_precision_gpt`, the GPU recipe the engine is to adopt).

Why these options: generating one audio token reads every GPT weight once (batch 1), so on a CPU
the decode is bounded by memory bandwidth: fp32 reads about 1.5 GB per token, int8 a quarter of
that (`gpt_bytes_per_token`). The vocoder is compute-bound instead, so on a small CPU it can run
on its own core while the GPT generates the next chunk (`overlapped_vocoder_chunks`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import queue
import threading
import warnings
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn


def available_cores() -> int:
    """CPU cores this process may run on (respects taskset/cgroup affinity, unlike os.cpu_count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def configure_threads(threads: int | None = None) -> int:
    """Use one intra-op thread per available core (or `threads`), and one inter-op thread.

    Decoding is a chain of small matrix-vector products: more threads than cores only adds
    contention, and inter-op parallelism has nothing to overlap in a batch-1 token loop.
    Returns the thread count in effect.
    """
    count = threads if threads and threads > 0 else available_cores()
    torch.set_num_threads(count)
    # The inter-op count can only be set before the first parallel work; the intra-op one matters.
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)
    return torch.get_num_threads()


# OpenMP's default lets idle worker threads spin at every barrier. A decode step is hundreds of
# small parallel regions, so when another process holds one of the cores, the team waits a
# scheduler tick at each barrier: measured here, int8 decode at 2 threads went from 27 ms to
# 540-1355 ms per token while one other process was busy. PASSIVE makes waiting threads sleep.
# It must be in the environment before torch (and its OpenMP runtime) is first imported.
OMP_ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE"}


def release_freed_memory() -> bool:
    """Return memory freed after loading (the checkpoint's state dict, fp32 weights replaced by
    int8) to the OS: collect the module cycles, then ask glibc to trim its heap, which it keeps
    otherwise. Measured on the full-size model: 2.7 GB RSS after loading fp32, 1.6 GB after
    int8 quantisation and this (3.5 GB without it). No-op where glibc is absent."""
    import ctypes
    import gc

    gc.collect()
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


def drop_text_head(model: Any) -> bool:
    """Free the GPT's text head (XTTS's text-prediction layer, 27 MB in fp32 for the full-size
    model): only training uses it; every inference path, coqui's included, stops at the latents
    or the audio head before it (`GPT.get_logits(..., return_latent=True)`). Returns whether one
    was there."""
    gpt = model.gpt
    if getattr(gpt, "text_head", None) is None:
        return False
    gpt.text_head = None
    return True


def conv1d_to_linear(root: nn.Module) -> int:
    """Replace Hugging Face GPT-2 `Conv1D` layers under `root` with equivalent `nn.Linear` layers.

    GPT-2 stores its projections as Conv1D (weight [in, out]); PyTorch's dynamic quantisation only
    knows nn.Linear (weight [out, in]). Same arithmetic, transposed storage. Returns the count.
    """
    from transformers.pytorch_utils import Conv1D

    replaced = 0
    for parent in list(root.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Conv1D):
                setattr(parent, name, _linear_from_conv1d(child))
                replaced += 1
    return replaced


def _linear_from_conv1d(conv: Any) -> nn.Linear:  # transformers' Conv1D
    in_features, out_features = conv.weight.shape
    linear = nn.Linear(
        in_features, out_features, device=conv.weight.device, dtype=conv.weight.dtype
    )
    with torch.no_grad():
        linear.weight.copy_(conv.weight.t())
        linear.bias.copy_(conv.bias)
    return linear


def gpt_generation_modules(model: Any) -> Any:  # coqui's GPT2InferenceModel (untyped attributes)
    """The module that runs once per generated token: transformer, final norm and audio head.

    coqui-tts builds it (`GPT2InferenceModel`) when the model is loaded with eval=True; it shares
    the transformer with `model.gpt.gpt`, so changing one changes both.
    """
    inference_model = getattr(model.gpt, "gpt_inference", None)
    if inference_model is None:
        raise ValueError(
            "the XTTS model was loaded without eval=True; call model.gpt.init_gpt_for_inference() first"
        )
    return inference_model


@dataclass(frozen=True)
class QuantizationResult:
    linear_layers: int
    bytes_per_token_before: int
    bytes_per_token_after: int


def quantize_gpt_int8(model: Any, per_channel: bool = True) -> QuantizationResult:
    """Quantise the GPT's linear layers to int8 (dynamic activations) for CPU inference, in place.

    Only the per-token path (transformer blocks and the audio head) is quantised: the conditioning
    encoder and the HiFi-GAN stay fp32, so cached speaker conditioning is unaffected. Per-channel
    weight scales: on the tiny random model 6% less latent error than one scale per matrix, at
    the same speed (trained weights, with their outlier channels, typically gain more).
    """
    if _model_device(model).type != "cpu":
        raise ValueError(
            "int8 dynamic quantisation runs on CPU only; use half_precision_gpt on a GPU"
        )
    if is_gpt_quantized(model):
        raise ValueError("the GPT is already quantised")
    gpt = model.gpt
    generation = gpt_generation_modules(model)
    before = gpt_bytes_per_token(model)
    conv1d_to_linear(gpt.gpt)  # the transformer, shared by coqui's generate() and our token loop
    quantize = _dynamic_quantizer(per_channel)
    quantize(gpt.gpt)
    # The audio head is one nn.Linear referenced twice: as gpt.mel_head (our token loop) and inside
    # coqui's lm_head Sequential (its generate()). Quantise it once and point both at the result.
    head = quantize(nn.Sequential(gpt.mel_head))[0]
    gpt.mel_head = head
    generation.lm_head[1] = head
    layers = sum(1 for m in generation.modules() if _is_dynamic_quantized_linear(m))
    return QuantizationResult(layers, before, gpt_bytes_per_token(model))


def _dynamic_quantizer(per_channel: bool):
    qconfig = _per_channel_qconfig() if per_channel else None
    spec: Any = {nn.Linear: qconfig} if qconfig is not None else {nn.Linear}

    def quantize(module: nn.Module) -> nn.Module:
        with warnings.catch_warnings():
            # torch.ao eager quantisation is deprecated in favour of torchao, which is not in our
            # pins; torch 2.11 still ships it, and it is the fastest int8 CPU path available here.
            warnings.simplefilter("ignore", category=DeprecationWarning)
            warnings.simplefilter("ignore", category=UserWarning)
            torch.ao.quantization.quantize_dynamic(module, spec, dtype=torch.qint8, inplace=True)
        return module

    return quantize


def _per_channel_qconfig() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.per_channel_dynamic_qconfig


def _is_dynamic_quantized_linear(module: nn.Module) -> bool:
    return type(module).__name__ == "Linear" and type(module).__module__.startswith(
        "torch.ao.nn.quantized.dynamic"
    )


def is_gpt_quantized(model: Any) -> bool:
    return any(_is_dynamic_quantized_linear(m) for m in gpt_generation_modules(model).modules())


def half_precision_gpt(model: Any, dtype: torch.dtype = torch.float16) -> None:
    """Run the per-token GPT path in fp16 or bf16 (GPUs; bf16 also on CPUs with AVX512-BF16/AMX).

    Casts the transformer, the audio/text embeddings and the heads. The conditioning encoder and
    HiFi-GAN stay fp32: conditioning latents are cached in fp32 and cast on the way in (coqui's
    GPT2InferenceModel casts the stored prefix to the embedding dtype). The latents come out in
    `dtype`: pair this with `half_precision_vocoder` (which takes any dtype in), or cast them
    back with `.float()` before an fp32 vocoder.
    Not measured on a GPU in this project (no GPU was available); correct by construction and
    exercised with bf16 on CPU by the tests.
    """
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(f"half_precision_gpt takes torch.float16 or torch.bfloat16, not {dtype}")
    if dtype == torch.float16 and _model_device(model).type == "cpu":
        raise ValueError("fp16 matrix products are slow or missing on CPU; use bfloat16 there")
    gpt = model.gpt
    for module in (
        gpt.gpt,
        gpt.mel_embedding,
        gpt.mel_pos_embedding,
        gpt.text_embedding,
        gpt.text_pos_embedding,
        gpt.final_norm,
        gpt.mel_head,
    ):
        module.to(dtype)
    gpt_generation_modules(model).to(dtype)
    # coqui replaces GPT-2's position table with a function returning fp32 zeros, which would
    # promote every hidden state back to fp32; give it zeros of the new dtype instead.
    gpt.gpt.wpe = functools.partial(_null_position_embeddings, dim=gpt.model_dim, dtype=dtype)


def _null_position_embeddings(
    positions: torch.Tensor, dim: int, dtype: torch.dtype
) -> torch.Tensor:
    return torch.zeros(
        (positions.shape[0], positions.shape[1], dim), device=positions.device, dtype=dtype
    )


def cpu_supports_bf16() -> bool:
    """Whether this CPU has native bf16 arithmetic (AVX512-BF16 or AMX) for oneDNN to use."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class HalfPrecisionVocoder(nn.Module):
    """HiFi-GAN's generator run in bf16/fp16, with fp32 in and out (a drop-in for coqui's).

    The vocoder is convolutions, compute-bound rather than memory-bound, and bf16 convolutions
    run about twice as fast on CPUs with AVX512-BF16. Its output differs from fp32 (about 40 dB
    signal-to-difference, measured by the benchmark), so this is an opt-in speed option.
    """

    def __init__(self, generator: nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.generator = generator.to(dtype)
        self.dtype = dtype

    def forward(self, x: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
        g = g.to(self.dtype) if g is not None else None
        return self.generator(x.to(self.dtype), g=g).float()


def half_precision_vocoder(model: Any, dtype: torch.dtype = torch.bfloat16) -> None:
    """Swap the HiFi-GAN generator for a bf16 (CPU with bf16 support, or GPU) or fp16 (GPU) one."""
    if dtype not in (torch.float16, torch.bfloat16):
        raise ValueError(
            f"half_precision_vocoder takes torch.float16 or torch.bfloat16, not {dtype}"
        )
    decoder = model.hifigan_decoder
    if isinstance(decoder.waveform_decoder, HalfPrecisionVocoder):
        raise ValueError("the vocoder already runs in half precision")
    if _model_device(model).type == "cpu" and (dtype != torch.bfloat16 or not cpu_supports_bf16()):
        raise ValueError(
            "on CPU the vocoder can run in bfloat16 only, and only with AVX512-BF16 or AMX"
        )
    decoder.waveform_decoder = HalfPrecisionVocoder(decoder.waveform_decoder, dtype)


def gpt_bytes_per_token(model: Any) -> int:
    """Bytes of weights read from memory to generate one audio token (batch 1).

    Counts the transformer blocks, the final norm and the audio head: each is read in full per
    token. Embedding tables are excluded (one row is read per token) and so is the KV cache (it
    depends on the position; the benchmark adds it: bench/numerics.py).
    """
    generation = gpt_generation_modules(model)
    transformer = generation.transformer
    total = sum(_module_weight_bytes(m) for m in transformer.h.modules())
    total += _module_weight_bytes(transformer.ln_f)
    total += sum(_module_weight_bytes(m) for m in generation.lm_head.modules())
    return total


def _module_weight_bytes(module: Any) -> int:  # nn.Module, or a dynamically quantised Linear
    """Bytes of this module's own weights (not its children's), quantised or not."""
    if _is_dynamic_quantized_linear(module):
        weight, bias = module._packed_params._weight_bias()
        scales = (
            weight.q_per_channel_scales().numel() * 8
            if weight.qscheme()
            in (
                torch.per_channel_affine,
                torch.per_channel_symmetric,
            )
            else 8
        )
        bias_bytes = bias.numel() * bias.element_size() if bias is not None else 0
        return weight.numel() * weight.element_size() + bias_bytes + scales
    # Parameters only: GPT-2's buffers are a causal-mask table that attention does not stream
    # through per token.
    return sum(p.numel() * p.element_size() for p in module.parameters(recurse=False))


def _model_device(model: Any) -> torch.device:
    return next(model.parameters()).device


# --- the vocoder of one chunk overlapping the GPT of the next --------------------------------


def overlap_threads(cores: int | None = None) -> int:
    """Torch threads per side when the GPT and the vocoder run at the same time: half the cores.

    torch's intra-op thread count is process-wide, so each of the two Python threads gets it.
    The GPT decode is memory-bound (one thread already draws most of the bandwidth), the vocoder
    compute-bound; splitting the cores lets them overlap instead of queueing.
    """
    return max(1, (cores or available_cores()) // 2)


_DONE = object()


class VocoderThread:
    """A stream's vocoder on a thread of its own: latents go in (`push`, from any thread), audio
    pieces come out (`pieces`) as the first `first` latents, then every `every`, are decoded,
    and the rest at `end`.

    The thread owns the VocoderStream (engines/xtts_vocoder.py) and applies the same chunking rule
    as the engine's in-line loop, so the pieces are the same windows, in the same order, with the
    same samples; they only arrive while the GPT is already generating the next ones. It runs on
    `threads` torch threads (default: the creating thread's count, see `_vocoder_worker`).
    `close()` tells it to quit without decoding what is still queued, unless the last piece came
    out, and joins it. Created with `started=False`, it only queues what is pushed until `start()`
    (a sentence read ahead: its latents wait, and the vocoder's memory is not taken, until the
    sentence before it is heard).
    """

    def __init__(
        self,
        vocoder: Any,
        first: int,
        every: int,
        threads: int | None = None,
        started: bool = True,
    ) -> None:
        self._inbox: queue.Queue[Any] = queue.Queue()
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._cancelled = threading.Event()
        self.finished = False  # the last piece was handed out
        self._thread = threading.Thread(
            target=_vocoder_worker,
            args=(
                self._inbox,
                self._outbox,
                self._cancelled,
                vocoder,
                first,
                every,
                threads or torch.get_num_threads(),
            ),
            name="ownvoice-vocoder",
            daemon=True,
        )
        if started:
            self._thread.start()

    def start(self) -> None:
        """Start decoding (a thread created with `started=False`); no-op once started."""
        if self._thread.ident is None:
            self._thread.start()

    def push(self, latent: torch.Tensor) -> None:
        self._inbox.put(latent)

    def end(self) -> None:
        """No more latents: the rest is decoded as the last piece."""
        self._inbox.put(_DONE)

    def pieces(self, block: bool) -> Iterator[tuple[torch.Tensor, bool]]:
        """(piece, is_last) of what is decoded: without waiting, or (block) the next one, waiting
        for it. A decoding error is raised here."""
        while True:
            try:
                item = self._outbox.get(block=block)
            except queue.Empty:
                return
            if isinstance(item, BaseException):
                raise item
            self.finished = self.finished or item[1]
            yield item
            if block:
                return

    def close(self) -> None:
        if self._thread.ident is None:
            return  # never started: nothing to stop
        if not self.finished:
            self._cancelled.set()  # quit without decoding what is still queued
            self._inbox.put(None)
        self._thread.join()


def overlapped_vocoder_chunks(
    latents: Iterator[tuple[int, torch.Tensor]],
    vocoder: Any,
    first_chunk_tokens: int,
    chunk_tokens: int,
) -> Iterator[tuple[torch.Tensor, bool]]:
    """Yield (audio piece, is_last) like the engine's sequential loop, decoding on a second thread.

    `latents` is the GPT token loop (engines/xtts_gpt.generate_latents) and `vocoder` a fresh
    engines/xtts_vocoder.VocoderStream, decoded by a `VocoderThread`. Pieces are handed back after
    each token. If the consumer stops early or the GPT raises (a stop signal), the vocoder thread
    is told to quit and joined before this generator returns.
    """
    side = VocoderThread(vocoder, first_chunk_tokens, chunk_tokens)
    try:
        for _token, latent in latents:
            side.push(latent)
            yield from side.pieces(block=False)
        side.end()
        while not side.finished:
            yield from side.pieces(block=True)
    finally:
        side.close()


def _vocoder_worker(
    inbox: queue.Queue,
    outbox: queue.Queue,
    cancelled: threading.Event,
    vocoder: Any,
    first: int,
    every: int,
    threads: int,
) -> None:
    # OpenMP's thread count is per thread: a library that calls omp_set_num_threads directly
    # (CTranslate2 does) leaves a new thread on another count, and another count sums the
    # convolutions in another order. Use the caller's, so the samples match the in-line loop.
    torch.set_num_threads(threads)
    threshold, pending = first, 0
    try:
        while True:
            latent = inbox.get()
            if latent is None or cancelled.is_set():
                return
            if latent is _DONE:
                outbox.put((vocoder.finish(), True))
                return
            vocoder.push(latent)
            pending += 1
            if pending >= threshold:
                piece = vocoder.decode_ready()
                if piece is not None:
                    outbox.put((piece, False))
                    pending, threshold = 0, every
    except BaseException as error:  # handed to the consumer, raised there
        outbox.put(error)


@contextlib.contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block on `count` torch threads (None: as they are), then restore the calling
    thread's count. The count is the calling thread's state: never hold it across a `yield` of a
    job on the device worker, which runs other jobs' steps in between (worker.py)."""
    before = torch.get_num_threads()
    if not count or count == before:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class InlineDecoder:
    """SideDecoder's interface with the decodes run in line, on the caller's thread, on `threads`
    torch threads: each one when `ready()` is iterated to it, so a caller that yields between
    two sentences yields between two decodes too (the device worker serves listeners there)."""

    def __init__(
        self, decode: Callable[[torch.Tensor], torch.Tensor], threads: int | None = None
    ) -> None:
        self._decode = decode
        self._threads = threads
        self._pending: deque[tuple[int, torch.Tensor]] = deque()

    def __enter__(self) -> InlineDecoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pending.clear()

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, key: int, latents: torch.Tensor) -> None:
        self._pending.append((key, latents))

    def ready(self) -> Iterator[tuple[int, torch.Tensor]]:
        while self._pending:
            key, latents = self._pending.popleft()
            with torch_threads(self._threads):
                samples = self._decode(latents)
            yield key, samples

    def next_done(self, timeout: float) -> tuple[int, torch.Tensor] | None:
        return next(self.ready(), None)


class SideDecoder:
    """Whole-sentence vocoder decodes on a second thread, in the order submitted (book rendering:
    the GPT's next batch steps run while the sentences that ended are vocoded).

    The thread uses `threads` torch threads, by default the caller's count (see
    `_vocoder_worker`); each decode gives exactly the samples it gives in line on as many
    threads. `ready()` hands back the finished decodes in order without waiting;
    `next_done(timeout)` waits for the oldest one up to `timeout` (None when it is not done yet,
    so the caller can send a heartbeat). Closing cancels the decodes that have not started and
    waits for the one that has."""

    def __init__(
        self, decode: Callable[[torch.Tensor], torch.Tensor], threads: int | None = None
    ) -> None:
        self._decode = decode
        self._pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="ownvoice-vocoder",
            initializer=torch.set_num_threads,
            initargs=(threads or torch.get_num_threads(),),
        )
        self._pending: deque[tuple[int, Future]] = deque()

    def __enter__(self) -> SideDecoder:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __len__(self) -> int:
        return len(self._pending)

    def submit(self, key: int, latents: torch.Tensor) -> None:
        self._pending.append((key, self._pool.submit(self._decode, latents)))

    def ready(self) -> Iterator[tuple[int, torch.Tensor]]:
        while self._pending and self._pending[0][1].done():
            key, future = self._pending.popleft()
            yield key, future.result()

    def next_done(self, timeout: float) -> tuple[int, torch.Tensor] | None:
        key, future = self._pending[0]
        try:
            samples = future.result(timeout=timeout)
        except FutureTimeout:
            return None
        self._pending.popleft()
        return key, samples
