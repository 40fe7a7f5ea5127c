// Timeline: one row per worker, one bar per task execution, stable color per function, failures
// marked. Wheel zooms around the pointer, drag pans, click opens the task. Exports Chrome-trace JSON.
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { get } from "../api";
import { JobPicker } from "../components/job-picker";
import { Card, Empty, ErrorBox, PageTitle } from "../components/ui";
import { clock, duration, shortId } from "../format";
import { useLiveFetch } from "../hooks";
import { navigate, setParams, useLocation } from "../router";
import type { ClusterInfo, Node, Page, Timeline, TimelineBar } from "../types";

const LANE_H = 22;
const LABEL_W = 210;
const AXIS_H = 24;

export function colorOf(name: string | null): string {
  let h = 2166136261;
  for (const c of name ?? "?") h = Math.imul(h ^ c.charCodeAt(0), 16777619);
  return `hsl(${(h >>> 0) % 360}, 62%, 52%)`;
}

export function chromeTrace(tl: Timeline, nodes: Map<string, Node>): object {
  const events: object[] = [];
  const pids = new Map<string, number>();
  tl.lanes.forEach((l) => {
    if (!pids.has(l.node_id)) {
      pids.set(l.node_id, pids.size + 1);
      const n = nodes.get(l.node_id);
      events.push({ ph: "M", name: "process_name", pid: pids.get(l.node_id), args: { name: `node ${n?.node_ip ?? ""} ${l.node_id.slice(0, 8)}` } });
    }
    events.push({ ph: "M", name: "thread_name", pid: pids.get(l.node_id), tid: l.pid ?? 0, args: { name: `worker pid ${l.pid ?? "?"}` } });
  });
  const end = Date.now() / 1000;
  for (const b of tl.bars) {
    const lane = tl.lanes[b.lane];
    events.push({
      ph: "X", name: b.name ?? "task", cat: b.state, pid: pids.get(lane.node_id), tid: lane.pid ?? 0,
      ts: b.start * 1e6, dur: ((b.end ?? end) - b.start) * 1e6,
      args: { task_id: b.task_id, attempt: b.attempt, job_id: b.job_id, state: b.state, error_type: b.error_type, actor_id: b.actor_id },
    });
  }
  return { traceEvents: events, displayTimeUnit: "ms" };
}

