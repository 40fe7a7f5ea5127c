// Application metrics (ray.util.metrics): every metric with its tags and latest values, and the one
// picked in the URL (?name=) charted over time, summed over nodes, one line per value of ?by= (a tag):
// live, the last hour; in history mode, the whole run.
import uPlot from "uplot";
import { get } from "../api";
import { PALETTE, TimeChart } from "../components/chart";
import { Table } from "../components/table";
import { Card, Empty, ErrorBox, PageTitle, Select } from "../components/ui";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import type { AppMetric, AppMetricGroup, AppMetricPoint, AppMetricValue, ClusterInfo } from "../types";

const num = (v: number | null | undefined): string => (v === null || v === undefined ? "–" : String(+v.toPrecision(6)));

function reading(m: AppMetric, v: AppMetricValue): string {
  return m.type === "histogram" ? `count ${num(v.count)} · sum ${num(v.sum)}` : num(v.value);
}

const tagText = (tags: Record<string, string>): string =>
  Object.entries(tags).sort().map(([k, v]) => `${k}=${v}`).join(", ") || "(no tags)";

/** What a chart line shows of a point: a histogram's observation count, else the value. */
const plotted = (m: AppMetric, p: AppMetricPoint): number | null => (m.type === "histogram" ? p.count : p.value) ?? null;

function aligned(m: AppMetric, groups: AppMetricGroup[]): { data: (number | null)[][]; defs: { label: string; color: string }[] } {
  if (groups.length === 0) return { data: [[]], defs: [] };
  const tables = groups.map((g) => [g.points.map((p) => p.ts), g.points.map((p) => plotted(m, p))] as uPlot.AlignedData);
  const defs = groups.map((g, i) => ({ label: g.group ?? (groups.length > 1 ? "(tag not set)" : m.name), color: PALETTE[i % PALETTE.length] }));
  return { data: uPlot.join(tables) as (number | null)[][], defs };
}

export function AppMetricsPage({ info }: { info: ClusterInfo }) {
  const { params } = useLocation();
  const metrics = useLiveFetch((s) => get<AppMetric[]>("/metrics/app", {}, s), [], ["app_metrics"], undefined, 2000);
  const list = metrics.data ?? [];
  const picked = list.find((m) => m.name === params.get("name")) ?? list[0];
  const by = params.get("by") ?? "";
  const series = useLiveFetch((s) => (picked ? get<AppMetricGroup[]>(`/metrics/app/${encodeURIComponent(picked.name)}`,
                                                                        // history: the whole run (the range is fitted to the data)
                                                                        { group_by: by || null, since: info.live ? null : 0 }, s)
                                                : Promise.resolve([])),
                              [picked?.name, by], ["app_metrics"], undefined, 2000);
  const chart = picked ? aligned(picked, series.data ?? []) : { data: [[]], defs: [] };
  return (
    <div data-testid="page-app-metrics">
      <PageTitle title="Application metrics" sub="recorded with ray.util.metrics, read from each node's Ray metrics endpoint" />
      <ErrorBox error={metrics.error} />
      {picked && (
        <Card title={<>{picked.name} <span class="muted small">{picked.type}{picked.type === "histogram" ? " · observation count" : ""}, summed over nodes</span></>}
              extra={<Select label="Group by" name="by" value={by} onChange={(v) => setParams({ by: v })}
                             options={[["", "nothing (total)"], ...picked.tag_keys.map((k) => [k, k] as [string, string])]} />}>
          <ErrorBox error={series.error} />
          <TimeChart data={chart.data} series={chart.defs} fmt={num} testid="chart-app-metric"
                     showPoints={(chart.data[0]?.length ?? 0) < 60} />
        </Card>
      )}
      <Card title="Metrics" extra={<span class="muted small">{list.length} metrics · at most 100 tag sets per metric and node (more are reported as dropped on the Nodes page)</span>}>
        {list.length === 0 && !metrics.loading ? <Empty>No application metrics yet. Record one with ray.util.metrics (Counter, Gauge, Histogram).</Empty> : (
          <Table testid="app-metrics-table" rows={list} rowKey={(m) => m.name}
                 rowClass={(m) => (m.name === picked?.name ? "selected" : "")} cols={[
            { key: "name", label: "Name", render: (m) => <a href="#" onClick={(e) => { e.preventDefault(); setParams({ name: m.name, by: null }); }}><code>{m.name}</code></a> },
            { key: "type", label: "Type", render: (m) => <span class="tag">{m.type}</span> },
            { key: "desc", label: "Description", cls: "clip", render: (m) => <span title={m.description}>{m.description || "–"}</span> },
            { key: "tags", label: "Tag keys", render: (m) => m.tag_keys.join(", ") || "–" },
            { key: "n", label: "Series", cls: "num", render: (m) => m.series_count },
            { key: "now", label: "Latest (per tag set)", render: (m) => (
              <div class="small">{m.series.slice(0, 5).map((v) => <div key={tagText(v.tags)}>{tagText(v.tags)}: <b>{reading(m, v)}</b></div>)}
                {m.series.length > 5 && <div class="muted">… {m.series.length - 5} more</div>}</div>) },
          ]} />
        )}
      </Card>
    </div>
  );
}
