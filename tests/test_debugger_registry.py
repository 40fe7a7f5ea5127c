"""The head's debugger registry on its own: ticket rules (single use, expiry, cluster binding),
one client per worker, resume rules, listing filters, audit records and WS pushes. The
end-to-end versions of these run on a real cluster in test_debugger_service.py."""
from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest
from fastapi import FastAPI

from rayscope.common.audit_log import AuditLog
from rayscope.dashboard.api.deps import listing
from rayscope.dashboard.app import _api_error
from rayscope.dashboard.errors import ApiError, BadRequest, NotFound
from rayscope.dashboard.ws import Client, Hub
from rayscope.debugger import registry as reg
from rayscope.debugger.api import mount
from rayscope.wire import rayscope_ingest_pb2 as pb

CLUSTER = "session_2026-11-23_10-00-00_000000_1"


@pytest.fixture
def setup(tmp_path):
    hub = Hub()
    client = Client()
    hub.clients.add(client)
    audit = tmp_path / "rayscope.debug-audit.jsonl"
    r = reg.DebugRegistry(CLUSTER, hub, AuditLog(audit))
    link = r.agent_connected(pb.DebugHello(node_id="ab" * 28, node_ip="10.0.0.2", session_name=CLUSTER))
    return r, link, client, audit


def up(r, link, sid, pid=100, job="01000000", cluster=CLUSTER):
    r.session_up(link, pb.DebugSessionUp(session_id=sid, reason="breakpoint", job_id=job, task_id="t" + sid,
                                         function="f", file="/w/x.py", line=3, pid=pid, paused_at=1.0,
                                         cluster_id=cluster, working_dir="/w"))


def pushed(client) -> list[dict]:
    out = []
    while not client.queue.empty():
        msg = json.loads(client.queue.get_nowait())
        assert msg["kind"] == "debug_sessions"
        out.extend(msg["rows"])
    return out


def test_ticket_is_single_use_and_expires(setup, monkeypatch):
    r, link, _, audit = setup
    up(r, link, "s1")
    t = r.issue_ticket("s1", "cli@host", "127.0.0.1:1")
    assert t.tunnel_path == f"/api/v1/debug/tunnel?ticket={t.ticket}" and t.expires_at > 0
    grant = r.redeem(t.ticket, "127.0.0.1:2")
    assert grant.session.state == "attached" and grant.session.attached_by == "cli@host"
    with pytest.raises(reg.TunnelRefused, match="already used") as used:
        r.redeem(t.ticket, "127.0.0.1:3")
    assert used.value.code == reg.CLOSE_TICKET_REFUSED
    r.detach(grant, "127.0.0.1:2", "")
    t2 = r.issue_ticket("s1", "cli@host", "127.0.0.1:1")
    now = reg.time.time()
    monkeypatch.setattr(reg.time, "time", lambda: now + reg.TICKET_TTL_S + 1)
    with pytest.raises(reg.TunnelRefused, match="ticket expired") as expired:
        r.redeem(t2.ticket, "127.0.0.1:4")
    assert expired.value.code == reg.CLOSE_TICKET_REFUSED
    with pytest.raises(reg.TunnelRefused, match="unknown ticket"):
        r.redeem("made-up", "127.0.0.1:5")
    events = [json.loads(line)["event"] for line in audit.read_text().splitlines()]
    assert events == ["ticket", "attach", "attach_refused", "detach", "ticket", "attach_refused", "attach_refused"]


def test_session_of_another_cluster_is_refused(setup):
    r, link, _, audit = setup
    up(r, link, "s1", cluster="session_of_someone_else")
    with pytest.raises(reg.Forbidden, match="belongs to cluster session_of_someone_else"):
        r.issue_ticket("s1", "cli@host", "p")
    assert json.loads(audit.read_text().splitlines()[-1])["event"] == "ticket_refused"


