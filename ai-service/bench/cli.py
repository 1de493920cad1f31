"""The command line: `python scripts/bench.py [--quick] [--checkpoint ...]` (or `python -m bench`)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from . import __doc__ as DESCRIPTION
from .config import DEFAULT_OUT, PATHS, WorkerSpec
from .orchestrate import run
from .report import format_markdown, format_table, write_json
from .worker import run_worker


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="few tokens and one repeat: a smoke run"
    )
    parser.add_argument(
        "--checkpoint", default="full", help="tiny, full (built when missing) or a checkpoint dir"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: available cores)"
    )
    parser.add_argument(
        "--tokens", type=int, default=None, help="audio tokens per sentence (default 48; quick 8)"
    )
    parser.add_argument("--repeats", type=int, default=None, help="runs per path, median reported")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS), help="run only these paths")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON output (default {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="JSON", help="print a bench.json as a Markdown table"
    )
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


# kept in sync with ownvoice_ai.optimize.OMP_ENVIRONMENT (a test checks): set before torch is imported
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
