"""Figures the reliability suite reports in pytest's closing summary (see tests/conftest.py)."""

from __future__ import annotations

from collections import Counter

FIGURES: Counter[str] = Counter()
LABELS = {
    "faults": "faults survived",
    "bad_inputs": "bad inputs tried",
    "load_requests": "requests under load",
    "errors": "errors under load",
    "bytes_verified": "bytes verified",
    "files_verified": "files verified",
    "lost": "files lost or corrupted",
}


def record(kind: str, amount: int = 1) -> None:
    if kind not in LABELS:
        raise KeyError(kind)
    FIGURES[kind] += amount


def summary_line() -> str | None:
    if not FIGURES:
        return None
    parts = [f"{LABELS[k]}={FIGURES.get(k, 0)}" for k in LABELS]
    return "reliability: " + ", ".join(parts)
