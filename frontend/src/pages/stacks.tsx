// Stack dumps (issue 14): one dump's page (every thread, innermost frame first), and the Stacks page:
// dump every busy worker of a job at once, grouped by identical stack, and the stored dumps.
import { useState } from "preact/hooks";
import { get, post } from "../api";
import { JobPicker } from "../components/job-picker";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { Card, ErrorBox, KV, Link, Loading, PageTitle, Stat } from "../components/ui";
import { ago, num, shortId, time } from "../format";
import { useFetch } from "../hooks";
import { canProfile, dumpAndOpen, targetLabel, targetOf } from "../profiling";
import { navigate, useLocation } from "../router";
import type { ResolvedTarget, StackDump, StackDumpRow, StackFrame, StackSummary, SummaryRequest, ThreadStack } from "../types";

/** Links to what a target is: its task, actor, worker's node and pid. */
export function TargetLinks({ t }: { t: ResolvedTarget }) {
  return (
    <span class="target">
      {t.name && <b>{t.name} </b>}
      {t.task_id && <Link href={`/tasks/${t.task_id}`} title={t.task_id}>task {shortId(t.task_id, 10)}</Link>}{" "}
      {t.actor_id && <Link href={`/actors/${t.actor_id}`} title={t.actor_id}>actor {shortId(t.actor_id, 10)}</Link>}{" "}
      <span class="muted">on </span><Link href={`/nodes/${t.node_id}`}>{t.node_ip ?? shortId(t.node_id)}</Link>
      <span class="muted"> pid {t.pid}</span>
    </span>
  );
}

function Frame({ f, showLocals }: { f: StackFrame; showLocals: boolean }) {
  const locals = Object.entries(f.locals ?? {});
  return (
    <li data-testid="frame">
      <span class={f.native ? "fn native" : "fn"}>{f.function}</span>
      <span class="loc" title={`${f.file}:${f.line}`}>{f.short_file}:{f.line}</span>
      {showLocals && locals.length > 0 && (
        <dl class="locals" data-testid="locals">{locals.map(([k, v]) => [<dt key={k + ":k"}>{k}</dt>, <dd key={k + ":v"}>{v}</dd>])}</dl>
      )}
    </li>
  );
}

export function ThreadView({ t, showLocals }: { t: ThreadStack; showLocals: boolean }) {
  return (
    <div class="thread" data-testid="thread">
      <header>
        <b>{t.name ?? "thread"}</b><span class="muted small">id {t.os_thread_id ?? t.thread_id}</span>
        {t.active ? <span class="badge run">active</span> : <span class="badge">idle</span>}
        {t.owns_gil && <span class="badge gil" title="this thread holds the GIL">GIL</span>}
        <span class="muted small">{t.frames.length} frames</span>
      </header>
      {t.frames.length ? <ol class="frames">{t.frames.map((f, i) => <Frame key={i} f={f} showLocals={showLocals} />)}</ol>
        : <div class="muted small" style={{ padding: "6px 10px" }}>no Python frames</div>}
    </div>
  );
}

