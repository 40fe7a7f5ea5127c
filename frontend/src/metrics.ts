// Node metric series -> aligned uPlot data, one line per node.
import uPlot from "uplot";
import { PALETTE, type SeriesDef } from "./components/chart";
import type { Node, NodeMetricPoint, NodeMetricSeries } from "./types";

/** Past this many nodes, charts show distributions across nodes, not a line per node (Dask's
 * dashboard switches its per-worker charts to histograms past 50 workers). */
export const DISTRIBUTION_OVER = 100;

export function nodeLabel(n: Pick<Node, "node_id" | "node_ip" | "is_head_node"> | undefined, id: string): string {
  if (!n) return id.slice(0, 8);
  return `${n.is_head_node ? "head " : ""}${n.node_ip ?? ""} ${id.slice(0, 6)}`.trim();
}

export function perNode(series: NodeMetricSeries[], nodes: Map<string, Node>,
                        pick: (p: NodeMetricPoint, prev: NodeMetricPoint | null) => number | null):
  { data: (number | null)[][]; defs: SeriesDef[] } {
  if (series.length === 0) return { data: [[]], defs: [] };
  const tables: uPlot.AlignedData[] = series.map((s) => {
    const xs: number[] = [], ys: (number | null)[] = [];
    s.points.forEach((p, i) => { xs.push(p.ts); ys.push(pick(p, i > 0 ? s.points[i - 1] : null)); });
    return [xs, ys] as uPlot.AlignedData;
  });
  const data = uPlot.join(tables) as (number | null)[][];
  const defs = series.map((s, i) => ({ label: nodeLabel(nodes.get(s.node_id), s.node_id), color: PALETTE[i % PALETTE.length] }));
  return { data, defs };
}

/** `fresh` points appended to `held` per node (only those newer than a node's last point, so a
 * re-sent sample is not drawn twice), points older than `cutoff` dropped; nodes new in `fresh` added. */
export function appendSeries(held: NodeMetricSeries[], fresh: NodeMetricSeries[], cutoff: number): NodeMetricSeries[] {
  const out = new Map(held.map((s) => [s.node_id, s.points.filter((p) => p.ts >= cutoff)]));
  for (const s of fresh) {
    const pts = out.get(s.node_id) ?? [];
    const last = pts.length ? pts[pts.length - 1].ts : -Infinity;
    out.set(s.node_id, pts.concat(s.points.filter((p) => p.ts > last)));
  }
  return [...out].map(([node_id, points]) => ({ node_id, points }));
}

/** Per-second rate of a counter between two samples (null at the first sample or a reset). */
export function rate(cur: number, prev: number | null, dt: number): number | null {
  if (prev === null || dt <= 0 || cur < prev) return null;
  return (cur - prev) / dt;
}
