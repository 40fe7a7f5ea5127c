// Ray Data: every dataset (filter by job), and a dataset page with its operators as a table (the
// figures of Rayscope's progress callback, ~1 s fresh while it runs), a tree and a DAG view (layered
// by input dependencies), its issues and output schemas, and each operator's tasks, actors and logs.
import { useRef } from "preact/hooks";
import { get, list } from "../api";
import { LogLines } from "../components/log-view";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { TaskTable } from "../components/task-table";
import { Badge, Card, Empty, ErrorBox, KV, Link, PageTitle, Tabs, TextFilter } from "../components/ui";
import { bytes, duration, num, time } from "../format";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import type { Actor, Dataset, DatasetDetail, DatasetOperator, Task } from "../types";
import { ActorTable } from "./jobs";

const PAGE = 500;
const of = (a: number | null | undefined, b: number | null | undefined): string =>
  a == null && b == null ? "–" : `${a == null ? "?" : num(a)} / ${b == null ? "?" : num(b)}`;
const rate = (v: number | null | undefined): string => (v == null ? "–" : v.toFixed(1));
const dsDuration = (d: { execution_start_time?: number | null; execution_end_time?: number | null }) =>
  d.execution_start_time ? (d.execution_end_time ?? Date.now() / 1000) - d.execution_start_time : null;

/** The datasets table; the job page shows it filtered to its job. */
export function DatasetTable({ job }: { job?: string }) {
  const list = usePagedList<Dataset>("/datasets", { job_id: job || undefined }, PAGE, {}, ["datasets"]);
  return (
    <>
      <ErrorBox error={list.error} />
      <Table testid="datasets-table" rows={list.data?.rows ?? []} rowKey={(d) => d.dataset_id}
             empty="No datasets yet (Ray Data writes them when a dataset executes, with Ray's export events on)." cols={[
        { key: "id", label: "Dataset", render: (d) => <Link href={`/datasets/${encodeURIComponent(d.dataset_id)}`}>{d.dataset_id}</Link> },
        { key: "state", label: "Status", render: (d) => <Badge state={d.state} /> },
        { key: "job", label: "Job", render: (d) => <Link href={`/jobs/${d.job_id}`}>{d.job_id}</Link> },
        { key: "ops", label: "Operators", cls: "clip", render: (d) => d.operators.map((o) => o.name).join(" → ") },
        { key: "rows", label: "Rows output", cls: "num", render: (d) => num(d.rows_output) },
        { key: "issues", label: "Issues", cls: "num", render: (d) => (d.issue_count ? <b>{d.issue_count}</b> : "–") },
        { key: "start", label: "Started", render: (d) => time(d.start_time) },
        { key: "dur", label: "Duration", render: (d) => duration(dsDuration(d)) },
      ]} />
      <MoreRows page={list.data} pageSize={PAGE} what="datasets" onMore={list.more} />
    </>
  );
}

export function DatasetsPage() {
  const { params } = useLocation();
  const job = params.get("job") ?? "";
  return (
    <div data-testid="page-datasets">
      <PageTitle title="Datasets" sub="Ray Data executions: operators, progress, issues" />
      <Card extra={<TextFilter label="Job" name="job" value={job} placeholder="job id" onCommit={(v) => setParams({ job: v || null })} />}>
        <DatasetTable job={job} />
      </Card>
    </div>
  );
}

/** Allocated = in use + the executor's remaining budget for the operator (unknown: unlimited). */
const alloc = (used: number, budget: number | null | undefined): number | null => (budget == null ? null : used + budget);

function Resources({ o }: { o: DatasetOperator }) {
  if (o.cpu == null) return <>–</>;
  const store = o.object_store_bytes ?? 0;
  return (
    <span class="small">CPU {of(o.cpu, alloc(o.cpu, o.cpu_budget))}{(o.gpu || o.gpu_budget) ? ` · GPU ${of(o.gpu ?? 0, alloc(o.gpu ?? 0, o.gpu_budget))}` : ""}
      {store ? ` · store ${bytes(store)}${o.object_store_budget != null ? ` / ${bytes(store + o.object_store_budget)}` : ""}` : ""}</span>
  );
}

