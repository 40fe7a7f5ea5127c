// Ray Serve: applications → deployments → replicas, from the Serve controller's documents the head
// node's agent polls, with request figures from each node's Ray metrics (rate and errors over the last
// minute, latency percentiles estimated from Ray's histogram buckets) and the history of status changes
// and replica starts and deaths that Ray's own UI forgets. Live; in history mode the recorded run.
import type { ComponentChildren } from "preact";
import { get } from "../api";
import { Table } from "../components/table";
import { Badge, Card, Empty, ErrorBox, KV, Link, PageTitle } from "../components/ui";
import { shortId, time } from "../format";
import { useLiveFetch } from "../hooks";
import type { Page, ServeApplication, ServeApplicationDetail, ServeDeployment, ServeEvent, ServeReplica,
  ServeRequestFigures } from "../types";

const LIVE_KINDS: ("serve_apps" | "serve_metrics")[] = ["serve_apps", "serve_metrics"];
const n3 = (v: number | null | undefined): string => (v === null || v === undefined ? "–" : String(+v.toPrecision(3)));

function replicasCell(running: number, target: number | null, min?: number | null, max?: number | null) {
  return (
    <span title="running / target replicas (autoscaling range)">
      <b>{running}</b> / {target ?? "?"}{max !== null && max !== undefined ? <span class="muted"> (autoscaling {min}–{max})</span> : null}
    </span>
  );
}

function Figures({ f }: { f: ServeRequestFigures | null }): ComponentChildren {
  if (!f) return <span class="muted">no requests seen</span>;
  return (
    <span class="small" title={`over the last ${f.window_s} s; percentiles estimated within Ray's histogram buckets`}>
      {f.requests_total.toFixed(0)} req ({n3(f.request_rate)}/s) · <span class={f.errors_total ? "bad-text" : ""}>
      {f.errors_total.toFixed(0)} err ({n3(f.error_rate)}/s)</span> · p50/p95/p99 {n3(f.p50_ms)}/{n3(f.p95_ms)}/{n3(f.p99_ms)} ms
    </span>
  );
}

export function ServeAppsPage() {
  const apps = useLiveFetch((s) => get<Page<ServeApplication>>("/serve/applications", { limit: 1000 }, s), [], LIVE_KINDS,
                            undefined, 1000);
  const rows = apps.data?.rows ?? [];
  return (
    <div data-testid="page-serve">
      <PageTitle title="Serve" sub="Ray Serve applications, read from the Serve controller (the head node's agent polls it while Serve runs)" />
      <ErrorBox error={apps.error} />
      <Card title="Applications">
        {rows.length === 0 && !apps.loading ? <Empty>No Serve application seen. Deploy one with serve.run().</Empty> : (
          <Table testid="serve-apps-table" rows={rows} rowKey={(a) => a.name} cols={[
            { key: "name", label: "Name", render: (a) => <Link href={`/serve/${encodeURIComponent(a.name)}`}>{a.name}</Link> },
            { key: "status", label: "Status", render: (a) => <>{<Badge state={a.status} />}{a.present ? null : <span class="muted"> removed {time(a.removed_at)}</span>}</> },
            { key: "route", label: "Route", render: (a) => <code>{a.route_prefix ?? "–"}</code> },
            { key: "deps", label: "Deployments", cls: "num", render: (a) => a.deployment_count },
            { key: "replicas", label: "Replicas", render: (a) => replicasCell(a.running_replicas, a.target_replicas) },
            { key: "req", label: "HTTP requests (last minute)", render: (a) => <Figures f={a.requests} /> },
            { key: "deployed", label: "Last deployed", render: (a) => time(a.last_deployed_time) },
            { key: "msg", label: "Message", cls: "clip", render: (a) => <span title={a.message}>{a.message || "–"}</span> },
          ]} />
        )}
      </Card>
    </div>
  );
}

function replicaRows(app: ServeApplicationDetail): [ServeDeployment, ServeReplica][] {
  return app.deployments.flatMap((d) => d.replicas.map((r) => [d, r] as [ServeDeployment, ServeReplica]));
}

function eventText(e: ServeEvent): ComponentChildren {
  const change = e.previous ? <>{e.previous} → {e.status ?? ""}</> : e.status ?? "";
  return <>{change}{e.message ? <span class="muted"> — {e.message}</span> : null}</>;
}

