"""Real Nostr counterparts for the tests: a relay (``nostr-relay`` from PyPI, as a subprocess on
127.0.0.1), a NIP-46 remote signer written with nostr-sdk's own primitives (its relay client,
NIP-44 and event builder — none of our code), an event signer from nostr-tools (JavaScript, an
independent implementation), and small helpers to sign requests and read relays.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import nostr_sdk
from websockets.asyncio.client import connect

from tests.support.servers import free_port, wait_for_port

REPO = Path(__file__).resolve().parents[3]
JS_DIR = REPO / "tests" / "js"

RELAY_CONFIG = """\
DEBUG: false
relay_name: torrent-gateway test relay
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 4
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
gunicorn:
  bind: 127.0.0.1:{port}
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
message_timeout: 120
subscription_limit: 32
max_limit: 1000
max_event_size: 65536
logging:
  version: 1
  root: {{level: WARNING}}
"""


class NostrRelay:
    """nostr-relay (uvicorn + sqlite) in a subprocess; stop() and start() keep port and data."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "relay.yaml"
        self.config.write_text(RELAY_CONFIG.format(db=workdir / "relay.sqlite3", port=self.port))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.workdir / "relay.log", "ab")  # noqa: SIM115 - handed to the child process
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from nostr_relay.cli import main; main()",
                "-c",
                str(self.config),
                "serve",
                "--use-uvicorn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
        )
        log.close()
        try:
            wait_for_port(self.port, timeout=30)
        except TimeoutError:
            self.stop()
            raise RuntimeError((self.workdir / "relay.log").read_text()[-2000:]) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None


@contextlib.contextmanager
def running_relay(workdir: Path) -> Iterator[NostrRelay]:
    relay = NostrRelay(workdir)
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


async def fetch_events(
    relay_url: str, subscription_filter: dict[str, Any], within: float = 10.0
) -> list[dict[str, Any]]:
    """Stored events matching the filter (REQ until EOSE)."""
    events = []
    async with asyncio.timeout(within), connect(relay_url) as ws:
        await ws.send(json.dumps(["REQ", "q", subscription_filter]))
        while True:
            message = json.loads(await ws.recv())
            if message[0] == "EOSE":
                return events
            if message[0] == "EVENT":
                events.append(message[2])


# -- signing helpers ---------------------------------------------------------------------------
def sdk_sign(
    keys: nostr_sdk.Keys, kind: int, tags: list[list[str]], content: str = "", created_at: int | None = None
) -> dict[str, Any]:
    """An event signed by nostr-sdk (not our code)."""
    builder = nostr_sdk.EventBuilder(nostr_sdk.Kind(kind), content).tags(
        [nostr_sdk.Tag.parse(t) for t in tags]
    )
    if created_at is not None:
        builder = builder.custom_created_at(nostr_sdk.Timestamp.from_secs(created_at))
    return json.loads(builder.finalize(keys).as_json())  # type: ignore[no-any-return]


def nip98_header(
    keys: nostr_sdk.Keys,
    url: str,
    method: str,
    body: bytes | None = None,
    created_at: int | None = None,
    urlsafe: bool = False,
) -> dict[str, str]:
    tags = [["u", url], ["method", method]]
    if body is not None:
        tags.append(["payload", hashlib.sha256(body).hexdigest()])
    event = sdk_sign(keys, 27235, tags, created_at=created_at)
    raw = json.dumps(event).encode()
    encoded = base64.urlsafe_b64encode(raw).rstrip(b"=") if urlsafe else base64.b64encode(raw)
    return {"Authorization": f"Nostr {encoded.decode()}"}


def ensure_nostr_tools() -> None:
    if not (JS_DIR / "node_modules" / "nostr-tools").is_dir():
        npm = shutil.which("npm")
        assert npm, "npm is needed to install nostr-tools for the NIP-07 tests"
        subprocess.run(
            [npm, "install", "--prefix", str(JS_DIR), "--no-audit", "--no-fund"], check=True, timeout=300
        )


def nostr_tools_sign(template: dict[str, Any], secret_hex: str) -> dict[str, Any]:
    """Sign like a NIP-07 extension would, with nostr-tools (JavaScript)."""
    node = shutil.which("node")
    assert node, "node is needed for the nostr-tools signer"
    result = subprocess.run(
        [node, str(JS_DIR / "sign_event.mjs")],
        input=json.dumps({"secret_key": secret_hex, "template": template}).encode(),
        capture_output=True,
        check=True,
        timeout=30,
    )
    return json.loads(result.stdout)  # type: ignore[no-any-return]


