/** DAP wire framing (Content-Length headers): the tunnel carries raw bytes, split anywhere. */

export interface DapMessage {
  seq: number;
  type: "request" | "response" | "event";
  command?: string;
  event?: string;
  arguments?: Record<string, unknown>;
  body?: unknown;
  [key: string]: unknown;
}

const SEPARATOR = Buffer.from("\r\n\r\n");

export function encode(message: DapMessage): Buffer {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  return Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, "ascii"), body]);
}

/** Accumulates bytes and yields whole messages; throws on a header without Content-Length. */
export class DapParser {
  private buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): DapMessage[] {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    const out: DapMessage[] = [];
    for (;;) {
      const end = this.buffer.indexOf(SEPARATOR);
      if (end < 0) return out;
      const header = this.buffer.subarray(0, end).toString("ascii");
      const match = /Content-Length:\s*(\d+)/i.exec(header);
      if (!match) throw new Error(`DAP header without Content-Length: ${JSON.stringify(header)}`);
      const start = end + SEPARATOR.length;
      const length = Number(match[1]);
      if (this.buffer.length < start + length) return out;
      out.push(JSON.parse(this.buffer.subarray(start, start + length).toString("utf8")) as DapMessage);
      this.buffer = this.buffer.subarray(start + length);
    }
  }
}