function OperatorTable({ d, onPick }: { d: DatasetDetail; onPick: (op: string, tab: string) => void }) {
  const pick = (o: DatasetOperator, tab: string) => (e: Event) => { e.preventDefault(); onPick(o.operator_id, tab); };
  return (
    <div class="ops-table"><Table testid="operators-table" rows={d.operators} rowKey={(o) => o.operator_id} cols={[
      { key: "op", label: "Operator", cls: "clip", render: (o) => {
        const issues = d.issues.filter((i) => i.operator_id === o.operator_id);
        return (<span title={`${o.name} (${o.uuid})`}>{o.name}{issues.length > 0 && (
          <span class="tag err" data-testid="op-issue" title={issues.map((i) => i.message).join("\n")}>
            {issues.length} issue{issues.length > 1 ? "s" : ""}</span>)}</span>);
      } },
      { key: "state", label: "Status", render: (o) => <Badge state={o.state} /> },
      { key: "rows", label: "Outputted / Estimated rows", cls: "num", render: (o) => <span data-testid="op-rows">{of(o.rows_output, o.estimated_rows)}</span> },
      { key: "blocks", label: "Outputted / Total blocks", cls: "num", render: (o) => of(o.blocks_output, o.estimated_blocks) },
      { key: "queued", label: "Queued blocks", cls: "num", render: (o) => num(o.queued_blocks) },
      { key: "active", label: "Active tasks / actors", cls: "num", render: (o) => `${num(o.tasks_running ?? o.ray_tasks_active)} / ${num(o.actors_alive ?? o.ray_actors_alive)}` },
      { key: "tput", label: "Throughput current / avg (rows/s)", cls: "num", render: (o) => `${rate(o.throughput_current)} / ${rate(o.throughput_avg)}` },
      { key: "res", label: "Active / Allocated resources", render: (o) => <Resources o={o} /> },
      { key: "links", label: "", render: (o) => (
        <span class="small"><a href="#" onClick={pick(o, "tasks")}>tasks ({o.ray_tasks})</a> · <a href="#" onClick={pick(o, "actors")}>actors ({o.ray_actors})</a> · <a href="#" onClick={pick(o, "logs")}>logs</a></span>) },
    ]} /></div>
  );
}

/** Operators nested under their inputs (the output operator at the root, like Ray's plan reads backwards). */
function TreeView({ d }: { d: DatasetDetail }) {
  const byId = new Map(d.operators.map((o) => [o.operator_id, o]));
  const node = (o: DatasetOperator, seen: Set<string>): preact.JSX.Element => (
    <li key={o.operator_id} data-testid="tree-node">{o.name} <Badge state={o.state} />
      {o.rows_output != null && <span class="muted small"> {num(o.rows_output)} rows</span>}
      {o.input_dependencies.length > 0 && (
        <ul>{o.input_dependencies.map((id) => byId.get(id)).filter((x): x is DatasetOperator => !!x && !seen.has(x.operator_id))
          .map((x) => node(x, new Set([...seen, o.operator_id])))}</ul>)}
    </li>
  );
  const consumed = new Set(d.operators.flatMap((o) => o.input_dependencies));
  const roots = d.operators.filter((o) => !consumed.has(o.operator_id));
  return <ul class="tree" data-testid="dataset-tree">{roots.map((r) => node(r, new Set()))}</ul>;
}