# -- NIP-46 remote signer ----------------------------------------------------------------------
class RemoteSigner:
    """A bunker: answers NIP-46 requests (kind 24133, NIP-44) for ``user_keys`` over one relay.

    Built only from nostr-sdk: its Client (relay pool and subscription), nip44 functions and
    EventBuilder. ``refuse`` names methods it answers with an error, ``silent`` ones it ignores.
    """

    def __init__(
        self,
        relay_url: str,
        *,
        secret: str = "one-time-secret",
        user_keys: nostr_sdk.Keys | None = None,
        refuse: set[str] | None = None,
        silent: set[str] | None = None,
    ) -> None:
        self.relay_url = relay_url
        self.secret = secret
        self.keys = nostr_sdk.Keys.generate()  # the signer's own key, distinct from the user's
        self.user_keys = user_keys or nostr_sdk.Keys.generate()
        self.refuse = refuse or set()
        self.silent = silent or set()
        self.seen: list[str] = []
        self.signed: list[dict[str, Any]] = []  # templates it was asked to sign
        self._client = nostr_sdk.Client()
        self._task: asyncio.Task[None] | None = None
        self._secret_used = False

    @property
    def user_pubkey(self) -> str:
        return str(self.user_keys.public_key().to_hex())

    def bunker_url(self, secret: str | None = None) -> str:
        secret = self.secret if secret is None else secret
        return f"bunker://{self.keys.public_key().to_hex()}?relay={self.relay_url}&secret={secret}"

    async def __aenter__(self) -> RemoteSigner:
        await self._client.add_relay(nostr_sdk.RelayUrl.parse(self.relay_url))
        await self._client.connect()
        requests = (
            nostr_sdk.Filter()
            .kind(nostr_sdk.Kind(24133))
            .pubkey(self.keys.public_key())
            .since(nostr_sdk.Timestamp.from_secs(int(time.time()) - 5))
        )
        output = await self._client.subscribe(nostr_sdk.ReqTarget.auto([requests]))
        assert output.success, output.failed
        self._task = asyncio.create_task(self._serve(self._client.notifications()))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._client.shutdown()

    async def answer_nostrconnect(self, uri: str, secret: str | None = None) -> None:
        """Take up a client's ``nostrconnect://`` URI as a signer app does: send the client our
        answer to its implied connect, carrying its secret (or ``secret``), on our relay."""
        parts = urlsplit(uri)
        assert parts.scheme == "nostrconnect", uri
        query = parse_qs(parts.query)
        assert self.relay_url in query["relay"], query
        client_key = nostr_sdk.PublicKey.parse(parts.netloc)
        reply = {"id": secrets.token_hex(8), "result": query["secret"][0] if secret is None else secret}
        content = nostr_sdk.nip44_encrypt(
            self.keys.secret_key(), client_key, json.dumps(reply), nostr_sdk.Nip44Version.V2
        )
        answer = nostr_sdk.EventBuilder(nostr_sdk.Kind(24133), content).tags(
            [nostr_sdk.Tag.public_key(client_key)]
        )
        await self._client.send_event(answer.finalize(self.keys))

    async def _serve(self, stream: Any) -> None:
        while True:
            note = await stream.next()
            if note is None:
                return
            if note.is_new_event() and note.event.kind().as_u16() == 24133:
                await self._answer(note.event)

    async def _answer(self, event: nostr_sdk.Event) -> None:
        client_key = event.author()
        request = json.loads(nostr_sdk.nip44_decrypt(self.keys.secret_key(), client_key, event.content()))
        method, params = request["method"], request.get("params", [])
        self.seen.append(method)
        if method in self.silent:
            return
        result, error = "", ""
        if method in self.refuse:
            error = f"user rejected {method}"
        elif method == "connect":
            if params[:1] != [self.keys.public_key().to_hex()]:
                error = "connect names another signer"
            elif len(params) < 2 or params[1] != self.secret or self._secret_used:
                error = "invalid or already used secret"
            else:
                self._secret_used = True
                result = "ack"
        elif method == "get_public_key":
            result = self.user_pubkey
        elif method == "ping":
            result = "pong"
        elif method == "sign_event":
            template = json.loads(params[0])
            self.signed.append(template)
            builder = (
                nostr_sdk.EventBuilder(nostr_sdk.Kind(template["kind"]), template["content"])
                .tags([nostr_sdk.Tag.parse(t) for t in template["tags"]])
                .custom_created_at(nostr_sdk.Timestamp.from_secs(template["created_at"]))
            )
            result = builder.finalize(self.user_keys).as_json()
        else:
            error = f"unsupported method {method}"
        reply = {"id": request["id"], "result": result}
        if error:
            reply["error"] = error
        content = nostr_sdk.nip44_encrypt(
            self.keys.secret_key(), client_key, json.dumps(reply), nostr_sdk.Nip44Version.V2
        )
        answer = nostr_sdk.EventBuilder(nostr_sdk.Kind(24133), content).tags(
            [nostr_sdk.Tag.public_key(client_key)]
        )
        await self._client.send_event(answer.finalize(self.keys))
