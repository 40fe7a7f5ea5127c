// Actors: summary by class, filtered table, and the actor page (state, restarts, death cause, calls, logs).
import { get } from "../api";
import { LogLines } from "../components/log-view";
import { ProfileActions } from "../components/profile-actions";
import { TaskTable } from "../components/task-table";
import { Badge, Card, ErrorBox, KV, Link, PageTitle, Select, StateBar, StateCounts, Tabs, TextFilter } from "../components/ui";
import { duration, num, resources, shortId, stripAnsi, time } from "../format";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import { ACTOR_STATES } from "../states";
import type { Actor, ActorSummary } from "../types";
import { ActorTable } from "./jobs";

export function ActorsPage() {
  const { params } = useLocation();
  const f = { state: params.get("state") ?? "", class_name: params.get("class") ?? "", job_id: params.get("job") ?? "" };
  const summary = useLiveFetch((s) => get<ActorSummary>("/actors/summary", { job_id: f.job_id || undefined }, s), [f.job_id], ["actors"]);
  return (
    <div data-testid="page-actors">
      <PageTitle title="Actors" sub={`${num(summary.data?.total ?? 0)} actors`} />
      <ErrorBox error={summary.error} />
      <Card title="By class">
        <div class="summary">
          {(summary.data?.rows ?? []).map((r) => (
            <button key={r.class_name} class={`summary-row ${r.class_name === f.class_name ? "selected" : ""}`}
                    onClick={() => setParams({ class: r.class_name === f.class_name ? null : r.class_name })}>
              <span class="fn">{r.class_name}</span><StateBar states={r.states} total={r.total} />
              <StateCounts states={r.states} /><span class="total">{num(r.total)}</span>
            </button>
          ))}
          {(summary.data?.rows ?? []).length === 0 && <div class="empty">No actors yet.</div>}
        </div>
      </Card>
      <Card>
        <div class="filters">
          <Select label="State" name="state" value={f.state} onChange={(v) => setParams({ state: v })}
                  options={[["", "any"], ...ACTOR_STATES.map((s) => [s, s] as [string, string])]} />
          <TextFilter label="Class" name="class" value={f.class_name} onCommit={(v) => setParams({ class: v })} />
          <TextFilter label="Job" name="job" value={f.job_id} onCommit={(v) => setParams({ job: v })} />
        </div>
        <ActorTable filters={{ state: f.state || undefined, class_name: f.class_name || undefined, job_id: f.job_id || undefined }} />
      </Card>
    </div>
  );
}

export function ActorPage({ id }: { id: string }) {
  const { params } = useLocation();
  const tab = params.get("tab") ?? "calls";
  const r = useLiveFetch((s) => get<Actor>(`/actors/${id}`, {}, s), [id], ["actors"], (rows) => rows.some((x) => x.actor_id === id), 500);
  const a = r.data;
  return (
    <div data-testid="page-actor">
      <PageTitle title={<>{a?.class_name ?? "Actor"} {a && <Badge state={a.state} />}</>} sub={<code>{id}</code>} />
      <ErrorBox error={r.error} />
      {a && (
        <Card title="Details" extra={a.state === "ALIVE" && <ProfileActions target={{ actor_id: a.actor_id }} label={a.class_name ?? undefined} />}>
          <KV rows={[
            ["Class", a.class_name], ["Name", a.name || "–"], ["Repr", a.repr_name || "–"], ["State", <Badge state={a.state} />],
            ["Job", <Link href={`/jobs/${a.job_id}`}>{a.job_id}</Link>],
            ["Node / PID", a.node_id ? <><Link href={`/nodes/${a.node_id}`}>{shortId(a.node_id, 12)}</Link> pid {a.pid ?? "?"}</> : "–"],
            ["Restarts", num(a.num_restarts)], ["Detached", a.is_detached ? "yes" : "no"], ["Namespace", a.ray_namespace],
            ["Resources", resources(a.required_resources)],
            ["Started", time(a.start_time)], ["Ended", time(a.end_time)],
            ["Lifetime", duration(a.start_time ? (a.end_time ?? Date.now() / 1000) - a.start_time : null)],
          ]} />
          {a.death_cause && <><h3>Death cause</h3><pre class="traceback" data-testid="death-cause">{stripAnsi(a.death_cause)}</pre></>}
        </Card>
      )}
      <Card>
        <Tabs tabs={[["calls", "Method calls"], ["logs", "Logs"]]} value={tab} onChange={(v) => setParams({ tab: v === "calls" ? null : v })} />
        {tab === "calls" ? <TaskTable filters={{ actor_id: id }} height={360} testid="actor-calls" />
          : <LogLines selector={{ actor_id: id }} showSource={false} empty="This actor printed nothing." />}
      </Card>
    </div>
  );
}
