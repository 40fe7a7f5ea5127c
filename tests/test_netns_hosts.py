"""The namespaced-hosts harness itself (tests/netns_hosts.py), without Ray: the multi-host tests
are only as good as its isolation and its cleanup.

No request here ever leaves a namespace the test created: every connection is made from inside
a host (`Host.http_get`), never from the root namespace (whose default route leads off the machine).
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from netns_hosts import Host, NetnsUnavailable, hosts
from polling import wait_for

PORT = 8123


def _namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def _root_addresses() -> str:
    return subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout


def _serve(host: Host, bind: str) -> subprocess.Popen:
    """A plain HTTP server inside `host`, bound to `bind`."""
    return host.popen([sys.executable, "-m", "http.server", "--bind", bind, str(PORT)],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _reaches(client: Host, url: str, timeout: float = 2) -> bool:
    try:
        return client.http_get(url, timeout=timeout).status == 200
    except httpx.HTTPError:
        return False


def test_two_hosts_reach_each_other_only_over_their_link() -> None:
    try:
        with hosts(2) as (h1, h2):
            names = {h1.name, h2.name}
            dirs = [h1.home, h1.tmp, h2.home, h2.tmp]
            on_loopback, on_link = _check_two_hosts(h1, h2)
    except NetnsUnavailable as exc:
        pytest.fail(f"network namespaces are needed and cannot be created here: {exc}")
    # teardown: processes killed, namespaces and directories gone
    assert on_loopback.wait(timeout=10) is not None and on_link.wait(timeout=10) is not None
    assert not (names & _namespaces())
    assert not any(Path(d).exists() for d in dirs)


def _check_two_hosts(h1: Host, h2: Host) -> tuple[subprocess.Popen, subprocess.Popen]:
    """Addresses, links, loopback isolation, link down/up, environments; returns the servers started."""
    subnet = h1.ip.rsplit(".", 1)[0]
    assert h2.ip.rsplit(".", 1)[0] == subnet and h1.ip != h2.ip and subnet.startswith("10.")
    assert {h1.name, h2.name} <= _namespaces()
    assert f" {subnet}." not in _root_addresses(), "the root namespace must never get an address"
    links = h1.run(["ip", "-o", "link"]).stdout
    assert [ln.split(":")[1].strip().split("@")[0] for ln in links.splitlines()] == ["lo", h1.link]

    # each host its own loopback: a server on h2's 127.0.0.1 is invisible from h1's
    on_loopback = _serve(h2, "127.0.0.1")
    on_link = _serve(h1, h1.ip)
    wait_for("h1 and h2 to reach the server on h1's link address",
             lambda: _reaches(h1, f"http://{h1.ip}:{PORT}/") and _reaches(h2, f"http://{h1.ip}:{PORT}/"), 20, every=0.2)
    wait_for("h2 to reach its own loopback server",
             lambda: _reaches(h2, f"http://127.0.0.1:{PORT}/"), 20, every=0.2)
    assert not _reaches(h1, f"http://127.0.0.1:{PORT}/")
    assert sorted(h2.pids()) == [on_loopback.pid]

    h2.link_down()
    assert not _reaches(h2, f"http://{h1.ip}:{PORT}/", timeout=2)
    h2.link_up()
    wait_for("h2 to reach h1 again after the link came back",
             lambda: _reaches(h2, f"http://{h1.ip}:{PORT}/"), 20, every=0.2)

    for host in (h1, h2):
        assert host.env["RAY_AUTH_TOKEN_PATH"] == str(host.token_file) and host.token_file.is_file()
        assert host.env["RAYSCOPE_HOME"] == str(host.home) and host.env["RAY_AUTH_MODE"] == "token"
        assert set(k for k in host.env if k.startswith("RAY")) == {
            "RAYSCOPE_HOME", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAY_USAGE_STATS_ENABLED"}
    assert h1.token_file != h2.token_file and h1.token_file.read_text() == h2.token_file.read_text()
    assert on_link.poll() is None
    return on_loopback, on_link


def test_three_hosts_share_one_switch() -> None:
    try:
        with hosts(3) as (h1, h2, h3):
            server = _serve(h3, h3.ip)
            wait_for("h1 and h2 to reach the server on h3",
                     lambda: _reaches(h1, f"http://{h3.ip}:{PORT}/") and _reaches(h2, f"http://{h3.ip}:{PORT}/"),
                     20, every=0.2)
            h1.link_down()  # cuts h1 only
            assert not _reaches(h1, f"http://{h3.ip}:{PORT}/")
            assert _reaches(h2, f"http://{h3.ip}:{PORT}/")
            h1.link_up()
            wait_for("h1 to reach h3 again after the link came back",
                     lambda: _reaches(h1, f"http://{h3.ip}:{PORT}/"), 20, every=0.2)
            names = {h1.name, h2.name, h3.name}
    except NetnsUnavailable as exc:
        pytest.fail(f"network namespaces are needed and cannot be created here: {exc}")
    assert server.wait(timeout=10) is not None
    assert not any(n.startswith(min(names)[:-2]) for n in _namespaces())
