import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HeadClient } from "../src/client";
import { BadToken, HeadError, HeadUnreachable } from "../src/errors";
import { ClusterConnection } from "../src/live";
import { FakeHead, session, until } from "./helpers";

let head: FakeHead;
let sessionsServed = [session({ session_id: "s1", job_id: "01000000" })];
let jobsFetches = 0;
before(async () => {
  head = await FakeHead.start(
    (req, url) => {
      if (req.headers.authorization !== "Bearer good") return { status: 401, body: { error: "missing or wrong token" } };
      if (url.pathname === "/api/v1/cluster") return { status: 200, body: { rayscope_version: "0" } };
      if (url.pathname === "/api/v1/debug/sessions") return { status: 200, body: { rows: sessionsServed, next_cursor: null } };
      if (url.pathname === "/api/v1/jobs") {
        jobsFetches += 1;
        return { status: 200, body: { rows: [{ job_id: "01000000", state: "RUNNING", start_time: 1 }], next_cursor: null } };
      }
      return undefined;
    },
    (req) => req.headers.authorization === "Bearer good",
  );
});
after(() => head.close());

function connect(token: string) {
  const problems: HeadError[] = [];
  let changes = 0;
  let recovered = 0;
  const conn = new ClusterConnection(new HeadClient(head.url, token, "vscode@test"), {
    changed: () => void (changes += 1),
    problem: (e) => void problems.push(e),
    recovered: () => void (recovered += 1),
  });
  conn.start();
  return { conn, problems, changes: () => changes, recovered: () => recovered };
}

test("fetches once, then applies debug_sessions deltas pushed on /api/v1/ws (a gone row removes)", async () => {
  const { conn } = connect("good");
  await until(() => conn.state.status === "live", "live");
  assert.deepEqual(conn.state.allSessions().map((s) => s.session_id), ["s1"]);
  const polls = head.seen.filter((s) => s.path.startsWith("/api/v1/debug/sessions")).length;

  head.push({ kind: "debug_sessions", rows: [session({ session_id: "s2", job_id: "01000000" })], ts: 1 });
  await until(() => conn.state.pausedCounts().waiting === 2, "s2 added");
  head.push({ kind: "debug_sessions", rows: [session({ session_id: "s1", state: "attached", attached_by: "x" })], ts: 2 });
  await until(() => conn.state.session("s1")?.state === "attached", "s1 attached");
  assert.deepEqual(conn.state.pausedCounts(), { waiting: 1, attached: 1 });
  head.push({ kind: "debug_sessions", rows: [{ ...session({ session_id: "s2" }), state: "gone" }], ts: 3 });
  await until(() => conn.state.session("s2") === undefined, "s2 gone");
  // Live, not polled: no further session fetches happened.
  assert.equal(head.seen.filter((s) => s.path.startsWith("/api/v1/debug/sessions")).length, polls);
  conn.dispose();
  for (const ws of head.sockets) ws.terminate();
  head.sockets.length = 0;
});

test("a resync message re-fetches everything; job deltas re-fetch jobs once per burst", async () => {
  const { conn } = connect("good");
  await until(() => conn.state.status === "live", "live");
  sessionsServed = [session({ session_id: "s9" })];
  head.push({ kind: "resync", rows: [], ts: 1 });
  await until(() => conn.state.session("s9") !== undefined, "resync refetch");
  const before = jobsFetches;
  for (let i = 0; i < 5; i++) head.push({ kind: "jobs", rows: [{ job_id: "01000000", state: "RUNNING" }], ts: i });
  await until(() => jobsFetches > before, "jobs refetch");
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(jobsFetches, before + 1);
  assert.equal(conn.state.groups()[0].job?.state, "RUNNING");
  conn.dispose();
  for (const ws of head.sockets) ws.terminate();
  head.sockets.length = 0;
});

test("a bad token is reported once and not retried", async () => {
  const { conn, problems, recovered } = connect("bad");
  await until(() => conn.state.status === "badToken", "badToken");
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(problems.length, 1);
  assert.equal(recovered(), 0); // its notice stays up: nothing has been fixed
  assert.ok(problems[0] instanceof BadToken);
  assert.match(conn.state.problem ?? "", /rejected the token/);
  conn.dispose();
});

test("a head going away is reported as unreachable once, then retried with backoff", async () => {
  const other = await FakeHead.start((_req, url) =>
    url.pathname === "/api/v1/cluster" ? { status: 200, body: {} } : { status: 200, body: { rows: [], next_cursor: null } },
  );
  const problems: HeadError[] = [];
  let recovered = 0;
  const conn = new ClusterConnection(new HeadClient(other.url, "t", "v"), {
    changed: () => undefined,
    problem: (e) => void problems.push(e),
    recovered: () => void (recovered += 1),
  });
  conn.start();
  await until(() => conn.state.status === "live", "live");
  assert.equal(recovered, 1); // live: whatever notice this cluster had is closed
  await other.close();
  await until(() => conn.state.status === "unreachable", "unreachable");
  await new Promise((r) => setTimeout(r, 2500)); // two retries fail in this time
  assert.equal(problems.length, 1);
  assert.ok(problems[0] instanceof HeadUnreachable);
  assert.equal(recovered, 1);
  conn.dispose();
});
