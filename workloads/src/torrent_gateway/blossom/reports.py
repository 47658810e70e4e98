"""BUD-09 blob reports: a signed NIP-56 (kind 1984) event naming blobs with ``["x", sha256, type]``.

A report is verified (shape, id, BIP-340 signature), then kept for the operators in the state
store's sorted set ``reports``: one member per reported blob we hold, the JSON
``{"event": ..., "sha256": ..., "reason": ..., "received": ts}``, scored by the time it came.
The same event sent twice is stored once; the set keeps the newest ``MAX_REPORTS``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from ..manifest import is_sha256
from ..nostr.events import InvalidEvent, verify_event
from ..state import StateStore
from .errors import BlossomError

REPORT_KIND = 1984
REPORTS_KEY = "reports"
SEEN_PREFIX = "reports:seen:"
MAX_REPORTS = 10_000
MAX_REPORT_BYTES = 64 * 1024
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
) -> int:
    """Keep the report for every target we hold; returns how many were stored (0 for a repeat)."""
    held = [(sha, reason) for sha, reason in targets if await known(sha)]
    if not held:
        raise BlossomError(404, "none of the reported blobs is stored here")
    if not await state.set(SEEN_PREFIX + event["id"], b"1", ttl=SEEN_TTL, only_new=True):
        return 0
    for sha, reason in held:
        member = json.dumps(
            {"event": event, "sha256": sha, "reason": reason, "received": now},
            separators=(",", ":"),
            sort_keys=True,
        )
        await state.zadd(REPORTS_KEY, member, now)
    excess = await state.zcard(REPORTS_KEY) - MAX_REPORTS
    if excess > 0:
        oldest = await state.zrange(REPORTS_KEY, 0, excess - 1)
        await state.zrem(REPORTS_KEY, *(member for member, _ in oldest))
    return len(held)


async def list_reports(state: StateStore, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
    """Newest reports first, decoded (for the admin views)."""
    rows = await state.zrange(REPORTS_KEY, offset, offset + limit - 1, desc=True)
    return [json.loads(member) for member, _ in rows]
