"""The ``torrent-gateway`` command: run the whole system or one component, upload, reindex.

``serve`` runs every component in one process with embedded defaults (local disk, state in a
SQLite file next to the data). ``gateway``, ``blossom``, ``tracker`` and ``dht`` run one component each, as the
Kubernetes operator starts them; all of them read the same settings tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import mimetypes
import os
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .config import ConfigError, Settings, load_settings
from .state.base import StateUnavailable

log = logging.getLogger("torrent_gateway")


def _configure_logging(settings: Settings) -> None:
    if settings.logging.json_format:
        fmt = '{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}'
    else:
        fmt = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=settings.logging.level, format=fmt, force=True)
    # urllib3 (MinIO SDK) logs every retry during an S3 outage; our own log line says it once.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    for note in settings.config_notes:  # keys of the original gateway's config file, translated
        log.info("%s", note)


def _load(args: argparse.Namespace, **overrides: Any) -> Settings:
    """Settings from file + env, with command-line values (``section.key=value``) on top."""
    sections: dict[str, dict[str, Any]] = {}
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, key = dotted.split(".", 1)
        sections.setdefault(section, {})[key] = value
    return load_settings(getattr(args, "config", None), **sections)


def _run_server(
    app: Any,
    host: str,
    port: int,
    settings: Settings,
    *,
    tracker: bool = False,
    extra_ports: tuple[int, ...] = (),
) -> None:
    """Serve ``app`` on host:port, and on ``extra_ports`` of the same host (one server, one app)."""
    import uvicorn

    from .web.http_protocol import PipelineAwareHttpToolsProtocol

    extra: dict[str, Any] = {"http": PipelineAwareHttpToolsProtocol}
    if tracker and settings.tracker.enabled and settings.tracker.fast_http:
        from .tracker.http_fast import TrackerHttpProtocol

        extra["http"] = TrackerHttpProtocol

    def config_for(listen_port: int) -> uvicorn.Config:
        return uvicorn.Config(
            app,
            **extra,
            host=host,
            port=listen_port,
            log_level=settings.logging.level.lower(),
            access_log=False,
            proxy_headers=False,  # forwarded headers are only believed from trusted proxies (clientaddr)
            timeout_keep_alive=30,
            h11_max_incomplete_event_size=64 * 1024,
        )

    config = config_for(port)
    if not extra_ports:
        uvicorn.Server(config).run()
        return
    sockets = [config.bind_socket(), *(config_for(p).bind_socket() for p in extra_ports)]
    uvicorn.Server(config).run(sockets=sockets)


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _load(
        args, **{"storage.path": args.data, "gateway.port": args.port, "gateway.host": args.host}
    )
    _configure_logging(settings)
    from .runtime import build_serve_app

    log.info("effective configuration: %s", json.dumps(settings.redacted()))
    app = build_serve_app(settings)
    host = _display_host(settings.gateway.host)
    print(f"Torrent Gateway serving on http://{host}:{settings.gateway.port}", flush=True)
    blossom_port = settings.blossom.serve_port if settings.blossom.enabled else 0
    extra_ports = (blossom_port,) if blossom_port and blossom_port != settings.gateway.port else ()
    if extra_ports:
        print(f"Blossom also on http://{host}:{blossom_port}", flush=True)
    _run_server(
        app, settings.gateway.host, settings.gateway.port, settings, tracker=True, extra_ports=extra_ports
    )
    return 0


def cmd_component(args: argparse.Namespace) -> int:
    settings = _load(args)
    _configure_logging(settings)
    from . import runtime

    log.info("effective configuration: %s", json.dumps(settings.redacted()))
    app, host, port = runtime.build_component_app(args.command, settings)
    _run_server(app, host, port, settings, tracker=args.command == "tracker")
    return 0


def _display_host(host: str) -> str:
    return "localhost" if host in ("0.0.0.0", "::", "") else host


def cmd_upload(args: argparse.Namespace) -> int:
    import httpx
    from tqdm import tqdm

    path = Path(args.file)
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    size = path.stat().st_size
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"content-type": mime, "x-filename": path.name, "content-length": str(size)}
    if args.token:
        headers["authorization"] = f"Bearer {args.token}"

    def body() -> Any:
        with (
            path.open("rb") as handle,
            tqdm(total=size, unit="B", unit_scale=True, desc=path.name, disable=args.quiet) as bar,
        ):
            while block := handle.read(1024 * 1024):
                bar.update(len(block))
                yield block

    server = args.server.rstrip("/")
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            response = client.put(f"{server}/api/upload", content=body(), headers=headers)
    except httpx.HTTPError as exc:
        print(f"error: could not reach {server}: {exc}", file=sys.stderr)
        return 1
    if response.status_code >= 400:
        try:
            detail = response.json().get("detail")
        except ValueError:
            detail = response.text
        print(f"error: upload refused ({response.status_code}): {detail}", file=sys.stderr)
        return 1
    info = response.json()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"sha256:   {info['sha256']}")
        print(f"infohash: {info['infohash']}")
        for label, url in info["urls"].items():
            print(f"{label + ':':9} {url}")
    return 0


def cmd_reindex(args: argparse.Namespace) -> int:
    settings = _load(args, **{"storage.path": args.data})
    _configure_logging(settings)
    from .services import build_services

    async def run() -> tuple[int, int | None]:
        from .state.durable import DurableStateStore

        services = build_services(settings)
        try:
            records = None
            if isinstance(services.state, DurableStateStore):
                # Cluster mode: bans, blocks, sessions, reports and audit back into Redis first.
                records = await services.state.hydrate()
            return await services.catalog.reindex(), records
        finally:
            await services.close()

    count, records = asyncio.run(run())
    print(f"reindexed {count} files")
    if records is not None:
        print(f"reloaded {records} durable records")
    return 0


def cmd_gc(args: argparse.Namespace) -> int:
    settings = _load(args, **{"storage.path": args.data})
    _configure_logging(settings)
    from .gc import collect_garbage
    from .services import build_services

    async def run() -> object:
        services = build_services(settings)
        try:
            grace = settings.gc.grace_period if args.grace is None else args.grace
            await services.store.cleanup_staging(older_than=max(grace, 1))
            return await collect_garbage(services, grace=grace)
        finally:
            await services.close()

    report = asyncio.run(run())
    print(
        f"removed {report.blobs_removed} blobs ({report.bytes_freed} bytes), {report.torrents_removed} torrents, "  # type: ignore[attr-defined]
        f"{report.hls_removed} HLS objects; {report.files_expired} files expired; "  # type: ignore[attr-defined]
        f"{report.uploads_abandoned} abandoned uploads aborted"  # type: ignore[attr-defined]
    )
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    settings = _load(args)
    print(json.dumps(settings.redacted(), indent=2))
    return 0


CONFIG_HELP = "YAML settings file (default: $TGW_CONFIG or ./configs/config.yaml)"


def _plain(text: str) -> str:
    """Docstring text for the terminal: reStructuredText literals lose their backticks."""
    return text.replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torrent-gateway", description=_plain(__doc__.splitlines()[0]))
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--config", help=CONFIG_HELP)
    # Each subcommand takes --config too (``serve --config X``); SUPPRESS keeps a value given before
    # the subcommand when none is given after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=CONFIG_HELP)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="run every component in one process")
    serve.add_argument("--data", help="storage directory (storage.path)")
    serve.add_argument("--port", type=int, help="gateway port (gateway.port)")
    serve.add_argument("--host", help="bind address (gateway.host)")
    serve.set_defaults(func=cmd_serve)

    for name, text in [
        ("gateway", "run the REST API, web UI, WebSeed and HLS"),
        ("blossom", "run the Blossom server"),
        ("tracker", "run the tracker (HTTP, UDP, WebSocket)"),
        ("dht", "run the DHT node and seeder"),
    ]:
        component = sub.add_parser(name, parents=[common], help=text)
        component.set_defaults(func=cmd_component)

    upload = sub.add_parser(
        "upload", parents=[common], help="upload a file to a running gateway and print its links"
    )
    upload.add_argument("file")
    upload.add_argument("--server", default=os.environ.get("TGW_SERVER", "http://localhost:9876"))
    upload.add_argument("--token", default=os.environ.get("TGW_TOKEN"), help="session token (Bearer)")
    upload.add_argument("--json", action="store_true", help="print the full JSON record")
    upload.add_argument("--quiet", action="store_true", help="no progress bar")
    upload.set_defaults(func=cmd_upload)

    reindex = sub.add_parser("reindex", parents=[common], help="rebuild the state indexes from the manifests")
    reindex.add_argument("--data", help="storage directory (storage.path)")
    reindex.set_defaults(func=cmd_reindex)

    gc = sub.add_parser(
        "gc", parents=[common], help="remove bytes no file references (and files past retention)"
    )
    gc.add_argument("--data", help="storage directory (storage.path)")
    gc.add_argument(
        "--grace", type=float, help="seconds of grace for young objects (default: gc.grace_period)"
    )
    gc.set_defaults(func=cmd_gc)

    check = sub.add_parser(
        "check-config", parents=[common], help="validate the configuration and print it (secrets masked)"
    )
    check.set_defaults(func=cmd_check_config)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print(f"torrent-gateway: {exc}", file=sys.stderr)
        return 2
    except StateUnavailable as exc:
        # At start-up: an unreadable state file (not SQLite, no permission) or no Redis.
        print(f"torrent-gateway: state store unavailable: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (``check-config | head -1``): not an error. Point stdout at /dev/null so
        # the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
