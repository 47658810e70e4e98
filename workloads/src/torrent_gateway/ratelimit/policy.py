"""Which request is governed by which limit, under which key, and how a refusal is worded.

Pure: a request line (method, path) maps to a :class:`Match` — the limit, the protocol the
refusal must speak (gateway JSON, Blossom ``X-Reason``, tracker bencoding) and, for per-file
limits, the file's SHA-256. The bucket key then adds the client address where the limit is per
client. IPv6 clients are keyed by their /64: one subscriber usually holds a whole /64 and could
otherwise step around a per-address limit by rotating addresses inside it.

| limit    | requests                                                        | key          |
|----------|-----------------------------------------------------------------|--------------|
| upload   | POST/PUT /api/upload, PUT /upload, PUT /mirror (Blossom)        | client       |
| download | GET/HEAD /api/download/*, /api/webseed/*, Blossom /<sha256>[.x] | global       |
| stream   | /api/stream/<sha256>[/*] (bucket + concurrent slots)            | file sha256  |
| auth     | POST /api/auth/login, POST /api/auth/nostrconnect               | client       |
| challenge| GET /api/auth/challenge (the auth limit's numbers, own bucket)  | client       |
| report   | PUT /report (Blossom BUD-09; per pubkey too, in blossom.reports)| client       |
| tracker  | GET /announce, /scrape                                          | client       |
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from ..config import ConfigError, RateLimitSettings, Settings

LIMIT_NAMES = ("upload", "download", "stream", "auth", "tracker")
_ALIASES = {"login": "auth"}

# The tracker has no section in ``rate_limiting`` yet; these apply until it does.
TRACKER_DEFAULT_RATE = 10.0
TRACKER_DEFAULT_BURST = 100
TRACKER_DEFAULT_FAIL_OPEN = True


class Style(StrEnum):
    JSON = "json"  # gateway API: 429 + JSON {"detail": ...}
    BLOSSOM = "blossom"  # Blossom: the same, plus X-Reason
    TRACKER = "tracker"  # BitTorrent tracker: HTTP 200 + bencoded failure reason


@dataclass(frozen=True, slots=True)
class LimitSpec:
    name: str
    rate: float
    burst: float
    per: Literal["client", "global", "file"]
    fail_open: bool
    max_concurrent: int | None = None
    max_body: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    spec: LimitSpec
    style: Style
    file: str | None = None  # lowercase sha256 of per-file limits
    check_size: bool = False  # an upload whose Content-Length is checked against max_body


_SHA = r"[0-9a-fA-F]{64}"
_BLOB = re.compile(rf"/({_SHA})(?:\.[A-Za-z0-9]{{1,16}})?")
_STREAM = re.compile(rf"/api/stream/({_SHA})(?:/.*)?", re.DOTALL)


def client_key(address: str) -> str:
    """The per-client part of a bucket key: the IPv4 address, or the IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if ip.version == 6:
        return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))
    return str(ip)


def normalise_fail_open(names: Iterable[str]) -> frozenset[str]:
    out = set()
    for name in names:
        canonical = _ALIASES.get(name.lower(), name.lower())
        if canonical not in LIMIT_NAMES:
            raise ConfigError(
                f"invalid configuration:\n  rate_limiting.fail_open (env TGW_RATE_LIMITING__FAIL_OPEN): "
                f"unknown limit {name!r}; expected some of {', '.join(LIMIT_NAMES)}"
            )
        out.add(canonical)
    return frozenset(out)


class Policy:
    """The routing table of limits, built once from the settings."""

    def __init__(self, limits: RateLimitSettings, *, tracker_interval: int = 1800) -> None:
        fail_open = normalise_fail_open(limits.fail_open)
        self.tracker_interval = tracker_interval
        self.upload = LimitSpec(
            "upload",
            limits.upload.requests_per_second,
            limits.upload.burst_size,
            "client",
            "upload" in fail_open,
            max_body=limits.upload.max_file_size,
        )
        self.download = LimitSpec(
            "download",
            limits.download.requests_per_second,
            limits.download.burst_size,
            "global",
            "download" in fail_open,
        )
        self.stream = LimitSpec(
            "stream",
            limits.stream.requests_per_second,
            limits.stream.burst_size,
            "file",
            "stream" in fail_open,
            max_concurrent=limits.stream.max_concurrent,
        )
        attempts = limits.auth.login_attempts_per_minute
        self.auth = LimitSpec("auth", attempts / 60.0, attempts, "client", "auth" in fail_open)
        # A challenge costs a state-store key for challenge_ttl: minting them is limited like
        # logins, in a bucket of its own so that fetching one does not spend a login attempt.
        self.challenge = LimitSpec("challenge", attempts / 60.0, attempts, "client", "auth" in fail_open)
        reports = limits.report.reports_per_minute
        # Reports are anonymous-friendly writes kept for the operators: refused when unsure.
        self.report = LimitSpec("report", reports / 60.0, reports, "client", False)
        tracker: Any = getattr(limits, "tracker", None)
        self.tracker = LimitSpec(
            "tracker",
            tracker.requests_per_second if tracker is not None else TRACKER_DEFAULT_RATE,
            tracker.burst_size if tracker is not None else TRACKER_DEFAULT_BURST,
            "client",
            ("tracker" in fail_open) if tracker is not None else TRACKER_DEFAULT_FAIL_OPEN,
        )
        self._upload_json = Match(self.upload, Style.JSON, check_size=True)
        self._upload_blossom = Match(self.upload, Style.BLOSSOM, check_size=True)
        self._mirror = Match(self.upload, Style.BLOSSOM)
        self._download_json = Match(self.download, Style.JSON)
        self._download_blossom = Match(self.download, Style.BLOSSOM)
        self._login = Match(self.auth, Style.JSON)
        self._challenge = Match(self.challenge, Style.JSON)
        self._report = Match(self.report, Style.BLOSSOM)
        self._tracker = Match(self.tracker, Style.TRACKER)

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.rate_limiting, tracker_interval=settings.tracker.interval)

    def match(self, method: str, path: str) -> Match | None:
        """The limit governing this request, or None when it is not rate limited."""
        if path.startswith("/api/"):
            if method in ("GET", "HEAD"):
                if path.startswith(("/api/download/", "/api/webseed/")):
                    return self._download_json
                if path == "/api/auth/challenge" and method == "GET":
                    return self._challenge
                found = _STREAM.fullmatch(path)
                if found is not None:
                    return Match(self.stream, Style.JSON, file=found.group(1).lower())
                return None
            if path == "/api/upload" and method in ("POST", "PUT"):
                return self._upload_json
            if path in ("/api/auth/login", "/api/auth/nostrconnect") and method == "POST":
                return self._login
            return None
        if method in ("GET", "HEAD"):
            if path in ("/announce", "/scrape") and method == "GET":
                return self._tracker
            if _BLOB.fullmatch(path) is not None:
                return self._download_blossom
            return None
        if method == "PUT":
            if path == "/upload":
                return self._upload_blossom
            if path == "/mirror":
                return self._mirror
            if path == "/report":
                return self._report
        return None

    def bucket_key(self, match: Match, client: str) -> str:
        spec = match.spec
        if spec.per == "global":
            return spec.name
        if spec.per == "file":
            return f"{spec.name}:{match.file}"
        return f"{spec.name}:{client_key(client)}"