/** A small SVG: one column per layer (an operator's layer is one more than its deepest input's). */
function DagView({ d }: { d: DatasetDetail }) {
  const layer = new Map<string, number>();
  const depth = (o: DatasetOperator, guard = 0): number => {
    if (layer.has(o.operator_id)) return layer.get(o.operator_id)!;
    const inputs = o.input_dependencies.map((id) => d.operators.find((x) => x.operator_id === id)).filter((x): x is DatasetOperator => !!x);
    const v = guard > 50 || inputs.length === 0 ? 0 : 1 + Math.max(...inputs.map((x) => depth(x, guard + 1)));
    layer.set(o.operator_id, v);
    return v;
  };
  d.operators.forEach((o) => depth(o));
  const rowsIn = new Map<number, number>();
  const pos = new Map<string, [number, number]>();
  const W = 190, H = 54, GX = 50, GY = 16;
  for (const o of d.operators) {
    const l = layer.get(o.operator_id)!, r = rowsIn.get(l) ?? 0;
    rowsIn.set(l, r + 1);
    pos.set(o.operator_id, [10 + l * (W + GX), 10 + r * (H + GY)]);
  }
  const width = 20 + (Math.max(0, ...layer.values()) + 1) * (W + GX);
  const height = 20 + Math.max(1, ...rowsIn.values()) * (H + GY);
  return (
    <svg data-testid="dataset-dag" width={width} height={height} class="dag">
      {d.operators.flatMap((o) => o.input_dependencies.filter((id) => pos.has(id)).map((id) => {
        const [x1, y1] = pos.get(id)!, [x2, y2] = pos.get(o.operator_id)!;
        return <line key={`${id}>${o.operator_id}`} data-testid="dag-edge" x1={x1 + W} y1={y1 + H / 2} x2={x2} y2={y2 + H / 2} stroke="#94a3b8" stroke-width="2" />;
      }))}
      {d.operators.map((o) => {
        const [x, y] = pos.get(o.operator_id)!;
        return (
          <g key={o.operator_id} data-testid="dag-node">
            <rect x={x} y={y} width={W} height={H} rx="6" fill="#f8fafc" stroke={o.state === "FAILED" ? "#dc2626" : o.state === "RUNNING" ? "#2563eb" : "#94a3b8"} />
            <text x={x + 8} y={y + 20} font-size="12">{o.name.length > 28 ? `${o.name.slice(0, 27)}…` : o.name}</text>
            <text x={x + 8} y={y + 40} font-size="11" fill="#64748b">{o.state}{o.rows_output != null ? ` · ${num(o.rows_output)} rows` : ""}</text>
          </g>
        );
      })}
    </svg>
  );
}

