// Jobs: the list, and the job page (entrypoint, status, duration, its tasks, actors and driver logs).
// A job submitted with `ray job submit` also shows its submission: id, status, message, exit code.
// A submission no driver job names yet (PENDING, or failed before its entrypoint called ray.init)
// is a row without a job id: its link and page go by the submission id (/jobs/<submission id>).
import type { ComponentChildren } from "preact";
import { get } from "../api";
import { LogLines } from "../components/log-view";
import { ProfileActions } from "../components/profile-actions";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { TaskTable } from "../components/task-table";
import { Badge, Card, ErrorBox, KV, Link, PageTitle, StateBar, StateCounts, Tabs } from "../components/ui";
import { duration, num, shortId, stripAnsi, time } from "../format";
import { useLiveFetch } from "../hooks";
import { setParams, useLocation } from "../router";
import { DatasetTable } from "./datasets";
import type { Actor, Job, LogFile, Page, TaskSummary } from "../types";

const jobDuration = (j: Job) => (j.start_time ? (j.end_time ?? Date.now() / 1000) - j.start_time : null);

const PAGE = 1000;

/** A job's page: by job id, else (no driver yet) by submission id. */
export const jobHref = (j: Job) => `/jobs/${encodeURIComponent(j.job_id ?? j.submission_id ?? "")}`;
/** A row's key: the job id, else the submission id (unique among the rows without a driver). */
export const jobKey = (j: Job) => j.job_id ?? `submission:${j.submission_id}`;

export function JobsPage() {
  const jobs = usePagedList<Job>("/jobs", {}, PAGE, {}, ["jobs"]);
  return (
    <div data-testid="page-jobs">
      <PageTitle title="Jobs" />
      <ErrorBox error={jobs.error} />
      <Card>
        <Table testid="jobs-table" rows={jobs.data?.rows ?? []} rowKey={jobKey} empty="No jobs yet." cols={[
          { key: "id", label: "Job", render: (j) => <Link href={jobHref(j)}>{j.job_id ?? <span class="muted" data-testid="job-no-driver">no driver</span>}</Link> },
          { key: "state", label: "Status", render: (j) => <Badge state={j.state} /> },
          { key: "sub", label: "Submission", render: (j) => (j.submission_id ? <SubmissionCell j={j} /> : "–") },
          { key: "ep", label: "Entrypoint", cls: "clip", render: (j) => <span title={j.entrypoint ?? ""}>{j.entrypoint ?? "–"}</span> },
          { key: "driver", label: "Driver", render: (j) => (j.job_id ? `${j.driver_ip ?? "?"} pid ${j.driver_pid ?? "?"}` : "–") },
          { key: "start", label: "Started", render: (j) => time(j.start_time) },
          { key: "dur", label: "Duration", render: (j) => duration(jobDuration(j)) },
          { key: "tasks", label: "Tasks", render: (j) => (j.job_id ? <Link href={`/tasks?job=${j.job_id}`}>tasks →</Link> : "–") },
        ]} />
        <MoreRows page={jobs.data} pageSize={PAGE} what="jobs" onMore={jobs.more} />
      </Card>
    </div>
  );
}

/** A submitted job's id and status, with its message (e.g. why it failed) on hover. */
function SubmissionCell({ j }: { j: Job }) {
  return (
    <span data-testid="job-submission" title={j.submission_message ? stripAnsi(j.submission_message) : ""}>
      <code>{j.submission_id}</code> {j.submission_status ? <Badge state={j.submission_status} /> : <span class="muted">status not seen yet</span>}
      {j.driver_exit_code != null && <span class="muted small"> exit {j.driver_exit_code}</span>}
    </span>
  );
}

/** The submission's rows for the job page's details (none for a driver started by hand). */
function submissionRows(j: Job): [string, ComponentChildren][] {
  if (!j.submission_id) return [];
  return [["Submission", <code>{j.submission_id}</code>],
    ["Submission status", j.submission_status ? <Badge state={j.submission_status} /> : "not seen yet"],
    ["Submitted entrypoint", <code>{j.submission_entrypoint ?? "–"}</code>],
    // Ray's message of a failed job ends with up to 20,000 characters of the driver's last log lines
    ["Message", j.submission_message
      ? <pre class="traceback" data-testid="job-submission-message">{stripAnsi(j.submission_message)}</pre> : "–"],
    ["Error type", j.submission_error_type ?? "–"],
    ["Driver exit code", j.driver_exit_code ?? "–"],
    ["Runtime env", j.runtime_env ?? "–"]];
}

