"""The WebSocket hub merges ingest's per-batch deltas into one message per kind per flush
(dashboard/ws.py), while rare events (debug sessions, profiles) still go out at once."""
from __future__ import annotations

import asyncio
import json

from rayscope.dashboard.ws import FLUSH_S, Client, Hub


def drain(client: Client) -> list[dict]:
    out = []
    while not client.queue.empty():
        out.append(json.loads(client.queue.get_nowait()))
    return out


def test_ingest_deltas_of_many_batches_reach_a_client_as_one_message_per_kind() -> None:
    async def main() -> None:
        hub, client = Hub(), Client()
        hub.clients.add(client)
        heard: list[dict] = []
        hub.listeners.append(heard.append)
        for i in range(500):  # 500 committed batches, each with a node's sample and processes
            hub.publish_coalesced({"metrics": [{"node_id": f"{i:056x}", "ts": 1.0}],
                                   "processes": [{"node_id": f"{i:056x}", "count": 30}]})
        assert len(heard) == 500, "in-process listeners get every batch's deltas at once"
        assert drain(client) == [], "clients wait for the flush"
        hub.publish({"debug_sessions": [{"session_id": "s1"}]})
        assert [m["kind"] for m in drain(client)] == ["debug_sessions"], "a rare event is not held back"
        await asyncio.sleep(FLUSH_S * 3)
        msgs = drain(client)
        assert sorted(m["kind"] for m in msgs) == ["metrics", "processes"]
        assert all(len(m["rows"]) == 500 for m in msgs)
        assert {r["node_id"] for r in msgs[0]["rows"]} == {f"{i:056x}" for i in range(500)}
        hub.publish_coalesced({"tasks": [{"task_id": "t"}]})
        await asyncio.sleep(FLUSH_S * 3)
        assert [m["rows"] for m in drain(client)] == [[{"task_id": "t"}]], "the next flush carries only what is new"

    asyncio.run(main())


def test_without_clients_nothing_is_held() -> None:
    async def main() -> None:
        hub = Hub()
        hub.publish_coalesced({"metrics": [{"node_id": "ab", "ts": 1.0}]})
        assert hub._pending == {} and hub._flush is None

    asyncio.run(main())