/** An operator's tasks, actors and logs (its tasks' and actors' log lines, via their pages). */
function OperatorDetail({ op, tab }: { op: DatasetOperator; tab: string }) {
  const actors = useLiveFetch((s) => list<Actor>("/actors", { data_operator_id: op.uuid }, { limit: 50 }, s),
    [op.uuid], ["actors"]);
  const tasks = useLiveFetch((s) => (tab === "logs" ? list<Task>("/tasks", { data_operator_id: op.uuid }, { limit: 4 }, s)
                                                   : Promise.resolve(null)), [op.uuid, tab], ["tasks"], undefined, 2000);
  return (
    <Card title={<>Operator {op.name} <Badge state={op.state} /></>}>
      <Tabs tabs={[["tasks", `Tasks (${op.ray_tasks})`], ["actors", `Actors (${op.ray_actors})`], ["logs", "Logs"]]} value={tab}
            onChange={(v) => setParams({ tab: v })} />
      {tab === "tasks" && <TaskTable filters={{ data_operator_id: op.uuid }} height={320} testid="operator-tasks" />}
      {tab === "actors" && <ActorTable filters={{ data_operator_id: op.uuid }} />}
      {tab === "logs" && ((actors.data?.rows.length ?? 0) > 0
        ? actors.data!.rows.slice(0, 4).map((a) => (
          <div key={a.actor_id}><h4>Actor <Link href={`/actors/${a.actor_id}`}>{a.actor_id.slice(0, 12)}</Link></h4>
            <LogLines selector={{ actor_id: a.actor_id }} limit={200} /></div>))
        : (tasks.data?.rows ?? []).map((t) => (
          <div key={`${t.task_id}:${t.attempt}`}><h4>Task <Link href={`/tasks/${t.task_id}`}>{t.task_id.slice(0, 12)}</Link></h4>
            <LogLines selector={{ task_id: t.task_id }} limit={100} /></div>)))}
      {tab === "logs" && <div class="muted small">The newest 4 actors or tasks of this operator; every task's page shows its own log lines.</div>}
    </Card>
  );
}

export function DatasetPage({ id }: { id: string }) {
  const { params } = useLocation();
  const view = params.get("view") ?? "table";
  // its own deltas; and its job's task and actor deltas (the per-operator Ray task/actor counts), debounced
  const job = useRef<string | null>(null);
  const ds = useLiveFetch((s) => get<DatasetDetail>(`/datasets/${encodeURIComponent(id)}`, {}, s), [id], ["datasets", "tasks", "actors"],
    (rows) => rows.some((r) => r.dataset_id === id || (job.current != null && r.job_id === job.current)), 700);
  const d = ds.data;
  job.current = d?.job_id ?? null;
  const picked = d?.operators.find((o) => o.operator_id === params.get("op"));
  return (
    <div data-testid="page-dataset">
      <PageTitle title={<>Dataset {id} {d && <Badge state={d.state} />}</>} sub={d ? <>job <Link href={`/jobs/${d.job_id}`}>{d.job_id}</Link></> : undefined} />
      <ErrorBox error={ds.error} />
      {d && (
        <>
          <Card title="Summary">
            <KV rows={[["Status", <Badge state={d.state} />], ["Started", time(d.execution_start_time ?? d.start_time)],
              ["Ended", time(d.execution_end_time)], ["Duration", duration(dsDuration(d))], ["Rows output", num(d.rows_output)],
              ["Bottleneck", <span data-testid="bottleneck">{d.bottleneck ?? (d.state === "RUNNING" ? (d.has_progress ? "none found" : "needs live progress") : "–")}</span>],
              ["Progress", d.has_progress
                ? <span data-testid="progress-on" data-source={d.progress_source ?? undefined}>{d.progress_source_text}, last sample {time(d.progress_time)}</span>
                : <span class="muted" data-testid="progress-hint">{d.progress_hint}</span>],
              ...(d.has_progress && d.progress_hint ? [["Live progress", <span class="muted small" data-testid="progress-hint">{d.progress_hint}</span>] as [string, preact.ComponentChildren]] : []),
              ...(d.progress_error ? [["Progress callback", <span class="err">{d.progress_error}</span>] as [string, preact.ComponentChildren]] : []),
              ["Data context", <span class="small muted">{d.context_summary ?? "–"}</span>]]} />
          </Card>
          {d.issues.length > 0 && (
            <Card title={`Issues (${d.issues.length})`}>
              <Table testid="dataset-issues" rows={d.issues} rowKey={(i) => `${i.operator_id}:${i.issue_type}:${i.event_time}`} cols={[
                { key: "t", label: "Time", render: (i) => time(i.event_time) },
                { key: "op", label: "Operator", render: (i) => i.operator_name },
                { key: "type", label: "Issue", render: (i) => <span class="tag">{i.issue_type.replace("ISSUE_DETECTION_", "")}</span> },
                { key: "msg", label: "Message", render: (i) => i.message },
              ]} />
            </Card>
          )}
          <Card>
            <Tabs tabs={[["table", "Operators"], ["tree", "Tree view"], ["dag", "DAG view"]]} value={view}
                  onChange={(v) => setParams({ view: v === "table" ? null : v })} />
            {view === "table" && <OperatorTable d={d} onPick={(op, tab) => setParams({ op, tab })} />}
            {view === "tree" && <TreeView d={d} />}
            {view === "dag" && <DagView d={d} />}
          </Card>
          <Card title="Output schemas">
            {d.operators.some((o) => o.output_schema) ? (
              <Table testid="dataset-schemas" rows={d.operators.filter((o) => o.output_schema)} rowKey={(o) => o.operator_id} cols={[
                { key: "op", label: "Operator", render: (o) => o.name },
                { key: "cols", label: "Columns", render: (o) => <code>{Object.entries(o.output_schema ?? {}).map(([k, v]) => `${k}: ${v}`).join(", ")}</code> },
              ]} />) : <Empty>No schema reported yet.</Empty>}
          </Card>
          {picked && <OperatorDetail op={picked} tab={params.get("tab") ?? "tasks"} />}
        </>
      )}
    </div>
  );
}
