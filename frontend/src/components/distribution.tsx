// A metric across many nodes over time: a heatmap (time step × 5 % bucket, colour = nodes in it) under
// min/p50/p90/max lines, from GET /metrics/nodes/distribution. Clicking a cell lists its nodes.
import type { ComponentChildren } from "preact";
import { useRef, useState } from "preact/hooks";
import type uPlot from "uplot";
import { get } from "../api";
import { pct, shortId, shortTime } from "../format";
import { useLiveFetch } from "../hooks";
import type { ClusterInfo, DistributionCell, DistributionStep, NodeDistribution, NodeDistributions } from "../types";

export type DistributionMetric = NodeDistribution["metric"];
import { TimeChart, type SeriesDef } from "./chart";
import { Badge, Card, Empty, ErrorBox, Link } from "./ui";

const WINDOW_S = 3600;
const CELL_ROWS = 50;
// At 1,000 nodes a "metrics" delta comes every few milliseconds: re-read the figures at most this often.
const REFRESH_MS = 3000;
// Buckets from this one up (90 % and above) are drawn in red: the nodes to look at.
const HOT_BUCKET = 18;

const LINES: SeriesDef[] = [
  { label: "min", color: "#64748b", dash: [4, 3], width: 1 },
  { label: "p50", color: "#0f172a" },
  { label: "p90", color: "#d97706" },
  { label: "max", color: "#dc2626", width: 1 },
];

export const METRIC_TITLES: Record<DistributionMetric, string> = {
  cpu: "CPU", mem: "Memory", store: "Object store", gpu: "GPU",
};

/** The distributions of every metric: a live cluster's last hour, a finished one's whole run. */
export function useDistributions(info: ClusterInfo, enabled: boolean) {
  return useLiveFetch(async (s) => {
    if (!enabled) return null;
    const now = Date.now() / 1000;
    return get<NodeDistributions>("/metrics/nodes/distribution", info.live ? { since: now - WINDOW_S, until: now } : { since: 0, until: now }, s);
  }, [enabled, info.live], ["metrics"], undefined, REFRESH_MS);
}

interface Cursor { step: DistributionStep; bucket: number }

/** The column and bucket under the pointer (null off the data). */
function under(u: uPlot, steps: DistributionStep[], width: number): Cursor | null {
  const { left, top } = u.cursor;
  if (left === undefined || top === undefined || left < 0 || top < 0 || !steps.length) return null;
  const x = u.posToVal(left, "x"), y = u.posToVal(top, "y");
  let lo = 0, hi = steps.length - 1;  // the last step starting at or before x
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (steps[mid].ts <= x) lo = mid; else hi = mid - 1; }
  const step = steps[lo];
  if (x < step.ts || x >= step.ts + width) return null;
  const bucket = Math.min(step.counts.length - 1, Math.max(0, Math.floor(y / (100 / step.counts.length))));
  return { step, bucket };
}

/** Cells behind the lines: alpha on a log scale of the count, so one node among a thousand still shows. */
function paint(u: uPlot, steps: DistributionStep[], width: number, selected: Cursor | null): void {
  const ctx = u.ctx, { left, top, width: w, height: h } = u.bbox;
  const most = Math.max(1, ...steps.map((s) => Math.max(...s.counts)));
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, w, h);
  ctx.clip();
  for (const s of steps) {
    const x0 = u.valToPos(s.ts, "x", true), x1 = u.valToPos(s.ts + width, "x", true);
    const per = 100 / s.counts.length;
    s.counts.forEach((c, i) => {
      if (!c) return;
      const y0 = u.valToPos((i + 1) * per, "y", true), y1 = u.valToPos(i * per, "y", true);
      const a = 0.12 + (0.88 * Math.log1p(c)) / Math.log1p(most);
      ctx.fillStyle = i >= HOT_BUCKET ? `rgba(220,38,38,${a.toFixed(3)})` : `rgba(37,99,235,${a.toFixed(3)})`;
      ctx.fillRect(x0, y0, Math.max(1, x1 - x0 - 0.5), Math.max(1, y1 - y0 - 0.5));
    });
  }
  if (selected) {
    const per = 100 / selected.step.counts.length;
    const x0 = u.valToPos(selected.step.ts, "x", true), x1 = u.valToPos(selected.step.ts + width, "x", true);
    const y0 = u.valToPos((selected.bucket + 1) * per, "y", true), y1 = u.valToPos(selected.bucket * per, "y", true);
    ctx.strokeStyle = "#0f172a";
    ctx.lineWidth = 2 * devicePixelRatio;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  }
  ctx.restore();
}

function label(c: Cursor, edges: number[]): string {
  const n = c.step.counts[c.bucket];
  return `${shortTime(c.step.ts)} · ${edges[c.bucket]}–${edges[c.bucket + 1]}%: ${n.toLocaleString("en-US")} of ${c.step.nodes.toLocaleString("en-US")} nodes`;
}