export function ServeAppPage({ name }: { name: string }) {
  const app = useLiveFetch((s) => get<ServeApplicationDetail>(`/serve/applications/${encodeURIComponent(name)}`, {}, s),
                           [name], LIVE_KINDS, undefined, 1000);
  const a = app.data;
  return (
    <div data-testid="page-serve-app">
      <PageTitle title={<>Serve application <code>{name}</code></>} sub={<Link href="/serve">← all applications</Link>} />
      <ErrorBox error={app.error} />
      {a && (
        <>
          <Card title="Application">
            <KV rows={[
              ["Status", <><Badge state={a.status} />{a.present ? null : <span class="muted"> no longer in the controller's document since {time(a.removed_at)}</span>}</>],
              ["Message", a.message ? <pre class="traceback">{a.message}</pre> : "–"],
              ["Route prefix", <code>{a.route_prefix ?? "–"}</code>],
              ["Ingress deployment", a.ingress_deployment ?? "–"],
              ["Replicas", replicasCell(a.running_replicas, a.target_replicas)],
              ["HTTP requests", <Figures f={a.requests} />],
              ["Last deployed", time(a.last_deployed_time)],
              ["Proxies", Object.entries(a.proxies).map(([node, st]) => <span key={node}><Link href={`/nodes/${node}`}>{shortId(node)}</Link> <Badge state={st} /> </span>)],
            ]} />
          </Card>
          <Card title="Deployments">
            <Table testid="serve-deployments" rows={a.deployments} rowKey={(d) => d.name} cols={[
              { key: "name", label: "Deployment", render: (d) => <b>{d.name}</b> },
              { key: "status", label: "Status", render: (d) => <Badge state={d.status} /> },
              { key: "replicas", label: "Running / target", render: (d) => replicasCell(d.running_replicas, d.target_replicas, d.autoscaling_min, d.autoscaling_max) },
              { key: "restarts", label: "Replica deaths", cls: "num", render: (d) => d.replica_restarts },
              { key: "req", label: "Requests (last minute)", render: (d) => <Figures f={d.requests} /> },
              { key: "msg", label: "Message", cls: "clip", render: (d) => <span title={d.message}>{d.message || "–"}</span> },
            ]} />
          </Card>
          <Card title="Replicas">
            <Table testid="serve-replicas" rows={replicaRows(a)} rowKey={([, r]) => r.replica_id}
                   empty="No replica running." cols={[
              { key: "dep", label: "Deployment", render: ([d]) => d.name },
              { key: "id", label: "Replica", render: ([, r]) => <code>{r.replica_id}</code> },
              { key: "state", label: "State", render: ([, r]) => <Badge state={r.state} /> },
              { key: "actor", label: "Actor", render: ([, r]) => (r.actor_id ? <Link href={`/actors/${r.actor_id}`}>{shortId(r.actor_id)}</Link> : "–") },
              { key: "node", label: "Node", render: ([, r]) => (r.node_id ? <Link href={`/nodes/${r.node_id}`}>{r.node_ip ?? shortId(r.node_id)}</Link> : "–") },
              { key: "pid", label: "PID", cls: "num", render: ([, r]) => r.pid ?? "–" },
              { key: "log", label: "Log", render: ([, r]) => (r.log_file_id ? <Link href={`/logs?node=${r.node_id}&file=${encodeURIComponent(r.log_file_id)}`}>{r.log_file_path}</Link> : "–") },
              { key: "started", label: "Started", render: ([, r]) => time(r.started) },
            ]} />
          </Card>
          <Card title="History" extra={<span class="muted small">status changes and replica starts, deaths and stops, as the head saw them</span>}>
            <Table testid="serve-history" rows={[...a.history].reverse()} rowKey={(e) => `${e.ts}-${e.kind}-${e.deployment}-${e.replica_id}`}
                   empty="Nothing recorded yet." cols={[
              { key: "ts", label: "Time", render: (e) => time(e.ts) },
              { key: "kind", label: "Event", render: (e) => <span class="tag">{e.kind}</span> },
              { key: "dep", label: "Deployment", render: (e) => e.deployment ?? "–" },
              { key: "rep", label: "Replica", render: (e) => (e.replica_id ? <code>{e.replica_id}</code> : "–") },
              { key: "what", label: "Change", cls: "clip", render: eventText },
            ]} />
          </Card>
        </>
      )}
    </div>
  );
}
