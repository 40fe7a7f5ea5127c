// Nodes: the table (paged, sorted and filtered by the head; distributions over it past ~100 nodes)
// and the node page with live charts and processes.
import { get } from "../api";
import { TimeChart } from "../components/chart";
import { DropsCard } from "../components/drops";
import { MoreRows, usePagedList } from "../components/paging";
import { ProfileActions } from "../components/profile-actions";
import { Table } from "../components/table";
import { DistributionCard, useDistributions } from "../components/distribution";
import { Badge, Card, ErrorBox, KV, Link, Meter, PageTitle, Select } from "../components/ui";
import { ago, bytes, num, pct, resources, shortId, time } from "../format";
import { useLiveFetch } from "../hooks";
import { perNode, rate } from "../metrics";
import { setParams, useLocation } from "../router";
import type { ClusterInfo, Node, NodeMetricPoint, NodeMetricSeries, NodeProfilingCapabilities, Process } from "../types";
import { distRangeLabel, useNodeSeries, useNodeSummary } from "./overview";
import { WorkerTable } from "./workers";

const PROCESS_PAGE = 2000;
const NODE_PAGE = 100;
const IO_IDS_PER_CALL = 100;  // node ids per /metrics/nodes call (they travel in the URL)
const STALE_IO_S = 15;  // newest sample older than this: the node's latest io is not shown
const HOT_PERCENT = 90;
const SORTS: [string, string][] = [["", "node id"], ["-cpu_percent", "CPU, busiest first"], ["-mem_used", "memory used, most first"],
  ["-object_store_used", "object store used, most first"], ["node_ip", "IP"], ["state", "state"]];
const HOT: [string, string][] = [["", "any"], ["cpu", `CPU ≥ ${HOT_PERCENT}%`], ["mem", `memory ≥ ${HOT_PERCENT}%`],
  ["store", `object store ≥ ${HOT_PERCENT}%`]];

/** Latest disk/network figures of the nodes shown: each node's two newest samples, for the rates. */
function useLatestIo(nodeIds: string[]) {
  return useLiveFetch(async (s) => {
    const now = Date.now() / 1000;
    const out = new Map<string, { last: NodeMetricPoint; rx: number | null; tx: number | null }>();
    const calls = [];
    for (let i = 0; i < nodeIds.length; i += IO_IDS_PER_CALL) {
      calls.push(get<NodeMetricSeries[]>("/metrics/nodes", { node_id: nodeIds.slice(i, i + IO_IDS_PER_CALL), latest: 2 }, s));
    }
    for (const x of (await Promise.all(calls)).flat()) {
      const n = x.points.length;
      if (!n || x.points[n - 1].ts < now - STALE_IO_S) continue;  // a node that stopped sampling: no "now"
      const last = x.points[n - 1], prev = n > 1 ? x.points[n - 2] : null;
      const dt = prev ? last.ts - prev.ts : 0;
      out.set(x.node_id, { last, rx: rate(last.net_recv_bytes, prev?.net_recv_bytes ?? null, dt),
        tx: rate(last.net_sent_bytes, prev?.net_sent_bytes ?? null, dt) });
    }
    return out;
  }, [nodeIds.join(",")], ["metrics"], undefined, 3000);
}

/** What each node's agent can profile (GET /profiling/capabilities), re-read when nodes change. */
function useProfilingCaps() {
  return useLiveFetch(async (s) => new Map((await get<NodeProfilingCapabilities[]>("/profiling/capabilities", {}, s)).map((c) => [c.node_id, c])),
    [], ["nodes"], undefined, 5000);
}

/** A node's profiling in a few words: the ptrace mode (py-spy works) or the fallback, with the remedy
 * and the missing tools (memray, gdb) on hover. */