/** One metric's card: the heatmap with its lines, a line under it for the cell at the pointer, and
 * the nodes of the clicked cell. Data attributes on the card body describe the newest complete step
 * for tests and anyone inspecting the page (a canvas cannot be read back). */
export function DistributionCard({ dist, metric, extra, testid }: { dist: NodeDistributions | null; metric: DistributionMetric;
                                                                    extra?: ComponentChildren; testid: string }) {
  const [picked, setPicked] = useState<Cursor | null>(null);
  const hover = useRef<HTMLDivElement>(null);
  const steps = dist?.metrics.find((x) => x.metric === metric)?.steps ?? [];
  const width = dist?.step ?? 1;
  const edges = dist?.bucket_edges ?? [];
  // Lines through the middle of each step; the range's ends as empty points, so the x scale spans
  // whole cells (uPlot fits an x scale to its data).
  const ends = (ys: number[]): (number | null)[] => [null, ...ys, null];
  const data: (number | null)[][] = [[dist?.since ?? 0, ...steps.map((s) => s.ts + width / 2), dist?.until ?? 0],
    ends(steps.map((s) => s.min)), ends(steps.map((s) => s.p50)), ends(steps.map((s) => s.p90)), ends(steps.map((s) => s.max))];
  const complete = steps.filter((s) => dist?.partial_from === null || dist?.partial_from === undefined || s.ts < dist.partial_from);
  const last = complete[complete.length - 1] ?? null;
  const title = METRIC_TITLES[metric];
  const hooks = {
    underlay: (u: uPlot) => paint(u, steps, width, picked),
    onCursor: (u: uPlot) => {
      const c = under(u, steps, width);
      if (hover.current) hover.current.textContent = c ? `${label(c, edges)} — click to list them` : "";
    },
    onClick: (u: uPlot) => { const c = under(u, steps, width); if (c && c.step.counts[c.bucket] > 0) setPicked(c); },
  };
  return (
    <Card title={title} extra={extra ?? <span class="muted small">% of each node · nodes per 5 % bucket</span>}>
      {steps.length === 0 ? <Empty>{metric === "gpu" ? "No GPUs reported by any node." : "No samples yet."}</Empty> : (
        <div data-testid={testid} class="distribution" data-mode="heatmap" data-step={width} data-columns={steps.length}
             data-last-ts={last?.ts ?? ""} data-last-nodes={last?.nodes ?? ""} data-last-counts={last ? JSON.stringify(last.counts) : ""}>
          <TimeChart data={data} series={LINES} fmt={(v) => `${v.toFixed(0)}%`} yMax={100} hooks={hooks} testid={`${testid}-chart`} />
          <div class="muted small dist-hover" ref={hover} />
          {last && <div class="muted small dist-summary">{last.nodes.toLocaleString("en-US")} nodes at {shortTime(last.ts)}: p50 {pct(last.p50)},
            p90 {pct(last.p90)}, max {pct(last.max)}; {sum(last.counts.slice(HOT_BUCKET)).toLocaleString("en-US")} at 90 % or more</div>}
        </div>
      )}
      {picked && <CellNodes metric={metric} cursor={picked} width={width} edges={edges} onClose={() => setPicked(null)} />}
    </Card>
  );
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function CellNodes({ metric, cursor, width, edges, onClose }: { metric: DistributionMetric; cursor: Cursor; width: number; edges: number[];
                                                               onClose: () => void }) {
  const cell = useLiveFetch((s) => get<DistributionCell>("/metrics/nodes/distribution/cell",
    { metric, ts: cursor.step.ts, step: width, bucket: cursor.bucket, limit: CELL_ROWS }, s), [metric, cursor.step.ts, cursor.bucket, width], []);
  const c = cell.data;
  return (
    <div class="dist-cell" data-testid="distribution-cell">
      <div class="row-head">
        <b>{label(cursor, edges)}</b><span class="grow" />
        <button class="link" onClick={onClose}>close</button>
      </div>
      <ErrorBox error={cell.error} />
      {c && (
        <table class="grid compact">
          <tbody>
            {c.nodes.map((n) => (
              <tr key={n.node_id}>
                <td><Link href={`/nodes/${n.node_id}`}>{shortId(n.node_id, 12)}</Link></td>
                <td>{n.node_ip ?? "–"}</td>
                <td>{n.state ? <Badge state={n.state} /> : "–"}</td>
                <td class="num">{pct(n.value, 1)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {c && c.total > c.nodes.length && <div class="muted small">The {c.nodes.length} highest of {c.total.toLocaleString("en-US")} nodes in this cell.</div>}
    </div>
  );
}
