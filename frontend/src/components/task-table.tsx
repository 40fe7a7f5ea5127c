// The tasks table: keyset-paginated by the server, virtualized in the browser. Only the rows in
// view are in the DOM; the next page is fetched when the view nears the end of what is loaded.
// Live: state changes of loaded rows are patched in place (then the changed visible rows are
// re-read); new tasks reload the first page when the view is at the top, else a pill offers it.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, list } from "../api";
import { duration, firstLine, shortId, shortTime, taskShort, time } from "../format";
import { useLive } from "../live";
import type { Page, Task } from "../types";
import { RUNNING_TASK_STATES } from "../profiling";
import { ProfileActions } from "./profile-actions";
import { Badge, ErrorBox, Link } from "./ui";

const ROW_H = 30;
const PAGE = 200;
const OVERSCAN = 10;

export type TaskFilters = Record<string, string | null | undefined>;

interface Col { key: string; label: string; width: string; render: (t: Task) => preact.ComponentChildren }

const COLS: Col[] = [
  { key: "id", label: "Task", width: "110px", render: (t) => <Link href={`/tasks/${t.task_id}`} title={t.task_id}>{taskShort(t.task_id)}</Link> },
  { key: "name", label: "Name", width: "minmax(140px, 1.2fr)", render: (t) => <span title={t.name ?? ""}><StuckBadge t={t} />{t.name ?? (t.type === "DRIVER_TASK" ? "(driver)" : "–")}{t.attempt > 0 && <span class="tag">attempt {t.attempt}</span>}</span> },
  { key: "state", label: "State", width: "150px", render: (t) => <Badge state={t.state} /> },
  { key: "job", label: "Job", width: "76px", render: (t) => <Link href={`/jobs/${t.job_id}`}>{t.job_id}</Link> },
  { key: "node", label: "Node", width: "100px", render: (t) => (t.node_id ? <Link href={`/nodes/${t.node_id}`}>{shortId(t.node_id)}</Link> : "–") },
  { key: "pid", label: "PID", width: "70px", render: (t) => t.worker_pid ?? "–" },
  { key: "actor", label: "Actor", width: "90px", render: (t) => (t.actor_id ? <Link href={`/actors/${t.actor_id}`}>{shortId(t.actor_id)}</Link> : "–") },
  { key: "start", label: "Started", width: "110px", render: (t) => <span title={time(t.start_time ?? t.creation_time)}>{shortTime(t.start_time ?? t.creation_time)}</span> },
  { key: "dur", label: "Duration", width: "90px", render: (t) => duration(t.duration) },
  // a driver "task" is no worker's: its process has the actions on the node page and the Workers page
  { key: "prof", label: "Look inside", width: "210px", render: (t) => (RUNNING_TASK_STATES.has(t.state) && t.type !== "DRIVER_TASK"
      ? <ProfileActions compact target={{ task_id: t.task_id, attempt: t.attempt }} label={t.name ?? undefined} /> : null) },
  { key: "err", label: "Error", width: "minmax(160px, 2fr)", render: (t) => <span class="err-line" title={t.error_message ?? ""}>{t.error_type ? `${t.error_type}: ${firstLine(t.error_message)}` : ""}</span> },
];
const GRID = COLS.map((c) => c.width).join(" ");

/** "stuck" on a task the head flags (running far longer than its function usually takes, or
 * pending for resources no node has); the head's one-line reason is the tooltip. */
export function StuckBadge({ t }: { t: Task }) {
  if (!t.stuck) return null;
  return <span class="tag stuck" title={t.stuck.reason} data-testid="stuck-badge" data-kind={t.stuck.kind}>stuck</span>;
}

const keyOf = (t: { task_id: unknown; attempt: unknown }) => `${t.task_id}:${t.attempt}`;

