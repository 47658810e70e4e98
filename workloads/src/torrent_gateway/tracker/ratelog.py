"""A log line per failure kind at most every few seconds, so a dead Redis under 10k announces/s
does not drown the logs; the lines say how many were suppressed."""

from __future__ import annotations

import logging
import sys
import time


class RateLimitedLog:
    def __init__(self, logger: logging.Logger, every: float = 10.0) -> None:
        self._log = logger
        self._every = every
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def exception(self, message: str) -> None:
        now = time.monotonic()
        last = self._last.get(message)
        if last is not None and now - last < self._every:
            self._suppressed[message] = self._suppressed.get(message, 0) + 1
            return
        self._last[message] = now
        suppressed = self._suppressed.pop(message, 0)
        suffix = f" ({suppressed} more since the last report)" if suppressed else ""
        self._log.error("%s%s", message, suffix, exc_info=sys.exc_info())
