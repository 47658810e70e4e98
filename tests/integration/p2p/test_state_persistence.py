"""A restarted node comes back with its saved session state: the routing table it had is rejoined.

(libtorrent 2.x keeps the saved node id only when it knows its external address at start; the
state file still carries it, and ``docs/p2p.md`` says what that means for pods.)
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from torrent_gateway.bencode import bdecode
from torrent_gateway.p2p.options import P2POptions
from torrent_gateway.p2p.session import LtSession, session_settings

from tests.support.servers import free_port

from .support import client_session


async def _routing_nodes(session: LtSession, at_least: int, within: float) -> int:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        _, nodes = await session.dht_stats()
        if nodes >= at_least or asyncio.get_running_loop().time() > deadline:
            return nodes
        await asyncio.sleep(0.2)


async def test_restart_rejoins_the_saved_routing_table(tmp_path: Path) -> None:
    import socket

    port = free_port(socket.SOCK_DGRAM)
    options = P2POptions(host="127.0.0.1", dht_port=port, bootstrap_nodes=())
    state_file = tmp_path / "node.state"
    first = LtSession("node", session_settings("node", options), state_file)
    await first.start()
    client = client_session(dht_bootstrap=f"127.0.0.1:{port}")
    try:
        # The node pings the client itself, so the test does not race the client's bootstrap.
        first.session.add_dht_node(("127.0.0.1", client.listen_port()))
        assert await _routing_nodes(first, 1, 15) >= 1, "our node never got the client into its table"
        node_id = first.node_id
        await first.close()  # saves the state
        saved = bdecode(state_file.read_bytes())[b"dht state"]
        assert saved[b"node-id"][0][:20].hex() == node_id
        assert saved[b"nodes"], "no routing table saved"

        # No bootstrap nodes at all: only the saved state can lead the node back to the client.
        second = LtSession("node", session_settings("node", options), state_file)
        await second.start()
        try:
            assert second.restored_nodes and second.restored_nodes[0][0] == "127.0.0.1"
            assert await _routing_nodes(second, 1, 15) >= 1
        finally:
            await second.close()
    finally:
        del client


async def test_corrupt_state_file_is_ignored(tmp_path: Path) -> None:
    state_file = tmp_path / "node.state"
    state_file.write_bytes(b"\x00garbage")
    session = LtSession(
        "node", session_settings("node", P2POptions(host="127.0.0.1", dht_port=0)), state_file
    )
    await session.start()
    try:
        assert session.running and session.restored_nodes == []
    finally:
        await session.close()
    assert bdecode(state_file.read_bytes())[b"dht state"]  # replaced by a good one at close
