// Alerts (issue 15): what the head's own evaluator raised from its store (docs/alerts.md). Firing ones first,
// most severe first; then the resolved ones, newest first. Each names the node (by its host) or job it concerns.
import { useState } from "preact/hooks";
import { byUrgency, useAlerts } from "../alerts";
import { MoreRows } from "../components/paging";
import { Table } from "../components/table";
import { Card, ErrorBox, Link, PageTitle } from "../components/ui";
import { ago, duration, shortId, time } from "../format";
import { useTick } from "../hooks";
import type { Alert } from "../types";

const PAGE = 200;

export function SeverityBadge({ severity }: { severity: string }) {
  return <span class={`badge sev-${severity}`} data-severity={severity}>{severity}</span>;
}

function Concerns({ a }: { a: Alert }) {
  return (
    <span>
      {a.node_id && <Link href={`/nodes/${a.node_id}`}>{a.node_ip ?? shortId(a.node_id, 12)}</Link>}
      {!a.node_id && a.node_ip && <span>{a.node_ip}</span>}
      {a.job_id && <Link href={`/jobs/${a.job_id}`}>job {a.job_id}</Link>}
      {!a.node_id && !a.node_ip && !a.job_id && <span class="muted">cluster</span>}
    </span>
  );
}

function AlertTable({ rows, testid, empty }: { rows: Alert[]; testid: string; empty: string }) {
  return <Table testid={testid} rows={rows} rowKey={(a) => a.alert_id} empty={empty} rowClass={(a) => `alert-${a.state}`} cols={[
    { key: "sev", label: "Severity", render: (a) => <SeverityBadge severity={a.severity} /> },
    { key: "name", label: "Alert", render: (a) => <b data-testid="alert-name">{a.name}</b> },
    { key: "summary", label: "Summary", cls: "clip", render: (a) => (
      <details class="alert-summary"><summary>{a.summary}</summary><p class="muted small">{a.description}</p></details>) },
    { key: "what", label: "Node / job", render: (a) => <Concerns a={a} /> },
    { key: "since", label: "Since", render: (a) => <span title={time(a.since)}>{ago(a.since)}</span> },
    { key: "state", label: "State", render: (a) => (
      <span class={`badge ${a.state === "firing" ? "bad" : "ok"}`} data-state={a.state}>
        {a.state === "firing" ? "firing" : `resolved after ${duration((a.resolved_at ?? a.since) - a.since)}`}</span>) },
  ]} />;
}

export function AlertsPage() {
  const firing = useAlerts("firing", 10_000);
  const [pages, setPages] = useState(1);
  const resolved = useAlerts("resolved", PAGE * pages);
  useTick(10_000);
  const now = [...(firing.data?.rows ?? [])].sort(byUrgency);
  return (
    <div data-testid="page-alerts">
      <PageTitle title="Alerts" sub={<>Raised by the head from what it stores, by the same rules <code>rayscope metrics alert-rules</code> exports for Prometheus</>} />
      <Card title={`Firing (${now.length})`}>
        <ErrorBox error={firing.error} />
        <AlertTable testid="alerts-firing" rows={now} empty="Nothing is firing." />
      </Card>
      <Card title="Resolved">
        <ErrorBox error={resolved.error} />
        <AlertTable testid="alerts-resolved" rows={resolved.data?.rows ?? []} empty="No alert has resolved yet." />
        <MoreRows page={resolved.data} pageSize={PAGE} what="resolved alerts" onMore={() => setPages((p) => p + 1)} />
      </Card>
    </div>
  );
}
