"""`python -m bench`: the same command line as `python scripts/bench.py`."""

import sys

from .cli import main

sys.exit(main())
