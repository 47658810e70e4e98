"""What rate limiting costs: per check (in-process and Redis), and on download requests/s.

Run:  python bench/bench_ratelimit.py [--duration 3] [--rounds 3] [--checks 20000]

Part 1 times ``Limiter.check`` in a bounded loop: the in-process backend, the Redis backend (one
Lua script per check on a private loopback redis-server), and as the anchor for the latter a bare
Redis ``PING`` — the round-trip floor no Redis-backed limiter can beat. It also times the whole
middleware around a do-nothing ASGI app against that app alone.

Part 2 serves the real gateway app with uvicorn on 127.0.0.1 three times — limits off, in-process
limits, Redis limits — with limits set high enough that nothing is refused (so the cost is the
check, not rejections), and drives ``GET /api/download/<sha>`` of a small file with wrk for
``--duration`` seconds each, in ``--rounds`` interleaved rounds (this machine is shared, so load
drifts; interleaving spreads the drift over every mode). Ratios are against "limits off" in the
same run: the best round against the best, the median against the median.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workloads" / "src"))

from common import free_port, redis_server, stop, wait_port  # noqa: E402
from torrent_gateway.config import Settings, load_settings  # noqa: E402
from torrent_gateway.ratelimit import RateLimitMiddleware, wrap_with_rate_limits  # noqa: E402
from torrent_gateway.ratelimit.memory import MemoryLimiter  # noqa: E402
from torrent_gateway.ratelimit.redis import RedisLimiter, connect  # noqa: E402

SHA_RE = re.compile(r'"sha256"\s*:\s*"([0-9a-f]{64})"')


def bench_settings(data: str, *, enabled: bool) -> Settings:
    empty = Path(data) / "empty.yaml"
    empty.parent.mkdir(parents=True, exist_ok=True)
    empty.write_text("{}\n")
    return load_settings(
        empty,
        storage={"path": str(Path(data) / "store")},
        dht={"enabled": False},
        rate_limiting={
            "enabled": enabled,
            "download": {"requests_per_second": 1e9, "burst_size": 10**9},
        },
    )


def make_app() -> Any:
    """uvicorn factory for part 2; the mode comes from the environment."""
    from torrent_gateway.gateway.app import create_app

    mode = os.environ["BENCH_MODE"]
    settings = bench_settings(os.environ["BENCH_DATA"], enabled=mode != "off")
    app = create_app(settings)
    if mode == "redis":
        return wrap_with_rate_limits(app, settings, RedisLimiter.from_url(os.environ["BENCH_REDIS"]))
    return wrap_with_rate_limits(app, settings)


# -- part 1: per-check cost ---------------------------------------------------------------------------


async def _per_op(n: int, op: Any) -> float:
    for _ in range(min(200, n)):  # warm-up: connections, script load
        await op()
    started = time.perf_counter()
    for _ in range(n):
        await op()
    return (time.perf_counter() - started) / n


async def _noop_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def part1(checks: int, redis_url: str, data: str) -> None:
    memory = MemoryLimiter()
    redis = RedisLimiter(connect(redis_url))
    raw = redis._client
    mem_s = await _per_op(checks, lambda: memory.check("download", 1e9, 1e9))
    red_n = max(1, checks // 5)
    red_s = await _per_op(red_n, lambda: redis.check("download", 1e9, 1e9))
    ping_s = await _per_op(red_n, raw.ping)

    settings = bench_settings(data, enabled=True)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/download/" + "ab" * 32,
        "headers": [],
        "client": ("127.0.0.1", 1),
        "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        return None

    plain = await _per_op(checks, lambda: _noop_app(scope, receive, send))
    wrapped_mem = RateLimitMiddleware(_noop_app, settings, MemoryLimiter())
    mw_mem = await _per_op(checks, lambda: wrapped_mem(scope, receive, send))
    wrapped_red = RateLimitMiddleware(_noop_app, settings, redis)
    mw_red = await _per_op(red_n, lambda: wrapped_red(scope, receive, send))
    await redis.aclose()

    print("== per-check cost (sequential, one event loop) ==")
    print(f"  in-process check            {mem_s * 1e6:8.2f} us   ({checks} checks)")
    print(f"  Redis check (Lua script)    {red_s * 1e6:8.2f} us   ({red_n} checks)")
    print(f"  Redis PING (anchor)         {ping_s * 1e6:8.2f} us   -> check/PING = {red_s / ping_s:.2f}x")
    print(f"  bare ASGI app               {plain * 1e6:8.2f} us")
    print(f"  + middleware, in-process    {mw_mem * 1e6:8.2f} us   (+{(mw_mem - plain) * 1e6:.2f} us)")
    print(f"  + middleware, Redis         {mw_red * 1e6:8.2f} us   (+{(mw_red - plain) * 1e6:.2f} us)")


# -- part 2: download requests/s ------------------------------------------------------------------------


@contextlib.contextmanager
def gateway(mode: str, data: str, redis_url: str) -> Iterator[str]:
    port = free_port()
    env = dict(os.environ, BENCH_MODE=mode, BENCH_DATA=data, BENCH_REDIS=redis_url)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "workloads" / "src"), str(REPO / "bench"), env.get("PYTHONPATH", "")]
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bench_ratelimit:make_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
            "--no-proxy-headers",
        ],
        env=env,
        cwd=data,
    )
    try:
        wait_port(port, timeout=30)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _upload(base: str) -> str:
    import httpx

    reply = httpx.put(f"{base}/api/upload?name=bench.bin", content=os.urandom(4096), timeout=30)
    reply.raise_for_status()
    found = SHA_RE.search(reply.text)
    if found is None:
        raise RuntimeError(f"upload reply without sha256: {reply.text[:200]}")
    return found.group(1)


def _wrk(url: str, duration: float) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t1", "-c8", f"-d{max(1, round(duration))}s", "--latency", url],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    latency = float(p50.group(1)) * scale[p50.group(2)] if p50 else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise RuntimeError(
            f"{non2xx.group(1)} refused/failed responses: the bench must measure checks, not refusals"
        )
    return rps, latency


def part2(duration: float, rounds: int, redis_url: str, data: str) -> None:
    modes = ("off", "memory", "redis")
    samples: dict[str, list[tuple[float, float]]] = {mode: [] for mode in modes}
    with contextlib.ExitStack() as stack:
        bases = {mode: stack.enter_context(gateway(mode, data, redis_url)) for mode in modes}
        urls = {mode: f"{base}/api/download/{_upload(base)}" for mode, base in bases.items()}
        for mode in modes:
            _wrk(urls[mode], 1)  # warm-up
        # Interleaved rounds, rotating the order, so drift in machine load hits every mode alike.
        for r in range(rounds):
            for mode in modes[r % 3 :] + modes[: r % 3]:
                samples[mode].append(_wrk(urls[mode], duration))
    best_off = max(rps for rps, _ in samples["off"])
    median_off = statistics.median(rps for rps, _ in samples["off"])
    print(
        f"== GET /api/download/<4 KiB file>: uvicorn + wrk -c8, {rounds} interleaved rounds of {duration:.0f} s =="
    )
    for mode, label in (
        ("off", "limits off (anchor)"),
        ("memory", "in-process limits"),
        ("redis", "Redis limits"),
    ):
        rates = [rps for rps, _ in samples[mode]]
        p50 = statistics.median(lat for _, lat in samples[mode])
        print(
            f"  {label:22s} best {max(rates):7.0f} req/s (ratio {max(rates) / best_off:.3f})"
            f"  median {statistics.median(rates):7.0f} req/s (ratio {statistics.median(rates) / median_off:.3f})"
            f"  p50 latency {p50:6.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=3.0, help="seconds of wrk per mode (part 2)")
    parser.add_argument("--checks", type=int, default=20000, help="in-process checks timed (Redis: a fifth)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds of the three modes (part 2)"
    )
    parser.add_argument("--skip-http", action="store_true", help="only part 1")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-rl-") as data,
        tempfile.TemporaryDirectory(prefix="bench-redis-") as redis_dir,
        redis_server(Path(redis_dir)) as (redis_url, _),
    ):
        asyncio.run(part1(args.checks, redis_url, data))
        if not args.skip_http:
            part2(args.duration, args.rounds, redis_url, data)


if __name__ == "__main__":
    main()
