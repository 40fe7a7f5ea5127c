// Ray Train: the runs list, and a run's page (its attempts, each with its workers, errors in full,
// start/end/duration, links to each worker's logs, actor and node, and every status change Ray wrote).
// Everything comes from the head's store, so a stopped cluster's history shows the same.
import { get } from "../api";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { Badge, Card, Empty, ErrorBox, KV, Link, PageTitle, Select, TextFilter } from "../components/ui";
import { duration, resources, shortId, stripAnsi, time } from "../format";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import { TRAIN_RUN_STATES } from "../states";
import type { TrainRun, TrainRunAttempt, TrainRunDetail, TrainWorker } from "../types";

const PAGE = 500;

const runDuration = (r: { start_time?: number | null; end_time?: number | null }) =>
  (r.start_time ? (r.end_time ?? Date.now() / 1000) - r.start_time : null);

function workers(r: TrainRun): string {
  if (r.num_workers != null) return String(r.num_workers);
  if (r.min_workers != null || r.max_workers != null) return `${r.min_workers ?? "?"}–${r.max_workers ?? "?"}`;
  return "–";
}

/** Why the list can be empty: Ray writes Train's events only with tracking on in the trainer's process. */
function NoRuns({ filtered }: { filtered: boolean }) {
  return (
    <Empty>
      <span data-testid="train-no-runs">{filtered ? "No Train runs match these filters." : "No Train runs recorded."}</span> Ray 2.60 reports Train runs only when <code>RAY_TRAIN_ENABLE_STATE_TRACKING=1</code> is
      in the environment of the process that calls <code>trainer.fit()</code>. Clusters started
      with <code>rayscope start</code> set it for every process Ray starts (tasks, actors, submitted jobs); an
      interactive driver needs it in its own shell: <code>RAY_TRAIN_ENABLE_STATE_TRACKING=1 python train.py</code>.
    </Empty>
  );
}

export function TrainPage() {
  const { params } = useLocation();
  const f = { status: params.get("status") ?? "", name: params.get("name") ?? "", job_id: params.get("job") ?? "" };
  const runs = usePagedList<TrainRun>("/train/runs", { status: f.status || undefined, name: f.name || undefined, job_id: f.job_id || undefined },
    PAGE, {}, ["train_runs"]);
  return (
    <div data-testid="page-train">
      <PageTitle title="Train runs" sub="Ray Train runs: each attempt, its workers and errors" />
      <Card>
        <div class="filters">
          <Select label="Status" name="status" value={f.status} onChange={(v) => setParams({ status: v })}
                  options={[["", "any"], ...TRAIN_RUN_STATES.map((s) => [s, s] as [string, string])]} />
          <TextFilter label="Name" name="name" value={f.name} onCommit={(v) => setParams({ name: v })} />
          <TextFilter label="Job" name="job" value={f.job_id} onCommit={(v) => setParams({ job: v })} />
        </div>
        <ErrorBox error={runs.error} />
        <Table testid="train-runs-table" rows={runs.data?.rows ?? []} rowKey={(r) => r.run_id} empty={<NoRuns filtered={Boolean(f.status || f.name || f.job_id)} />} cols={[
          { key: "name", label: "Run", render: (r) => <Link href={`/train/${r.run_id}`}>{r.name || shortId(r.run_id)}</Link> },
          { key: "status", label: "Status", render: (r) => <Badge state={r.status} /> },
          { key: "attempts", label: "Attempts", cls: "num", render: (r) => r.num_attempts },
          { key: "workers", label: "Workers", cls: "num", render: workers },
          { key: "res", label: "Per worker", render: (r) => resources(r.resources_per_worker) },
          { key: "job", label: "Job", render: (r) => (r.job_id ? <Link href={`/jobs/${r.job_id}`}>{r.job_id}</Link> : "–") },
          { key: "start", label: "Started", render: (r) => time(r.start_time) },
          { key: "dur", label: "Duration", render: (r) => duration(runDuration(r)) },
          { key: "detail", label: "Detail", cls: "clip", render: (r) => <span title={r.status_detail ?? ""}>{r.status_detail ?? ""}</span> },
        ]} />
        <MoreRows page={runs.data} pageSize={PAGE} what="runs" onMore={runs.more} />
      </Card>
    </div>
  );
}

