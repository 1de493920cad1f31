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
  (i) ours-batch, (j) ours-fast-batch   book rendering: sentences batched through the GPT
  (k) ours-default     the service as a new user runs it (build_services, default settings:
                       auto precision), then 1, 4 and 8 listeners arriving together

Every path speaks the same three-sentence paragraph with the same forced number of audio tokens
per sentence (random weights never emit [STOP] reliably), so they produce the same amount of
audio and their times compare directly. Figures: time to first audio, real-time factor, GPT
decode ms per token next to the memory-bandwidth bound measured in the same run, peak memory,
throughput relative to the baselines, int8's numerical difference from fp32, the CPU's vector
extensions and issue 16's targets, one line each ending in met or missed (targets.py).
Prints a table and writes JSON (default bench-results/bench.json).

Modules: config (paragraph, paths, sizes), targets (the targets, the CPU's extensions), probes
(timing, memory, bandwidth), reference (the voice's recording), numerics (differences between
variants), paths/ (one class per path: coqui, ours, batch, service), worker (one path in its own
process), orchestrate (the parent), report (table, Markdown, JSON), cli (the command line).
"""