/** `path`: the listing to page through, /tasks by default (/tasks/stuck: the stuck ones, longest first). */
export function TaskTable(props: { filters: TaskFilters; sort?: string; height?: number; total?: number | null; testid?: string; path?: string }) {
  const [rows, setRows] = useState<Task[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [done, setDone] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [top, setTop] = useState(0);
  const [fresh, setFresh] = useState(0);
  const [gen, setGen] = useState(0);
  const loading = useRef(false);
  const box = useRef<HTMLDivElement>(null);
  const maxHeight = props.height ?? 560;
  const height = done ? Math.min(maxHeight, Math.max(rows.length, 3) * ROW_H + 2) : maxHeight;
  const path = props.path ?? "/tasks";
  const resetKey = JSON.stringify([path, props.filters, props.sort ?? "", gen]);

  const fetchPage = async (after: string | null, replace: boolean, key: string) => {
    if (loading.current && !replace) return;
    loading.current = true;
    try {
      const page: Page<Task> = await list<Task>(path, props.filters, { sort: props.sort, limit: PAGE, cursor: after });
      if (key !== resetRef.current) return;  // the filters changed meanwhile
      setRows((old) => (replace ? page.rows : [...old, ...page.rows]));
      setCursor(page.next_cursor);
      setDone(page.next_cursor === null);
      setError(null);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      loading.current = false;
    }
  };
  const resetRef = useRef(resetKey);
  resetRef.current = resetKey;

  useEffect(() => {
    setRows([]); setCursor(null); setDone(false); setFresh(0);
    if (box.current) box.current.scrollTop = 0;
    setTop(0);
    loading.current = false;
    fetchPage(null, true, resetKey);
  }, [resetKey]);

  // Fetch the next page when the view gets near the end of the loaded rows.
  const visibleEnd = Math.ceil((top + height) / ROW_H);
  useEffect(() => {
    if (!done && cursor && rows.length - visibleEnd < PAGE / 2) fetchPage(cursor, false, resetKey);
  }, [visibleEnd, rows.length, cursor, done]);

  useLive(["tasks"], (delta, resync) => {
    if (resync) { setGen((g) => g + 1); return; }
    const loaded = new Map(rows.map((t, i) => [keyOf(t), i]));
    const changed: Task[] = [];
    let unseen = 0;
    const patched = rows.slice();
    for (const d of delta) {
      const i = loaded.get(keyOf(d as { task_id: string; attempt: number }));
      if (i === undefined) {
        // Only deltas that can match the filters count (a delta carries job and state, not names).
        if (!(props.filters.job_id && d.job_id !== props.filters.job_id)) unseen++;
        continue;
      }
      if (d.state && d.state !== patched[i].state) patched[i] = { ...patched[i], state: d.state as Task["state"] };
      changed.push(patched[i]);
    }
    if (changed.length) setRows(patched);
    // Re-read the changed rows that are on screen (times, errors), a handful at most.
    const first = Math.floor(top / ROW_H);
    const onScreen = changed.filter((t) => { const i = loaded.get(keyOf(t))!; return i >= first - OVERSCAN && i <= visibleEnd + OVERSCAN; });
    if (onScreen.length && onScreen.length <= 40) {
      Promise.all(onScreen.map((t) => get<Task[]>(`/tasks/${t.task_id}`).then((as) => as.find((a) => a.attempt === t.attempt)).catch(() => undefined)))
        .then((got) => setRows((cur) => {
          const idx = new Map(cur.map((t, i) => [keyOf(t), i]));
          const next = cur.slice();
          for (const t of got) if (t && idx.has(keyOf(t))) next[idx.get(keyOf(t))!] = t;
          return next;
        }));
    }
    if (unseen) {
      if (top < ROW_H && (!props.sort || props.sort.startsWith("-"))) fetchPage(null, true, resetKey);
      else if (!done || !props.sort || props.sort.startsWith("-")) setFresh((f) => f + unseen);
      else if (done) setDone(false);
    }
  }, 500);

  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(rows.length, visibleEnd + OVERSCAN);
  const slots = rows.length + (done ? 0 : Math.min(PAGE, 20));
  return (
    <div class="vt" data-testid={props.testid ?? "task-table"}>
      <ErrorBox error={error} />
      <div class="vt-meta">
        <span data-testid="task-count">{rows.length.toLocaleString("en-US")}{done ? "" : "+"} loaded{props.total != null ? ` of ${props.total.toLocaleString("en-US")}` : ""}</span>
        {fresh > 0 && <button class="pill" onClick={() => setGen((g) => g + 1)}>{fresh} new or changed — refresh</button>}
      </div>
      <div class="vt-scroll"><div class="vt-inner">
      <div class="vt-head" style={{ gridTemplateColumns: GRID }}>{COLS.map((c) => <div key={c.key}>{c.label}</div>)}</div>
      <div class="vt-body" ref={box} style={{ height: `${height}px` }} onScroll={(e) => setTop((e.target as HTMLDivElement).scrollTop)}>
        {rows.length === 0 && done ? <div class="empty">No tasks match.</div> : (
          <div style={{ height: `${slots * ROW_H}px`, position: "relative" }}>
            {rows.slice(first, last).map((t, j) => (
              <div key={keyOf(t)} class={`vt-row ${t.state === "FAILED" ? "failed" : ""}`} data-task-id={t.task_id} data-state={t.state}
                   style={{ gridTemplateColumns: GRID, top: `${(first + j) * ROW_H}px`, height: `${ROW_H}px` }}>
                {COLS.map((c) => <div key={c.key}>{c.render(t)}</div>)}
              </div>
            ))}
            {!done && <div class="vt-row loading-row" style={{ top: `${rows.length * ROW_H}px`, height: `${ROW_H}px` }}>Loading more…</div>}
          </div>
        )}
      </div>
      </div></div>
    </div>
  );
}
