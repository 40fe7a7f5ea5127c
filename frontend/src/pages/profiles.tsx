// CPU and memory profiles (issue 14): the list (history mode too) and a profile's page: its status
// (running until the node's tool is done), the top functions or allocations, the flame graph in the
// vendored speedscope viewer, and a download of the speedscope document.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api";
import { MoreRows, usePagedList } from "../components/paging";
import { Table } from "../components/table";
import { Badge, Card, ErrorBox, KV, Link, Loading, PageTitle } from "../components/ui";
import { ago, bytes, duration, num, shortId, time } from "../format";
import { useLiveFetch, useTick } from "../hooks";
import { downloadProfile, speedscopeBlobUrl, speedscopeSrc, targetLabel } from "../profiling";
import type { Allocation, Profile, ProfileDetail, TopFunction } from "../types";
import { TargetLinks } from "./stacks";

const PAGE = 200;
/** While a profile runs, re-read it this often as well as on its WebSocket delta (a backstop: the
 * delta is what normally ends the wait). */
const RUNNING_POLL_MS = 2000;

const mentions = (id: string) => (rows: Record<string, unknown>[]) => rows.some((r) => r.profile_id === id);
const where = (x: { file: string; line: number }) => `${x.file.split("/").slice(-2).join("/")}:${x.line}`;
const share = (f: number) => `${(100 * f).toFixed(1)}%`;

export function ProfilesPage() {
  const r = usePagedList<Profile>("/profiling/profiles", {}, PAGE, {}, ["profiles"]);
  return (
    <div data-testid="page-profiles">
      <PageTitle title="Profiles" sub="CPU flame graphs and memory profiles taken from the task, actor, worker and process pages" />
      <Card>
        <ErrorBox error={r.error} />
        <Table testid="profiles-table" rows={r.data?.rows ?? []} rowKey={(p) => p.profile_id}
               empty={<>No profiles yet. Start one with <b>CPU profile</b> or <b>Memory profile</b> on a running task, actor, worker or process.</>} cols={[
          { key: "id", label: "Profile", render: (p) => <Link href={`/profiles/${p.profile_id}`}>{shortId(p.profile_id, 12)}</Link> },
          { key: "kind", label: "Kind", render: (p) => <span class="tag">{p.kind}</span> },
          { key: "status", label: "Status", render: (p) => <Badge state={p.status} /> },
          { key: "target", label: "Target", cls: "clip", render: (p) => <TargetLinks t={p.target} /> },
          { key: "when", label: "Requested", render: (p) => <span title={time(p.requested_at)}>{ago(p.requested_at)}</span> },
          { key: "dur", label: "Duration", cls: "num", render: (p) => duration(p.duration_s) },
          { key: "samples", label: "Samples", cls: "num", render: (p) => num(p.samples) },
          { key: "total", label: "Allocated", cls: "num", render: (p) => (p.kind === "memory" ? bytes(p.total_bytes) : "–") },
          { key: "err", label: "Error", cls: "clip", render: (p) => <span class="err-line" title={p.error ?? ""}>{p.error ?? ""}</span> },
        ]} />
        <MoreRows page={r.data} pageSize={PAGE} what="profiles" onMore={r.more} />
      </Card>
    </div>
  );
}

/** The flame graph: the document fetched with the token, handed to the framed viewer as a blob: URL. */
function Speedscope({ p }: { p: Profile }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const ctl = new AbortController();
    let url: string | null = null;
    speedscopeBlobUrl(p.profile_id, ctl.signal).then(
      (u) => { url = u; setSrc(u); },
      (e: Error) => { if (!ctl.signal.aborted) setError(e.message); },
    );
    return () => { ctl.abort(); if (url) URL.revokeObjectURL(url); };
  }, [p.profile_id]);
  if (error) return <ErrorBox error={error} />;
  if (!src) return <Loading />;
  return <iframe class="speedscope" data-testid="speedscope" title="flame graph (speedscope)"
                 src={speedscopeSrc(src, `${p.kind} · ${targetLabel(p.target)}`)} />;
}

