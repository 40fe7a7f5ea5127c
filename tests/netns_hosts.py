"""Several "hosts" on this machine: Linux network namespaces joined by veth links.

    with hosts(2) as (h1, h2):
        h1.cli("start", "--head", f"--node-ip-address={h1.ip}", ...)
        h2.cli("start", f"--address={h1.ip}:{port}", f"--node-ip-address={h2.ip}", ...)

Why namespaces: each one has its own loopback and its own interfaces, so `127.0.0.1` is not
shared between hosts, and everything that crosses hosts has to go over the one link between
them, exactly as between two machines (the filesystem stays shared, which lets a test read a
host's files directly as an independent oracle). Two hosts are joined by one veth pair; three
or more by one veth pair each to a bridge that lives in a namespace of its own (a "switch").

Nothing here ever gives the root namespace (where the test process lives) an address or an
interface: every link is created directly inside the namespaces of this run, on a random /24
inside 10.0.0.0/8, and every name carries this process' pid and a per-process counter, so
parallel runs never collide. Teardown always runs: `rayscope stop` on every host, then a kill
of every pid still inside each namespace (`ip netns pids`), then the links and namespaces and
the hosts' temporary directories go. It never runs a bare `ray stop`.

Needs root (or CAP_SYS_ADMIN + CAP_NET_ADMIN) and iproute2; without them `hosts()` raises
`NetnsUnavailable` with the reason, which the tests turn into a failure, never a skip.
"""
from __future__ import annotations

import ctypes
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

import httpx
import pytest

__all__ = ["Host", "HttpAnswer", "NetnsUnavailable", "hosts", "CLI"]

CLI = [sys.executable, "-m", "rayscope.cli.main"]
IP = "ip"
CLONE_NEWNET = 0x40000000
_RUNS = itertools.count(1)
T = TypeVar("T")


class NetnsUnavailable(RuntimeError):
    """This machine cannot build namespaced hosts (not root, no iproute2, no netns support)."""


@dataclass(frozen=True)
class HttpAnswer:
    """What an HTTP GET made inside a host's namespace got back."""

    status: int
    text: str

    def json(self) -> Any:
        import json

        return json.loads(self.text)


