"""Runs every benchmark in bench/ (bench_*.py), one after another, each against its own anchor.

``python bench/run_all.py [name ...]`` — names like ``foundation`` or ``tracker`` pick a subset.
Each benchmark prints its figures and ratios; this runner adds nothing but a header per run and a
time limit per benchmark.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

LIMIT_SECONDS = 1200


def main() -> int:
    here = Path(__file__).resolve().parent
    wanted = set(sys.argv[1:])
    scripts = sorted(
        p for p in here.glob("bench_*.py") if not wanted or p.stem.removeprefix("bench_") in wanted
    )
    failures = 0
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        try:
            result = subprocess.run([sys.executable, str(script)], timeout=LIMIT_SECONDS, cwd=here.parent)
            failures += result.returncode != 0
        except subprocess.TimeoutExpired:
            print(f"{script.stem}: stopped after {LIMIT_SECONDS} s", flush=True)
            failures += 1
        print(f"--- {script.stem}: {time.monotonic() - started:.0f} s", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
