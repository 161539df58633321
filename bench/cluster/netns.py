"""Hosts as Linux network namespaces on one bridge: each its own address, its own loopback, a cable to cut.

Every name this module creates starts with ``PREFIX``, so teardown removes exactly what it made (and
whatever an interrupted earlier run left behind), never anything else on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field

PREFIX = "shopc"
BRIDGE = f"{PREFIX}br0"
SUBNET = "10.77.0"
GATEWAY = f"{SUBNET}.1"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=15, check=check)


def namespaces_possible() -> str | None:
    """Why hosts cannot be made here (not root, no ``ip``, no netns support), or None if they can."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is missing"
    probe = f"{PREFIX}probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"ip netns add failed: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    bridge = _ip("link", "add", f"{PREFIX}probebr", "type", "bridge", check=False)
    if bridge.returncode != 0:
        return f"no bridge here: {bridge.stderr.strip()}"
    _ip("link", "del", f"{PREFIX}probebr", check=False)
    return None


@dataclass
class Network:
    """The bridge and the hosts on it; ``exec_prefix(host)`` runs a command on that host."""

    hosts: dict[str, str] = field(default_factory=dict)  # name -> address

    def up(self) -> Network:
        teardown()  # what an interrupted run left
        _ip("link", "add", BRIDGE, "type", "bridge")
        _ip("addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        _ip("link", "set", BRIDGE, "up")
        return self

    def add_host(self, name: str) -> str:
        """Make a namespace with one veth on the bridge; return its address."""
        address = f"{SUBNET}.{10 + len(self.hosts)}"
        netns = f"{PREFIX}-{name}"
        outside, inside = f"{PREFIX}{len(self.hosts)}o", f"{PREFIX}{len(self.hosts)}i"
        _ip("netns", "add", netns)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", netns)
        _ip("link", "set", outside, "master", BRIDGE)
        _ip("link", "set", outside, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        _ip("-n", netns, "link", "set", inside, "name", "eth0")
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "eth0")
        _ip("-n", netns, "link", "set", "eth0", "up")
        _ip("-n", netns, "route", "add", "default", "via", GATEWAY)
        self.hosts[name] = address
        return address

    def exec_prefix(self, name: str) -> list[str]:
        return ["ip", "netns", "exec", f"{PREFIX}-{name}"]

    def cut(self, name: str) -> None:
        """Pull the host's cable: its processes live on, but nothing reaches them and they reach nothing."""
        _ip("-n", f"{PREFIX}-{name}", "link", "set", "eth0", "down")

    def mend(self, name: str) -> None:
        _ip("-n", f"{PREFIX}-{name}", "link", "set", "eth0", "up")
        _ip("-n", f"{PREFIX}-{name}", "route", "replace", "default", "via", GATEWAY, check=False)


def teardown() -> None:
    """Remove every namespace, veth and bridge named with PREFIX (deleting a netns kills its veth)."""
    listed = _ip("netns", "list", check=False).stdout.split("\n")
    for line in listed:
        name = line.split(" ")[0]
        if name.startswith(f"{PREFIX}-") or name == f"{PREFIX}probe":
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                subprocess.run(["kill", "-9", pid], check=False, timeout=5)
            _ip("netns", "del", name, check=False)
    links = _ip("-o", "link", "show", check=False).stdout.split("\n")
    for line in links:
        parts = line.split(": ")
        if len(parts) > 1 and parts[1].split("@")[0].startswith(PREFIX):
            _ip("link", "del", parts[1].split("@")[0], check=False)
