// What the pipeline dropped or cut, by node, source and reason (the head's /ingest/health): the
// promise is "nothing is lost silently", so every DropReport an agent sent is on screen here.
import { get } from "../api";
import { useLiveFetch } from "../hooks";
import { ago, bytes, num, shortId } from "../format";
import type { DropCount, IngestHealth } from "../types";
import { Table } from "./table";
import { Card, ErrorBox, Link } from "./ui";

/** The head's drop counts, refreshed when a drop arrives (the live feed's "drops" kind). */
export function useDrops() {
  return useLiveFetch((s) => get<IngestHealth>("/ingest/health", {}, s), [], ["drops"], undefined, 1000);
}

const dropKey = (d: DropCount) => `${d.node_id ?? "-"}|${d.source}|${d.reason}`;

/** A "Dropped" card: one row per node, source and reason; says so plainly when nothing was dropped. */
export function DropsCard() {
  const health = useDrops();
  const rows = health.data?.drops ?? [];
  const total = rows.reduce((n, d) => n + d.count, 0);
  return (
    <Card title={<span data-testid="drops-title">Dropped{rows.length ? ` (${rows.length} ${rows.length === 1 ? "reason" : "reasons"})` : ""}</span>}
          extra={<span class="muted small">what the agents could not ship whole, and why</span>}>
      <ErrorBox error={health.error} />
      <Table testid="drops-table" rows={rows} rowKey={dropKey} empty={health.data ? "Nothing dropped." : "Loading…"} cols={[
        { key: "node", label: "Node", render: (d) => d.node_id ? <Link href={`/nodes/${d.node_id}`}>{shortId(d.node_id, 12)}</Link> : "–" },
        { key: "source", label: "Source", render: (d) => <span class="tag">{d.source}</span> },
        { key: "reason", label: "Reason", cls: "clip", render: (d) => <span class="bad-text" title={d.reason}>{d.reason}</span> },
        { key: "count", label: "Items", cls: "num", title: "whole items dropped (0: items cut, not dropped)", render: (d) => num(d.count) },
        { key: "bytes", label: "Bytes", cls: "num", render: (d) => bytes(d.bytes) },
        { key: "detail", label: "Last detail", cls: "clip", render: (d) => <span title={d.last_detail ?? ""}>{d.last_detail ?? "–"}</span> },
        { key: "at", label: "Last", render: (d) => ago(d.last_at) },
      ]} />
      {total > 0 && <div class="muted small" data-testid="drops-total">{num(total)} items dropped in all</div>}
    </Card>
  );
}

/** One line on the Overview when anything was dropped: how much, on how many nodes, and where to look. */
export function DropsBanner() {
  const rows = useDrops().data?.drops ?? [];
  if (!rows.length) return null;
  const items = rows.reduce((n, d) => n + d.count, 0);
  const cut = rows.filter((d) => d.count === 0).length;
  const nodes = new Set(rows.map((d) => d.node_id ?? "-")).size;
  const parts = [items ? `${num(items)} items dropped` : "", cut ? `items cut for ${cut} reason(s)` : ""].filter(Boolean);
  return (
    <div class="banner history" data-testid="drops-banner">
      Some data was not shipped whole: {parts.join(" and ")} on {nodes} node(s).{" "}
      <Link href="/nodes">See the Nodes page →</Link>
    </div>
  );
}