def test_one_client_per_worker_and_resume_rules(setup):
    r, link, client, _ = setup
    up(r, link, "a", pid=7)
    up(r, link, "b", pid=7)  # a second paused thread of the same worker
    up(r, link, "c", pid=8)
    early = r.issue_ticket("b", "late", "p")
    grant = r.redeem(r.issue_ticket("a", "first", "p").ticket, "p")
    assert {s.session_id: s.state for s in r.sessions.values()} == {"a": "attached", "b": "attached", "c": "paused"}
    with pytest.raises(reg.Conflict, match="already attached by first since"):
        r.issue_ticket("b", "second", "p")
    with pytest.raises(reg.TunnelRefused, match="already attached by first") as err:
        r.redeem(early.ticket, "p")
    assert err.value.code == reg.CLOSE_ALREADY_ATTACHED
    with pytest.raises(reg.Conflict, match="attached by first"):
        r.resume("a", "p")
    assert r.resume_job("01000000", "p") == ["c"]
    assert link.outbox.get_nowait().resume.session_id == "c"
    r.detach(grant, "p", "")
    assert {s.state for s in r.sessions.values()} == {"paused"}
    pushed(client)
    r.agent_gone(link)
    assert r.sessions == {} and {(row["session_id"], row["state"]) for row in pushed(client)} == {
        ("a", "gone"), ("b", "gone"), ("c", "gone")}
    with pytest.raises(NotFound, match="session a is gone"):
        r.get("a")


def test_listing_filters_sort_and_pages(setup):
    r, link, _, _ = setup
    for i, job in enumerate(["01000000", "02000000", "01000000"]):
        up(r, link, f"s{i}", pid=10 + i, job=job)
    page = r.listing(["job_id=01000000"], "-pid", 1, None)
    assert [s.session_id for s in page.rows] == ["s2"] and page.next_cursor
    page = r.listing(["job_id=01000000"], "-pid", 1, page.next_cursor)
    assert [s.session_id for s in page.rows] == ["s0"] and page.next_cursor is None
    assert [s.session_id for s in r.listing(["job_id!=01000000"], None, 100, None).rows] == ["s1"]
    with pytest.raises(BadRequest, match="unknown filter key 'nope'; valid keys: session_id"):
        r.listing(["nope=1"], None, 100, None)
    with pytest.raises(BadRequest, match="unknown sort field"):
        r.listing([], "color", 100, None)


def test_registry_refuses_calls_off_its_owning_thread(setup):
    """Issue 12 §3: the registry's queues and futures belong to the event loop; a call from another
    thread (a plain `def` route runs in FastAPI's thread pool) must fail loudly and change nothing."""
    r, link, _, _ = setup
    up(r, link, "s1")
    errors: list[BaseException] = []

    def off_thread() -> None:
        for call in (lambda: r.resume("s1", "p"), lambda: r.issue_ticket("s1", "c", "p"),
                     lambda: r.get("s1"), lambda: up(r, link, "s2")):
            try:
                call()
            except BaseException as err:  # noqa: BLE001 - collected and asserted below
                errors.append(err)

    worker = threading.Thread(target=off_thread, name="not-the-loop")
    worker.start()
    worker.join(30)
    assert not worker.is_alive()
    assert [type(e) for e in errors] == [reg.WrongThread] * 4, errors
    assert "'not-the-loop'" in str(errors[0]) and "event loop" in str(errors[0])
    assert link.outbox.empty() and r.tickets == {} and set(r.sessions) == {"s1"}


def test_http_routes_run_the_registry_on_the_event_loop(tmp_path):
    """Resume and ticket through the debugger's real routes (FastAPI, ASGI) on a loop with no other
    traffic: the resume lands in the agent link's outbox and wakes its reader, the ticket redeems.
    With the routes back to plain `def`, FastAPI runs them in its thread pool and the registry's
    thread guard turns each call into an error."""

    async def scenario() -> None:
        app = FastAPI()
        app.add_exception_handler(ApiError, _api_error)
        # created here, on the loop's thread, as dashboard/app.py does
        r = mount(app, Hub(), CLUSTER, str(tmp_path / "r.db"), listing)
        link = r.agent_connected(pb.DebugHello(node_id="ab" * 28, node_ip="10.0.0.2", session_name=CLUSTER))
        up(r, link, "s1")
        reader = asyncio.create_task(link.outbox.get())  # the agent's stream waiting, as head_service does
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://head") as http:
            ticket = await http.post("/api/v1/debug/sessions/s1/ticket", headers={"X-Rayscope-Client": "t"})
            assert ticket.status_code == 200, ticket.text
            assert r.redeem(ticket.json()["ticket"], "p").client == "t"
            r.detach(reg.Grant(r.sessions["s1"], link, "t"), "p", "")  # attached sessions refuse resume
            resumed = await http.post("/api/v1/debug/sessions/s1/resume")
            assert resumed.status_code == 204, resumed.text
            msg = await asyncio.wait_for(reader, 30)
            assert msg.resume.session_id == "s1"
            listed = await http.get("/api/v1/debug/sessions")
            assert listed.status_code == 200 and [s["session_id"] for s in listed.json()["rows"]] == ["s1"]

    asyncio.run(scenario())
