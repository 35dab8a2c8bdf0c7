"""``python benchmarks/run.py [options]``: the same as ``python -m benchmarks``."""

import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks.runner import main

    raise SystemExit(main())