export function ActorTable({ filters }: { filters: Record<string, string | undefined> }) {
  const key = JSON.stringify(filters);
  const actors = usePagedList<Actor>("/actors", filters, PAGE, {}, ["actors"]);
  return (
    <>
      <ErrorBox error={actors.error} />
      <Table testid="actors-table" rows={actors.data?.rows ?? []} rowKey={(a) => a.actor_id} empty="No actors." cols={[
        { key: "id", label: "Actor", render: (a) => <Link href={`/actors/${a.actor_id}`}>{shortId(a.actor_id, 12)}</Link> },
        { key: "cls", label: "Class", render: (a) => a.class_name ?? "–" },
        { key: "name", label: "Name", render: (a) => a.name || "–" },
        { key: "state", label: "State", render: (a) => <Badge state={a.state} /> },
        { key: "job", label: "Job", render: (a) => <Link href={`/jobs/${a.job_id}`}>{a.job_id}</Link> },
        { key: "node", label: "Node", render: (a) => (a.node_id ? <Link href={`/nodes/${a.node_id}`}>{shortId(a.node_id)}</Link> : "–") },
        { key: "pid", label: "PID", render: (a) => a.pid ?? "–" },
        { key: "restarts", label: "Restarts", cls: "num", render: (a) => a.num_restarts },
        { key: "death", label: "Death cause", cls: "clip", render: (a) => <span title={a.death_cause ?? ""}>{a.death_cause ?? ""}</span> },
        { key: "prof", label: "", render: (a) => (a.state === "ALIVE" ? <ProfileActions compact target={{ actor_id: a.actor_id }} label={a.class_name ?? undefined} /> : null) },
      ]} />
      <MoreRows page={actors.data} pageSize={PAGE} what="actors" onMore={actors.more} />
    </>
  );
}

/** The job supervisor's log (`job-driver-<submission id>.log`): all there is of a submission without a driver. */
function SubmissionLog({ sid }: { sid: string }) {
  const files = useLiveFetch((s) => get<Page<LogFile>>("/logs/files", { filter: [`path=job-driver-${sid}.log`] }, s),
    [sid], ["logs"], undefined, 1500);
  const file = files.data?.rows[0];
  return file ? <LogLines selector={{ file_id: file.file_id }} showSource={false} />
    : <div class="muted">{files.loading ? "…" : `No log lines stored for submission ${sid}.`}</div>;
}

export function JobPage({ id }: { id: string }) {
  const { params } = useLocation();
  const tab = params.get("tab") ?? "tasks";
  // `id` is a job id or a submission id (a submission that no driver job names yet)
  const job = useLiveFetch((s) => get<Job>(`/jobs/${encodeURIComponent(id)}`, {}, s), [id], ["jobs"]);
  const j = job.data;
  const jobId = j ? j.job_id : id;
  const summary = useLiveFetch((s) => (jobId ? get<TaskSummary>("/tasks/summary", { job_id: jobId }, s) : Promise.resolve(null)),
    [jobId], ["tasks"], (rows) => rows.some((r) => r.job_id === jobId), 1000);
  const states: Record<string, number> = {};
  for (const r of summary.data?.rows ?? []) for (const [k, v] of Object.entries(r.states)) states[k] = (states[k] ?? 0) + v;
  return (
    <div data-testid="page-job">
      <PageTitle title={<>{jobId ? "Job" : "Submission"} {id} {j && <Badge state={j.state} />}</>} sub={j?.entrypoint ?? undefined} />
      <ErrorBox error={job.error} />
      {j && (
        <div class="grid2">
          <Card title="Details">
            <KV rows={[["Entrypoint", <code>{j.entrypoint ?? "–"}</code>], ["Status", <Badge state={j.state} />],
              ["Driver", j.job_id ? `${j.driver_ip ?? "?"} pid ${j.driver_pid ?? "?"}` : "none: no driver job names this submission (its entrypoint has not called ray.init)"],
              ...(j.job_id && j.job_id !== id ? [["Job", <Link href={`/jobs/${j.job_id}`}>{j.job_id}</Link>] as [string, ComponentChildren]] : []),
              ["Namespace", j.ray_namespace],
              ["Started", time(j.start_time)], ["Ended", time(j.end_time)], ["Duration", duration(jobDuration(j))],
              ...submissionRows(j)]} />
          </Card>
          {jobId && <Card title={`Tasks (${num(summary.data?.total ?? 0)})`}>
            <StateBar states={states} /><StateCounts states={states} />
            <div class="fnlist">
              {(summary.data?.rows ?? []).slice(0, 12).map((r) => (
                <div key={r.name} class="fnrow"><Link href={`/tasks?job=${jobId}&name=${encodeURIComponent(r.name)}`}>{r.name}</Link>
                  <StateBar states={r.states} total={r.total} /><span class="num">{num(r.total)}</span></div>
              ))}
              {(summary.data?.rows.length ?? 0) > 12 && <div class="muted small">{(summary.data?.rows.length ?? 0) - 12} more functions: <Link href={`/tasks?job=${jobId}`}>all of this job's tasks →</Link></div>}
            </div>
          </Card>}
        </div>
      )}
      {j && !jobId && j.submission_id && (
        <Card title="Submission log"><SubmissionLog sid={j.submission_id} /></Card>
      )}
      {jobId && (
      <Card>
        <Tabs tabs={[["tasks", "Tasks"], ["actors", "Actors"], ["datasets", "Datasets"], ["logs", "Driver logs"]]} value={tab}
              onChange={(v) => setParams({ tab: v === "tasks" ? null : v })} />
        {tab === "tasks" && <TaskTable filters={{ job_id: jobId }} height={420} total={summary.data?.total ?? null} />}
        {tab === "actors" && <ActorTable filters={{ job_id: jobId }} />}
        {tab === "datasets" && <DatasetTable job={jobId} />}
        {tab === "logs" && <LogLines selector={{ job_id: jobId }} empty="No driver log lines stored for this job (a plain `python script.py` driver prints to its terminal, not to Ray's log files)." />}
      </Card>
      )}
    </div>
  );
}