function ProfilingCell({ c }: { c: NodeProfilingCapabilities | undefined }) {
  if (!c) return <span class="muted">–</span>;
  if (!c.connected) return <span class="muted" title="the node's agent holds no profiling link to the head">no link</span>;
  const missing = [!c.py_spy && "py-spy", !c.memray && "memray", !c.gdb && "gdb"].filter(Boolean) as string[];
  const tip = [c.py_spy ? `py-spy ${c.py_spy_version ?? ""} (${c.py_spy})` : "py-spy missing",
    `ptrace: ${c.ptrace ?? "unknown"}`, c.remedy && `fix: ${c.remedy}`, ...c.notes].filter(Boolean).join("\n");
  const limited = !c.py_spy || c.ptrace === "denied";
  return (
    <span title={tip} data-testid="profiling-cell" data-node-id={c.node_id}>
      {limited ? <span class="bad-text">{c.fallback_signal ? "stacks via fallback" : "no stacks"}</span>
        : <span class="ok-text">ptrace: {c.ptrace}</span>}
      {missing.length > 0 && <span class="tag" style={{ color: "var(--warn)" }}>no {missing.join(", ")}</span>}
      {c.remedy && <span class="muted small"> ⚠</span>}
    </span>
  );
}

export function NodesPage({ info }: { info: ClusterInfo }) {
  const { params } = useLocation();
  const f = { state: params.get("state") ?? "", sort: params.get("sort") ?? "", hot: params.get("hot") ?? "" };
  const hot = HOT.some(([k]) => k && k === f.hot) ? f.hot : "";
  const counts = useNodeSummary();
  const many = counts.many;
  const dist = useDistributions(info, many === true);
  const table = usePagedList<Node>("/nodes", { state: f.state || undefined }, NODE_PAGE,
    { sort: f.sort || undefined, [`min_${hot}_percent`]: hot ? HOT_PERCENT : undefined }, ["nodes", "metrics"], undefined, 3000);
  const rows = table.data?.rows ?? [];
  const io = useLatestIo(rows.map((n) => n.node_id));
  const caps = useProfilingCaps();
  return (
    <div data-testid="page-nodes">
      <PageTitle title="Nodes" sub={<span data-testid="nodes-count">{num(counts.alive)} alive of {num(counts.total)}</span>} />
      <ErrorBox error={counts.error ?? table.error ?? dist.error} />
      {many && (
        <div class="grid2" data-testid="nodes-distributions">
          <DistributionCard dist={dist.data} metric="cpu" testid="dist-cpu"
                            extra={<span class="muted small">{num(counts.total)} nodes · {distRangeLabel(info)}</span>} />
          <DistributionCard dist={dist.data} metric="mem" testid="dist-mem" />
          <DistributionCard dist={dist.data} metric="store" testid="dist-store" />
          <DistributionCard dist={dist.data} metric="gpu" testid="dist-gpu" />
        </div>
      )}
      <Card>
        <div class="filters">
          <Select label="State" name="state" value={f.state} onChange={(v) => setParams({ state: v })}
                  options={[["", "any"], ["ALIVE", "ALIVE"], ["DEAD", "DEAD"]]} />
          <Select label="Busy" name="hot" value={hot} onChange={(v) => setParams({ hot: v })} options={HOT} />
          <Select label="Sort by" name="sort" value={f.sort} onChange={(v) => setParams({ sort: v })} options={SORTS} />
        </div>
        <Table testid="nodes-table" rows={rows} rowKey={(n) => n.node_id}
               empty={counts.total ? "No node matches these filters." : "No nodes reported yet."} cols={[
          { key: "id", label: "Node", render: (n) => <Link href={`/nodes/${n.node_id}`}>{shortId(n.node_id, 12)}</Link> },
          { key: "state", label: "State", render: (n) => <Badge state={n.state} /> },
          { key: "ip", label: "IP", render: (n) => <>{n.node_ip ?? "–"}{n.is_head_node && <span class="tag">head</span>}</> },
          { key: "cpu", label: "CPU", render: (n) => <Meter value={n.cpu_percent} max={100} label={pct(n.cpu_percent)} /> },
          { key: "mem", label: "Memory", render: (n) => <Meter value={n.mem_used} max={n.mem_total} label={`${bytes(n.mem_used)} / ${bytes(n.mem_total)}`} /> },
          { key: "gpu", label: "GPU", render: (n) => { const l = io.data?.get(n.node_id)?.last; return n.num_gpus ? `${n.num_gpus} · ${pct((l?.gpu_utilization_ratio ?? 0) * 100)}` : "–"; } },
          { key: "gram", label: "GRAM", render: (n) => { const l = io.data?.get(n.node_id)?.last; return n.num_gpus ? bytes(l?.gpu_memory_used) : "–"; } },
          { key: "store", label: "Object store", render: (n) => <Meter value={n.object_store_used} max={n.object_store_capacity} label={`${bytes(n.object_store_used)} / ${bytes(n.object_store_capacity)}`} /> },
          { key: "disk", label: "Disk", render: (n) => { const l = io.data?.get(n.node_id)?.last; return l ? <Meter value={l.disk_used} max={l.disk_total} label={`${bytes(l.disk_used)} / ${bytes(l.disk_total)}`} /> : "–"; } },
          { key: "net", label: "Network ↓/↑", render: (n) => { const x = io.data?.get(n.node_id); return x ? `${bytes(x.rx)}/s · ${bytes(x.tx)}/s` : "–"; } },
          { key: "res", label: "Logical resources", cls: "clip", render: (n) => <span title={resources(n.resources_total)}>{resources(n.resources_total)}</span> },
          { key: "agent", label: "Agent", render: (n) => <AgentLink n={n} /> },
          { key: "prof", label: "Profiling", render: (n) => <ProfilingCell c={caps.data?.get(n.node_id)} /> },
        ]} />
        <MoreRows page={table.data} pageSize={NODE_PAGE} what="nodes" onMore={table.more} />
      </Card>
      <DropsCard />
    </div>
  );
}

