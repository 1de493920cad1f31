"""The benchmark's targets (issue 16) on fixed results: met/missed by CPU tier, one line each."""

from __future__ import annotations

from bench.report import format_table
from bench.targets import cpu_extensions, summary, targets

AVX2_FLAGS = "processor\t: 0\nflags\t\t: fpu sse4_2 avx avx2 fma\n"
AVX512_FLAGS = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile amx_bf16\nflags : other\n"


def test_the_vector_extensions_come_from_the_first_flags_line():
    assert cpu_extensions(AVX2_FLAGS) == {
        "avx2": True,
        "avx512f": False,
        "avx512_bf16": False,
        "amx": False,
    }
    assert cpu_extensions(AVX512_FLAGS) == {
        "avx2": True,
        "avx512f": True,
        "avx512_bf16": True,
        "amx": True,
    }
    assert cpu_extensions("") == dict.fromkeys(("avx2", "avx512f", "avx512_bf16", "amx"), False)


def listeners(single: float, eight: float) -> dict:
    return {
        "1": {"first_audio_p50_s": single, "first_audio_p95_s": single, "aggregate_rtf": 1.0},
        "8": {"first_audio_p50_s": eight, "first_audio_p95_s": eight, "aggregate_rtf": 0.9},
    }


def results(rtf: float, ttfa: float, book: float, peak_gb: float, eight: float) -> dict:
    return {
        "ours-default": {
            "rtf": rtf,
            "ttfa_s": ttfa,
            "peak_rss_overall_bytes": peak_gb * 1e9,
            "precision": {"chosen": "int8", "reason": "slow"},
            "listeners": listeners(0.5, eight),
            "verified_rendering": {
                "x_real_time_off": 1.0,
                "x_real_time_on": 0.5,
                "throughput_cost": 0.5,  # hearing the random model's noise: not the target
            },
        },
        "ours-fast-batch": {"batching": {"by_batch_size": {"8": {"x_real_time": book}}}},
        # fp32's batch path: what the targets must not read when auto picked int8
        "ours-batch": {"batching": {"by_batch_size": {"8": {"x_real_time": 100.0}}}},
    }


def heard(cost: float) -> dict:
    """Hearing real speech that costs rendering at 1x real time `cost` of its throughput."""
    return {"verification_s_per_audio_s": cost / (1 - cost)}


def verdicts(found) -> list[bool]:
    return [target.met for target in found]


def test_the_same_figures_meet_the_avx2_targets_and_miss_the_avx512_ones():
    figures = results(rtf=0.9, ttfa=0.8, book=2.5, peak_gb=1.9, eight=1.4)
    assert verdicts(targets(figures, cpu_extensions(AVX2_FLAGS), heard(0.1))) == [True] * 6
    assert verdicts(targets(figures, cpu_extensions(AVX512_FLAGS), heard(0.1))) == [
        False,  # RTF 0.9 > 0.4
        False,  # first audio 0.8 s > 0.3 s
        False,  # book 2.5x < 8x
        True,  # memory is the same target on both
        True,  # 1.4 s / 0.5 s = 2.8x <= 3x
        True,  # verification costs 10% <= 25% on both
    ]


def test_limits_are_inclusive_and_over_them_is_missed():
    avx2 = cpu_extensions(AVX2_FLAGS)
    at_limits = results(rtf=1.0, ttfa=1.0, book=2.0, peak_gb=2.0, eight=1.5)
    assert verdicts(targets(at_limits, avx2, heard(0.25))) == [True] * 6
    over = results(rtf=1.01, ttfa=1.01, book=1.99, peak_gb=2.01, eight=1.51)
    assert verdicts(targets(over, avx2, heard(0.2501))) == [False] * 6


