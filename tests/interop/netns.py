"""The interop suite's test network: a Linux bridge with the gateway's address on it, and one
network namespace per client, each joined to the bridge by a veth pair with an address of its own.

Real clients refuse or deprioritise loopback peers (Transmission ignores them), and on loopback every
peer shares one address; here each client is a host of its own on one L2 segment, the gateway on
the bridge address in the test's own namespace. Nothing is routed or forwarded: the segment is a
/24 no existing route uses. Everything made is removed on exit, also after a failure.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=20)


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 that no interface or route of this host overlaps."""
    used = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    taken = []
    for line in used.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable"):
            word = line.split()[1]
        try:
            taken.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    for third in range(77, 250):
        candidate = ipaddress.ip_network(f"10.{third}.{os.getpid() % 250}.0/24")
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise RuntimeError("no free 10.x.y.0/24 for the interop network")


@dataclass
class Host:
    """A client's namespace and its address on the segment (more than one for a namespace that holds
    several clients, each bound to an address of its own: the swarm bench)."""

    namespace: str
    address: str
    addresses: list[str] = field(default_factory=list)

    def argv(self, command: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.namespace, *command]

    def kill_all(self) -> None:
        """SIGKILL every process of the namespace: a client that is a daemon plus a front end
        (Deluge) is more than the one process the harness started."""
        pids = subprocess.run(["ip", "netns", "pids", self.namespace], capture_output=True, text=True).stdout
        for pid in pids.split():
            subprocess.run(["kill", "-9", pid], capture_output=True)


@dataclass
class Lab:
    subnet: ipaddress.IPv4Network = field(default_factory=_free_subnet)
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    hosts: list[Host] = field(default_factory=list)
    _links: list[str] = field(default_factory=list)
    _next_index: int = 10  # host part of the next address handed out (.1 is the gateway's)

    @property
    def bridge(self) -> str:
        return f"tgwbr{self.tag}"

    @property
    def gateway_address(self) -> str:
        return str(self.subnet.network_address + 1)

    def __enter__(self) -> Lab:
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            self._links.append(self.bridge)
            _ip("addr", "add", f"{self.gateway_address}/{self.subnet.prefixlen}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add_host(self, name: str, addresses: int = 1) -> Host:
        """A namespace on the segment, with ``addresses`` addresses of its own on one veth."""
        if addresses < 1 or self._next_index + addresses > self.subnet.num_addresses - 1:
            raise ValueError(f"the /{self.subnet.prefixlen} has no {addresses} more addresses")
        index = self._next_index
        self._next_index += addresses
        namespace = f"tgw{self.tag}-{name}"
        outer, inner = f"tgv{self.tag}{index}", f"tgi{self.tag}{index}"
        owned = [str(self.subnet.network_address + index + offset) for offset in range(addresses)]
        _ip("netns", "add", namespace)
        host = Host(namespace, owned[0], owned)
        self.hosts.append(host)
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self._links.append(outer)
        _ip("link", "set", inner, "netns", namespace)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        for address in owned:
            _ip("-n", namespace, "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", inner)
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        return host

    def close(self) -> None:
        for host in self.hosts:
            host.kill_all()
            subprocess.run(["ip", "netns", "del", host.namespace], capture_output=True)
        self.hosts.clear()
        for link in reversed(self._links):
            subprocess.run(["ip", "link", "del", link], capture_output=True)
        self._links.clear()
