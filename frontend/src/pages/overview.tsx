// Overview: nodes, utilization charts (live: the last hour, its newest 10 minutes per second; history: the
// whole run), task states per job, failures, running jobs.
import { useRef } from "preact/hooks";
import { get, list } from "../api";
import { TimeChart } from "../components/chart";
import { DistributionCard, useDistributions } from "../components/distribution";
import { DropsBanner } from "../components/drops";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { Badge, Card, Empty, ErrorBox, Link, PageTitle, Stat, StateBar, StateCounts } from "../components/ui";
import { ago, bytes, duration, firstLine, num, shortId } from "../format";
import { useLiveFetch } from "../hooks";
import { appendSeries, DISTRIBUTION_OVER, perNode } from "../metrics";
import { jobHref, jobKey } from "./jobs";
import type { ActorSummary, ClusterInfo, Job, Node, NodeMetricSeries, NodeSummary, Page, Task, TaskSummary } from "../types";

const WINDOW_S = 3600;
const LATEST_JOBS = 10;
const RUNNING_PAGE = 100;
// A live chart asks for only what is new since its last point, and for the whole hour again this
// often (re-averaging what has aged out of the head's full-resolution tier).
const FULL_EVERY_S = 60;

/** Every node (labels for the per-node charts); `enabled` false: none fetched (a large cluster). */
export function useNodes(enabled = true) {
  return useLiveFetch(async (s) => (enabled ? get<Page<Node>>("/nodes", { limit: 10000 }, s) : { rows: [], next_cursor: null }),
    [enabled], ["nodes"]);
}

/** How many nodes, by state: the counts, and whether charts show distributions (past DISTRIBUTION_OVER). */
export function useNodeSummary() {
  const r = useLiveFetch((s) => get<NodeSummary>("/nodes/summary", {}, s), [], ["nodes"]);
  const total = r.data?.total ?? 0, alive = r.data?.states.ALIVE ?? 0;
  return { ...r, total, alive, many: r.data ? total > DISTRIBUTION_OVER : null };
}

/** A live cluster: the last hour (the head fits it to the samples that exist, so a young cluster
 * fills the chart, and sends the newest 10 minutes at the agent's 1 s resolution). A finished
 * cluster: its whole run, from its first sample to its last. */
export function useNodeSeries(info: ClusterInfo, nodeId?: string, maxPoints = 360, enabled = true) {
  const held = useRef<{ key: string; fullAt: number; series: NodeMetricSeries[] } | null>(null);
  return useLiveFetch(async (s) => {
    if (!enabled) return [];
    const now = Date.now() / 1000;
    if (!info.live) return get<NodeMetricSeries[]>("/metrics/nodes", { node_id: nodeId, since: 0, until: now, max_points: maxPoints }, s);
    const key = nodeId ?? "";
    const h = held.current;
    if (h && h.key === key && h.series.length && now - h.fullAt < FULL_EVERY_S) {
      // Since the oldest of the nodes' last points, every sample raw: a few points per node. A node
      // silent for longer than the last full fetch has nothing newer to miss.
      const since = Math.max(h.fullAt - 5, Math.min(...h.series.map((x) => (x.points.length ? x.points[x.points.length - 1].ts : now))));
      const fresh = await get<NodeMetricSeries[]>("/metrics/nodes",
        { node_id: nodeId, since, raw_s: Math.min(WINDOW_S, now - since + 5), max_points: 1 }, s);
      h.series = appendSeries(h.series, fresh, now - WINDOW_S);
      return h.series;
    }
    const series = await get<NodeMetricSeries[]>("/metrics/nodes", { node_id: nodeId, since: now - WINDOW_S, max_points: maxPoints }, s);
    held.current = { key, fullAt: now, series };
    return series;
  }, [nodeId, info.live, enabled], ["metrics"], undefined, 2000);
}

export const chartRangeLabel = (info: ClusterInfo): string =>
  info.live ? "last hour · newest 10 min per second · drag to zoom" : "whole run · drag to zoom";

export const distRangeLabel = (info: ClusterInfo): string =>
  `${info.live ? "last hour" : "whole run"} · % of each node · click a cell for its nodes`;