def test_book_rendering_is_read_from_the_batch_path_of_the_chosen_precision():
    figures = results(rtf=0.9, ttfa=0.8, book=1.0, peak_gb=1.9, eight=1.4)
    [book] = [t for t in targets(figures, cpu_extensions(AVX2_FLAGS)) if "book" in t.name]
    assert "ours-fast-batch" in book.name and book.value == 1.0 and not book.met
    figures["ours-default"]["precision"]["chosen"] = "fp32"
    [book] = [t for t in targets(figures, cpu_extensions(AVX2_FLAGS)) if "book" in t.name]
    assert "ours-batch" in book.name and book.value == 100.0 and book.met


def test_a_target_not_measured_is_missed_and_every_line_says_met_or_missed():
    lines = [t["line"] for t in summary({}, cpu_extensions(AVX2_FLAGS))]
    assert len(lines) == 6
    assert all(line.endswith(": missed") and "not measured" in line for line in lines)
    met = summary(
        results(rtf=0.9, ttfa=0.8, book=2.5, peak_gb=1.9, eight=1.4),
        cpu_extensions(AVX2_FLAGS),
        heard(0.1),
    )
    assert [t["line"].rsplit(": ", 1)[1] for t in met] == ["met"] * 6
    assert met[4]["line"] == (
        "target p95 first audio at 8 listeners / single listener <= 3x: 2.80x "
        "(1.40 s vs 0.50 s): met"
    )
    assert met[5]["line"] == (
        "target verification cost of render throughput <= 25%: 10.00% "
        "(rendering 1.000 s + hearing real speech 0.111 s per audio second; hearing the random "
        "model's noise: 50%): met"
    )


def test_the_table_prints_the_extensions_then_one_line_per_target():
    extensions = cpu_extensions(AVX2_FLAGS)
    report = {
        "machine": {
            "memory_bandwidth": {"read_gb_s": 20.0, "copy_gb_s": 15.0},
            "cpu_extensions": extensions,
        },
        "paths": {},
        "sizes": {"tokens_per_sentence": 8, "repeats": 1},
        "paragraph": ["a"],
        "targets": summary({}, extensions),
        "failures": [],
    }
    lines = format_table(report).splitlines()
    start = lines.index("CPU vector extensions: avx2 yes, avx512f no, avx512_bf16 no, amx no")
    assert [line.rsplit(": ", 1)[1] for line in lines[start + 1 :]] == ["missed"] * 6


def test_verification_cost_is_hearing_real_speech_against_rendering_in_the_same_run():
    """Hearing 0.5 s per audio second after rendering at 2x real time (0.5 s per audio second)
    halves the throughput: 50%, missed; the noise-heard figure is only reported beside it."""
    figures = results(rtf=0.9, ttfa=0.8, book=2.5, peak_gb=1.9, eight=1.4)
    figures["ours-default"]["verified_rendering"].update(x_real_time_off=2.0, throughput_cost=0.1)
    [cost] = [
        t
        for t in targets(figures, cpu_extensions(AVX2_FLAGS), {"verification_s_per_audio_s": 0.5})
        if t.name.startswith("verification")
    ]
    assert cost.value == 50.0 and not cost.met
    assert "hearing real speech 0.500 s" in cost.note and "noise: 10%" in cost.note
    [unheard] = [
        t for t in targets(figures, cpu_extensions(AVX2_FLAGS)) if t.name.startswith("verif")
    ]
    assert unheard.value is None and not unheard.met


def test_playback_stalls_are_the_waits_after_the_first_audio_at_real_time():
    """bench.probes.Playback: plays from the first audio on; a piece that arrives after what
    came before has been played makes playback stand still for the difference."""
    from bench.probes import Playback

    playback = Playback(sample_rate=10)
    playback.arrived(1.0, 0)  # an empty chunk is not audio
    playback.arrived(2.0, 10)  # first audio: 1 s of it, played until 3.0
    playback.arrived(2.5, 10)  # in time: played from 3.0 until 4.0
    playback.arrived(4.5, 5)  # 0.5 s late: played 4.5 to 5.0
    playback.arrived(4.6, 20)  # in time
    assert playback.first_s == 2.0
    assert playback.stall_s == 0.5
    assert playback.runs_out_s == 7.0 and playback.samples == 45
