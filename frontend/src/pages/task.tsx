// Task page: every attempt, its state timeline, where it ran, the error, its logs, parent and children.
import { get } from "../api";
import { LogLines } from "../components/log-view";
import { ProfileActions } from "../components/profile-actions";
import { TaskTable } from "../components/task-table";
import { Badge, Card, ErrorBox, KV, Link, PageTitle, Tabs, stateClass } from "../components/ui";
import { duration, resources, shortId, stripAnsi, time } from "../format";
import { useLiveFetch } from "../hooks";
import { RUNNING_TASK_STATES } from "../profiling";
import { setParams, useLocation } from "../router";
import type { Task } from "../types";

function StateTimeline({ t }: { t: Task }) {
  const steps = Object.entries(t.state_times).sort(([, a], [, b]) => a - b);
  if (!steps.length) return <div class="muted">No state times recorded.</div>;
  const t0 = steps[0][1], tEnd = Math.max(steps[steps.length - 1][1], t0 + 1e-6);
  const span = tEnd - t0;
  return (
    <div class="state-timeline" data-testid="state-timeline">
      <div class="st-bar">
        {steps.map(([s, ts], i) => {
          const next = i + 1 < steps.length ? steps[i + 1][1] : ts;
          const w = span > 0 ? ((next - ts) / span) * 100 : 0;
          return <span key={s} class={stateClass(s)} style={{ width: `${Math.max(w, i + 1 < steps.length ? 1 : 0)}%` }} title={`${s}: ${duration(next - ts)}`} />;
        })}
      </div>
      <ol class="st-steps">
        {steps.map(([s, ts], i) => (
          <li key={s}><Badge state={s} /> <span class="muted">{time(ts)}</span>
            {i > 0 && <span class="muted small"> +{duration(ts - steps[i - 1][1])}</span>}</li>
        ))}
      </ol>
    </div>
  );
}

export function TaskPage({ id }: { id: string }) {
  const { params } = useLocation();
  const r = useLiveFetch((s) => get<Task[]>(`/tasks/${id}`, {}, s), [id], ["tasks"], (rows) => rows.some((x) => x.task_id === id), 500);
  const attempts = r.data ?? [];
  const want = params.get("attempt");
  const t = attempts.find((a) => String(a.attempt) === want) ?? attempts[attempts.length - 1];
  const tab = params.get("tab") ?? "logs";
  return (
    <div data-testid="page-task">
      <PageTitle title={<>{t?.name ?? "Task"} {t && <Badge state={t.state} />}</>} sub={<code>{id}</code>} />
      <ErrorBox error={r.error} />
      {attempts.length > 1 && (
        <Tabs tabs={attempts.map((a) => [String(a.attempt), `attempt ${a.attempt} · ${a.state.toLowerCase()}`])}
              value={String(t?.attempt ?? "")} onChange={(v) => setParams({ attempt: v })} />
      )}
      {t?.stuck && (
        <div class="banner stuck" data-testid="stuck-banner" data-kind={t.stuck.kind}>
          Stuck: {t.stuck.reason}
          {t.stuck.last_stack_dump_id && <> · <Link href={`/stacks/${t.stuck.last_stack_dump_id}`}>last stack</Link></>}
        </div>
      )}
      {t && (
        <>
          <div class="grid2">
            <Card title="Details" extra={RUNNING_TASK_STATES.has(t.state) && (
              <ProfileActions target={{ task_id: t.task_id, attempt: t.attempt }} label={t.name ?? undefined} />)}>
              <KV rows={[
                ["Function", t.name], ["Type", t.type], ["State", <Badge state={t.state} />],
                ["Job", <Link href={`/jobs/${t.job_id}`}>{t.job_id}</Link>],
                ["Node", t.node_id ? <Link href={`/nodes/${t.node_id}`}>{shortId(t.node_id, 12)}</Link> : "–"],
                ["Worker", t.worker_id ? `${shortId(t.worker_id, 12)} (pid ${t.worker_pid ?? "?"})` : "–"],
                ["Actor", t.actor_id ? <Link href={`/actors/${t.actor_id}`}>{t.actor_id}</Link> : "–"],
                ["Parent", t.parent_task_id ? <Link href={`/tasks/${t.parent_task_id}`}>{t.parent_task_id}</Link> : "– (submitted by the driver)"],
                ["Resources", resources(t.required_resources)],
                ["Placement group", t.placement_group_id ?? "–"],
                ["Created", time(t.creation_time)], ["Started", time(t.start_time)], ["Ended", time(t.end_time)],
                ["Duration", duration(t.duration)],
              ]} />
            </Card>
            <Card title="State timeline"><StateTimeline t={t} /></Card>
          </div>
          {t.state === "FAILED" && (
            <Card title={<span class="bad-text">Error: {t.error_type ?? "unknown"}</span>}>
              <pre class="traceback" data-testid="task-error">{t.error_message ? stripAnsi(t.error_message) : "No error message recorded."}</pre>
            </Card>
          )}
          <Card>
            <Tabs tabs={[["logs", "Logs"], ["children", "Child tasks"]]} value={tab} onChange={(v) => setParams({ tab: v === "logs" ? null : v })} />
            {tab === "logs" ? <LogLines selector={{ task_id: id }} showSource={false} empty="This task printed nothing (or its lines have not arrived yet)." />
              : <TaskTable filters={{ parent_task_id: id }} height={300} testid="children-table" />}
          </Card>
        </>
      )}
    </div>
  );
}
