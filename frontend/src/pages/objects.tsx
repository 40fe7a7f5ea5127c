// Objects / memory: object-store use and spilling per node over time, and the object references table.
import { TimeChart } from "../components/chart";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { Card, ErrorBox, Link, PageTitle, Select, TextFilter } from "../components/ui";
import { bytes, shortId } from "../format";
import { perNode } from "../metrics";
import { setParams, useLocation } from "../router";
import type { ClusterInfo, ObjectRef } from "../types";
import { DistributionCard, useDistributions } from "../components/distribution";
import { distRangeLabel, useNodes, useNodeSeries, useNodeSummary } from "./overview";

const PAGE = 1000;
const REF_TYPES = ["ACTOR_HANDLE", "PINNED_IN_MEMORY", "USED_BY_PENDING_TASK", "LOCAL_REFERENCE", "CAPTURED_IN_OBJECT"];

export function ObjectsPage({ info }: { info: ClusterInfo }) {
  const { params } = useLocation();
  const f = { node_id: params.get("node") ?? "", reference_type: params.get("type") ?? "", job_id: params.get("job") ?? "" };
  const nodes = useNodes();
  const many = useNodeSummary().many;  // past DISTRIBUTION_OVER nodes: the store's distribution, not a line per node
  const series = useNodeSeries(info, undefined, 360, many === false);
  const dist = useDistributions(info, many === true);
  const byId = new Map((nodes.data?.rows ?? []).map((n) => [n.node_id, n]));
  const used = perNode(series.data ?? [], byId, (p) => p.object_store_used);
  const spilled = perNode(series.data ?? [], byId, (p) => p.object_store_spilled);
  const key = JSON.stringify(f);
  const refs = usePagedList<ObjectRef>("/objects", f, PAGE, { sort: "-object_size" }, ["processes"], undefined, 3000);
  const rows = refs.data?.rows ?? [];
  const total = rows.reduce((a, r) => a + (r.object_size ?? 0), 0);
  return (
    <div data-testid="page-objects">
      <PageTitle title="Objects & memory" />
      {many === false && <div class="grid2">
        <Card title="Object store used"><TimeChart data={used.data} series={used.defs} fmt={bytes} emptyTop={1024} testid="chart-store" /></Card>
        <Card title="Spilled to disk (total)"><TimeChart data={spilled.data} series={spilled.defs} fmt={bytes} emptyTop={1024} /></Card>
      </div>}
      {many && <DistributionCard dist={dist.data} metric="store" testid="dist-store"
                                 extra={<span class="muted small">{distRangeLabel(info)}; spilled bytes on each node's page</span>} />}
      <Card title="Object references" extra={<span class="muted small">{rows.length}{refs.data?.next_cursor ? "+" : ""} refs · {bytes(total)}{refs.data?.next_cursor ? " shown" : ""} (latest snapshot per node)</span>}>
        <div class="filters">
          <Select label="Node" name="node" value={f.node_id} onChange={(v) => setParams({ node: v })}
                  options={[["", "any"], ...(nodes.data?.rows ?? []).map((n) => [n.node_id, n.node_ip ? `${n.node_ip} ${shortId(n.node_id, 6)}` : shortId(n.node_id, 6)] as [string, string])]} />
          <Select label="Reference type" name="type" value={f.reference_type} onChange={(v) => setParams({ type: v })}
                  options={[["", "any"], ...REF_TYPES.map((t) => [t, t] as [string, string])]} />
          <TextFilter label="Job" name="job" value={f.job_id} onCommit={(v) => setParams({ job: v })} />
        </div>
        <ErrorBox error={refs.error} />
        <Table testid="objects-table" rows={rows} rowKey={(o) => `${o.node_id}:${o.object_id}:${o.pid}:${o.reference_type}`} empty="No object references in the latest snapshots." cols={[
          { key: "id", label: "Object", render: (o) => <code title={o.object_id}>{shortId(o.object_id, 16)}</code> },
          { key: "size", label: "Size", cls: "num", render: (o) => bytes(o.object_size) },
          { key: "type", label: "Reference type", render: (o) => <span class="tag">{o.reference_type}</span> },
          { key: "owner", label: "Owner", render: (o) => <>{o.worker_type ?? "?"} pid {o.pid}</> },
          { key: "node", label: "Node", render: (o) => <Link href={`/nodes/${o.node_id}`}>{o.node_ip ?? shortId(o.node_id)}</Link> },
          { key: "job", label: "Job", render: (o) => (o.job_id ? <Link href={`/jobs/${o.job_id}`}>{o.job_id}</Link> : "–") },
          { key: "status", label: "Task status", render: (o) => o.task_status ?? "–" },
          { key: "site", label: "Call site", cls: "clip", render: (o) => <span title={o.call_site ?? ""}>{o.call_site ?? "–"}</span> },
        ]} />
        <MoreRows page={refs.data} pageSize={PAGE} what="object references (largest first)" onMore={refs.more} />
      </Card>
    </div>
  );
}