export function ProcessTable({ nodeId }: { nodeId: string }) {
  const procs = usePagedList<Process>("/processes", { node_id: nodeId }, PROCESS_PAGE, { sort: "-cpu_percent" }, ["processes"],
    (rows) => rows.some((r) => r.node_id === nodeId), 2000);
  return (
    <>
    <Table testid="process-table" rows={procs.data?.rows ?? []} rowKey={(p) => String(p.pid)} empty="No process snapshot yet." cols={[
      { key: "pid", label: "PID", render: (p) => p.pid },
      { key: "role", label: "Role", render: (p) => <span class="tag">{p.role}</span> },
      { key: "title", label: "Process", cls: "clip", render: (p) => <span title={p.cmdline ?? ""}>{p.title ?? p.cmdline ?? "–"}</span> },
      { key: "task", label: "Running", cls: "clip", render: (p) => p.task_id ? <Link href={`/tasks/${p.task_id}`}>{p.task_name ?? shortId(p.task_id)}</Link>
          : p.actor_id ? <Link href={`/actors/${p.actor_id}`}>{p.actor_class ?? shortId(p.actor_id)}</Link> : <span class="muted">idle</span> },
      { key: "cpu", label: "CPU", cls: "num", render: (p) => pct(p.cpu_percent, 1) },
      { key: "rss", label: "RSS", cls: "num", render: (p) => bytes(p.rss) },
      { key: "uss", label: "USS", cls: "num", render: (p) => bytes(p.uss) },
      { key: "gpu", label: "GPU mem", cls: "num", render: (p) => (p.gpu_memory_used ? bytes(p.gpu_memory_used) : "–") },
      // the raylet is C++: no Python stack to show
      { key: "prof", label: "", render: (p) => (p.role === "raylet" ? null
          : <ProfileActions compact target={{ pid: p.pid, node_id: p.node_id }} label={p.task_name ?? p.title ?? `pid ${p.pid}`} />) },
    ]} />
    <MoreRows page={procs.data} pageSize={PROCESS_PAGE} what="processes (busiest first)" onMore={procs.more} />
    </>
  );
}