function TopFunctions({ rows }: { rows: TopFunction[] }) {
  return <Table testid="top-functions" rows={rows} rowKey={(f) => `${f.function}@${f.file}:${f.line}`} empty="No samples." cols={[
    { key: "fn", label: "Function", render: (f) => <code>{f.function}</code> },
    { key: "loc", label: "File:line", cls: "clip", render: (f) => <span title={`${f.file}:${f.line}`}>{where(f)}</span> },
    { key: "self", label: "Self", cls: "num", title: "share of samples with this frame innermost", render: (f) => share(f.self_share) },
    { key: "total", label: "Total", cls: "num", title: "share of samples with this frame on the stack", render: (f) => share(f.total_share) },
  ]} />;
}

function TopAllocations({ rows }: { rows: Allocation[] }) {
  return <Table testid="top-allocations" rows={rows} rowKey={(a) => `${a.function}@${a.file}:${a.line}`} empty="No allocations recorded." cols={[
    { key: "fn", label: "Function", render: (a) => <code>{a.function}</code> },
    { key: "loc", label: "File:line", cls: "clip", render: (a) => <span title={`${a.file}:${a.line}`}>{where(a)}</span> },
    { key: "size", label: "Size", cls: "num", render: (a) => bytes(a.size) },
    { key: "count", label: "Allocations", cls: "num", render: (a) => num(a.count) },
  ]} />;
}

export function ProfilePage({ id }: { id: string }) {
  const r = useLiveFetch((s) => get<ProfileDetail>(`/profiling/profiles/${encodeURIComponent(id)}`, {}, s), [id], ["profiles"], mentions(id), 200);
  const p = r.data;
  const running = p?.status === "running";
  useEffect(() => {
    if (!running) return;
    const t = setInterval(r.reload, RUNNING_POLL_MS);
    return () => clearInterval(t);
  }, [running]);
  useTick(running ? 1000 : 3_600_000);
  const [dlError, setDlError] = useState<string | null>(null);
  const elapsed = p ? Math.min(p.duration_s, Date.now() / 1000 - p.requested_at) : 0;
  return (
    <div data-testid="page-profile" data-status={p?.status}>
      <PageTitle title={<>{p?.kind === "memory" ? "Memory profile" : "CPU profile"} {p && <Badge state={p.status} />}</>}
                 sub={<code>{id}</code>} />
      <ErrorBox error={r.error} />
      {!p && !r.error && <Loading />}
      {p && (
        <>
          {p.warning && <div class="warn-box" role="status">{p.warning}</div>}
          {p.status === "failed" && <ErrorBox error={p.error ?? "the profile failed"} />}
          <Card title="Profile" extra={p.status === "done" && (
            <button class="act" data-testid="download" onClick={() => downloadProfile(p.profile_id).then(() => setDlError(null), (e: Error) => setDlError(e.message))}>
              Download speedscope JSON{p.size_bytes ? ` (${bytes(p.size_bytes)})` : ""}</button>)}>
            <ErrorBox error={dlError} />
            <KV rows={[
              ["Target", <TargetLinks t={p.target} />],
              ["Status", running ? <span data-testid="profile-status">running · {elapsed < p.duration_s
                ? `${duration(elapsed)} of ${duration(p.duration_s)}` : `the ${duration(p.duration_s)} window is over: the node is preparing the result`}</span>
                : <span data-testid="profile-status">{p.status}</span>],
              ["Kind", `${p.kind}${p.method ? ` (${p.method})` : ""}`],
              ["Requested", time(p.requested_at)], ["Finished", time(p.finished_at)],
              ["Duration", duration(p.duration_s)],
              ...(p.kind === "cpu" ? [["Rate", p.rate_hz ? `${p.rate_hz} samples/s` : "–"] as [string, string]] : []),
              ["Samples", <span data-testid="profile-samples">{num(p.samples)}</span>],
              ...(p.kind === "memory" ? [["Allocated", <span data-testid="profile-total-bytes">{bytes(p.total_bytes)}</span>] as [string, preact.ComponentChildren]] : []),
            ]} />
          </Card>
          {p.status === "done" && (
            <>
              <Card title={p.kind === "cpu" ? "Top functions" : "Top allocations"}
                extra={p.kind === "cpu" && p.top_functions_thread ? <span class="muted small">of {p.top_functions_thread}, the thread running the task</span> : undefined}>
                {p.kind === "cpu" ? <TopFunctions rows={p.top_functions} /> : <TopAllocations rows={p.top_allocations} />}
              </Card>
              <Card title="Flame graph" extra={<span class="muted small">speedscope, served by this head</span>}>
                <Speedscope p={p} />
              </Card>
            </>
          )}
        </>
      )}
    </div>
  );
}
