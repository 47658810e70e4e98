"""HLS benchmark: time to the first playable segment of a 60 s 720p H.264/AAC clip, against its anchor.

* ours: a gateway process (uvicorn + ``install_hls``, filesystem store) receives the upload; the
  clock starts when the upload is answered and stops when a client that polls the master playlist
  (as a player does) has fetched the first segment of the first rendition over HTTP. The time to a
  fully ready stream is reported too.
* anchor: the very same ffmpeg command run by hand on the local file, the clock stopping when
  every rendition's playlist lists a segment (first playable) and when ffmpeg exits (complete) —
  the floor for any server that transcodes with ffmpeg.

Two ladders: ``[720, 480]`` (720p copied from the H.264 source, 480p encoded) and ``[480, 360]``
(everything encoded). The ratio ours/anchor is the cost of our pipeline (probe, progressive
upload to the store, HTTP). Loopback only, every wait bounded.

Run: ``python bench/bench_hls.py [--seconds 60] [--repeats 2] [--out bench/results]``. Runs are
interleaved and the best of each side is kept, which filters out load from other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import free_port, stop, wait_port
from torrent_gateway.hls.plan import ffmpeg_arguments, plan_renditions
from torrent_gateway.hls.playlists import parse_media_playlist
from torrent_gateway.hls.probe import parse_probe, probe_command

LADDERS = {"copy 720 + encode 480": [720, 480], "encode 480 + 360": [480, 360]}
SEGMENT_SECONDS = 4
STEP_TIMEOUT = 600.0

SERVER = """
import os, uvicorn
from torrent_gateway.config import load_settings
from torrent_gateway.gateway.app import create_app
from torrent_gateway.hls import install_hls
settings = load_settings(None)
uvicorn.run(create_app(settings, extensions=[install_hls]), host="127.0.0.1",
            port=settings.gateway.port, log_level="warning")