export function NodePage({ id, info }: { id: string; info: ClusterInfo }) {
  const node = useLiveFetch((s) => get<Node>(`/nodes/${id}`, {}, s), [id], ["nodes", "metrics"],
    (rows) => rows.some((r) => r.node_id === id), 2000);
  const series = useNodeSeries(info, id, 600);
  const n = node.data;
  const one = new Map(n ? [[n.node_id, n]] : []);
  const sr = series.data ?? [];
  const pts = sr[0]?.points ?? [];
  const dt = (p: NodeMetricPoint, q: NodeMetricPoint | null) => (q ? p.ts - q.ts : 0);
  const cpu = perNode(sr, one, (p) => p.cpu_percent);
  const mem = perNode(sr, one, (p) => p.mem_used);
  const store = perNode(sr, one, (p) => p.object_store_used);
  const netRx = perNode(sr, one, (p, q) => rate(p.net_recv_bytes, q?.net_recv_bytes ?? null, dt(p, q)));
  const netTx = perNode(sr, one, (p, q) => rate(p.net_sent_bytes, q?.net_sent_bytes ?? null, dt(p, q)));
  const net = { data: [netRx.data[0], netRx.data[1] ?? [], netTx.data[1] ?? []], defs: [{ label: "recv/s", color: "#2563eb" }, { label: "sent/s", color: "#16a34a" }] };
  const gram = perNode(sr, one, (p) => p.gpu_memory_used);
  const last = pts[pts.length - 1];
  return (
    <div data-testid="page-node">
      <PageTitle title={<>Node {shortId(id, 12)} {n && <Badge state={n.state} />}</>} sub={n?.node_ip ?? undefined} />
      <ErrorBox error={node.error} />
      {n && (
        <Card>
          <KV rows={[
            ["Node id", <code>{n.node_id}</code>], ["IP / host", `${n.node_ip ?? "–"} · ${n.hostname ?? "–"}`],
            ["Role", n.is_head_node ? "head" : "worker"], ["Started", time(n.start_time)],
            ["Ended", n.end_time ? `${time(n.end_time)} — ${n.death_reason ?? ""} ${n.death_message ?? ""}` : "–"],
            ["Resources", resources(n.resources_total)], ["GPUs", num(n.num_gpus)],
            ["Disk", last ? `${bytes(last.disk_used)} / ${bytes(last.disk_total)}` : "–"],
            ["Agent", <AgentLink n={n} />],
            ["Logs", <Link href={`/logs?node=${n.node_id}`}>this node's log files →</Link>],
          ]} />
        </Card>
      )}
      <div class="grid2">
        <Card title="CPU"><TimeChart data={cpu.data} series={cpu.defs} fmt={(v) => `${v.toFixed(0)}%`} yMax={100} testid="chart-cpu" /></Card>
        <Card title="Memory"><TimeChart data={mem.data} series={mem.defs} fmt={bytes} emptyTop={1024} /></Card>
        <Card title="Object store"><TimeChart data={store.data} series={store.defs} fmt={bytes} emptyTop={1024} /></Card>
        <Card title="Network"><TimeChart data={net.data} series={net.defs} fmt={(v) => `${bytes(v)}/s`} /></Card>
        {(n?.num_gpus ?? 0) > 0 && <Card title="GPU memory"><TimeChart data={gram.data} series={gram.defs} fmt={bytes} emptyTop={1024} /></Card>}
      </div>
      <Card title="Processes" extra={<span class="muted small">latest snapshot</span>}><ProcessTable nodeId={id} /></Card>
      <Card title="Workers" extra={<span class="muted small">alive and dead</span>}><WorkerTable filters={{ node_id: id }} testid="node-workers" /></Card>
    </div>
  );
}

/** A live node whose agent is not connected is news (a cut link, a dead agent): say it in red.
 * A dead node's agent is expected to be gone. */
function AgentLink({ n }: { n: Node }) {
  if (n.agent_connected) return <span class="ok-text">connected</span>;
  const seen = n.agent_last_seen ? `last seen ${ago(n.agent_last_seen)}` : "never seen";
  if (n.state === "DEAD") return <span class="muted">{seen}</span>;
  return <span><span class="bad-text" data-testid="agent-disconnected">disconnected</span> <span class="muted">{seen}</span></span>;
}
