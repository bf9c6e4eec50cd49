"""``python -m benchmarks``: the suite's command line (see :mod:`benchmarks.framework.cli`)."""
from __future__ import annotations

import sys

from benchmarks.framework.cli import main

if __name__ == "__main__":
    sys.exit(main())
