"""XTTS's GPT decode step on other CPU inference engines, for `bench.engines` to time and compare.

Every engine here runs the same arithmetic as `engines/xtts_gpt.generate_latents` on the same
weights: GPT-2 blocks over a KV cache, GPT-2's final LayerNorm, XTTS's final norm, the audio head.
It answers two calls: `start(prefix)` runs the prefix (conditioning + text + [START]) from an
empty cache, `step(embedding)` appends one position; both return (latent [1, d], logits [1, V])
of the last position, fp32 torch tensors. The KV cache stays fp32 in every engine and grows with
the sequence (only the filled positions are read), as it does in today's token loop.

- `HfEngine`: coqui's GPT2Model as today's loop calls it (fp32, or torch dynamic int8: the
  baseline `optimize.quantize_gpt_int8`).
- `OrtEngine`: the step exported to ONNX (TorchScript exporter) and run by ONNX Runtime, fp32 or
  with its weights quantised by onnxruntime.quantization (dynamic int8 `MatMulInteger`, or
  weight-only `MatMulNBits` at 4 or 8 bits with int8 compute).
- `TorchStepEngine`: the step written out in torch with int8 weight-only linears
  (`aten._weight_int8pack_mm`: int8 weights, per-channel scales, fp32 activations), eager or
  compiled by torch.compile (inductor, CPU).
"""

from __future__ import annotations

import copy
import math
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the usual name
from torch import nn

Outputs = tuple[torch.Tensor, torch.Tensor]


def _gpt_parts(gpt: Any) -> tuple[list[Any], Any, Any, Any]:
    """coqui's GPT: the GPT-2 blocks, GPT-2's ln_f, XTTS's final_norm, the audio head."""
    transformer = gpt.gpt
    return list(transformer.h), transformer.ln_f, gpt.final_norm, gpt.mel_head


def _conv1d_linears(block: Any) -> dict[str, Any]:
    """A GPT-2 block's four projections (transformers Conv1D, weight [in, out]), in step order."""
    return {
        "qkv": block.attn.c_attn,
        "proj": block.attn.c_proj,
        "fc": block.mlp.c_fc,
        "out": block.mlp.c_proj,
    }


class HfEngine:
    """Today's token loop: coqui's GPT2Model with transformers' cache (xtts_gpt.generate_latents)."""

    def __init__(self, name: str, gpt: Any, weight_bytes: int, capacity: int) -> None:
        from ownvoice_ai.engines.kv_cache import PreallocatedCache

        self.name, self.gpt, self.weight_bytes = name, gpt, weight_bytes
        self._new_cache = lambda: PreallocatedCache(capacity)
        self.cache: Any = None

    @torch.inference_mode()
    def _run(self, inputs: torch.Tensor) -> Outputs:
        out = self.gpt.gpt(
            inputs_embeds=inputs, past_key_values=self.cache, use_cache=True, return_dict=True
        )
        self.cache = out.past_key_values
        latent = self.gpt.final_norm(out.last_hidden_state[:, -1])
        return latent.float(), self.gpt.mel_head(latent).float()

    def start(self, prefix: torch.Tensor) -> Outputs:
        self.cache = self._new_cache()
        return self._run(prefix)

    def step(self, embedding: torch.Tensor) -> Outputs:
        return self._run(embedding)


# --- ONNX Runtime --------------------------------------------------------------------------


