"""Benchmark: our tracker against opentracker, same machine, same wrk workload, same run.

Workloads (each bounded by --duration seconds):

* HTTP announce: wrk with a Lua script announcing to 1,000 torrents with random peer ids and
  ports, ``compact=1&numwant=50``, a quarter of the peers seeding; 2 and 32 connections;
  a new connection per request (``Connection: close``, as BitTorrent clients do) and keep-alive.
* HTTP scrape: one random infohash of the 1,000 per request, keep-alive.
* UDP announce: a small Python client (one socket, 32 requests in flight, announce after connect).

Trackers: opentracker (Debian package: whitelist-only, so the infohashes are written to its
whitelist; it refuses to run as root, so ``tracker.user nobody``); the Python floor
(``floor_tracker.py``: a bare uvloop protocol with canned replies, no tracker work — the most any
Python server on this event loop can do); ours served by uvicorn
(httptools, uvloop, no access log) with the in-process swarm store, then with a Redis store on a
private redis-server (one and two workers). Everything binds 127.0.0.1. Prints requests/s and
our/opentracker ratios. Run: ``python bench/bench_tracker.py [--duration 5] [--no-redis]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote_from_bytes

from common import free_tcp_udp_port, redis_server, stop, wait_port

TORRENTS = 1000


# -- workload -------------------------------------------------------------------------------------

WRK_SCRIPT = """
local hashes = {%(hashes)s}
local mode = "%(mode)s"
local headers = {%(headers)s}
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + (tid or 0))
end

