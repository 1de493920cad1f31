"""Build a randomly initialised XTTS v2 checkpoint directory with the real file layout.

    python scripts/make_checkpoint.py tiny            # -> checkpoints/tiny (seconds)
    python scripts/make_checkpoint.py full            # -> checkpoints/full (467M params, ~1.9 GB)
    python scripts/make_checkpoint.py tiny --out DIR --verify

The files are what coqui-tts's real loader reads from a downloaded XTTS v2 (config.json, model.pth,
vocab.json); `--verify` loads the result through that loader. See ownvoice_ai/random_checkpoints.py.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ownvoice_ai.checkpoints import load_checkpoint
from ownvoice_ai.random_checkpoints import DEFAULT_CHECKPOINTS_DIR, VARIANTS, build_checkpoint


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument(
        "--out", type=Path, help="output directory (default: checkpoints/<variant>)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--verify", action="store_true", help="load the result through the real loader"
    )
    args = parser.parse_args(argv)
    out = args.out or DEFAULT_CHECKPOINTS_DIR / args.variant
    path = build_checkpoint(args.variant, out, seed=args.seed)
    if args.verify:
        model = load_checkpoint(path)
        params = sum(p.numel() for p in model.parameters())
        print(json.dumps({"checkpoint": str(path), "parameters": params}))
    else:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
