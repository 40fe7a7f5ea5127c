"""Optional TLS (issue 11): a head started with --tls-cert/--tls-key serves TLS gRPC ingest and
HTTPS/WSS; agents (--tls-ca) and the CLIs (--tls-ca / $RAYSCOPE_TLS_CA) verify it, so the bearer
token never crosses the wire in clear text. Mismatches are reported in words containing "TLS".

Real processes throughout: the head is `python -m rayscope.dashboard`, the agent is
`python -m rayscope.agent` on a real Ray node, and "the wire" is a byte-recording TCP relay
(tests/wire_relay.py) placed between them. Each wire test has a plaintext twin in which the
token *is* found, so the check is known to be able to fail.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import grpc
import httpx
import pytest
import yaml

from certs import Pair, make_self_signed
from head_process import PYTHON, HeadProcess, start_head
from polling import wait_for
from rayscope.agent.link_errors import describe_rpc_error, head_speaks_tls
from rayscope.agent.shipper import Shipper
from rayscope.agent.spool import Spool
from rayscope.agent.tls import channel_credentials
from rayscope.agent.volatile import VolatileBuffer
from rayscope.cli.client import HeadClient, HeadUnreachable, resolve_target
from rayscope.cli.ray_debug.sessions import client_identity, open_tunnel, request_ticket
from rayscope.debugger import relay_protocol as rp
from rayscope.wire import rayscope_ingest_pb2 as pb
from wire_relay import WireRelay

TOKEN = "tlstesttoken-" + "5f3a9c" * 6  # long and unique: found on the wire only if sent in clear
NODE = "cd" * 28
RAYSCOPE = str(Path(PYTHON).parent / "rayscope")


# ---------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Certs:
    good: Pair   # the head's certificate, for 127.0.0.1
    other: Pair  # an unrelated certificate: the "wrong CA"


@pytest.fixture(scope="module")
def certs() -> Iterator[Certs]:
    d = Path(tempfile.mkdtemp(prefix="rs-tls-", dir="/tmp"))
    yield Certs(make_self_signed(d, "head"), make_self_signed(d, "other"))
    for p in d.iterdir():
        p.unlink()
    d.rmdir()


def tls_args(certs: Certs) -> list[str]:
    return ["--tls-cert", str(certs.good.cert), "--tls-key", str(certs.good.key)]


@pytest.fixture
def heads() -> Iterator[Callable[..., HeadProcess]]:
    """Start heads (plain or TLS) on free ports; each is stopped and removed after the test."""
    started: list[HeadProcess] = []

    def start(*extra: str) -> HeadProcess:
        head = start_head(extra_args=extra, token=TOKEN)
        started.append(head)
        return head

    yield start
    for head in started:
        head.stop()
        shutil.rmtree(head.workdir, ignore_errors=True)


def ca_context(path: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(path))


def api(head: HeadProcess, ca: Optional[Path]) -> httpx.Client:
    """The head's API: verified against `ca` for a TLS head, plain HTTP when `ca` is None."""
    return httpx.Client(base_url=head.http_url + "/api/v1", headers={"Authorization": f"Bearer {TOKEN}"},
                        verify=ca_context(ca) if ca else True, timeout=30)


def health(head: HeadProcess, ca: Optional[Path]) -> dict:
    with api(head, ca) as c:
        return c.get("/ingest/health").json()


# ---------------------------------------------------------------- head flags


