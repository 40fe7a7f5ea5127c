import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HeadClient } from "../src/client";
import { AlreadyAttached, BadToken, HeadRejected, HeadUnreachable, SessionGone } from "../src/errors";
import { FakeHead, logLine, session } from "./helpers";

let head: FakeHead;
before(async () => {
  head = await FakeHead.start((req, url) => {
    if (req.headers.authorization !== "Bearer good") return { status: 401, body: { error: "missing or wrong token" } };
    const p = url.pathname;
    if (p === "/api/v1/debug/sessions" && !url.searchParams.get("cursor"))
      return { status: 200, body: { rows: [session({ session_id: "s1" })], next_cursor: "c2" } };
    if (p === "/api/v1/debug/sessions") return { status: 200, body: { rows: [session({ session_id: "s2" })], next_cursor: null } };
    if (p === "/api/v1/debug/sessions/gone/ticket") return { status: 404, body: { error: "session gone is gone (worker resumed or died)" } };
    if (p === "/api/v1/debug/sessions/busy/ticket")
      return { status: 409, body: { error: "session busy is already attached by ray-debug@h since 10:00" } };
    if (p === "/api/v1/debug/sessions/s1/ticket")
      return { status: 200, body: { ticket: "T", session_id: "s1", expires_at: 1, tunnel_path: "/api/v1/debug/tunnel?ticket=T" } };
    if (p === "/api/v1/debug/sessions/s1/resume") return { status: 204 };
    if (p === "/api/v1/debug/resume") return { status: 200, body: { resumed: [url.searchParams.get("job_id")] } };
    if (p === "/api/v1/logs/lines") {
      const text = url.searchParams.get("task_id") ?? `worker:${url.searchParams.get("worker_id")}`;
      return { status: 200, body: { rows: [logLine({ text })], next_cursor: null } };
    }
    if (p === "/api/v1/jobs") return { status: 400, body: { error: "bad filter key 'x'" } };
    return undefined;
  });
});
after(() => head.close());

test("sessions follow next_cursor across pages and send the bearer token and client name", async () => {
  const client = new HeadClient(head.url, "good", "vscode@test");
  const rows = await client.sessions();
  assert.deepEqual(rows.map((s) => s.session_id), ["s1", "s2"]);
  const last = head.seen.at(-1)!;
  assert.equal(last.headers.authorization, "Bearer good");
  assert.equal(last.headers["x-rayscope-client"], "vscode@test");
  assert.match(last.path, /cursor=c2/);
});

test("ticket, resume, resume-by-job and task logs hit the contract's paths", async () => {
  const client = new HeadClient(head.url, "good", "vscode@test");
  assert.equal((await client.ticket("s1")).tunnel_path, "/api/v1/debug/tunnel?ticket=T");
  assert.equal(head.seen.at(-1)!.method, "POST");
  assert.equal(await client.resume("s1"), undefined);
  assert.deepEqual(await client.resumeJob("02000000"), ["02000000"]);
  assert.match(head.seen.at(-1)!.path, /^\/api\/v1\/debug\/resume\?job_id=02000000$/);
  assert.equal((await client.logLines({ task_id: "abc" }))[0].text, "abc");
  assert.equal((await client.logLines({ worker_id: "w1" }))[0].text, "worker:w1");
});

test("errors map to the notifications the user needs", async () => {
  const good = new HeadClient(head.url, "good", "v");
  await assert.rejects(good.ticket("gone"), (e: unknown) => e instanceof SessionGone && /is gone/.test((e as Error).message));
  await assert.rejects(good.ticket("busy"), (e: unknown) => e instanceof AlreadyAttached && /already attached by ray-debug@h/.test((e as Error).message));
  await assert.rejects(good.jobs(), (e: unknown) => e instanceof HeadRejected && /bad filter key 'x'/.test((e as Error).message));
  await assert.rejects(new HeadClient(head.url, "bad", "v").cluster(), (e: unknown) => e instanceof BadToken && /rejected the token/.test((e as Error).message));
  await assert.rejects(new HeadClient(head.url, undefined, "v").cluster(), (e: unknown) => e instanceof BadToken && /needs a token/.test((e as Error).message));
});

test("a head that does not answer is reported as unreachable", async () => {
  const dead = await FakeHead.start(() => undefined);
  const url = dead.url;
  await dead.close();
  await assert.rejects(new HeadClient(url, "good", "v").sessions(), (e: unknown) => e instanceof HeadUnreachable && /unreachable \(ECONNREFUSED\)/.test((e as Error).message));
});

test("wsUrl maps http to ws and https to wss, relative to the head", () => {
  assert.equal(new HeadClient("http://h:1", "t", "v").wsUrl("/api/v1/debug/tunnel?ticket=T"), "ws://h:1/api/v1/debug/tunnel?ticket=T");
  assert.equal(new HeadClient("https://h", "t", "v").wsUrl("/api/v1/ws"), "wss://h/api/v1/ws");
});
