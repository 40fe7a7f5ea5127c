// Tasks: filters in the URL, a summary by function with per-state progress, and the virtual table.
import { get } from "../api";
import { JobPicker } from "../components/job-picker";
import { TaskTable } from "../components/task-table";
import { Card, ErrorBox, PageTitle, Select, StateBar, StateCounts, TextFilter } from "../components/ui";
import { num } from "../format";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import { TASK_STATES } from "../states";
import type { TaskSummary } from "../types";

const SORTS: [string, string][] = [["", "newest first"], ["creation_time", "oldest first"], ["-start_time", "start (latest)"],
  ["start_time", "start (earliest)"], ["-duration", "duration (longest)"], ["duration", "duration (shortest)"]];

/** Number of matching tasks, from the per-function counters, when the filters allow it. */
function countFrom(summary: TaskSummary | null, name: string, state: string, exact: boolean): number | null {
  if (!summary || !exact) return null;
  let n = 0;
  for (const r of summary.rows) {
    if (name && r.name !== name) continue;
    n += state ? (r.states[state] ?? 0) : r.total;
  }
  return n;
}

export function TasksPage() {
  const { params } = useLocation();
  const f = {
    state: params.get("state") ?? "", job: params.get("job") ?? "", name: params.get("name") ?? "",
    node: params.get("node") ?? "", actor: params.get("actor") ?? "", error: params.get("error") ?? "",
    op: params.get("data_operator") ?? "",
  };
  const sort = params.get("sort") ?? "";
  // Stuck: the head's stuck listing (longest stuck first), which filters by job only.
  const stuck = params.get("stuck") === "1";
  const summary = useLiveFetch((s) => get<TaskSummary>("/tasks/summary", { job_id: f.job || undefined }, s), [f.job], ["tasks"],
    undefined, 1000);
  const apiFilters = { state: f.state, job_id: f.job, name: f.name, node_id: f.node, actor_id: f.actor, error_type: f.error,
                       data_operator_id: f.op };
  const total = countFrom(summary.data, f.name, f.state, !f.node && !f.actor && !f.error && !f.op);
  const rows = summary.data?.rows ?? [];
  // The 50 busiest functions, and the one filtered by name wherever it ranks (first: it is the one asked for).
  const picked = f.name ? rows.filter((r, i) => i >= 50 && r.name === f.name) : [];
  const shown = [...picked, ...rows.slice(0, 50)];
  return (
    <div data-testid="page-tasks">
      <PageTitle title="Tasks" sub={`${num(summary.data?.total ?? 0)} task attempts${f.job ? ` in job ${f.job}` : ""}`} />
      <ErrorBox error={summary.error} />
      <Card title="By function" extra={f.name && <button class="link" onClick={() => setParams({ name: null })}>show all functions</button>}>
        <div class="summary" data-testid="task-summary">
          {rows.length === 0 && <div class="empty">No tasks yet.</div>}
          {shown.map((r) => (
            <button key={`${r.name}:${r.type}`} class={`summary-row ${r.name === f.name ? "selected" : ""}`}
                    onClick={() => setParams({ name: r.name === f.name ? null : r.name })} data-name={r.name}>
              <span class="fn">{r.name}{r.type && r.type !== "NORMAL_TASK" && <span class="tag">{r.type.replace(/_TASK$/, "").toLowerCase()}</span>}</span>
              <StateBar states={r.states} total={r.total} />
              <StateCounts states={r.states} />
              <span class="total">{num(r.total)}</span>
            </button>
          ))}
          {rows.length > shown.length && <div class="muted small">{rows.length - shown.length} more functions: filter by name to see them.</div>}
        </div>
      </Card>
      <Card>
        <div class="filters" data-testid="task-filters">
          <Select label="State" name="state" value={f.state} onChange={(v) => setParams({ state: v })}
                  options={[["", "any"], ...TASK_STATES.map((s) => [s, s] as [string, string])]} />
          <JobPicker value={f.job} onChange={(v) => setParams({ job: v })} anyLabel="any" />
          <TextFilter label="Name" name="name" value={f.name} onCommit={(v) => setParams({ name: v })} placeholder="function or Class.method" />
          <TextFilter label="Node" name="node" value={f.node} onCommit={(v) => setParams({ node: v })} placeholder="node id" />
          <TextFilter label="Actor" name="actor" value={f.actor} onCommit={(v) => setParams({ actor: v })} placeholder="actor id" />
          <TextFilter label="Error type" name="error" value={f.error} onCommit={(v) => setParams({ error: v })} placeholder="e.g. TASK_EXECUTION_EXCEPTION" />
          <Select label="Sort" name="sort" value={sort} onChange={(v) => setParams({ sort: v })} options={SORTS} />
          <label class="check" title="tasks running far longer than their function usually takes, or pending for resources no node has">
            <input type="checkbox" name="stuck" data-testid="stuck-toggle" checked={stuck}
                   onChange={(e) => setParams({ stuck: (e.target as HTMLInputElement).checked ? "1" : null })} /> Stuck</label>
          {(Object.values(f).some(Boolean) || stuck) && <button class="link" onClick={() => setParams({ state: null, job: null, name: null, node: null, actor: null, error: null, stuck: null })}>clear filters</button>}
        </div>
        {stuck && <div class="muted small" data-testid="stuck-note">Stuck tasks, longest stuck first{f.job ? ` in job ${f.job}` : ""} (other filters and the sort do not apply).</div>}
        {stuck ? <TaskTable path="/tasks/stuck" filters={{ job_id: f.job }} total={null} testid="task-table" />
               : <TaskTable filters={apiFilters} sort={sort || undefined} total={total} />}
      </Card>
    </div>
  );
}
