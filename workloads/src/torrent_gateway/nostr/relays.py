"""Publishing signed events to Nostr relays (NIP-01 ``EVENT``/``OK``, NIP-42 ``AUTH``).

Each relay gets its own connection and its own retry schedule, all relays in parallel; a relay
that is down or slow never holds up another. Retries follow the relay's own words: an ``OK``
false whose message starts with ``rate-limited:`` or ``error:`` (or a failed connection, or no
answer in time) is tried again after a backoff; ``duplicate:`` means the relay already has it
(success); any other refusal (``invalid:``, ``blocked:``, ``pow:``, ...) is final. The result
is one line per relay and event: ``"ok"`` or the last thing that went wrong.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from .events import InvalidEvent, verify_event

log = logging.getLogger(__name__)

RETRYABLE_PREFIXES = ("rate-limited:", "error:")
DEFAULT_BACKOFF = (2.0, 10.0, 30.0, 120.0, 600.0)
MAX_RELAY_MESSAGE = 1024 * 1024

AuthSigner = Callable[[str, str], dict[str, Any]]
"""(relay URL, challenge) → a signed kind 22242 event (NIP-42)."""

ProgressCallback = Callable[[str, dict[str, "RelayOutcome"], bool], Awaitable[None]]
"""(relay URL, {event id: outcome so far}, final) → awaited after every attempt on that relay."""


@dataclass
class RelayOutcome:
    """What one relay said about one event."""

    accepted: bool
    message: str
    attempts: int

    @property
    def summary(self) -> str:
        return "ok" if self.accepted else (self.message or "refused")


def is_retryable(message: str) -> bool:
    return message.startswith(RETRYABLE_PREFIXES)


class RelayPublisher:
    """Publishes events to a fixed set of relays; safe to share (no state between calls)."""

    def __init__(
        self,
        relays: Sequence[str],
        *,
        timeout: float = 10.0,
        backoff: Sequence[float] = DEFAULT_BACKOFF,
        auth_signer: AuthSigner | None = None,
    ) -> None:
        self.relays = list(dict.fromkeys(relays))
        self.timeout = timeout
        self.backoff = list(backoff)
        self.auth_signer = auth_signer

    async def publish(
        self, events: Sequence[dict[str, Any]], on_progress: ProgressCallback | None = None
    ) -> dict[str, dict[str, RelayOutcome]]:
        """Send ``events`` to every relay; returns {event id: {relay: outcome}}.

        Never raises for a relay's failure: that is in the outcome. Returns when every relay
        has accepted or finally refused every event, or its retries are spent. ``on_progress``
        hears about each relay after each attempt, so a fast relay's success is known while a
        dead one is still being retried.
        """
        results: dict[str, dict[str, RelayOutcome]] = {event["id"]: {} for event in events}
        if not events or not self.relays:
            return results
        per_relay = await asyncio.gather(
            *(self._publish_to(relay, events, on_progress) for relay in self.relays)
        )
        for relay, outcomes in zip(self.relays, per_relay, strict=True):
            for event_id, outcome in outcomes.items():
                results[event_id][relay] = outcome
        return results

    async def _publish_to(
        self, relay: str, events: Sequence[dict[str, Any]], on_progress: ProgressCallback | None
    ) -> dict[str, RelayOutcome]:
        pending = {event["id"]: event for event in events}
        outcomes: dict[str, RelayOutcome] = {}
        schedule = [0.0, *self.backoff]
        for attempts, delay in enumerate(schedule, start=1):
            if delay:
                await asyncio.sleep(delay)
            try:
                async with asyncio.timeout(self.timeout * (len(pending) + 1)):
                    await self._send_all(relay, pending, outcomes, attempts)
            except (OSError, WebSocketException, TimeoutError, ValueError) as exc:
                reason = "timed out" if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
                for event_id in pending:
                    outcomes[event_id] = RelayOutcome(False, f"error: connection failed: {reason}", attempts)
            final = not pending or attempts == len(schedule)
            if on_progress is not None:
                await self._report(on_progress, relay, outcomes, final)
            if not pending:
                break
            log.info("relay %s: %d event(s) not accepted yet (attempt %d)", relay, len(pending), attempts)
        for event_id, outcome in outcomes.items():
            if not outcome.accepted:
                log.warning("relay %s refused event %s: %s", relay, event_id, outcome.message)
        return outcomes

    @staticmethod
    async def _report(
        callback: ProgressCallback, relay: str, outcomes: dict[str, RelayOutcome], final: bool
    ) -> None:
        try:
            await callback(relay, dict(outcomes), final)
        except Exception:  # a failing observer must not stop publishing
            log.exception("progress callback failed for relay %s", relay)

    async def _send_all(
        self,
        relay: str,
        pending: dict[str, dict[str, Any]],
        outcomes: dict[str, RelayOutcome],
        attempts: int,
    ) -> None:
        async with connect(
            relay, open_timeout=self.timeout, close_timeout=1, max_size=MAX_RELAY_MESSAGE
        ) as ws:
            session = _RelaySession(ws, relay, self.timeout, self.auth_signer)
            for event_id, event in list(pending.items()):
                accepted, message = await session.send_event(event)
                if accepted or message.startswith("duplicate:"):
                    outcomes[event_id] = RelayOutcome(True, message, attempts)
                    del pending[event_id]
                elif is_retryable(message):
                    outcomes[event_id] = RelayOutcome(False, message, attempts)
                else:
                    outcomes[event_id] = RelayOutcome(False, message, attempts)
                    del pending[event_id]


class _RelaySession:
    """One open connection: sends events one at a time and reads the relay's answers."""

    def __init__(
        self, ws: ClientConnection, relay: str, timeout: float, auth_signer: AuthSigner | None
    ) -> None:
        self.ws = ws
        self.relay = relay
        self.timeout = timeout
        self.auth_signer = auth_signer
        self.challenge: str | None = None
        self.authenticated = False

    async def _next_message(self, deadline: float) -> list[Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            raw = await self.ws.recv()
        try:
            message = json.loads(raw)
        except ValueError:
            return []
        return message if isinstance(message, list) and message else []

    async def _await_ok(self, event_id: str, wait: float | None = None) -> tuple[bool, str]:
        deadline = time.monotonic() + (self.timeout if wait is None else wait)
        while True:
            message = await self._next_message(deadline)
            if message[:1] == ["AUTH"] and len(message) >= 2 and isinstance(message[1], str):
                self.challenge = message[1]
            # Some relays (nostr-relay among them) answer a refused event with an empty id.
            elif message[:1] == ["OK"] and len(message) >= 3 and message[1] in (event_id, ""):
                text = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
                return message[2] is True, text
            # NOTICE and anything else: informational only.

    async def send_event(self, event: dict[str, Any]) -> tuple[bool, str]:
        await self.ws.send(json.dumps(["EVENT", event], separators=(",", ":")))
        accepted, message = await self._await_ok(event["id"])
        if not accepted and message.startswith("auth-required:") and await self._authenticate():
            await self.ws.send(json.dumps(["EVENT", event], separators=(",", ":")))
            accepted, message = await self._await_ok(event["id"])
        return accepted, message

    async def _authenticate(self) -> bool:
        """NIP-42: answer the relay's challenge with a signed kind 22242 event, once."""
        if self.authenticated or self.auth_signer is None:
            return False
        if self.challenge is None:
            # The challenge may still be in flight: give it a moment.
            deadline = time.monotonic() + min(self.timeout, 2.0)
            while self.challenge is None:
                incoming = await self._next_message(deadline)
                if incoming[:1] == ["AUTH"] and len(incoming) >= 2 and isinstance(incoming[1], str):
                    self.challenge = incoming[1]
        auth_event = self.auth_signer(self.relay, self.challenge)
        await self.ws.send(json.dumps(["AUTH", auth_event], separators=(",", ":")))
        try:
            accepted, reason = await self._await_ok(auth_event["id"], wait=min(self.timeout, 2.0))
        except TimeoutError:
            # Some relays never answer AUTH with OK; the resent event's OK will tell.
            accepted, reason = True, ""
        self.authenticated = accepted
        if not accepted:
            log.warning("relay %s refused our AUTH: %s", self.relay, reason)
        return accepted


async def fetch_newest(
    relays: Sequence[str], author: str, kind: int, *, within: float = 5.0
) -> dict[str, Any] | None:
    """The newest event of ``kind`` signed by ``author`` on any of ``relays`` (NIP-01 ``REQ``
    until ``EOSE``, at most ``within`` seconds per relay), or None. Events that fail verification
    or name another author are ignored; a relay that is down or slow only contributes nothing."""

    async def from_relay(relay: str) -> list[Any]:
        found: list[Any] = []
        try:
            async with asyncio.timeout(within), connect(relay, max_size=MAX_RELAY_MESSAGE) as ws:
                await ws.send(
                    json.dumps(["REQ", "newest", {"authors": [author], "kinds": [kind], "limit": 1}])
                )
                while True:
                    message = json.loads(await ws.recv())
                    if not isinstance(message, list) or message[:2] in (
                        ["EOSE", "newest"],
                        ["CLOSED", "newest"],
                    ):
                        return found
                    if message[:2] == ["EVENT", "newest"] and len(message) >= 3:
                        found.append(message[2])
        except (OSError, WebSocketException, TimeoutError, ValueError):
            return found

    newest: dict[str, Any] | None = None
    for events in await asyncio.gather(*(from_relay(relay) for relay in dict.fromkeys(relays))):
        for event in events:
            try:
                verify_event(event, kinds={kind})
            except InvalidEvent:
                continue
            if event["pubkey"] == author and (newest is None or event["created_at"] > newest["created_at"]):
                newest = event
    return newest
