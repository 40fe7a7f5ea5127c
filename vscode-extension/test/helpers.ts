/** A local head stand-in for unit tests: scripted HTTP answers plus a WebSocket endpoint. */
import * as http from "http";
import { AddressInfo } from "net";
import { WebSocketServer, WebSocket } from "ws";
import { DebugSession, Job, LogLine } from "../src/types";

export interface Seen {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** The request body as sent (JSON for POST routes). */
  body: string;
}

export type Route = (req: http.IncomingMessage, url: URL) => { status: number; body?: unknown } | undefined;

export class FakeHead {
  readonly seen: Seen[] = [];
  readonly sockets: WebSocket[] = [];
  readonly wss: WebSocketServer;
  private constructor(
    readonly server: http.Server,
    readonly url: string,
  ) {
    this.wss = new WebSocketServer({ noServer: true });
  }

  static async start(route: Route, wsAllowed: (req: http.IncomingMessage) => boolean = () => true): Promise<FakeHead> {
    let head: FakeHead | undefined;
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const url = new URL(req.url ?? "/", "http://x");
        const body = Buffer.concat(chunks).toString();
        head!.seen.push({ method: req.method ?? "", path: url.pathname + url.search, headers: req.headers, body });
        const answer = route(req, url) ?? { status: 404, body: { error: `no route ${url.pathname}` } };
        res.writeHead(answer.status, { "content-type": "application/json" });
        res.end(answer.body === undefined ? "" : JSON.stringify(answer.body));
      });
    });
    server.on("upgrade", (req, socket, upgradeHead) => {
      if (!wsAllowed(req)) {
        socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
        return;
      }
      head!.wss.handleUpgrade(req, socket, upgradeHead, (ws) => {
        head!.sockets.push(ws);
        head!.wss.emit("connection", ws, req);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    head = new FakeHead(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return head;
  }

  push(message: unknown): void {
    for (const ws of this.sockets) ws.send(JSON.stringify(message));
  }

  async close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    this.wss.close();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

export function session(over: Partial<DebugSession> = {}): DebugSession {
  return {
    session_id: "s1",
    cluster_id: "c1",
    state: "paused",
    reason: "breakpoint",
    exception: null,
    job_id: "01000000",
    task_id: "a1b2c3d4e5f60718",
    attempt: 0,
    actor_id: null,
    function: "tasks.square",
    file: "/work/proj/tasks.py",
    line: 12,
    node_id: "f".repeat(56),
    node_ip: "127.0.0.1",
    pid: 4242,
    worker_id: "w".repeat(56),
    working_dir: "/tmp/ray/session/working_dir",
    paused_at: 1000,
    attached_by: null,
    attached_at: null,
    ...over,
  };
}

/** A job row as GET /jobs sends it: every field present, unknown ones null. */
export function job(over: Partial<Job> & Pick<Job, "job_id">): Job {
  return {
    state: "RUNNING",
    driver_pid: null,
    driver_ip: null,
    entrypoint: null,
    ray_namespace: null,
    start_time: null,
    end_time: null,
    submission_id: null,
    submission_status: null,
    submission_entrypoint: null,
    submission_message: null,
    submission_error_type: null,
    submission_start_time: null,
    submission_end_time: null,
    driver_exit_code: null,
    runtime_env: null,
    ...over,
  };
}

export function logLine(over: Partial<LogLine> = {}): LogLine {
  return {
    file_id: "f1",
    node_id: "n",
    path: "/l",
    generation: 0,
    offset: 0,
    text: "",
    is_binary: false,
    truncated_bytes: 0,
    read_at: 0,
    worker_id: null,
    job_id: null,
    task_id: null,
    task_name: null,
    actor_id: null,
    ...over,
  };
}

export async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
