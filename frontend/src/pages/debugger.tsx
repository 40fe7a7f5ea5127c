// Debugger: paused workers (docs/debugger.md) with where they stopped and how to attach.
import { ApiError, get, getToken } from "../api";
import { Table } from "../components/table";
import { Badge, Card, Empty, ErrorBox, Link, PageTitle } from "../components/ui";
import { ago, shortId } from "../format";
import { useLiveFetch } from "../hooks";
import type { DebugSession, Page } from "../types";

let hasDebugger: Promise<boolean> | null = null;

/** Whether this head mounts the debugger API (asked once, from its OpenAPI document), so a head
 * without it shows an empty state instead of a 404 in the console. */
function debuggerMounted(): Promise<boolean> {
  hasDebugger ??= fetch("/openapi.json", { headers: { Authorization: `Bearer ${getToken() ?? ""}` } })
    .then((r) => (r.ok ? r.json() : { paths: {} }))
    .then((doc: { paths?: Record<string, unknown> }) => Object.keys(doc.paths ?? {}).some((p) => p.endsWith("/debug/sessions")))
    .catch(() => false);
  return hasDebugger;
}

/** null when the head has no debugger service (404): an empty state, not an error. */
async function sessions(signal: AbortSignal): Promise<Page<DebugSession> | null> {
  if (!(await debuggerMounted())) return null;
  try {
    return await get<Page<DebugSession>>("/debug/sessions", { limit: 1000 }, signal);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return null;
    throw e;
  }
}

export function DebuggerPage() {
  const r = useLiveFetch(sessions, [], ["debug_sessions"], undefined, 300);
  const rows = (r.data?.rows ?? []).filter((s) => s.state !== "gone");
  return (
    <div data-testid="page-debugger">
      <PageTitle title="Debugger" sub="workers paused at breakpoint() or on an exception" />
      <ErrorBox error={r.error} />
      {r.data === null && !r.loading ? (
        <Card><Empty>This head has no debugger service. Paused workers will be listed here once it runs one.</Empty></Card>
      ) : (
        <Card>
          <Table testid="debug-sessions" rows={rows} rowKey={(s) => s.session_id}
            empty={<>No paused workers. Put <code>breakpoint()</code> in a task or actor method to pause it here.</>} cols={[
              { key: "fn", label: "Function", render: (s) => s.function ?? "–" },
              { key: "loc", label: "Location", cls: "clip", render: (s) => (s.file ? <code>{s.file}:{s.line ?? "?"}</code> : "–") },
              { key: "why", label: "Reason", render: (s) => (s.exception ? <span class="bad-text">{s.exception}</span> : s.reason) },
              { key: "state", label: "State", render: (s) => <Badge state={s.state} /> },
              { key: "task", label: "Task", render: (s) => (s.task_id ? <Link href={`/tasks/${s.task_id}`}>{shortId(s.task_id)}</Link> : "–") },
              { key: "node", label: "Node / PID", render: (s) => <>{s.node_id ? <Link href={`/nodes/${s.node_id}`}>{s.node_ip ?? shortId(s.node_id)}</Link> : "–"} pid {s.pid ?? "?"}</> },
              { key: "when", label: "Paused", render: (s) => ago(s.paused_at) },
              { key: "attach", label: "Attach", cls: "clip", render: (s) => s.attached_by ? <span class="muted">attached by {s.attached_by}</span> : <code class="copy">ray-debug attach {s.session_id}</code> },
            ]} />
          <p class="muted small">Attach from a terminal with <code>ray-debug attach SESSION</code>, or from VS Code with the Rayscope extension
            (“Rayscope: Attach to paused worker”). Only one client can attach to a session at a time.</p>
        </Card>
      )}
    </div>
  );
}