def run_head(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    (tmp / "token").write_text(TOKEN)
    return subprocess.run([PYTHON, "-m", "rayscope.dashboard", "--db", str(tmp / "h.db"), "--token-file",
                           str(tmp / "token"), *args], capture_output=True, text=True, timeout=120)


def test_head_tls_flags_both_or_neither_and_bad_pairs_are_one_line(certs: Certs, tmp_path: Path) -> None:
    r = run_head(tmp_path, "--tls-cert", str(certs.good.cert))
    assert r.returncode == 2 and "--tls-cert and --tls-key go together" in r.stderr
    r = run_head(tmp_path, "--tls-key", str(certs.good.key))
    assert r.returncode == 2 and "--tls-cert and --tls-key go together" in r.stderr

    cases = [
        (("--tls-cert", str(certs.good.cert), "--tls-key", str(certs.other.key)), "the key does not belong"),
        (("--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(certs.good.key)), "cannot read --tls-cert"),
        (("--tls-cert", str(certs.good.cert), "--tls-key", str(tmp_path / "token")), "is not a PEM file"),
    ]
    for args, words in cases:
        r = run_head(tmp_path, *args)
        assert r.returncode == 1, r.stderr
        assert r.stderr.strip().splitlines() == [r.stderr.strip()], r.stderr  # one line, no traceback
        assert words in r.stderr and r.stderr.startswith("rayscope head:"), r.stderr
    assert not (tmp_path / "h.db").exists()  # refused before the store was created


# ---------------------------------------------------------------- HTTPS API and the CLIs


def test_https_api_answers_with_the_ca_and_refuses_without(certs: Certs, heads) -> None:
    head = heads(*tls_args(certs))
    assert head.http_url.startswith("https://127.0.0.1:")
    with api(head, certs.good.cert) as c:
        assert c.get("/cluster").json()["live"] is True
        assert c.get("/cluster", headers={"Authorization": "Bearer wrong"}).status_code == 401
        head_group = c.get("/metrics/targets").json()[0]  # Prometheus must scrape this head over https
        assert head_group["labels"]["component"] == "head" and head_group["labels"]["__scheme__"] == "https"

    for verify in (True, ca_context(certs.other.cert)):  # the system trust store; the wrong CA
        with pytest.raises(httpx.ConnectError) as err:
            httpx.get(head.http_url + "/api/v1/cluster", verify=verify, timeout=10)
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
    with pytest.raises(httpx.TransportError):  # plain HTTP to the TLS port gets no answer
        httpx.get(head.http_url.replace("https://", "http://") + "/api/v1/cluster", timeout=10)


def test_cli_client_verifies_with_flag_env_or_ray_fallback(certs: Certs, heads,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    head = heads(*tls_args(certs))
    for var in ("RAYSCOPE_TLS_CA", "RAY_TLS_CA_CERT"):
        monkeypatch.delenv(var, raising=False)

    with HeadClient(resolve_target(head.http_url, TOKEN, str(certs.good.cert))) as c:
        assert c.get_json("/cluster")["live"] is True
    with pytest.raises(HeadUnreachable) as err:
        with HeadClient(resolve_target(head.http_url, TOKEN)) as c:
            c.get_json("/cluster")
    assert "TLS certificate verification failed" in str(err.value) and "--tls-ca" in str(err.value)
    assert "\n" not in str(err.value)
    with pytest.raises(HeadUnreachable) as err:
        with HeadClient(resolve_target(head.http_url.replace("https://", "http://"), TOKEN)) as c:
            c.get_json("/cluster")
    assert "https://" in str(err.value)

    monkeypatch.setenv("RAY_TLS_CA_CERT", str(certs.good.cert))  # Ray's variable: a fallback for the CA
    assert resolve_target(head.http_url, TOKEN).tls_ca == str(certs.good.cert)
    with HeadClient(resolve_target(head.http_url, TOKEN)) as c:
        assert c.get_json("/cluster")["live"] is True
    monkeypatch.setenv("RAYSCOPE_TLS_CA", str(certs.other.cert))  # ours wins over Ray's
    assert resolve_target(head.http_url, TOKEN).tls_ca == str(certs.other.cert)

    # The real `rayscope` command: --tls-ca works, without it one line naming TLS and exit 1.
    env = {k: v for k, v in os.environ.items() if k not in ("RAYSCOPE_TLS_CA", "RAY_TLS_CA_CERT")}
    base = [RAYSCOPE, "list", "nodes", "--address", head.http_url, "--token", TOKEN]
    ok = subprocess.run([*base, "--tls-ca", str(certs.good.cert)], env=env, capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(base, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "TLS certificate verification failed" in bad.stderr, bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    by_env = subprocess.run(base, env={**env, "RAYSCOPE_TLS_CA": str(certs.good.cert)}, capture_output=True,
                            text=True, timeout=120)
    assert by_env.returncode == 0, by_env.stderr
    prom = subprocess.run([RAYSCOPE, "metrics", "prometheus-config", "--address", head.http_url, "--token", TOKEN,
                           "--token-file", str(head.token_file), "--tls-ca", str(certs.good.cert)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert prom.returncode == 0, prom.stderr
    head_job, agent_job = yaml.safe_load(prom.stdout)["scrape_configs"]
    ca = {"ca_file": str(certs.good.cert)}
    assert head_job["tls_config"] == head_job["http_sd_configs"][0]["tls_config"] == ca
    assert agent_job["http_sd_configs"][0]["tls_config"] == ca  # discovery asks the TLS head
    assert "tls_config" not in agent_job and "authorization" not in agent_job  # agents: plain HTTP, no token


def _http_get_through(relay: WireRelay, scheme: str, ca: Optional[Path]) -> int:
    url = f"{scheme}://{relay.address}/api/v1/cluster"
    r = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30,
                  verify=ca_context(ca) if ca else True)
    return r.status_code


def test_https_keeps_the_token_off_the_wire_and_http_does_not(certs: Certs, heads) -> None:
    tls_head, plain_head = heads(*tls_args(certs)), heads()
    with WireRelay.to(tls_head.http_url.split("://")[1]) as relay:
        assert _http_get_through(relay, "https", certs.good.cert) == 200
        wire = relay.captured()
    assert len(wire) > 1000 and TOKEN.encode() not in wire and b"Bearer" not in wire
    with WireRelay.to(plain_head.http_url.split("://")[1]) as relay:
        assert _http_get_through(relay, "http", None) == 200
        assert TOKEN.encode() in relay.captured()  # the control: the check does see clear text


# ---------------------------------------------------------------- the agent's link reasons


class _Err(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


U = grpc.StatusCode.UNAVAILABLE
LAST = "failed to connect to all addresses; last error: UNKNOWN: ipv4:127.0.0.1:4567: "


@pytest.mark.parametrize("code,details,expected", [
    (U, LAST + "Failed to connect to remote host: Connection refused", "connection refused"),
    (grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded", "timed out"),
    (U, LAST + "connection attempt timed out before receiving SETTINGS frame", "timed out"),
    (grpc.StatusCode.UNAUTHENTICATED, "invalid or missing Rayscope token", "bad token (UNAUTHENTICATED)"),
    (U, LAST + "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:"
     "OPENSSL_internal:CERTIFICATE_VERIFY_FAILED: self signed certificate: OK",
     "TLS handshake failed (the head's certificate is not signed by the --tls-ca file: self signed certificate)"),
    (U, LAST + "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:100000f7:SSL routines:"
     "OPENSSL_internal:WRONG_VERSION_NUMBER: Invalid certificate verification context: OK",
     "TLS handshake failed (the head does not speak TLS: start it with --tls-cert/--tls-key or drop --tls-ca)"),
    (U, LAST + "Custom verification check failed with error: UNAUTHENTICATED: Hostname Verification Check failed.",
     "TLS handshake failed (the head's certificate does not name the address dialled; "
     "add it to the certificate's subjectAltName)"),
    (U, "failed to connect to all addresses; last error: UNAVAILABLE: ipv4:127.0.0.1:4567: Socket closed",
     "connection closed by the head (Socket closed)"),
])
def test_describe_rpc_error(code: grpc.StatusCode, details: str, expected: str) -> None:
    assert describe_rpc_error(_Err(code, details)) == expected


def _shipper(head: str, workdir: Path, credentials, token: str = TOKEN) -> Shipper:
    spool = Spool(str(workdir / f"spool-{uuid.uuid4().hex[:8]}"), 1 << 20, fsync=False)
    spool.append(pb.Batch(created_at=time.time()))
    hello = pb.AgentHello(agent_id=f"tls-test-{uuid.uuid4().hex[:8]}", node_id=NODE, session_name="s")
    return Shipper(head, lambda: token, hello, spool, VolatileBuffer(), backoff_max_s=1.0, unauth_retry_s=1.0,
                   credentials=credentials)


def _last_error_of(shipper: Shipper) -> str:
    shipper.start()
    try:
        return wait_for("the shipper's last_error", lambda: shipper.stats.last_error, 60)
    finally:
        shipper.stop()


def test_shipper_names_each_link_failure(certs: Certs, heads, tmp_path: Path) -> None:
    tls_head, plain_head = heads(*tls_args(certs)), heads()
    good, wrong = channel_credentials(str(certs.good.cert)), channel_credentials(str(certs.other.cert))

    assert head_speaks_tls(tls_head.grpc_address) and not head_speaks_tls(plain_head.grpc_address)
    plain_to_tls = _last_error_of(_shipper(tls_head.grpc_address, tmp_path, None))
    assert plain_to_tls.startswith("TLS mismatch") and "--tls-ca" in plain_to_tls
    wrong_ca = _last_error_of(_shipper(tls_head.grpc_address, tmp_path, wrong))
    assert wrong_ca.startswith("TLS handshake failed (the head's certificate is not signed by the --tls-ca")
    tls_to_plain = _last_error_of(_shipper(plain_head.grpc_address, tmp_path, good))
    assert tls_to_plain.startswith("TLS handshake failed (the head does not speak TLS")
    assert _last_error_of(_shipper(tls_head.grpc_address, tmp_path, good, token="wrong")) == \
        "bad token (UNAUTHENTICATED)"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert _last_error_of(_shipper(f"127.0.0.1:{free}", tmp_path, good)) == "connection refused"
    assert health(tls_head, certs.good.cert)["batches_committed"] == 0

    ok = _shipper(tls_head.grpc_address, tmp_path, good)
    ok.start()
    try:
        wait_for("the batch acked over TLS", lambda: ok.stats.acked_seq >= 1, 60)
    finally:
        ok.stop()
    assert health(tls_head, certs.good.cert)["batches_committed"] >= 1


def test_agent_with_an_unusable_tls_ca_exits_at_once(tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN)
    r = subprocess.run([PYTHON, "-m", "rayscope.agent", "--session-dir", str(tmp_path), "--head", "127.0.0.1:1",
                        "--token-file", str(tmp_path / "token"), "--tls-ca", str(tmp_path / "nope.pem")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "cannot read --tls-ca" in r.stderr, r.stderr


# ---------------------------------------------------------------- a real agent on a real Ray node


def _start_agent(node, head_address: str, tls_ca: Optional[Path]) -> tuple[subprocess.Popen, Path]:
    state = Path(tempfile.mkdtemp(prefix="agent-tls-", dir=node.temp_dir))
    token_file = state / "token"
    token_file.write_text(TOKEN)
    cmd = [PYTHON, "-m", "rayscope.agent", "--session-dir", node.session_dir, "--head", head_address,
           "--token-file", str(token_file), "--state-dir", str(state), "--ready-file", str(state / "ready.json"),
           "--interval", "0.5"]
    if tls_ca is not None:
        cmd += ["--tls-ca", str(tls_ca)]
    log = open(state / "agent.log", "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=node.temp_dir)
    log.close()
    return proc, state / "agent.log"


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _marker(node, name: str, lines: list[str]) -> str:
    path = Path(node.session_dir, "logs", f"worker-{name}-01000000-{os.getpid()}.out")
    path.write_text("".join(f"{line}\n" for line in lines))
    return path.name


def _lines_at_head(head: HeadProcess, ca: Optional[Path], node_id: str, file_name: str) -> list[str]:
    with api(head, ca) as client:
        r = client.get("/logs/lines", params={"file_id": f"{node_id}:{file_name}", "limit": 1000})
    return [row["text"] for row in r.json()["rows"]] if r.status_code == 200 else []


class _Echo:
    """Stands in for a paused worker's debugpy port: like pydevd, answers the relay's
    `pydevdAuthorize` (it must carry TOKEN), then echoes what the tunnel carries."""

    TOKEN = "echo-token"

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                buf = b""
                while b"\r\n\r\n" not in buf and (chunk := conn.recv(65536)):
                    buf += chunk
                header, _, body = buf.partition(b"\r\n\r\n")
                length = int(header.split(b":")[1])
                while len(body) < length and (chunk := conn.recv(65536)):
                    body += chunk
                request, rest = json.loads(body[:length]), body[length:]
                ok = request["arguments"]["debugServerAccessToken"] == self.TOKEN
                answer = json.dumps({"seq": 1, "type": "response", "request_seq": request["seq"], "success": ok,
                                     "command": "pydevdAuthorize"}).encode()
                conn.sendall(b"Content-Length: %d\r\n\r\n" % len(answer) + answer)
                if rest:
                    conn.sendall(rest)
                while data := conn.recv(65536):
                    conn.sendall(data)


def _register_fake_session(session_dir: str, cluster: str, node_id: str, port: int) -> tuple[socket.socket, str]:
    """What a worker's breakpoint() does: announce a session on the agent's Unix socket."""
    sid = uuid.uuid4().hex
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(rp.socket_path(session_dir))
    sock.sendall(rp.up_message({"session_id": sid, "cluster_id": cluster, "state": "paused", "reason": "breakpoint",
                                "node_id": node_id, "pid": os.getpid(), "paused_at": time.time(),
                                "function": "tls_test"}, port, _Echo.TOKEN))
    return sock, sid


def test_agent_ships_and_debugs_over_tls_and_the_token_stays_off_the_wire(ray_node, certs: Certs,
                                                                           heads) -> None:
    from rayscope.runtime.node_identity import discover

    ident = discover(ray_node.session_dir)
    node_id = ident.node_id
    head = heads(*tls_args(certs), "--session-name", ident.session_name)  # debug sessions are per cluster
    marker = _marker(ray_node, "tlsa", [f"secret-ish line {i}" for i in range(50)])
    echo = _Echo()
    with WireRelay.to(head.grpc_address) as relay:
        agent, log = _start_agent(ray_node, relay.address, certs.good.cert)
        worker = None
        try:
            wait_for("the marker's lines at the TLS head",
                     lambda: len(_lines_at_head(head, certs.good.cert, node_id, marker)) == 50, 90)
            # the Debug method over TLS: a session announced on the node is listed at the head, and
            # ray-debug's wss:// tunnel (verified with --tls-ca) carries bytes to the "worker" and back
            wait_for("the debug relay's socket", lambda: os.path.exists(rp.socket_path(ray_node.session_dir)), 60)
            worker, sid = _register_fake_session(ray_node.session_dir, ident.session_name, node_id, echo.port)
            target = resolve_target(head.http_url, TOKEN, str(certs.good.cert))
            with HeadClient(target) as client:
                wait_for("the session listed", lambda: any(
                    s["session_id"] == sid for s in client.get_json("/debug/sessions")["rows"]), 60)
                ws = open_tunnel(client, request_ticket(client, sid, client_identity("tls-test")), 30)
                try:
                    ws.send(b"ping over wss")
                    assert ws.recv() == b"ping over wss"
                finally:
                    ws.close()
            assert agent.poll() is None, log.read_text()[-3000:]
        finally:
            if worker is not None:
                worker.close()
            _stop(agent)
            echo.sock.close()
        wire = relay.captured()
    print(f"TLS agent: {len(wire)} bytes over {relay.connections} connections; token found: {TOKEN.encode() in wire}")
    assert relay.connections >= 2  # the Stream and the Debug channel both went through the relay
    assert len(wire) > 5000
    assert TOKEN.encode() not in wire and b"secret-ish line" not in wire and b"authorization" not in wire


def test_plaintext_agent_through_the_same_relay_shows_the_token(ray_node, heads) -> None:
    """The control for the test above: without TLS the relay does see the token and the data."""
    from rayscope.runtime.node_identity import discover

    node_id = discover(ray_node.session_dir).node_id
    head = heads()
    marker = _marker(ray_node, "plain", [f"clear line {i}" for i in range(20)])
    with WireRelay.to(head.grpc_address) as relay:
        agent, log = _start_agent(ray_node, relay.address, None)
        try:
            wait_for("the marker's lines at the plain head",
                     lambda: len(_lines_at_head(head, None, node_id, marker)) == 20, 90)
        finally:
            _stop(agent)
        wire = relay.captured()
    print(f"plaintext agent: {len(wire)} bytes; token found: {TOKEN.encode() in wire}")
    assert TOKEN.encode() in wire and b"clear line 7" in wire


def test_agent_without_tls_ca_reports_tls_and_commits_nothing(ray_node, certs: Certs, heads) -> None:
    head = heads(*tls_args(certs))
    agent, log = _start_agent(ray_node, head.grpc_address, None)
    try:
        line = wait_for("the TLS reason in the agent's log", lambda: next(
            (ln for ln in log.read_text().splitlines() if "stream to head" in ln and "TLS" in ln), None), 60)
        print(f"agent log: {line}")
        assert "TLS mismatch" in line and "--tls-ca" in line, line
        assert "UNAVAILABLE" not in line, line  # a reason, not gRPC's status text
        assert agent.poll() is None  # keeps retrying: a fixed setup needs no restart of the agent
    finally:
        _stop(agent)
    h = health(head, certs.good.cert)
    assert h["batches_committed"] == 0 and h["agents_connected"] == 0, json.dumps(h)