function WorkerRow({ w }: { w: TrainWorker }) {
  return (
    <tr data-testid="train-worker">
      <td class="num">{w.world_rank}</td>
      <td class="num">{w.local_rank} / {w.node_rank}</td>
      <td>{w.status ? <Badge state={w.status} /> : "–"}</td>
      <td>{w.node_id ? <Link href={`/nodes/${w.node_id}`}>{w.node_ip ?? shortId(w.node_id)}</Link> : (w.node_ip ?? "–")}</td>
      <td>pid {w.pid ?? "?"}</td>
      <td>{resources(w.resources)}{w.gpu_ids.length ? ` · GPU ${w.gpu_ids.join(",")}` : ""}</td>
      <td>{w.actor_id ? <Link href={`/actors/${w.actor_id}`}>{shortId(w.actor_id)}</Link> : "–"}</td>
      <td>
        {w.actor_id && <Link href={`/actors/${w.actor_id}?tab=logs`} title="this worker's stdout and stderr">logs</Link>}
        {w.log_file_id && <> · <Link href={`/logs?file=${encodeURIComponent(w.log_file_id)}`} title={w.log_file_path ?? ""}>train log</Link></>}
        {!w.log_file_id && w.log_file_path && <span class="muted small" title={w.log_file_path}> · train log not collected</span>}
      </td>
    </tr>
  );
}

function Attempt({ a, n }: { a: TrainRunAttempt; n: number }) {
  return (
    <div data-testid="train-attempt" data-attempt-status={a.status}>
    <Card title={<>Attempt {n} <Badge state={a.status} /> <code class="muted small">{a.attempt_id}</code></>}>
      <div>
        <KV rows={[["Started", time(a.start_time)], ["Ended", time(a.end_time)], ["Duration", duration(runDuration(a))]]} />
        {a.workers.length === 0 ? <Empty>No workers yet (Ray lists them once the attempt runs).</Empty> : (
          <div class="table-wrap">
            <table class="grid">
              <thead><tr><th class="num">Rank</th><th class="num">Local / node rank</th><th>Status</th><th>Node</th><th>PID</th><th>Resources</th><th>Actor</th><th>Logs</th></tr></thead>
              <tbody>{a.workers.map((w) => <WorkerRow key={w.world_rank} w={w} />)}</tbody>
            </table>
          </div>
        )}
        {a.status_detail && <><h3>{a.status === "ERRORED" ? "Error" : "Detail"}</h3>
          <pre class="traceback" data-testid="train-attempt-error">{stripAnsi(a.status_detail)}</pre></>}
      </div>
    </Card>
    </div>
  );
}

export function TrainRunPage({ id }: { id: string }) {
  const r = useLiveFetch((s) => get<TrainRunDetail>(`/train/runs/${id}`, {}, s), [id], ["train_runs"],
    (rows) => rows.some((x) => x.run_id === id), 500);
  const run = r.data;
  const attemptNo = new Map((run?.attempts ?? []).map((a, i) => [a.attempt_id, i + 1]));
  return (
    <div data-testid="page-train-run">
      <PageTitle title={<>{run?.name ?? "Train run"} {run && <Badge state={run.status} />}</>} sub={<code>{id}</code>} />
      <ErrorBox error={r.error} />
      {run && (
        <Card title="Run">
          <KV rows={[
            ["Status", <><Badge state={run.status} /> {run.status_detail && <span class="muted">{run.status_detail}</span>}</>],
            ["Job", run.job_id ? <Link href={`/jobs/${run.job_id}`}>{run.job_id}</Link> : "–"],
            ["Controller", run.controller_actor_id ? <><Link href={`/actors/${run.controller_actor_id}`}>{shortId(run.controller_actor_id)}</Link>
              {" · "}<Link href={`/actors/${run.controller_actor_id}?tab=logs`}>logs</Link>
              {run.controller_log_file_id && <> · <Link href={`/logs?file=${encodeURIComponent(run.controller_log_file_id)}`}>train log</Link></>}</> : "–"],
            ["Workers", workers(run)], ["Per worker", resources(run.resources_per_worker)],
            ["GPU", run.use_gpu == null ? "–" : run.use_gpu ? "yes" : "no"], ["Max failures", run.max_failures ?? "–"],
            ["Storage", run.storage_path ? <code>{run.storage_path}</code> : "–"],
            ["Versions", Object.entries(run.framework_versions).map(([k, v]) => `${k} ${v}`).join(", ") || "–"],
            ["Started", time(run.start_time)], ["Ended", time(run.end_time)], ["Duration", duration(runDuration(run))],
          ]} />
        </Card>
      )}
      {run?.attempts.map((a, i) => <Attempt key={a.attempt_id} a={a} n={i + 1} />)}
      {run && (
        <Card title="Status history">
          <div class="table-wrap">
            <table class="grid" data-testid="train-history">
              <thead><tr><th>Time</th><th>Of</th><th>Status</th><th>Detail</th></tr></thead>
              <tbody>{run.history.map((h, i) => (
                <tr key={i}>
                  <td>{time(h.event_time)}</td>
                  <td>{h.attempt_id ? `attempt ${attemptNo.get(h.attempt_id) ?? shortId(h.attempt_id)}` : "run"}</td>
                  <td><Badge state={h.status} /></td>
                  <td class="clip" title={h.status_detail ?? ""}>{h.status_detail ? stripAnsi(h.status_detail).split("\n")[0] : ""}</td>
                </tr>
              ))}</tbody>
            </table>
          </div>
        </Card>
      )}
    </div>
  );
}
