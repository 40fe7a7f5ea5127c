// Workers: every worker and driver Ray registered, alive or dead, with how it exited (GCS's worker table).
import { MoreRows, usePagedList } from "../components/paging";
import { ProfileActions } from "../components/profile-actions";
import { Table } from "../components/table";
import { Card, ErrorBox, Link, PageTitle, Select, TextFilter } from "../components/ui";
import { bytes, pct, shortId, time } from "../format";
import { setParams, useLocation } from "../router";
import type { Worker } from "../types";

const PAGE = 1000;

export function WorkerTable({ filters, testid = "workers-table" }: { filters: Record<string, string | undefined>; testid?: string }) {
  const r = usePagedList<Worker>("/workers", filters, PAGE, { sort: "-start_time" }, ["workers", "processes"], undefined, 2000);
  return (
    <>
      <ErrorBox error={r.error} />
      <Table testid={testid} rows={r.data?.rows ?? []} rowKey={(w) => w.worker_id ?? `${w.node_id}:${w.pid}`}
             empty="No workers recorded." rowClass={(w) => (w.is_alive ? "" : "dead-row")} cols={[
        { key: "id", label: "Worker", render: (w) => <code title={w.worker_id ?? ""}>{shortId(w.worker_id, 12)}</code> },
        { key: "alive", label: "State", render: (w) => (w.is_alive ? <span class="ok-text">alive</span> : <span class="muted">dead</span>) },
        { key: "prof", label: "Look inside", render: (w) => (w.is_alive && w.worker_id ? <ProfileActions compact target={{ worker_id: w.worker_id }} label={w.task_name ?? undefined} /> : null) },
        { key: "type", label: "Type", render: (w) => <span class="tag">{w.worker_type}</span> },
        { key: "pid", label: "PID", render: (w) => w.pid },
        { key: "exit", label: "Exit type", render: (w) => (w.exit_type ? <span class={w.exit_type.startsWith("INTENDED") ? "" : "bad-text"}>{w.exit_type}</span> : "–") },
        { key: "detail", label: "Exit detail", cls: "clip", render: (w) => <span title={w.exit_detail ?? ""}>{w.exit_detail ?? ""}</span> },
        { key: "node", label: "Node", render: (w) => <Link href={`/nodes/${w.node_id}`}>{shortId(w.node_id)}</Link> },
        { key: "job", label: "Job", render: (w) => (w.job_id ? <Link href={`/jobs/${w.job_id}`}>{w.job_id}</Link> : "–") },
        { key: "task", label: "Running", cls: "clip", render: (w) => (w.task_id ? <Link href={`/tasks/${w.task_id}`}>{w.task_name ?? shortId(w.task_id)}</Link> : "–") },
        { key: "cpu", label: "CPU", cls: "num", render: (w) => (w.cpu_percent === null || w.cpu_percent === undefined ? "–" : pct(w.cpu_percent, 1)) },
        { key: "rss", label: "RSS", cls: "num", render: (w) => (w.rss ? bytes(w.rss) : "–") },
        { key: "start", label: "Started", render: (w) => time(w.start_time) },
        { key: "end", label: "Ended", render: (w) => time(w.end_time) },
      ]} />
      <MoreRows page={r.data} pageSize={PAGE} what="workers" onMore={r.more} />
    </>
  );
}

export function WorkersPage() {
  const { params } = useLocation();
  const f = { is_alive: params.get("alive") ?? "", node_id: params.get("node") ?? "", job_id: params.get("job") ?? "",
              exit_type: params.get("exit") ?? "" };
  return (
    <div data-testid="page-workers">
      <PageTitle title="Workers" sub="alive and dead, as Ray's worker table records them" />
      <Card>
        <div class="filters">
          <Select label="State" name="alive" value={f.is_alive} onChange={(v) => setParams({ alive: v })}
                  options={[["", "any"], ["true", "alive"], ["false", "dead"]]} />
          <Select label="Exit type" name="exit" value={f.exit_type} onChange={(v) => setParams({ exit: v })}
                  options={[["", "any"], ...["SYSTEM_ERROR", "NODE_OUT_OF_MEMORY", "USER_ERROR", "INTENDED_USER_EXIT", "INTENDED_SYSTEM_EXIT"].map((t) => [t, t] as [string, string])]} />
          <TextFilter label="Node" name="node" value={f.node_id} onCommit={(v) => setParams({ node: v })} />
          <TextFilter label="Job" name="job" value={f.job_id} onCommit={(v) => setParams({ job: v })} />
        </div>
        <WorkerTable filters={{ is_alive: f.is_alive || undefined, node_id: f.node_id || undefined, job_id: f.job_id || undefined,
                                exit_type: f.exit_type || undefined }} />
      </Card>
    </div>
  );
}
