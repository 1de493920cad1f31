"""The table printed after a run, the README's Markdown table, and the JSON file."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any


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
            f"{result['rtf']:>6.2f} {_num(result.get('decode_ms_per_token'), 7, 1)} "
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
        lines.append(
            f"machine load (1-min average): {load['start']:.1f} at the start, {load['end']:.1f} at the end"
        )
    lines += format_batching(report)
    lines += format_verification(report)
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
        (
            p["decode_ms_per_token_by_threads"]
            for p in int8_paths
            if p.get("decode_ms_per_token_by_threads")
        ),
        None,
    )
    if by_threads:
        lines.append(
            "int8 decode ms/token by threads: "
            + ", ".join(f"{t}: {ms:.1f}" for t, ms in by_threads.items())
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
    lines += format_listeners(report)
    extensions = report["machine"].get("cpu_extensions", {})
    lines.append(
        "CPU vector extensions: "
        + ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in extensions.items())
    )
    lines += [target["line"] for target in report["targets"]]
    for path, why in report.get("skipped", {}).items():
        lines.append(f"skipped {path}: {why}")
    for failure in report["failures"]:
        lines.append(f"FAILED {failure['path']}: {failure['message']}")
    return "\n".join(lines)


def format_listeners(report: dict[str, Any]) -> list[str]:
    """Listeners arriving together on the service's worker: first audio and aggregate RTF."""
    default = report["paths"].get("ours-default", {})
    lines = []
    precision = default.get("precision")
    if precision:
        lines.append(f"default settings: {precision['chosen']} ({precision['reason']})")
    alone = default.get("sentence_after_sentence")
    if alone:
        stalls = [run.get("stall_s") for run in default.get("runs", [])]
        stall = statistics.median(stalls) if stalls and None not in stalls else None
        read_ahead = f"RTF {default['rtf']:.2f}" + (
            f", playback stalls {stall:.2f} s in all" if stall is not None else ""
        )
        lines.append(
            f"default settings, the paragraph as one /generate (read ahead "
            f"{default['read_ahead']}): {read_ahead}; sentence after sentence: RTF "
            f"{alone['rtf']:.2f}, stalls {alone['stall_s']:.2f} s (first audio "
            f"{default['ttfa_s']:.2f} vs {alone['ttfa_s']:.2f} s)"
        )
    reader = default.get("reader")
    if reader:
        lines.append(
            f"the reader ({reader['sentences']} sentences, {reader['audio_s']:.1f} s of audio, "
            f"each fetched whole, up to {reader['lookahead']} ahead, "
            f"{reader['concurrent_requests']} at a time): the first sentence plays after "
            f"{reader['first_sentence_s']:.2f} s; then playback stalls {reader['stall_s']:.2f} s "
            "in all"
        )
    for count, run in (default.get("listeners") or {}).items():
        lines.append(
            f"{count} listener(s) together: first audio p50 {run['first_audio_p50_s']:.2f} s, "
            f"p95 {run['first_audio_p95_s']:.2f} s; aggregate RTF {run['aggregate_rtf']:.2f}"
        )
    return lines


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
            versus = (
                f", {run['x_real_time'] * base['total_s'] / base['audio_s']:.1f}x (a)"
                if base
                else ""
            )
            cells.append(f"batch {size}: {run['x_real_time']:.2f}x real time{versus}")
        lines.append(f"{name} rendering {batching['sentences']} sentences: " + "; ".join(cells))
        placement = report["paths"][name].get("vocoder_placement")
        if placement:
            cells = [
                f"{how.replace('_', ' ')} ({run['threads']} thread(s)): "
                f"{run['x_real_time']:.2f}x real time"
                for how, run in placement["runs"].items()
            ]
            lines.append(
                f"{name} vocoder at batch {placement['batch']}: "
                + "; ".join(cells)
                + f" (beside vs in line, max abs difference "
                f"{placement['max_abs_diff_beside_vs_inline']:g})"
            )
        kv = report["paths"][name].get("kv_cache")
        if kv:
            lines.append(
                f"{name} decode step at batch {kv['batch']}, position {kv['position']}: "
                f"{kv['dynamic_ms_per_step']:.0f} ms with HF DynamicCache, "
                f"{kv['preallocated_ms_per_step']:.0f} ms with the preallocated KV cache"
            )
    return lines


def format_verification(report: dict[str, Any]) -> list[str]:
    """Recognition cost per second of audio, and what it takes from book rendering."""
    verification = report.get("verification")
    if not verification:
        return []
    lines = [
        f"verification on {verification['audio_s']:.1f} s of real speech, "
        f"{verification['threads']} thread(s): recognition "
        f"{verification['recognition_s_per_audio_s']:.3f} s per audio second, speaker similarity "
        f"{verification['speaker_s_per_audio_s']:.3f}"
    ]
    rendered = (report["paths"].get("ours-default") or {}).get("verified_rendering")
    if rendered:
        lines.append(
            f"{rendered['sentences']} sentences through the batch path (batch "
            f"{rendered['batch_size']}), rendered twice: {rendered['x_real_time_off']:.2f}x real "
            f"time with verification off, {rendered['x_real_time_on']:.2f}x on (hearing "
            f"{rendered['hearing_s_per_audio_s']:.3f} s per audio second)"
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
            f"| {_num(result.get('decode_ms_per_token'), 0, 0)} ({_num(bound, 0, 0)}) | {peak / 1e9:.2f} "
            f"| {ratios.get('coqui-inference', float('nan')):.2f}x | {ratios.get('coqui-stream', float('nan')):.2f}x |"
        )
    notes = format_batching(report) + format_listeners(report) + format_verification(report)
    notes += [target["line"] for target in report.get("targets", [])]
    if notes:
        rows += ["", *(f"- {line}" for line in notes)]
    return "\n".join(rows)


def _num(value: float | None, width: int, digits: int) -> str:
    return f"{value:>{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle, indent=2)
    os.replace(temp, path)