request = function()
  local ih = hashes[math.random(#hashes)]
  if mode == "scrape" then
    return wrk.format("GET", "/scrape?info_hash=" .. ih, headers)
  end
  local pid = string.format("-WR0001-%%06d%%06d", math.random(0, 999999), math.random(0, 999999))
  local left = 1000
  if math.random(4) == 1 then left = 0 end
  local path = "/announce?info_hash=" .. ih .. "&peer_id=" .. pid .. "&port=" .. math.random(1024, 65535)
    .. "&uploaded=0&downloaded=0&left=" .. left .. "&compact=1&numwant=50&event=started"
  return wrk.format("GET", path, headers)
end
"""


def lua_quote(encoded: str) -> str:
    return '"' + encoded + '"'  # percent-encoded: only [A-Za-z0-9%._~-], nothing to escape in Lua


def write_wrk_script(path: Path, hashes: list[bytes], mode: str, close: bool) -> None:
    encoded = ", ".join(lua_quote(quote_from_bytes(ih, safe="")) for ih in hashes)
    headers = '["Connection"] = "close"' if close else ""
    text = WRK_SCRIPT % {"hashes": encoded, "mode": mode, "headers": headers}
    path.write_text(text)


def run_wrk(url: str, script: Path, connections: int, duration: float) -> tuple[float, str]:
    threads = min(2, connections)
    cmd = [
        "wrk",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    problems = []
    for pattern in (r"Non-2xx or 3xx responses: (\d+)", r"Socket errors: (.*)"):
        found = re.search(pattern, out)
        if found:
            problems.append(found.group(0).strip())
    return (float(match.group(1)) if match else 0.0), "; ".join(problems)


# -- UDP load -------------------------------------------------------------------------------------


def udp_load(port: int, hashes: list[bytes], duration: float, window: int = 32) -> float:
    """Announces/s from one blocking socket keeping ``window`` requests in flight.

    A plain socket loop costs the client a few microseconds per datagram, so the client is not
    what limits the measurement (an asyncio client with a future per request was).
    """
    rng = random.Random(7)
    bodies = [
        struct.pack(
            ">20s20sqqqII4siH",
            rng.choice(hashes),
            b"-UB0001-" + rng.randbytes(12),
            0,
            0 if rng.random() < 0.25 else 1000,
            0,
            2,
            0,
            rng.randbytes(4),
            50,
            rng.randrange(1024, 65535),
        )
        for _ in range(4096)
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.connect(("127.0.0.1", port))

        def connect() -> bytes:
            for attempt in range(5):
                sock.send(struct.pack(">QII", 0x41727101980, 0, attempt))
                with contextlib.suppress(TimeoutError):
                    reply = sock.recv(64)
                    if len(reply) == 16:
                        return reply[8:16]
            raise RuntimeError("UDP tracker does not answer connect")

        connection_id = connect()
        head = b"\x00\x00\x00\x01"
        done = 0
        tid = 0
        start = time.monotonic()
        deadline = start + duration
        renew = start + 50  # connection ids live 1-2 minutes
        while time.monotonic() < deadline:
            if time.monotonic() > renew:
                connection_id, renew = connect(), time.monotonic() + 50
            for _ in range(window):
                tid += 1
                sock.send(connection_id + head + (tid & 0xFFFFFFFF).to_bytes(4, "big") + bodies[tid & 4095])
            try:
                for _ in range(window):
                    if sock.recv(4096)[:4] == head:
                        done += 1
            except TimeoutError:
                connection_id = connect()  # drop whatever is late and start over
                while True:
                    try:
                        sock.settimeout(0.05)
                        sock.recv(4096)
                    except TimeoutError:
                        break
                sock.settimeout(1.0)
        return done / (time.monotonic() - start)


def run_udp_load(port: int, hashes: list[bytes], duration: float) -> float:
    return udp_load(port, hashes, duration)


# -- servers --------------------------------------------------------------------------------------


@contextlib.contextmanager
def opentracker(workdir: Path, hashes: list[bytes]) -> Iterator[tuple[int, int]]:
    port = free_tcp_udp_port()
    otdir = workdir / "opentracker"
    otdir.mkdir()
    (otdir / "whitelist.txt").write_text("".join(ih.hex() + "\n" for ih in hashes))
    (otdir / "opentracker.conf").write_text(
        f"listen.tcp 127.0.0.1:{port}\nlisten.udp 127.0.0.1:{port}\n"
        f"access.whitelist /whitelist.txt\ntracker.rootdir {otdir}\ntracker.user nobody\n"
    )
    for path in (workdir, otdir):
        path.chmod(0o755)
    for path in otdir.iterdir():
        path.chmod(0o644)
    proc = subprocess.Popen(
        ["opentracker", "-f", str(otdir / "opentracker.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_port(port, timeout=15)
        yield port, proc.pid
    finally:
        stop(proc, graceful=False)


@contextlib.contextmanager
def floor_tracker() -> Iterator[tuple[int, int]]:
    """bench/floor_tracker.py: a bare uvloop protocol with canned replies (the Python floor)."""
    port = free_tcp_udp_port()
    script = Path(__file__).with_name("floor_tracker.py")
    proc = subprocess.Popen([sys.executable, str(script), str(port)], stdout=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=15)
        yield port, proc.pid
    finally:
        stop(proc, graceful=False)


@contextlib.contextmanager
def our_tracker(
    workdir: Path, *, redis_url: str | None = None, workers: int = 1, fast: bool = True
) -> Iterator[tuple[int, int]]:
    port = free_tcp_udp_port()
    env = dict(os.environ)
    env.update(
        {
            "TGW_TRACKER__POLICY": "open",
            "TGW_TRACKER__SECRET": "bench-secret",
            "TGW_TRACKER__HOST": "127.0.0.1",
            "TGW_TRACKER__PORT": str(port),
            "TGW_STATE__BACKEND": "redis" if redis_url else "memory",
            "TGW_LOGGING__LEVEL": "WARNING",
        }
    )
    if redis_url:
        env["TGW_STATE__REDIS_URL"] = redis_url
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "torrent_gateway.tracker.component:create_standalone_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        "torrent_gateway.tracker.http_fast:TrackerHttpProtocol" if fast else "httptools",
        "--no-access-log",
        "--no-server-header",
        "--no-date-header",
        "--no-proxy-headers",
        "--log-level",
        "warning",
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL)
    try:
        wait_port(port, timeout=30)
        time.sleep(0.5 * workers)  # let every worker finish its lifespan startup
        yield port, proc.pid
    finally:
        stop(proc, timeout=15)


def sanity(port: int, info_hash: bytes) -> None:
    """One announce must be a real reply, not a failure (e.g. a whitelist mistake)."""
    query = (
        f"info_hash={quote_from_bytes(info_hash, safe='')}&peer_id=-SC0001-000000000000&port=7000"
        "&uploaded=0&downloaded=0&left=0&compact=1&numwant=50"
    )
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/announce?{query}", timeout=5) as response:
        body = response.read()
    if b"failure reason" in body or not body.startswith(b"d"):
        raise RuntimeError(f"tracker on {port} refused the benchmark announce: {body[:200]!r}")


# -- main -----------------------------------------------------------------------------------------

WORKLOADS = [
    ("announce c=2 close", "announce", 2, True),
    ("announce c=32 close", "announce", 32, True),
    ("announce c=2 keep-alive", "announce", 2, False),
    ("announce c=32 keep-alive", "announce", 32, False),
    ("scrape c=32 keep-alive", "scrape", 32, False),
]


def cpu_seconds(root: int) -> float:
    """User+system CPU of a process and all its descendants (uvicorn workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    usage: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        usage[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        total += usage.get(pid, 0.0)
        pending.extend(child for child, parent in parents.items() if parent == pid)
    return total


def run_one(
    label: str,
    port: int,
    pids: list[int],
    scripts: dict[tuple[str, bool], Path],
    hashes: list[bytes],
    duration: float,
) -> tuple[float, float, str]:
    """(requests/s, server CPU microseconds per request, problems) of one workload."""
    before = sum(cpu_seconds(pid) for pid in pids)
    started = time.monotonic()
    if label == "udp announce":
        rate, problems = run_udp_load(port, hashes, duration), ""
    else:
        _, mode, connections, close = next(w for w in WORKLOADS if w[0] == label)
        rate, problems = run_wrk(f"http://127.0.0.1:{port}", scripts[(mode, close)], connections, duration)
    elapsed = time.monotonic() - started
    used = sum(cpu_seconds(pid) for pid in pids) - before
    requests = rate * elapsed
    return rate, (used / requests * 1e6 if requests else 0.0), problems


def print_table(
    title: str, table: dict[str, dict[str, float]], labels: list[str], higher_better: bool
) -> None:
    anchor = table["opentracker"]
    print(f"\n{title}")
    print(f"{'workload':<26}" + "".join(f"{name:>27}" for name in table))
    for label in labels:
        row = f"{label:<26}"
        for name, results in table.items():
            value = results.get(label, 0.0)
            if name == "opentracker":
                row += f"{value:>27.0f}"
            else:
                base = anchor.get(label, 0.0)
                ratio = (value / base if higher_better else base / value) if base and value else 0.0
                row += f"{value:>18.0f} ({ratio:5.2f}x)"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis-store runs")
    parser.add_argument(
        "--asgi", action="store_true", help="also run the plain ASGI app under uvicorn's httptools protocol"
    )
    args = parser.parse_args()
    for tool in ("wrk", "opentracker", "redis-server"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed")

    rng = random.Random(42)
    hashes = [rng.randbytes(20) for _ in range(TORRENTS)]
    workdir = Path(tempfile.mkdtemp(prefix="tgw-bench-"))
    try:
        scripts = {}
        for mode in ("announce", "scrape"):
            for close in (True, False):
                path = workdir / f"{mode}-{'close' if close else 'keep'}.lua"
                write_wrk_script(path, hashes, mode, close)
                scripts[(mode, close)] = path
        print(f"tracker benchmark: {TORRENTS} torrents, {args.duration:g} s per run, {os.cpu_count()} CPUs")
        labels = [w[0] for w in WORKLOADS] + ["udp announce"]
        rates: dict[str, dict[str, float]] = {}
        costs: dict[str, dict[str, float]] = {}
        with contextlib.ExitStack() as stack:
            # Every tracker runs at once (idle ones cost nothing) and each workload is measured on
            # all of them back to back, so a change in background load hits everyone alike.
            trackers: dict[str, tuple[int, list[int]]] = {}
            port, pid = stack.enter_context(opentracker(workdir, hashes))
            trackers["opentracker"] = (port, [pid])
            port, pid = stack.enter_context(floor_tracker())
            trackers["python floor (no work)"] = (port, [pid])
            port, pid = stack.enter_context(our_tracker(workdir))
            trackers["ours (memory)"] = (port, [pid])
            if args.asgi:
                port, pid = stack.enter_context(our_tracker(workdir, fast=False))
                trackers["ours (memory, plain ASGI)"] = (port, [pid])
            if not args.no_redis:
                url, redis_pid = stack.enter_context(redis_server(workdir))
                port, pid = stack.enter_context(our_tracker(workdir, redis_url=url))
                trackers["ours (redis, 1 worker)"] = (port, [pid, redis_pid])
                port, pid = stack.enter_context(our_tracker(workdir, redis_url=url, workers=2))
                trackers["ours (redis, 2 workers)"] = (port, [pid, redis_pid])
            for port, _ in trackers.values():
                sanity(port, hashes[0])
            for label in labels:
                for name, (port, pids) in trackers.items():
                    rate, cost, problems = run_one(label, port, pids, scripts, hashes, args.duration)
                    rates.setdefault(name, {})[label] = rate
                    costs.setdefault(name, {})[label] = cost
                    print(
                        f"  {label:<26} {name:<26} {rate:>9.0f} req/s {cost:>7.0f} us CPU/req {problems}",
                        flush=True,
                    )
        print_table("requests/s (ratio: ours / opentracker, higher is better)", rates, labels, True)
        print_table(
            "server CPU microseconds per request, Redis included for Redis stores "
            "(ratio: opentracker / ours, higher is better)",
            costs,
            labels,
            False,
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