"""


def make_clip(path: Path, seconds: int) -> None:
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size=1280x720:rate=30:duration={seconds}",
            "-f",
            "lavfi",
            "-i",
            f"sine=frequency=440:sample_rate=48000:duration={seconds}",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "60",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "128k",
            "-shortest",
            str(path),
        ],
        check=True,
        timeout=STEP_TIMEOUT,
    )


def anchor(source: Path, heights: list[int], workdir: Path) -> tuple[float, float]:
    """(first playable, complete) seconds for ffmpeg alone, same command as the gateway runs."""
    probe = subprocess.run(probe_command("ffprobe", source), capture_output=True, check=True, timeout=60)
    plan = plan_renditions(parse_probe(probe.stdout), heights, SEGMENT_SECONDS)
    for rendition in plan.renditions:
        (workdir / rendition.name).mkdir(parents=True)
    args = ["ffmpeg", *ffmpeg_arguments(plan, source, workdir)]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    first = None
    deadline = time.monotonic() + STEP_TIMEOUT
    while process.poll() is None:
        if first is None and all(_has_segment(workdir / r.name / "index.m3u8") for r in plan.renditions):
            first = time.perf_counter() - started
        if time.monotonic() > deadline:
            process.kill()
            raise TimeoutError("anchor ffmpeg took too long")
        time.sleep(0.02)
    complete = time.perf_counter() - started
    if process.returncode != 0:
        raise RuntimeError(process.stderr.read().decode() if process.stderr else "ffmpeg failed")
    return (first if first is not None else complete), complete


def _has_segment(path: Path) -> bool:
    try:
        return bool(parse_media_playlist(path.read_text()).segments)
    except (OSError, ValueError):
        return False


def ours(source: Path, heights: list[int], workdir: Path) -> tuple[float, float, float]:
    """(upload, first playable, ready) seconds through a gateway process."""
    port = free_port()
    env = {
        **os.environ,
        "TGW_STORAGE__PATH": str(workdir / "data"),
        "TGW_GATEWAY__HOST": "127.0.0.1",
        "TGW_GATEWAY__PORT": str(port),
        "TGW_GATEWAY__PUBLIC_URL": f"http://127.0.0.1:{port}",
        "TGW_NOSTR__PUBLISH": "false",
        "TGW_NOSTR__RELAYS": "[]",
        "TGW_DHT__ENABLED": "false",
        "TGW_RATE_LIMITING__ENABLED": "false",
        "TGW_GC__ENABLED": "false",
        "TGW_LOGGING__LEVEL": "WARNING",
        "TGW_HLS__RENDITIONS": json.dumps(heights),
        "TGW_HLS__SEGMENT_SECONDS": str(SEGMENT_SECONDS),
        "TGW_CONFIG": str(workdir / "empty.yaml"),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "empty.yaml").write_text("{}\n")
    server = subprocess.Popen([sys.executable, "-c", SERVER], env=env)
    try:
        wait_port(port, timeout=30)
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(timeout=60) as client:
            began = time.perf_counter()
            response = client.put(
                f"{base}/api/upload",
                params={"name": source.name},
                content=source.read_bytes(),
                headers={"content-type": "video/mp4"},
            )
            response.raise_for_status()
            uploaded = time.perf_counter()
            sha = response.json()["sha256"]
            stream = f"{base}/api/stream/{sha}"
            deadline = time.monotonic() + STEP_TIMEOUT
            first = None
            while True:
                master = client.get(f"{stream}/playlist.m3u8")
                if master.status_code == 200:
                    if first is None:
                        variant = next(
                            line for line in master.text.splitlines() if line and not line.startswith("#")
                        )
                        media = client.get(f"{stream}/{variant}")
                        segment = parse_media_playlist(media.text).segments[0].uri
                        folder = variant.rsplit("/", 1)[0]
                        got = client.get(f"{stream}/{folder}/{segment}")
                        got.raise_for_status()
                        first = time.perf_counter() - uploaded
                    if master.headers.get("x-hls-state") == "ready":
                        break
                elif master.status_code != 202:
                    raise RuntimeError(f"stream failed: {master.status_code} {master.text}")
                if time.monotonic() > deadline:
                    raise TimeoutError("the gateway took too long")
                time.sleep(0.05)
            ready = time.perf_counter() - uploaded
        return uploaded - began, first, ready
    finally:
        stop(server, timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=60, help="length of the 720p test clip")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved runs of each side (best kept)")
    parser.add_argument("--out", default="bench/results")
    args = parser.parse_args()
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            print(f"{tool} is required", file=sys.stderr)
            return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, object]] = {}
    print(f"load average before the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-hls-") as tmp:
        root = Path(tmp)
        source = root / "clip-720p.mp4"
        print(f"making a {args.seconds} s 1280x720 H.264/AAC clip…", flush=True)
        make_clip(source, args.seconds)
        print(f"clip: {source.stat().st_size / 1e6:.1f} MB")
        for label, heights in LADDERS.items():
            slug = "-".join(str(h) for h in heights)
            runs: list[tuple[float, float, float, float, float]] = []
            # Interleaved repeats, best of each: on a shared machine other load only ever slows a run.
            for attempt in range(args.repeats):
                anchor_first, anchor_complete = anchor(source, heights, root / f"anchor-{slug}-{attempt}")
                upload, first, ready = ours(source, heights, root / f"ours-{slug}-{attempt}")
                runs.append((anchor_first, anchor_complete, upload, first, ready))
            anchor_first = min(r[0] for r in runs)
            anchor_complete = min(r[1] for r in runs)
            upload = min(r[2] for r in runs)
            first = min(r[3] for r in runs)
            ready = min(r[4] for r in runs)
            results[label] = {
                "anchor_first_playable_s": anchor_first,
                "anchor_complete_s": anchor_complete,
                "upload_s": upload,
                "first_playable_s": first,
                "ready_s": ready,
                "first_playable_ratio": first / anchor_first,
                "ready_ratio": ready / anchor_complete,
                "runs": [list(r) for r in runs],
            }
            print(
                f"{label:>22}: first playable {first:6.2f} s (ffmpeg alone {anchor_first:6.2f} s, "
                f"ratio {first / anchor_first:4.2f}) · ready {ready:6.2f} s (ffmpeg alone "
                f"{anchor_complete:6.2f} s, ratio {ready / anchor_complete:4.2f}) · upload {upload:.2f} s",
                flush=True,
            )
    summary = {"clip_seconds": args.seconds, "repeats": args.repeats, "ladders": results}
    (out / "hls.json").write_text(json.dumps(summary, indent=2))
    print(f"wrote {out / 'hls.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
