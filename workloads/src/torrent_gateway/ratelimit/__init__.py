"""Rate limiting and abuse prevention that holds across replicas.

Token buckets and stream concurrency slots (pure math in :mod:`.buckets`), kept in process
memory in one-process mode or in Redis (one atomic Lua script per check) when replicas share
state; a pure ASGI middleware (:mod:`.middleware`) applies the limits of :mod:`.policy` to the
gateway API, Blossom, WebSeed, HLS streams and the tracker.

Wiring::

    limiter = open_limiter(settings)          # memory or Redis, from settings.state
    app = wrap_with_rate_limits(app, settings, limiter)
    ... limiter.degraded                      # True while Redis is unreachable (health)
    await limiter.aclose()                    # at shutdown, when you passed the limiter in
"""

from __future__ import annotations

from ..config import Settings
from .base import Limiter, LimiterUnavailable
from .middleware import ASGIApp, RateLimitMiddleware
from .policy import Policy, normalise_fail_open

__all__ = [
    "ASGIApp",
    "Limiter",
    "LimiterUnavailable",
    "Policy",
    "RateLimitMiddleware",
    "open_limiter",
    "wrap_with_rate_limits",
]


def open_limiter(settings: Settings) -> Limiter:
    """The limiter backend for this deployment: in-process unless ``state.backend`` is redis,
    Redis on ``state.redis_url`` otherwise (shared by every replica)."""
    normalise_fail_open(settings.rate_limiting.fail_open)  # refuse a bad config at start-up
    if settings.state.backend != "redis":
        from .memory import MemoryLimiter

        return MemoryLimiter()
    from .redis import RedisLimiter

    return RedisLimiter.from_url(settings.state.redis_url.get_secret_value())


def wrap_with_rate_limits(app: ASGIApp, settings: Settings, limiter: Limiter | None = None) -> ASGIApp:
    """``app`` behind the configured limits (``app`` itself when ``rate_limiting.enabled`` is
    false). Without ``limiter`` one is opened here and closed at the app's lifespan shutdown."""
    if not settings.rate_limiting.enabled:
        return app
    owns = limiter is None
    return RateLimitMiddleware(app, settings, limiter or open_limiter(settings), owns_limiter=owns)
