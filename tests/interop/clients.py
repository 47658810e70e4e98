"""The real BitTorrent clients of the interop matrix, and the paths each can take.

Every client runs in its own network namespace (see ``netns``) as a plain command. The harness
decides a cell is done when the file on disk has the expected SHA-256, then stops the client
(some, like transmission-cli, seed forever). A path a client cannot take is listed in
``IMPOSSIBLE`` with the client's reason, and shows in docs/interop.md instead of a result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PATHS = ("webseed", "tracker", "dht", "resume")
PATH_TITLES = {
    "webseed": ".torrent, WebSeed only",
    "tracker": "magnet, tracker only",
    "dht": "magnet, DHT only",
    "resume": "resume after kill",
}
HERE = Path(__file__).resolve().parent
RATE = 512 * 1024  # bytes/s of a first run that is killed halfway


@dataclass(frozen=True)
class Job:
    """What one cell asks of a client."""

    source: str  # a .torrent path or a magnet link
    save_dir: Path
    work_dir: Path  # the client's own state (config, DHT table, control files)
    dht: str = ""  # host:port of our DHT node, when the client may use the DHT
    rate: int = 0  # bytes/s cap, 0 for none


class Client:
    name = ""
    package = ""  # the Debian package or the PyPI distribution it comes from
    program = ""  # the executable that must be installed
    quick = False  # part of the quick half (make test)

    def version(self) -> str:
        raise NotImplementedError

    def installed(self) -> bool:
        return shutil.which(self.program) is not None

    def argv(self, job: Job) -> list[str]:
        raise NotImplementedError


class Aria2(Client):
    name, package, program, quick = "aria2", "aria2 (Debian)", "aria2c", True

    def version(self) -> str:
        return subprocess.run(["aria2c", "--version"], capture_output=True, text=True).stdout.split("\n")[0]

    def argv(self, job: Job) -> list[str]:
        argv = [
            "aria2c",
            f"--dir={job.save_dir}",
            "--seed-time=0",
            "--file-allocation=none",
            "--bt-enable-lpd=false",
            "--enable-peer-exchange=false",
            "--enable-dht6=false",
            "--bt-save-metadata=false",
            "--continue=true",
            "--summary-interval=0",
            "--console-log-level=warn",
            f"--max-download-limit={job.rate}",
        ]
        if job.dht:
            host, _, port = job.dht.rpartition(":")
            argv += [
                "--enable-dht=true",
                f"--dht-entry-point={host}:{port}",
                f"--dht-file-path={job.work_dir / 'dht.dat'}",
            ]
        else:
            argv.append("--enable-dht=false")
        return [*argv, job.source]


class Libtorrent(Client):
    name, package, program, quick = "libtorrent", "libtorrent (PyPI, the venv's)", sys.executable, True

    def version(self) -> str:
        import libtorrent

        return f"libtorrent {libtorrent.__version__}"

    def argv(self, job: Job) -> list[str]:
        argv = [sys.executable, str(HERE / "lt_client.py"), str(job.save_dir), job.source]
        if job.dht:
            argv += ["--dht", job.dht]
        if job.rate:
            argv += ["--rate", str(job.rate)]
        return argv


class Transmission(Client):
    name, package, program = "transmission", "transmission-cli (Debian)", "transmission-cli"

    def version(self) -> str:
        out = subprocess.run(["transmission-cli", "--version"], capture_output=True, text=True)
        return (out.stdout + out.stderr).strip().split("\n")[0]

    def argv(self, job: Job) -> list[str]:
        config = job.work_dir / "transmission"
        config.mkdir(parents=True, exist_ok=True)
        settings = {
            "dht-enabled": bool(job.dht),
            "lpd-enabled": False,
            "pex-enabled": False,
            "port-forwarding-enabled": False,
            "rename-partial-files": False,
            "speed-limit-down-enabled": bool(job.rate),
            "speed-limit-down": max(1, job.rate // 1024),
            "download-dir": str(job.save_dir),
        }
        (config / "settings.json").write_text(json.dumps(settings))
        if job.dht:
            # Transmission bootstraps its DHT from this file of its config dir ("host port" lines).
            host, _, port = job.dht.rpartition(":")
            (config / "dht.bootstrap").write_text(f"{host} {port}\n")
        argv = ["transmission-cli", "-g", str(config), "-w", str(job.save_dir), "-M", "-ep"]
        argv += ["-d", str(job.rate // 1024)] if job.rate else ["-D"]
        return [*argv, job.source]


class QBittorrent(Client):
    name, package, program = "qbittorrent", "qbittorrent-nox (Debian)", "qbittorrent-nox"

    def version(self) -> str:
        return subprocess.run(["qbittorrent-nox", "--version"], capture_output=True, text=True).stdout.strip()

    def argv(self, job: Job) -> list[str]:
        profile = job.work_dir / "qbittorrent"
        config = profile / "qBittorrent" / "config"
        config.mkdir(parents=True, exist_ok=True)
        (config / "qBittorrent.conf").write_text(
            "[LegalNotice]\nAccepted=true\n\n"
            "[BitTorrent]\n"
            f"Session\\DHTEnabled={'true' if job.dht else 'false'}\n"
            "Session\\LSDEnabled=false\nSession\\PeXEnabled=false\n"
            f"Session\\GlobalDLSpeedLimit={job.rate // 1024}\n"
            "Session\\IgnoreLimitsOnLAN=false\n"
            f"Session\\DefaultSavePath={job.save_dir}\n\n"
            "[Preferences]\nConnection\\UPnP=false\n"
        )
        # Each client has a namespace of its own, so the Web UI's fixed port collides with nothing.
        return [
            "qbittorrent-nox",
            f"--profile={profile}",
            "--webui-port=18080",
            f"--save-path={job.save_dir}",
            "--skip-dialog=true",
            job.source,
        ]


class Deluge(Client):
    name, package, program = "deluge", "deluged + deluge-console (Debian)", "deluged"

    def version(self) -> str:
        out = subprocess.run(["deluged", "--version"], capture_output=True, text=True).stdout
        return " ".join(out.split()[:2])  # "deluged 2.0.3", without the libtorrent line

    def argv(self, job: Job) -> list[str]:
        config = job.work_dir / "deluge"
        config.mkdir(parents=True, exist_ok=True)
        preferences = {
            "dht": bool(job.dht),
            "lsd": False,
            "upnp": False,
            "natpmp": False,
            "utpex": False,
            "new_release_check": False,
            "download_location": str(job.save_dir),
            # Deluge gives a new torrent this cap from its first byte; see the wrapper for the rest.
            "max_download_speed_per_torrent": job.rate / 1024 if job.rate else -1,
        }
        # Deluge's config format: a version header object, then the settings object.
        header = json.dumps({"file": 1, "format": 1})
        (config / "core.conf").write_text(header + json.dumps(preferences, indent=2))
        # libtorrent (2.0 under Deluge 2.0.3) leaves peers on the local network out of the global limit
        # (its local peer class), so the cap is the torrent's own, set again by the wrapper on every run:
        # a resumed torrent keeps the cap of the killed run in Deluge's saved state.
        rate = str(job.rate // 1024) if job.rate else "-1"
        return [str(HERE / "deluge_client.sh"), str(config), str(job.save_dir), job.source, rate]


class RTorrent(Client):
    name, package, program = "rtorrent", "rtorrent (Debian)", "rtorrent"

    def version(self) -> str:
        out = subprocess.run(["rtorrent", "-h"], capture_output=True, text=True).stdout
        return out.split("\n")[0].replace("Rakshasa's BitTorrent client version", "rTorrent").rstrip(".")

    def argv(self, job: Job) -> list[str]:
        session = job.work_dir / "rtorrent-session"
        session.mkdir(parents=True, exist_ok=True)
        lines = [
            f"directory.default.set = {job.save_dir}",
            f"session.path.set = {session}",
            # A killed run leaves its lock behind; the resumed run must not refuse the session.
            "session.use_lock.set = no",
            "system.daemon.set = true",
            "protocol.pex.set = no",
            "network.port_random.set = no",
            "network.port_range.set = 51413-51413",
            f"throttle.global_down.max_rate.set_kb = {job.rate // 1024}",
        ]
        # No DHT: its cell is impossible (see IMPOSSIBLE), and the other paths must not use it.
        lines.append("dht.mode.set = disable")
        log = job.work_dir / "rtorrent-events.log"
        lines += [f"log.open_file = tgw, {log}", "log.add_output = info, tgw"]
        lines.append(f"load.start_verbose = {job.source}")
        rc = job.work_dir / "rtorrent.rc"
        rc.write_text("\n".join(lines) + "\n")
        return ["rtorrent", "-n", "-o", f"import={rc}"]


class WebTorrent(Client):
    name, package, program = "webtorrent", "webtorrent (npm, tests/interop/webtorrent)", "node"
    home = HERE / "webtorrent"

    def version(self) -> str:
        package = json.loads((self.home / "node_modules" / "webtorrent" / "package.json").read_text())
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        return f"WebTorrent {package['version']} (Node {node})"

    def installed(self) -> bool:
        # `make interop-deps` installs the pinned packages with `npm ci`.
        return super().installed() and (self.home / "node_modules" / "webtorrent").is_dir()

    def argv(self, job: Job) -> list[str]:
        argv = ["node", str(self.home / "webtorrent_client.js"), str(job.save_dir), job.source]
        if job.dht:
            argv += ["--dht", job.dht]
        if job.rate:
            argv += ["--rate", str(job.rate)]
        return argv


CLIENTS: list[Client] = [
    Aria2(),
    Libtorrent(),
    Transmission(),
    QBittorrent(),
    Deluge(),
    RTorrent(),
    WebTorrent(),
]

# Paths a client cannot take, with the client's reason (shown in the matrix).
IMPOSSIBLE: dict[tuple[str, str], str] = {
    ("qbittorrent", "dht"): (
        "qBittorrent 4.5 has no setting for DHT bootstrap nodes (added in 4.6): its DHT starts only"
        " from public routers, which a private DHT is not"
    ),
    ("transmission", "dht"): (
        "Transmission 3.00 counts its DHT as bootstrapped only with several good nodes (tr-dht.c) and"
        " does not search before; a private DHT of our node and our seeder is two. Its log: 'Attempting"
        " manual bootstrap' from dht.bootstrap, then a fall-back to dht.transmissionbt.com"
    ),
    ("deluge", "dht"): (
        "Deluge 2.0.3 has no setting for DHT bootstrap nodes: enabling its DHT (_on_set_dht in"
        " core/preferencesmanager.py) bootstraps from libtorrent's default and five public routers only,"
        " which a private DHT is not"
    ),
    ("rtorrent", "dht"): (
        "rTorrent 0.9.8's libtorrent 0.13.8 misreads every peer of a DHT get_peers reply:"
        " AddressList::parse_address_bencode (src/net/address_list.cc) steps an iterator over the"
        " `values` list but inserts `*reinterpret_cast<const SocketAddressCompact*>(s.data())`, the"
        " list's first bytes, so our seeder 10.x.y.1:p becomes ::ffff:54.58.10.x (the bytes '6:' and"
        " the address's start; strace shows connect() to it fail with ENETUNREACH). Fixed upstream in"
        " libtorrent 0.16.0 ('Fixed DHT get_peers parsing', a679afa9), not in Debian 12"
    ),
    ("rtorrent", "webseed"): (
        "rTorrent (libtorrent-rakshasa 0.13.8) implements no WebSeed: it ignores a .torrent's"
        " `url-list` (BEP 19) and `httpseeds` (BEP 17) and fetches only from peers"
    ),
}