function JobProgress({ job }: { job: Job }) {
  const s = useLiveFetch((sig) => get<TaskSummary>("/tasks/summary", { job_id: job.job_id }, sig), [job.job_id], ["tasks"],
    (rows) => rows.some((r) => r.job_id === job.job_id), 1000);
  const states: Record<string, number> = {};
  for (const r of s.data?.rows ?? []) for (const [k, v] of Object.entries(r.states)) states[k] = (states[k] ?? 0) + v;
  return (
    <div class="job-progress" data-testid="job-progress">
      <div class="row-head">
        <Link href={`/jobs/${job.job_id}`}>Job {job.job_id}</Link> <Badge state={job.state} />
        <span class="muted small">{job.entrypoint ?? ""}</span>
        <span class="grow" />
        <span class="muted small">{num(s.data?.total ?? 0)} tasks</span>
      </div>
      <StateBar states={states} />
      <StateCounts states={states} />
    </div>
  );
}

export function OverviewPage({ info }: { info: ClusterInfo }) {
  const counts = useNodeSummary();
  // One line per node up to DISTRIBUTION_OVER nodes, distributions past that; decided once the count
  // is known, so a large cluster never fetches its nodes' series (nor its node list).
  const many = counts.many;
  const nodes = useNodes(many === false);
  const jobs = useLiveFetch((s) => get<Page<Job>>("/jobs", { limit: LATEST_JOBS }, s), [], ["jobs"]);
  const runningJobs = usePagedList<Job>("/jobs", { state: "RUNNING" }, RUNNING_PAGE, {}, ["jobs"]);
  const summary = useLiveFetch((s) => get<TaskSummary>("/tasks/summary", {}, s), [], ["tasks"], undefined, 1000);
  const actors = useLiveFetch((s) => get<ActorSummary>("/actors/summary", {}, s), [], ["actors"]);
  const failures = useLiveFetch((s) => list<Task>("/tasks", { state: "FAILED" }, { limit: 8 }, s), [], ["tasks"],
    (rows) => rows.some((r) => r.state === "FAILED"));
  const series = useNodeSeries(info, undefined, 360, many === false);
  const dist = useDistributions(info, many === true);

  const nodeList = nodes.data?.rows ?? [];
  const byId = new Map(nodeList.map((n) => [n.node_id, n]));
  const { alive, total } = counts;
  const states: Record<string, number> = {};
  for (const r of summary.data?.rows ?? []) for (const [k, v] of Object.entries(r.states)) states[k] = (states[k] ?? 0) + v;
  const running = Object.entries(states).filter(([k]) => k.startsWith("RUNNING")).reduce((a, [, v]) => a + v, 0);
  const actorStates: Record<string, number> = {};
  for (const r of actors.data?.rows ?? []) for (const [k, v] of Object.entries(r.states)) actorStates[k] = (actorStates[k] ?? 0) + v;
  const sr = series.data ?? [];
  const cpu = perNode(sr, byId, (p) => p.cpu_percent);
  const mem = perNode(sr, byId, (p) => p.mem_used);
  const store = perNode(sr, byId, (p) => p.object_store_used);
  const gpu = perNode(sr, byId, (p) => (p.gpu_utilization_ratio === null ? null : p.gpu_utilization_ratio * 100));
  const hasGpu = sr.some((s) => s.points.some((p) => p.gpu_utilization_ratio !== null));
  const jobRows = (jobs.data?.rows ?? []).filter((j) => j.job_id);  // a submission without a driver has no tasks
  const runningRows = runningJobs.data?.rows ?? [];

  return (
    <div data-testid="page-overview">
      <PageTitle title="Overview" sub={info.session_name ?? undefined} />
      <ErrorBox error={counts.error ?? nodes.error ?? summary.error ?? jobs.error ?? dist.error} />
      <DropsBanner />
      <div class="stats">
        <Stat label="Nodes" value={<span data-testid="nodes-alive">{alive}</span>} sub={`${total - alive} dead`} cls={total - alive ? "warnish" : ""} />
        <Stat label="Jobs" value={<span data-testid="jobs-running">{num(runningRows.length)}{runningJobs.data?.next_cursor ? "+" : ""}</span>} sub="running" />
        <Stat label="Tasks" value={num(summary.data?.total ?? 0)} sub={`${num(running)} running`} />
        <Stat label="Failed tasks" value={<span data-testid="failed-count">{num(states.FAILED ?? 0)}</span>} cls={states.FAILED ? "bad" : ""} sub="all jobs" />
        <Stat label="Actors" value={num(actors.data?.total ?? 0)} sub={`${num(actorStates.ALIVE ?? 0)} alive`} />
      </div>
      {many && (
        <div class="grid2" data-testid="overview-distributions">
          <DistributionCard dist={dist.data} metric="cpu" testid="dist-cpu"
                            extra={<span class="muted small">{num(total)} nodes · {distRangeLabel(info)}</span>} />
          <DistributionCard dist={dist.data} metric="mem" testid="dist-mem" />
          <DistributionCard dist={dist.data} metric="store" testid="dist-store" />
          <DistributionCard dist={dist.data} metric="gpu" testid="dist-gpu" />
        </div>
      )}
      {many === false && <div class="grid2">
        <Card title="CPU" extra={<span class="muted small">{chartRangeLabel(info)}</span>}>
          <TimeChart data={cpu.data} series={cpu.defs} fmt={(v) => `${v.toFixed(0)}%`} yMax={100} testid="chart-cpu" />
        </Card>
        <Card title="Memory">
          <TimeChart data={mem.data} series={mem.defs} fmt={bytes} emptyTop={1024} testid="chart-mem" />
        </Card>
        <Card title="Object store">
          <TimeChart data={store.data} series={store.defs} fmt={bytes} emptyTop={1024} testid="chart-store" />
        </Card>
        <Card title="GPU">
          {hasGpu ? <TimeChart data={gpu.data} series={gpu.defs} fmt={(v) => `${v.toFixed(0)}%`} yMax={100} />
            : <Empty>No GPUs reported by any node.</Empty>}
        </Card>
      </div>}
      <Card title="Tasks by job">
        {jobRows.length === 0 ? <Empty>No jobs yet.</Empty> : jobRows.map((j) => <JobProgress key={jobKey(j)} job={j} />)}
        {jobs.data?.next_cursor && <div class="muted small" data-testid="more-jobs">The latest {LATEST_JOBS} jobs; more exist: <Link href="/jobs">all jobs →</Link></div>}
      </Card>
      <div class="grid2">
        <Card title="Recent failures" extra={<Link href="/tasks?state=FAILED">all failed tasks →</Link>}>
          <Table testid="recent-failures" rows={failures.data?.rows ?? []} rowKey={(t) => `${t.task_id}:${t.attempt}`}
            empty="No failed tasks." cols={[
              { key: "name", label: "Task", render: (t) => <Link href={`/tasks/${t.task_id}`}>{t.name ?? shortId(t.task_id)}</Link> },
              { key: "err", label: "Error", cls: "clip", render: (t) => <span class="err-line" title={t.error_message ?? ""}>{t.error_type ? `${t.error_type}: ` : ""}{firstLine(t.error_message)}</span> },
              { key: "when", label: "When", render: (t) => ago(t.end_time ?? t.creation_time) },
            ]} />
        </Card>
        <Card title="Running jobs" extra={<Link href="/jobs">all jobs →</Link>}>
          <Table testid="running-jobs" rows={runningRows} rowKey={jobKey} empty="No running jobs."
            cols={[
              { key: "id", label: "Job", render: (j) => <Link href={jobHref(j)}>{j.job_id ?? <span class="muted">{j.submission_id} (no driver)</span>}</Link> },
              { key: "ep", label: "Entrypoint", cls: "clip", render: (j) => j.entrypoint ?? "–" },
              { key: "dur", label: "Running for", render: (j) => duration(j.start_time ? Date.now() / 1000 - j.start_time : null) },
            ]} />
          <MoreRows page={runningJobs.data} pageSize={RUNNING_PAGE} what="running jobs" onMore={runningJobs.more} />
        </Card>
      </div>
    </div>
  );
}