def _ip(*args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
    """`ip ARGS` in the root namespace (only ever to create, change or delete this run's links)."""
    res = subprocess.run([IP, *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed (exit {res.returncode}): {res.stderr.strip()}")
    return res


def _isolated_env(home: Path, token_file: Path) -> dict[str, str]:
    """The environment every process of a host gets, as runtime/local_cluster.py's: nothing of the
    caller's Ray or Rayscope settings leaks in, and nothing touches ~/.ray or ~/.rayscope."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "RAYSCOPE_"))}
    env.update(
        RAYSCOPE_HOME=str(home), RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file),
        RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1",
    )
    return env


def _enter_netns(name: str) -> None:
    """Move the calling thread (only it: network namespaces are per thread) into namespace `name`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into {name}: {os.strerror(err)}")
    finally:
        os.close(fd)


@dataclass
class Host:
    """One namespaced host. Every process it runs sees only its namespace's `lo` and its link."""

    name: str  # the network namespace's name
    ip: str  # its address on the link
    link: str  # its end of the veth link (an interface inside its namespace)
    home: Path  # RAYSCOPE_HOME: state.json, logs of `rayscope start`, its copy of the token
    tmp: Path  # its Ray --temp-dir (short: Ray's socket paths must stay under 107 characters)
    token_file: Path  # its own copy of the cluster token (RAY_AUTH_TOKEN_PATH)
    env: dict[str, str]
    _http: ThreadPoolExecutor | None = field(default=None, repr=False)

    def argv(self, argv: Sequence[str]) -> list[str]:
        """`argv` as run inside this host (for callers that spawn it themselves, e.g. pexpect)."""
        return [IP, "netns", "exec", self.name, *argv]

    def _env(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        return {**self.env, **(extra or {})}

    def run(self, argv: Sequence[str], timeout: float = 300, env: Mapping[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess:
        """Run `argv` inside this host with its environment (plus `env`), output captured as text."""
        return subprocess.run(self.argv(argv), env=self._env(env), capture_output=True, text=True,
                              timeout=timeout, input=input)

    def popen(self, argv: Sequence[str], env: Mapping[str, str] | None = None, **kwargs: Any) -> subprocess.Popen:
        """Start `argv` inside this host; `kwargs` go to subprocess.Popen (pipes, text, ...)."""
        return subprocess.Popen(self.argv(argv), env=self._env(env), **kwargs)

    def cli(self, *args: str, timeout: float = 300, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """The real `rayscope ARGS` on this host."""
        return self.run([*CLI, *args], timeout=timeout, env=env)

    def python(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return self.run([sys.executable, *args], timeout=timeout)

    def link_down(self) -> None:
        """Cut this host off: its end of the link goes down (the peer loses carrier too)."""
        _ip("-n", self.name, "link", "set", self.link, "down")

    def link_up(self) -> None:
        _ip("-n", self.name, "link", "set", self.link, "up")

    def pids(self) -> list[int]:
        """Every process whose network namespace is this host's."""
        res = _ip("netns", "pids", self.name, check=False)
        return [int(p) for p in res.stdout.split() if p.strip().isdigit()]

    def inside(self, fn: Callable[[], T], timeout: float = 60) -> T:
        """`fn()` run inside this host's namespace, e.g. to create a listening socket there (a socket
        stays in the namespace it was created in, whichever thread serves it later).

        It runs on a thread of this process that entered the host's namespace once and never leaves
        it; the test's other threads stay in the root namespace."""
        if self._http is None:
            self._http = ThreadPoolExecutor(1, thread_name_prefix=f"netns-{self.name}",
                                            initializer=_enter_netns, initargs=(self.name,))
        return self._http.submit(fn).result(timeout)

    def http_get(self, url: str, params: Any = None, headers: Mapping[str, str] | None = None,
                 timeout: float = 30) -> HttpAnswer:
        """GET `url` from inside this host (e.g. its head's API on its own 127.0.0.1)."""
        def get() -> HttpAnswer:
            resp = httpx.get(url, params=params, headers=dict(headers or {}), timeout=timeout, trust_env=False)
            return HttpAnswer(resp.status_code, resp.text)

        return self.inside(get, timeout + 30)

    def close_http(self) -> None:
        if self._http is not None:
            self._http.shutdown(wait=True, cancel_futures=True)
            self._http = None


# ------------------------------------------------------------------ building and tearing down


@dataclass
class _Net:
    """What one `hosts()` call created, so teardown removes exactly that."""

    namespaces: list[str] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    hosts: list[Host] = field(default_factory=list)


def _check_tools() -> None:
    if os.geteuid() != 0:
        raise NetnsUnavailable(f"network namespaces need root; running as uid {os.geteuid()}")
    if shutil.which(IP) is None:
        raise NetnsUnavailable("iproute2's `ip` is not installed (apt-get install iproute2)")


def _add_namespace(net: _Net, name: str) -> None:
    _ip("netns", "add", name)
    net.namespaces.append(name)
    _ip("-n", name, "link", "set", "lo", "up")


def _random_subnet() -> str:
    """`10.A.B` of a /24 drawn per run (namespaces have routing tables of their own, so this only
    keeps traces of parallel runs apart)."""
    rng = random.SystemRandom()
    return f"10.{rng.randrange(1, 255)}.{rng.randrange(0, 256)}"


def _link_pair(ns_a: str, dev_a: str, ns_b: str, dev_b: str) -> None:
    """A veth pair created directly inside two namespaces (never in the root one)."""
    _ip("link", "add", dev_a, "netns", ns_a, "type", "veth", "peer", "name", dev_b, "netns", ns_b)


def _new_host(net: _Net, name: str, ip: str, link: str, token: str) -> Host:
    home = Path(tempfile.mkdtemp(prefix=f"rsh-{name}-", dir="/tmp"))
    tmp = Path(tempfile.mkdtemp(prefix="rs-", dir="/tmp"))
    net.dirs += [home, tmp]
    token_file = home / "ray_token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    host = Host(name=name, ip=ip, link=link, home=home, tmp=tmp, token_file=token_file,
                env=_isolated_env(home, token_file))
    net.hosts.append(host)
    return host


def _build(net: _Net, count: int) -> list[Host]:
    tag = f"rs{os.getpid()}x{next(_RUNS)}"
    subnet = _random_subnet()
    token = os.urandom(24).hex()
    names = [f"{tag}h{i}" for i in range(1, count + 1)]
    for name in names:
        _add_namespace(net, name)
    if count == 2:
        _link_pair(names[0], names[0], names[1], names[1])
    else:  # a bridge in a namespace of its own, one veth pair per host
        switch = f"{tag}sw"
        _add_namespace(net, switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for i, name in enumerate(names, 1):
            port = f"{tag}p{i}"
            _link_pair(name, name, switch, port)
            _ip("-n", switch, "link", "set", port, "master", "br0")
            _ip("-n", switch, "link", "set", port, "up")
    out = []
    for i, name in enumerate(names, 1):
        ip = f"{subnet}.{i}"
        _ip("-n", name, "addr", "add", f"{ip}/24", "dev", name)
        _ip("-n", name, "link", "set", name, "up")
        out.append(_new_host(net, name, ip, name, token))
    return out


def _kill_namespace_pids(host: Host, deadline_s: float = 20) -> list[int]:
    """SIGKILL whatever still runs inside the host's namespace; the pids that would not go."""
    deadline = time.monotonic() + deadline_s
    pids = host.pids()
    while pids and time.monotonic() < deadline:
        for pid in pids:
            if pid == os.getpid():
                continue  # never this process (a thread of it may sit in the namespace)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
        pids = host.pids()
    return pids


def _teardown(net: _Net) -> None:
    """Stop, kill, unlink, delete: each step runs even when an earlier one failed."""
    problems: list[str] = []
    for host in net.hosts:
        host.close_http()
        try:
            res = host.cli("stop", timeout=180)
            if res.returncode != 0:
                problems.append(f"rayscope stop on {host.name}: {res.stderr.strip()}")
        except (subprocess.TimeoutExpired, OSError) as exc:
            problems.append(f"rayscope stop on {host.name}: {exc}")
    for host in net.hosts:
        left = _kill_namespace_pids(host)
        if left:
            problems.append(f"pids {left} in {host.name} survived SIGKILL")
    for name in reversed(net.namespaces):
        res = _ip("netns", "del", name, check=False)  # takes the namespace's veth ends with it
        if res.returncode != 0:
            problems.append(f"ip netns del {name}: {res.stderr.strip()}")
    for path in net.dirs:
        shutil.rmtree(path, ignore_errors=True)
    if problems:
        print("netns_hosts teardown: " + "; ".join(problems), file=sys.stderr)


@contextmanager
def hosts(count: int = 2) -> Iterator[list[Host]]:
    """`count` (>= 2) namespaced hosts on one random /24, each with its own Rayscope home, temp
    dir and copy of one fresh cluster token; everything is removed on the way out."""
    if count < 2:
        raise ValueError("hosts() builds 2 or more hosts")
    _check_tools()
    net = _Net()
    try:
        yield _build(net, count)
    finally:
        _teardown(net)


@contextmanager
def hosts_for_test(count: int = 2) -> Iterator[list[Host]]:
    """hosts() for a test or fixture: where namespaces cannot be made the test fails, never skips (a
    multi-host test that could not run has not passed)."""
    try:
        with hosts(count) as made:
            yield made
    except NetnsUnavailable as exc:
        pytest.fail(f"this test needs network namespaces and cannot run here: {exc}")
