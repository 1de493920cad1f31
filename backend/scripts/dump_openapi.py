"""Write the app server's OpenAPI schema as JSON: `python scripts/dump_openapi.py OUT.json`.

The frontend generates its TypeScript API types from this file. Nothing is started: the
schema comes from the route declarations alone.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.main import create_app  # noqa: E402


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: dump_openapi.py OUTPUT.json")
    target = Path(sys.argv[1])
    target.parent.mkdir(parents=True, exist_ok=True)
    schema = create_app().openapi()
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
    tmp.replace(target)


if __name__ == "__main__":
    main()
