"""BUD-09 blob reports: a signed NIP-56 (kind 1984) event naming blobs with ``["x", sha256, type]``.

A report is verified (shape, id, BIP-340 signature), then kept for the operators in the state
store's sorted set ``reports``: one member per reported blob we hold, the JSON
``{"event": ..., "sha256": ..., "reason": ..., "received": ts}``, scored by the time it came.

Reports cost nothing to make (a fresh key per report), so they are bounded on every axis: the
body (``MAX_REPORT_BYTES``), the rate per client address (the rate-limit middleware) and per
reporter pubkey (here, ``rate_limiting.report.reports_per_minute``), one report per (reporter,
blob), and the number kept (``rate_limiting.report.max_stored``). A full set refuses new reports
rather than evicting old ones: a flood never pushes out the real reports operators must read.

State keys: ``reports:seen:<event id>`` (the same event twice), ``reports:pair:<pubkey>:<sha>``
(one report per reporter and blob), ``reports:rate:<pubkey>`` (per-minute counter).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ..config import ReportLimit
from ..manifest import is_sha256
from ..nostr.events import InvalidEvent, verify_event
from ..state import StateStore
from .errors import BlossomError

REPORT_KIND = 1984
REPORTS_KEY = "reports"
SEEN_PREFIX = "reports:seen:"
PAIR_PREFIX = "reports:pair:"
RATE_PREFIX = "reports:rate:"
MAX_REPORTS = ReportLimit().max_stored
# A report is one small event: a few 'x' tags and a short comment.
MAX_REPORT_BYTES = 16 * 1024
MAX_REPORT_TARGETS = 20
SEEN_TTL = 30 * 24 * 3600
# NIP-56 report types; anything else is kept as "other".
REPORT_TYPES = frozenset({"nudity", "malware", "profanity", "illegal", "spam", "impersonation", "other"})


def parse_report(body: bytes) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The verified event and its (sha256, reason) targets; raises BlossomError(400)."""
    if len(body) > MAX_REPORT_BYTES:
        raise BlossomError(413, f"report larger than {MAX_REPORT_BYTES} bytes")
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise BlossomError(400, "report body must be a signed kind 1984 event as JSON") from None
    try:
        verify_event(event, kinds={REPORT_KIND})
    except InvalidEvent as exc:
        raise BlossomError(400, f"invalid report event: {exc.reason}") from None
    targets: list[tuple[str, str]] = []
    for tag in event["tags"]:
        if len(tag) >= 2 and tag[0] == "x":
            sha = tag[1].strip().lower()
            if not is_sha256(sha):
                raise BlossomError(400, "every 'x' tag of a report must hold a sha256")
            reason = tag[2].strip().lower() if len(tag) >= 3 else "other"
            pair = (sha, reason if reason in REPORT_TYPES else "other")
            if pair not in targets:
                targets.append(pair)
            if len(targets) > MAX_REPORT_TARGETS:
                raise BlossomError(400, f"a report may name at most {MAX_REPORT_TARGETS} blobs")
    if not targets:
        raise BlossomError(400, "a report must name at least one blob with an 'x' tag")
    return event, targets


async def store_report(
    state: StateStore,
    event: dict[str, Any],
    targets: list[tuple[str, str]],
    *,
    now: float,
    known: Callable[[str], Awaitable[bool]],
    limits: ReportLimit | None = None,
) -> int:
    """Keep the report for every target we hold that this reporter has not reported yet; returns
    how many were stored (0 for a repeat). 429 (with Retry-After) past the reporter's rate or
    when the set is full."""
    limits = limits or ReportLimit()
    held = [(sha, reason) for sha, reason in targets if await known(sha)]
    if not held:
        raise BlossomError(404, "none of the reported blobs is stored here")
    reporter = str(event["pubkey"])
    if await state.incr(RATE_PREFIX + reporter, 1, ttl=60) > limits.reports_per_minute:
        raise BlossomError(429, "too many reports from this pubkey; try again later", {"Retry-After": "60"})
    if not await state.set(SEEN_PREFIX + event["id"], b"1", ttl=SEEN_TTL, only_new=True):
        return 0
    fresh = [
        (sha, reason)
        for sha, reason in held
        if await state.set(f"{PAIR_PREFIX}{reporter}:{sha}", b"1", ttl=SEEN_TTL, only_new=True)
    ]
    if not fresh:
        return 0
    if await state.zcard(REPORTS_KEY) + len(fresh) > limits.max_stored:
        # Undo the claims: this reporter may try again once operators have made room.
        await state.delete(*(f"{PAIR_PREFIX}{reporter}:{sha}" for sha, _ in fresh))
        raise BlossomError(
            429,
            "the report queue is full until operators review it; try again later",
            {"Retry-After": "3600"},
        )
    for sha, reason in fresh:
        member = json.dumps(
            {"event": event, "sha256": sha, "reason": reason, "received": now},
            separators=(",", ":"),
            sort_keys=True,
        )
        await state.zadd(REPORTS_KEY, member, now)
    return len(fresh)


async def list_reports(state: StateStore, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Newest reports first, decoded (for the admin views)."""
    rows = await state.zrange(REPORTS_KEY, offset, offset + limit - 1, desc=True)
    return [json.loads(member) for member, _ in rows]
