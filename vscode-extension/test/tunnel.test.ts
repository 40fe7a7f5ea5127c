import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { WebSocket } from "ws";
import { DapMessage, DapParser, encode } from "../src/dap";
import { TunnelAdapter } from "../src/tunnel";
import { FakeHead, until } from "./helpers";

let head: FakeHead;
const received: DapMessage[] = [];
before(async () => {
  head = await FakeHead.start(() => undefined);
  head.wss.on("connection", (ws: WebSocket, req) => {
    if (req.url?.includes("ticket=used")) {
      ws.close(4401, "ticket already used");
      return;
    }
    if (req.url?.includes("ticket=busy")) {
      ws.close(4409, "");
      return;
    }
    const parser = new DapParser();
    ws.on("message", (data: Buffer) => {
      for (const m of parser.push(data)) {
        received.push(m);
        if (m.command === "initialize") {
          // Answer split mid-header and glued to the next message, as a byte stream may be.
          const bytes = Buffer.concat([
            encode({ seq: 1, type: "response", request_seq: m.seq, command: "initialize", success: true, body: {} }),
            encode({ seq: 2, type: "event", event: "initialized" }),
          ]);
          ws.send(bytes.subarray(0, 7));
          ws.send(bytes.subarray(7, 60));
          ws.send(bytes.subarray(60));
        }
      }
    });
  });
});
after(() => head.close());

test("DapParser reassembles messages split anywhere", () => {
  const bytes = Buffer.concat([encode({ seq: 1, type: "event", event: "a", body: { t: "é" } }), encode({ seq: 2, type: "event", event: "b" })]);
  for (let cut = 1; cut < bytes.length; cut += 5) {
    const p = new DapParser();
    const got = [...p.push(bytes.subarray(0, cut)), ...p.push(bytes.subarray(cut))];
    assert.deepEqual(got.map((m) => m.event), ["a", "b"]);
  }
  assert.throws(() => new DapParser().push(Buffer.from("X: 1\r\n\r\n{}")), /without Content-Length/);
});

test("the adapter carries DAP both ways, strips the ticket and never terminates the debuggee", async () => {
  const adapter = new TunnelAdapter(`${head.url.replace("http", "ws")}/api/v1/debug/tunnel?ticket=T`, { Authorization: "Bearer t" });
  const out: DapMessage[] = [];
  adapter.onDidSendMessage((m) => void out.push(m as DapMessage));
  // Sent before the socket opens: queued, then delivered in order.
  adapter.handleMessage({ seq: 1, type: "request", command: "initialize", arguments: { adapterID: "rayscope" } });
  adapter.handleMessage({ seq: 2, type: "request", command: "attach", arguments: { justMyCode: false, tunnelPath: "/x?ticket=T", sessionId: "s" } });
  adapter.handleMessage({ seq: 3, type: "request", command: "disconnect", arguments: { restart: false, terminateDebuggee: true } });
  await until(() => out.length >= 2 && received.length >= 3, "round trip");
  assert.deepEqual(out.slice(0, 2).map((m) => m.command ?? m.event), ["initialize", "initialized"]);
  assert.deepEqual(received.map((m) => m.command), ["initialize", "attach", "disconnect"]);
  assert.equal(received[1].arguments?.tunnelPath, undefined);
  assert.equal(received[1].arguments?.justMyCode, false);
  assert.equal(received[2].arguments?.terminateDebuggee, false);
  adapter.dispose();
});

test("a rejected ticket ends the session with the head's reason", async () => {
  const adapter = new TunnelAdapter(`${head.url.replace("http", "ws")}/api/v1/debug/tunnel?ticket=used`, {});
  const out: DapMessage[] = [];
  adapter.onDidSendMessage((m) => void out.push(m as DapMessage));
  adapter.handleMessage({ seq: 1, type: "request", command: "initialize", arguments: {} });
  await until(() => out.some((m) => m.event === "terminated"), "terminated");
  const output = out.find((m) => m.event === "output");
  assert.match((output?.body as { output: string }).output, /rejected the ticket: ticket already used/);
  adapter.dispose();
});

test("a worker attached elsewhere ends the session with a clear line", async () => {
  const adapter = new TunnelAdapter(`${head.url.replace("http", "ws")}/api/v1/debug/tunnel?ticket=busy`, {});
  const out: DapMessage[] = [];
  adapter.onDidSendMessage((m) => void out.push(m as DapMessage));
  await until(() => out.some((m) => m.event === "terminated"), "terminated");
  assert.match((out.find((m) => m.event === "output")?.body as { output: string }).output, /already attached elsewhere/);
  adapter.dispose();
});