function download(name: string, obj: object): void {
  const url = URL.createObjectURL(new Blob([JSON.stringify(obj)], { type: "application/json" }));
  const a = document.createElement("a");
  a.href = url; a.download = name; a.click();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function Canvas({ tl, nodes }: { tl: Timeline; nodes: Map<string, Node> }) {
  const ref = useRef<HTMLCanvasElement>(null);
  const wrap = useRef<HTMLDivElement>(null);
  const [view, setView] = useState<[number, number] | null>(null);
  const [hover, setHover] = useState<{ b: TimelineBar; x: number; y: number } | null>(null);
  const drag = useRef<{ x: number; v: [number, number]; moved: boolean } | null>(null);
  const now = Date.now() / 1000;
  const t0 = tl.bars.length ? Math.min(...tl.bars.map((b) => b.start)) : now - 60;
  const t1 = tl.bars.length ? Math.max(...tl.bars.map((b) => b.end ?? now)) : now;
  const pad = (t1 - t0) * 0.02 || 1;
  const [v0, v1] = view ?? [t0 - pad, t1 + pad];
  const height = AXIS_H + tl.lanes.length * LANE_H + 4;

  useEffect(() => {
    const c = ref.current!, w = wrap.current!.clientWidth;
    const dpr = window.devicePixelRatio || 1;
    c.width = w * dpr; c.height = height * dpr;
    c.style.width = `${w}px`; c.style.height = `${height}px`;
    const g = c.getContext("2d")!;
    g.scale(dpr, dpr);
    g.clearRect(0, 0, w, height);
    const plotW = w - LABEL_W;
    const x = (t: number) => LABEL_W + ((t - v0) / (v1 - v0)) * plotW;
    g.font = "11px system-ui, sans-serif";
    // axis
    g.fillStyle = "#64748b"; g.strokeStyle = "#eef2f7";
    const step = niceStep((v1 - v0) / 8);
    for (let t = Math.ceil(v0 / step) * step; t <= v1; t += step) {
      const px = x(t);
      g.beginPath(); g.moveTo(px, AXIS_H - 4); g.lineTo(px, height); g.stroke();
      g.fillText(clock(t).slice(0, step < 1 ? 12 : 8), px + 2, 14);
    }
    tl.lanes.forEach((l, i) => {
      const y = AXIS_H + i * LANE_H;
      if (i % 2 === 0) { g.fillStyle = "#f8fafc"; g.fillRect(0, y, w, LANE_H); }
      g.fillStyle = "#334155";
      const n = nodes.get(l.node_id);
      g.fillText(`${n?.is_head_node ? "head" : "node"} ${n?.node_ip ?? ""} ${shortId(l.node_id, 6)} · pid ${l.pid ?? "?"}`, 6, y + 15);
    });
    g.save(); g.beginPath(); g.rect(LABEL_W, 0, plotW, height); g.clip();
    for (const b of tl.bars) {
      const xa = x(b.start), xb = Math.max(x(b.end ?? now), xa + 1.5);
      if (xb < LABEL_W || xa > w) continue;
      const y = AXIS_H + b.lane * LANE_H + 3;
      g.fillStyle = colorOf(b.name);
      g.globalAlpha = b.end === null ? 0.55 : 1;
      g.fillRect(xa, y, xb - xa, LANE_H - 6);
      g.globalAlpha = 1;
      if (b.state === "FAILED") { g.strokeStyle = "#b91c1c"; g.lineWidth = 2; g.strokeRect(xa, y, xb - xa, LANE_H - 6); g.lineWidth = 1; }
      if (xb - xa > 40) { g.fillStyle = "#fff"; g.fillText((b.name ?? "").slice(0, Math.floor((xb - xa) / 6)), xa + 3, y + 12); }
    }
    g.restore();
  }, [tl, nodes, v0, v1, height]);

  const barAt = (ev: MouseEvent): TimelineBar | null => {
    const c = ref.current!, r = c.getBoundingClientRect();
    const px = ev.clientX - r.left, py = ev.clientY - r.top;
    const lane = Math.floor((py - AXIS_H) / LANE_H);
    const t = v0 + ((px - LABEL_W) / (r.width - LABEL_W)) * (v1 - v0);
    const tol = ((v1 - v0) / (r.width - LABEL_W)) * 2;
    return tl.bars.find((b) => b.lane === lane && b.start - tol <= t && (b.end ?? now) + tol >= t) ?? null;
  };
  const onWheel = (ev: WheelEvent) => {
    ev.preventDefault();
    const r = ref.current!.getBoundingClientRect();
    const f = Math.max(0, (ev.clientX - r.left - LABEL_W) / (r.width - LABEL_W));
    const at = v0 + f * (v1 - v0);
    const k = ev.deltaY > 0 ? 1.25 : 0.8;
    setView([at - (at - v0) * k, at + (v1 - at) * k]);
  };
  return (
    <div ref={wrap} class="timeline-wrap">
      <canvas ref={ref} data-testid="timeline-canvas"
        onWheel={onWheel}
        onMouseDown={(e) => { drag.current = { x: e.clientX, v: [v0, v1], moved: false }; }}
        onMouseMove={(e) => {
          const d = drag.current;
          if (d) {
            const r = ref.current!.getBoundingClientRect();
            const dt = ((e.clientX - d.x) / (r.width - LABEL_W)) * (d.v[1] - d.v[0]);
            if (Math.abs(e.clientX - d.x) > 3) d.moved = true;
            if (d.moved) setView([d.v[0] - dt, d.v[1] - dt]);
            return;
          }
          const b = barAt(e);
          setHover(b ? { b, x: e.offsetX, y: e.offsetY } : null);
        }}
        onMouseUp={(e) => { const d = drag.current; drag.current = null; if (d && !d.moved) { const b = barAt(e); if (b) navigate(`/tasks/${b.task_id}`); } }}
        onMouseLeave={() => { drag.current = null; setHover(null); }} />
      {hover && (
        <div class="tip" style={{ left: `${hover.x + 12}px`, top: `${hover.y + 12}px` }}>
          <b>{hover.b.name}</b> <span class="muted">{shortId(hover.b.task_id, 10)}</span><br />
          {hover.b.state} · {duration((hover.b.end ?? now) - hover.b.start)}{hover.b.error_type && <><br /><span class="bad-text">{hover.b.error_type}</span></>}
        </div>
      )}
      <div class="tl-foot">
        <span class="muted small">wheel: zoom · drag: pan · click a bar: open the task</span>
        {view && <button class="link" onClick={() => setView(null)}>reset zoom</button>}
      </div>
    </div>
  );
}

function niceStep(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(Math.max(raw, 1e-6))));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

export function TimelinePage({ info }: { info: ClusterInfo }) {
  const { params } = useLocation();
  const job = params.get("job") ?? "";
  const nodes = useLiveFetch((s) => get<Page<Node>>("/nodes", { limit: 10000 }, s), [], ["nodes"]);
  const tl = useLiveFetch((s) => get<Timeline>("/timeline", { job_id: job || undefined }, s), [job], ["tasks"], undefined, 1000);
  const byId = useMemo(() => new Map((nodes.data?.rows ?? []).map((n) => [n.node_id, n])), [nodes.data]);
  const names = [...new Set((tl.data?.bars ?? []).map((b) => b.name ?? "?"))].slice(0, 20);
  return (
    <div data-testid="page-timeline">
      <PageTitle title="Timeline" sub={info.live ? "live task stream" : "recorded run"} />
      <ErrorBox error={tl.error} />
      <Card>
        <div class="filters">
          <JobPicker value={job} onChange={(v) => setParams({ job: v })} anyLabel="all jobs" />
          <span class="grow" />
          <button class="primary" disabled={!tl.data} data-testid="export-trace"
                  onClick={() => tl.data && download(`rayscope-timeline${job ? "-job" + job : ""}.json`, chromeTrace(tl.data, byId))}>
            Export Chrome trace (Perfetto)
          </button>
        </div>
        {tl.data && tl.data.truncated && <div class="muted small">Showing the latest {tl.data.bars.length.toLocaleString("en-US")} task executions.</div>}
        {tl.data && tl.data.bars.length === 0 ? <Empty>No task has started yet.</Empty> : tl.data && <Canvas tl={tl.data} nodes={byId} />}
        <div class="legend">{names.map((n) => <span key={n}><i style={{ background: colorOf(n) }} />{n}</span>)}<span><i class="failed-swatch" />failed</span></div>
      </Card>
    </div>
  );
}
