/**
 * The inline debug adapter: VS Code's DAP messages go as raw Content-Length-framed bytes through the
 * head's tunnel WebSocket to the worker's debugpy, and back. Type-only VS Code import, so the unit
 * tests drive it against a local WebSocket server.
 */
import type * as vscode from "vscode";
import WebSocket from "ws";
import { DapMessage, DapParser, encode } from "./dap";

type Listener = (message: DapMessage) => void;

/** Close codes of the head's tunnel (docs/debugger.md) and what the user is told. */
export const CLOSE_REASONS: Record<number, string> = {
  4401: "the head rejected the ticket",
  4404: "the session is gone (the worker resumed or died, or its agent cannot reach it)",
  4409: "the worker is already attached elsewhere",
};

export class TunnelAdapter implements vscode.DebugAdapter {
  private readonly listeners = new Set<Listener>();
  private readonly pending: Buffer[] = [];
  private readonly parser = new DapParser();
  private readonly ws: WebSocket;
  private open = false;
  private ended = false;
  private seq = 1_000_000; // our own events; far from VS Code's and debugpy's numbers

  constructor(url: string, headers: Record<string, string>) {
    this.ws = new WebSocket(url, { headers });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("open", () => {
      this.open = true;
      for (const chunk of this.pending.splice(0)) this.ws.send(chunk);
    });
    this.ws.on("message", (data: Buffer) => this.fromTunnel(data));
    this.ws.on("unexpected-response", (_req, res) => {
      this.end(`the head refused the debug tunnel (HTTP ${res.statusCode})`);
      this.ws.terminate();
    });
    this.ws.on("error", (err) => this.end(`debug tunnel error: ${err.message}`));
    this.ws.on("close", (code, reason) => {
      const why = reason.toString();
      const known = CLOSE_REASONS[code];
      if (known) this.end(why ? `${known}: ${why}` : known);
      else this.end(code === 1000 || code === 1005 ? undefined : `debug tunnel closed (${code}${why ? `: ${why}` : ""})`);
    });
  }

  readonly onDidSendMessage = (listener: Listener): vscode.Disposable => {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  };

  handleMessage(message: vscode.DebugProtocolMessage): void {
    const msg = message as DapMessage;
    if (msg.type === "request" && msg.command === "disconnect") {
      // Detach must never kill the Ray task: the worker resumes and the task runs on.
      msg.arguments = { ...(msg.arguments ?? {}), terminateDebuggee: false };
    }
    if (msg.type === "request" && msg.command === "attach" && msg.arguments) {
      // The ticket is a single-use secret: debugpy needs no copy.
      const { ticket: _ticket, tunnelPath: _path, ...args } = msg.arguments;
      msg.arguments = args;
    }
    if (this.ended) return;
    const bytes = encode(msg);
    if (this.open) this.ws.send(bytes);
    else this.pending.push(bytes);
  }

  dispose(): void {
    this.ended = true;
    this.listeners.clear();
    if (this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
    else this.ws.close(1000);
  }

  private fromTunnel(data: Buffer): void {
    let messages: DapMessage[];
    try {
      messages = this.parser.push(data);
    } catch (err) {
      this.end((err as Error).message);
      this.ws.close(1002);
      return;
    }
    for (const m of messages) this.emit(m);
  }

  /** Tell VS Code the session is over (with the reason in the Debug Console, if any). */
  private end(reason: string | undefined): void {
    if (this.ended) return;
    this.ended = true;
    if (reason) this.emit(this.event("output", { category: "important", output: `Rayscope: ${reason}\n` }));
    this.emit(this.event("terminated", {}));
  }

  private event(event: string, body: unknown): DapMessage {
    return { seq: this.seq++, type: "event", event, body };
  }

  private emit(message: DapMessage): void {
    for (const l of [...this.listeners]) l(message);
  }
}