class OnnxStep(nn.Module):
    """The decode step as an ONNX-exportable module: x [S, d] and, per layer, the cached keys and
    values [T, d] in; the latents and logits of the S positions and the new keys and values
    [layers, 2, S, d] out. Projections are plain MatMul + Add, the form ONNX Runtime's quantisers
    rewrite (they leave Gemm alone)."""

    def __init__(self, gpt: Any) -> None:
        super().__init__()
        blocks, self.ln_f, self.final_norm, head = _gpt_parts(gpt)
        self.blocks = nn.ModuleList(blocks)
        self.head_weight = nn.Parameter(head.weight.detach().t().contiguous(), requires_grad=False)
        self.head_bias = nn.Parameter(head.bias.detach().clone(), requires_grad=False)
        config = gpt.gpt.config
        self.dim, self.heads = config.n_embd, config.n_head
        self.head_dim = self.dim // self.heads

    def forward(self, x: torch.Tensor, *past: torch.Tensor):
        length = x.shape[0]
        cached = past[0].shape[0]
        # position i of the S new ones sees every cached position and the new ones up to itself
        allowed = torch.ones(length, cached + length, dtype=torch.bool).tril(cached)
        present = []
        for layer, block in enumerate(self.blocks):
            linears = _conv1d_linears(block)
            h = block.ln_1(x)
            query, key, value = (h @ linears["qkv"].weight + linears["qkv"].bias).split(
                self.dim, dim=-1
            )
            present.append(torch.stack([key, value]))
            keys = torch.cat([past[2 * layer], key])
            values = torch.cat([past[2 * layer + 1], value])
            attended = self._attend(query, keys, values, allowed)
            x = x + attended @ linears["proj"].weight + linears["proj"].bias
            h = block.mlp.act(block.ln_2(x) @ linears["fc"].weight + linears["fc"].bias)
            x = x + h @ linears["out"].weight + linears["out"].bias
        latent = self.final_norm(self.ln_f(x))
        logits = latent @ self.head_weight + self.head_bias
        return latent, logits, torch.stack(present)

    def _attend(self, query, keys, values, allowed):
        q = query.view(-1, self.heads, self.head_dim).transpose(0, 1)  # [H, S, hd]
        k = keys.view(-1, self.heads, self.head_dim).permute(1, 2, 0)  # [H, hd, T+S]
        v = values.view(-1, self.heads, self.head_dim).transpose(0, 1)  # [H, T+S, hd]
        scores = (q @ k) * (1.0 / math.sqrt(self.head_dim))
        scores = scores.masked_fill(~allowed, float("-inf"))
        return (scores.softmax(-1) @ v).transpose(0, 1).reshape(-1, self.dim)


def export_onnx(gpt: Any, path: Path) -> Path:
    """Export `OnnxStep` of `gpt` (fp32) to `path` with dynamic new and cached lengths."""
    step = OnnxStep(gpt).eval()
    layers, dim = len(step.blocks), step.dim
    x = torch.zeros(2, dim)
    past = tuple(torch.zeros(3, dim) for _ in range(2 * layers))
    past_names = [f"past_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    axes: dict[str, dict[int, str]] = {"x": {0: "new"}}
    axes.update({name: {0: "cached"} for name in past_names})
    axes.update({"latent": {0: "new"}, "logits": {0: "new"}, "present": {2: "new"}})
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            step,
            (x, *past),
            str(path),
            input_names=["x", *past_names],
            output_names=["latent", "logits", "present"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
            do_constant_folding=True,
        )
    return path


def _save_onnx(model: Any, path: Path) -> Path:
    """Save an onnx ModelProto, its weights in one side file when the model is large."""
    import onnx

    large = model.ByteSize() > 1_800_000_000 if hasattr(model, "ByteSize") else True
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=large,
        all_tensors_to_one_file=True,
        location=path.name + ".data",
    )
    return path