export function StackPage({ id }: { id: string }) {
  const { params } = useLocation();
  const showLocals = params.get("locals") === "1";
  const r = useFetch((s) => get<StackDump>(`/profiling/stacks/${encodeURIComponent(id)}`, {}, s), [id]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const d = r.data;
  const hasLocals = !!d?.threads.some((t) => t.frames.some((f) => f.locals));
  /** A new dump of the same target (with locals when asked), opened in place of this one. */
  const again = async (locals: boolean) => {
    if (!d) return;
    setBusy(true); setError(null);
    try { await dumpAndOpen(targetOf(d.target), locals); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  const toggleLocals = () => {
    if (!showLocals && !hasLocals) { void again(true); return; }
    navigate(`/stacks/${id}${showLocals ? "" : "?locals=1"}`, true);
  };
  return (
    <div data-testid="page-stack">
      <PageTitle title={<>Stack {d && <span class="muted">· {targetLabel(d.target)}</span>}</>} sub={<code>{id}</code>} />
      <ErrorBox error={r.error ?? error} />
      {!d && !r.error && <Loading />}
      {d && (
        <>
          {d.warning && <div class={d.method === "faulthandler" ? "warn-box" : "muted"} role="status" data-testid="stack-warning">
            {d.method === "faulthandler" && "Fallback (faulthandler, no ptrace): "}{d.warning}</div>}
          <Card title="Dump" extra={canProfile() && (
            <span class="prof-actions">
              <label class="muted small"><input type="checkbox" checked={showLocals} disabled={busy} onChange={toggleLocals}
                                                data-testid="locals-toggle" style={{ minWidth: 0 }} /> locals</label>
              <button class="act" disabled={busy} onClick={() => again(showLocals)} data-testid="stack-refresh">{busy ? "Dumping…" : "Refresh"}</button>
            </span>)}>
            <KV rows={[
              ["Target", <TargetLinks t={d.target} />],
              ["Method", <span data-testid="stack-method">{d.method}</span>],
              ["Taken", `${time(d.taken_at)} (${ago(d.taken_at)})`],
              ["Took", `${d.took_ms.toFixed(0)} ms on the node · ${d.round_trip_ms.toFixed(0)} ms round trip`],
              ["Threads", `${d.threads.length} (${d.threads.filter((t) => t.active).length} active)`],
            ]} />
          </Card>
          <Card title="Threads" extra={<span class="muted small">innermost frame first; hover a location for its full path</span>}>
            {showLocals && !hasLocals && <div class="muted small">This dump was taken without locals.</div>}
            {d.threads.map((t) => <ThreadView key={t.thread_id} t={t} showLocals={showLocals} />)}
          </Card>
        </>
      )}
    </div>
  );
}

const TARGETS_SHOWN = 40;

function Group({ g }: { g: StackSummary["groups"][number] }) {
  const [open, setOpen] = useState(false);
  const [all, setAll] = useState(false);
  return (
    <div class="group" data-testid="stack-group">
      <div class="n" data-testid="group-count">{num(g.count)}<small>{g.count === 1 ? "worker" : "workers"}</small></div>
      <div>
        <div class="headline" data-testid="group-headline">{g.headline}</div>
        <button class="link" onClick={() => setOpen(!open)}>{open ? "hide" : "show"} the shared stack ({g.frames.length} frames)</button>
        {open && <ol class="frames">{g.frames.map((f, i) => <Frame key={i} f={f} showLocals={false} />)}</ol>}
        <div class="targets" data-testid="group-targets">
          {(all ? g.targets : g.targets.slice(0, TARGETS_SHOWN)).map((t) => <TargetLinks key={`${t.node_id}:${t.pid}`} t={t} />)}
          {!all && g.targets.length > TARGETS_SHOWN && <button class="link" onClick={() => setAll(true)}>and {num(g.targets.length - TARGETS_SHOWN)} more</button>}
        </div>
      </div>
    </div>
  );
}

export function StacksPage() {
  const { params } = useLocation();
  const [job, setJob] = useState(params.get("job") ?? "");
  const [summary, setSummary] = useState<StackSummary | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const dumps = usePagedList<StackDumpRow>("/profiling/stacks", {}, 100, {}, []);
  const dumpAll = async () => {
    setBusy(true); setError(null);
    try {
      setSummary(await post<StackSummary>("/profiling/stack-summary", { job_id: job || null, include_idle: false } satisfies SummaryRequest));
      dumps.reload();
    } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  return (
    <div data-testid="page-stacks">
      <PageTitle title="Stacks" sub="where every busy worker is right now, grouped by identical stack" />
      {canProfile() && (
        <Card>
          <div class="filters">
            <JobPicker value={job} onChange={setJob} anyLabel="the whole cluster" />
            <button class="primary" disabled={busy} onClick={dumpAll} data-testid="dump-all" style={{ alignSelf: "flex-end" }}>
              {busy ? "Dumping…" : "Dump all busy workers"}</button>
          </div>
          <ErrorBox error={error} />
          {summary && (
            <div data-testid="stack-summary">
              <div class="stats" style={{ margin: "12px 0" }}>
                <Stat label="Workers asked" value={num(summary.workers)} />
                <Stat label="Dumped" value={num(summary.dumped)} />
                <Stat label="Distinct stacks" value={num(summary.groups.length)} />
                <Stat label="Took" value={`${summary.took_ms.toFixed(0)} ms`} sub={summary.job_id ? `job ${summary.job_id}` : "whole cluster"} />
              </div>
              {summary.groups.length === 0 && <div class="empty">No busy worker to dump.</div>}
              {summary.groups.map((g, i) => <Group key={i} g={g} />)}
              {summary.failures.length > 0 && (
                <>
                  <h3 class="bad-text">{summary.failures.length} could not be dumped</h3>
                  <ul data-testid="stack-failures">{summary.failures.map((f) => (
                    <li key={`${f.target.node_id}:${f.target.pid}`}><TargetLinks t={f.target} />: <span class="err-line">{f.error}</span></li>))}</ul>
                </>
              )}
            </div>
          )}
        </Card>
      )}
      <Card title="Stored dumps">
        <ErrorBox error={dumps.error} />
        <Table testid="stack-dumps" rows={dumps.data?.rows ?? []} rowKey={(d) => d.dump_id} empty="No stack dumps taken yet." cols={[
          { key: "id", label: "Dump", render: (d) => <Link href={`/stacks/${d.dump_id}`}>{shortId(d.dump_id, 12)}</Link> },
          { key: "when", label: "Taken", render: (d) => <span title={time(d.taken_at)}>{ago(d.taken_at)}</span> },
          { key: "target", label: "Target", cls: "clip", render: (d) => <TargetLinks t={d.target} /> },
          { key: "method", label: "Method", render: (d) => d.method },
          { key: "where", label: "Where", cls: "clip", render: (d) => <code>{d.headline ?? "–"}</code> },
        ]} />
        <MoreRows page={dumps.data} pageSize={100} what="dumps" onMore={dumps.more} />
      </Card>
    </div>
  );
}
