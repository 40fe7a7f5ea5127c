// Log lines as a reader wants them: monospace, structured (JSON) lines shown as fields, and
// links from a line to the task, actor and node it came from.
import { useState } from "preact/hooks";
import { listFirst, type Params } from "../api";
import { clock, isRayMarker, shortId, stripAnsi } from "../format";
import { useLiveFetch } from "../hooks";
import type { LogLine } from "../types";
import { Empty, ErrorBox, Link } from "./ui";

function parseJson(text: string): Record<string, unknown> | null {
  const t = text.trim();
  if (!t.startsWith("{") || !t.endsWith("}")) return null;
  try {
    const v = JSON.parse(t);
    return v && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch { return null; }
}

const MSG_KEYS = ["message", "msg", "event", "text"];

export function LineText({ text: raw, mark }: { text: string; mark?: string }) {
  const text = stripAnsi(raw);
  const obj = parseJson(text);
  if (obj) {
    const msgKey = MSG_KEYS.find((k) => typeof obj[k] === "string");
    return (
      <span class="structured">
        {msgKey && <span class="msg">{String(obj[msgKey])}</span>}
        {Object.entries(obj).filter(([k]) => k !== msgKey).map(([k, v]) => (
          <span key={k} class="field"><b>{k}</b>={typeof v === "string" ? v : JSON.stringify(v)}</span>
        ))}
      </span>
    );
  }
  if (mark) {
    const i = text.toLowerCase().indexOf(mark.toLowerCase());
    if (i >= 0) return <span>{text.slice(0, i)}<mark>{text.slice(i, i + mark.length)}</mark>{text.slice(i + mark.length)}</span>;
  }
  return <span>{text}</span>;
}

/** `worker-<56 hex>-<job>-<pid>.out` -> `worker pid <pid> .out`; other files keep their name. */
export function fileShort(path: string): string {
  const base = path.split("/").pop() ?? path;
  const m = base.match(/^(?:python-core-)?worker-[0-9a-f]{16,}-[0-9a-f]+-(\d+)\.(\w+)$/);
  return m ? `worker pid ${m[1]} .${m[2]}` : base;
}

export function LineRow({ l, showSource, mark, cls }: { l: LogLine; showSource?: boolean; mark?: string; cls?: string }) {
  return (
    <div class={`logline ${cls ?? ""} ${isRayMarker(l.text) ? "ctx" : /error|traceback|exception/i.test(l.text) ? "lerr" : ""}`}>
      <span class="lt">{clock(l.read_at)}</span>
      {showSource && (
        <span class="src">
          <Link href={`/nodes/${l.node_id}`}>{shortId(l.node_id, 6)}</Link>
          <Link href={`/logs?node=${l.node_id}&file=${l.file_id}`} title={l.path}>{fileShort(l.path)}</Link>
          {l.task_id && <Link href={`/tasks/${l.task_id}`} title="task">{l.task_name ?? shortId(l.task_id)}</Link>}
          {l.actor_id && <Link href={`/actors/${l.actor_id}`} title="actor">actor {shortId(l.actor_id, 6)}</Link>}
        </span>
      )}
      <span class="lx"><LineText text={l.text} mark={mark} /></span>
    </div>
  );
}

/** Lines selected by task/actor/job/worker/node (first `limit`, more on demand), live. */
export function LogLines({ selector, limit = 500, showSource = true, empty }: { selector: Params; limit?: number; showSource?: boolean; empty?: string }) {
  const [pages, setPages] = useState(1);
  const key = JSON.stringify(selector);
  // Follows the cursor: a page stops at ~4 MiB, so asking for a larger `limit` could return the same page again.
  const r = useLiveFetch((s) => listFirst<LogLine>("/logs/lines", {}, limit * pages, selector, s),
    [key, pages], ["logs"], undefined, 1500);
  const rows = (r.data?.rows ?? []).filter((l) => !isRayMarker(l.text));
  return (
    <div class="logview" data-testid="log-lines">
      <ErrorBox error={r.error} />
      {rows.length === 0 && !r.loading ? <Empty>{empty ?? "No log lines."}</Empty> : rows.map((l) => <LineRow key={`${l.file_id}:${l.generation}:${l.offset}`} l={l} showSource={showSource} />)}
      {r.data?.next_cursor && <button class="link" onClick={() => setPages((p) => p + 1)}>load more</button>}
    </div>
  );
}