def quantize_onnx_int8(source: Path, target: Path) -> Path:
    """onnxruntime.quantization's dynamic int8 (per-channel int8 weights, uint8 activations
    quantised per call): MatMul -> DynamicQuantizeLinear + MatMulInteger."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        use_external_data_format=_is_large(source),
    )
    return target


def quantize_onnx_nbits(source: Path, target: Path, bits: int, block_size: int = 32) -> Path:
    """Weight-only MatMulNBits (symmetric, `block_size` weights per scale); accuracy level 4
    computes with int8 activations (MLAS's int8 kernels), the fastest CPU setting."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    model = onnx.load(str(source))
    quantizer = MatMulNBitsQuantizer(
        model, bits=bits, block_size=block_size, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    return _save_onnx(quantizer.model.model, target)


def _is_large(path: Path) -> bool:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) > 1_800_000_000


class _ExportedStep:
    """What both runtimes of the exported step share: keys and values in preallocated numpy
    buffers [layers, capacity, d], fed as views of the filled rows (no copy), and the new rows
    stored after each call. A subclass sets `names`, `layers`, the buffers (`_buffers`) and
    `_infer(feed) -> (latent, logits, present)`."""

    names: list[str]
    layers: int

    def _buffers(self, capacity: int, dim: int) -> None:
        import numpy as np

        self.keys = np.zeros((self.layers, capacity, dim), dtype=np.float32)
        self.values = np.zeros_like(self.keys)
        self.length = 0

    def _infer(self, feed: dict[str, Any]) -> tuple[Any, Any, Any]:
        raise NotImplementedError

    def _run(self, x: torch.Tensor) -> Outputs:
        end = self.length + x.shape[0]
        feed = {"x": x.detach().float().numpy()}
        for layer in range(self.layers):
            feed[self.names[1 + 2 * layer]] = self.keys[layer, : self.length]
            feed[self.names[2 + 2 * layer]] = self.values[layer, : self.length]
        latent, logits, present = self._infer(feed)
        self.keys[:, self.length : end] = present[:, 0]
        self.values[:, self.length : end] = present[:, 1]
        self.length = end
        return torch.from_numpy(latent[-1:].copy()), torch.from_numpy(logits[-1:].copy())

    def start(self, prefix: torch.Tensor) -> Outputs:
        self.length = 0
        return self._run(prefix[0])

    def step(self, embedding: torch.Tensor) -> Outputs:
        return self._run(embedding[0])


class OrtEngine(_ExportedStep):
    """An exported step on ONNX Runtime's CPU provider; keys and values in preallocated numpy
    buffers [layers, capacity, d], passed as views of the filled rows (no copy)."""

    def __init__(
        self, name: str, path: Path, threads: int, capacity: int, spinning: bool = False
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # By default idle pool threads sleep instead of spinning, like torch's
        # OMP_WAIT_POLICY=PASSIVE here (spinning is ONNX Runtime's own default).
        options.add_session_config_entry("session.intra_op.allow_spinning", str(int(spinning)))
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.name = name
        self.weight_bytes = file_bytes(path)  # initializers: all of it is read per token
        inputs = self.session.get_inputs()
        self.names = [i.name for i in inputs]
        self.layers = (len(inputs) - 1) // 2
        self._buffers(capacity, dim=inputs[0].shape[1])

    def _infer(self, feed: dict[str, Any]) -> tuple[Any, Any, Any]:
        return tuple(self.session.run(None, feed))


# --- OpenVINO ------------------------------------------------------------------------------


def weight_only_int8_onnx(source: Path, target: Path) -> Path:
    """The exported step with every MatMul weight stored as int8 (symmetric, one scale per output
    column) behind a DequantizeLinear: the weight-compression pattern OpenVINO's CPU plugin keeps
    compressed in memory and dequantises inside its matrix kernels."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    weights = {t.name: t for t in graph.initializer}
    replaced: dict[str, str] = {}
    dequantize = []
    for node in graph.node:
        if node.op_type != "MatMul" or node.input[1] not in weights:
            continue
        name = node.input[1]
        if name not in replaced:
            w = numpy_helper.to_array(weights[name]).astype(np.float32)  # [K, N]
            scale = np.maximum(np.abs(w).max(axis=0), 1e-12) / 127.0
            q = np.clip(np.round(w / scale), -127, 127).astype(np.int8)
            graph.initializer.extend(
                [
                    numpy_helper.from_array(q, name + "_q"),
                    numpy_helper.from_array(scale.astype(np.float32), name + "_scale"),
                    numpy_helper.from_array(np.zeros_like(scale, dtype=np.int8), name + "_zero"),
                ]
            )
            dequantize.append(
                helper.make_node(
                    "DequantizeLinear",
                    [name + "_q", name + "_scale", name + "_zero"],
                    [name + "_dq"],
                    axis=1,
                    name=name + "_dequantize",
                )
            )
            replaced[name] = name + "_dq"
        node.input[1] = replaced[name]
    kept = [t for t in graph.initializer if t.name not in replaced]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    # the dequantisations read initializers only: first, so the nodes stay topologically sorted
    nodes = [*dequantize, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return _save_onnx(model, target)


class OvEngine(_ExportedStep):
    """An exported step on OpenVINO's CPU plugin at fp32 inference precision (its default on
    CPUs with bf16 is bf16, which would change the numerics); KV buffers as in OrtEngine."""

    def __init__(self, name: str, path: Path, threads: int, capacity: int) -> None:
        import openvino as ov

        core = ov.Core()
        config = {
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": "f32",
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }
        self.compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.name = name
        self.weight_bytes = file_bytes(path)
        inputs = self.compiled.inputs
        self.names = [i.get_any_name() for i in inputs]
        self.layers = (len(inputs) - 1) // 2
        self._buffers(capacity, dim=inputs[0].get_partial_shape()[1].get_length())

    def _infer(self, feed: dict[str, Any]) -> tuple[Any, Any, Any]:
        result = self.request.infer(feed)
        latent, logits, present = (result[out] for out in self.compiled.outputs)
        return latent, logits, present


# --- torch, int8 weight-only ---------------------------------------------------------------


def _int8_weight(weight_out_in: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric per-output-channel int8: (int8 [out, in], fp32 scales [out])."""
    w = weight_out_in.detach().float()
    scales = w.abs().amax(dim=1).clamp_min(1e-12) / 127.0
    q = torch.clamp(torch.round(w / scales[:, None]), -127, 127).to(torch.int8)
    return q.contiguous(), scales.contiguous()


class TorchStepEngine:
    """The step written out in torch with int8 weight-only projections (fp32 activations), eager
    or compiled with torch.compile (inductor). Keys and values in [layers, heads, capacity, hd]
    buffers; attention reads the filled part through a view."""

    def __init__(self, name: str, gpt: Any, capacity: int) -> None:
        blocks, self.ln_f, self.final_norm, head = _gpt_parts(gpt)
        config = gpt.gpt.config
        self.dim, self.heads = config.n_embd, config.n_head
        self.head_dim = self.dim // self.heads
        self.norms = [(b.ln_1, b.ln_2) for b in blocks]
        self.act = blocks[0].mlp.act
        self.linears: list[dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]] = []
        for block in blocks:
            self.linears.append(
                {
                    key: (*_int8_weight(conv.weight.t()), conv.bias.detach().float().clone())
                    for key, conv in _conv1d_linears(block).items()
                }
            )
        self.head = (*_int8_weight(head.weight), head.bias.detach().float().clone())
        shape = (len(blocks), self.heads, capacity, self.head_dim)
        self.keys = torch.zeros(shape)
        self.values = torch.zeros(shape)
        self.length = 0
        self.name = name
        self.weight_bytes = sum(
            t.numel() * t.element_size() for lin in self.linears for t in lin.values() for t in t
        ) + sum(t.numel() * t.element_size() for t in self.head)
        self.weight_bytes += sum(
            p.numel() * p.element_size()
            for norms in self.norms
            for n in norms
            for p in n.parameters()
        )
        self._forward = self._eager

    def compiled_copy(self, name: str) -> TorchStepEngine:
        """The same int8 weights (shared, not copied), own KV buffers, the step compiled."""
        other = copy.copy(self)
        other.name = name
        other.keys, other.values = torch.zeros_like(self.keys), torch.zeros_like(self.values)
        other._forward = torch.compile(other._eager, dynamic=True, fullgraph=False)
        return other

    @staticmethod
    def _linear(x: torch.Tensor, weight: tuple[torch.Tensor, torch.Tensor, torch.Tensor]):
        q, scales, bias = weight
        return torch.ops.aten._weight_int8pack_mm(x, q, scales) + bias

    def _eager(self, x: torch.Tensor, start: int) -> Outputs:
        length = x.shape[0]
        end = start + length
        for layer, (ln_1, ln_2) in enumerate(self.norms):
            linears = self.linears[layer]
            query, key, value = self._linear(ln_1(x), linears["qkv"]).split(self.dim, dim=-1)
            q, k, v = (
                t.view(length, self.heads, self.head_dim).transpose(0, 1)
                for t in (query, key, value)
            )
            self.keys[layer, :, start:end] = k
            self.values[layer, :, start:end] = v
            attended = F.scaled_dot_product_attention(
                q.unsqueeze(0),
                self.keys[layer, :, :end].unsqueeze(0),
                self.values[layer, :, :end].unsqueeze(0),
                is_causal=length > 1,  # prefill from an empty cache; a step sees all of it
            )[0]
            attended = attended.transpose(0, 1).reshape(length, self.dim)
            x = x + self._linear(attended, linears["proj"])
            x = x + self._linear(self.act(self._linear(ln_2(x), linears["fc"])), linears["out"])
        latent = self.final_norm(self.ln_f(x[-1:]))
        return latent, self._linear(latent, self.head)

    @torch.inference_mode()
    def _run(self, x: torch.Tensor) -> Outputs:
        start = self.length
        out = self._forward(x, start)
        self.length = start + x.shape[0]
        return out

    def start(self, prefix: torch.Tensor) -> Outputs:
        self.length = 0
        return self._run(prefix[0].float())

    def step(self, embedding: torch.Tensor) -> Outputs:
        return self._run(embedding[0].float())


def ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


def file_bytes(path: Path) -> int:
    return sum(os.path.getsize(p) for p in path.parent.glob(path.name + "*"))
