"""Speed benchmark: our XTTS path against coqui-tts as naive servers use it, in one run.

    make bench                                  # full-size random checkpoint, default sizes
    .venv/bin/python scripts/bench.py --quick   # a smoke run: few tokens, one repeat
    .venv/bin/python scripts/bench.py --checkpoint tiny --quick   # seconds; what the tests run

The benchmark is the `bench` package next to `ownvoice_ai` (ai-service/bench/: probes, paths,
orchestration, reporting); this script is its command line (`python -m bench` is the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

AI_SERVICE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(AI_SERVICE_DIR))  # first: `bench` is the package there, not this script

from bench.cli import OMP_ENVIRONMENT, main  # noqa: E402 - after the path is set

__all__ = ["OMP_ENVIRONMENT", "main"]

if __name__ == "__main__":
    sys.exit(main())
