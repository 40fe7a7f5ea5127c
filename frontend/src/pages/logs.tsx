// Logs: a file tree per node, a live tail of one file, and cluster-wide search with context lines.
import { useEffect, useRef, useState } from "preact/hooks";
import { get, list } from "../api";
import { LineRow } from "../components/log-view";
import { MoreRows, usePagedList } from "../components/paging";
import { Card, Empty, ErrorBox, Link, PageTitle, Tabs } from "../components/ui";
import { bytes, num, shortId } from "../format";
import { useFetch } from "../hooks";
import { useLive } from "../live";
import { setParams, useLocation } from "../router";
import type { LogFile, LogLine, LogSearchHit, Node, Page } from "../types";

const TAIL_LINES = 1000;
const KEEP_LINES = 5000;

/** Worker files are named by 56-hex worker ids: the pid (and actor) says more to a person. */
function fileLabel(f: LogFile): string {
  const base = f.path.split("/").pop() ?? f.path;
  if (!f.kind.startsWith("worker") || f.pid === null) return base;
  return `worker pid ${f.pid}${f.actor_id ? " (actor)" : ""} ${base.slice(base.lastIndexOf("."))}`;
}

function FileTree({ files, nodes, current, onPick }: { files: LogFile[]; nodes: Map<string, Node>; current: string; onPick: (f: LogFile) => void }) {
  const byNode = new Map<string, LogFile[]>();
  for (const f of files) { const l = byNode.get(f.node_id); if (l) l.push(f); else byNode.set(f.node_id, [f]); }
  return (
    <div class="filetree" data-testid="file-tree">
      {[...byNode.entries()].map(([node, fs]) => {
        const n = nodes.get(node);
        const byKind = new Map<string, LogFile[]>();
        for (const f of fs) { const l = byKind.get(f.kind); if (l) l.push(f); else byKind.set(f.kind, [f]); }
        return (
          <details key={node} open>
            <summary><b>{n?.is_head_node ? "head" : "node"}</b> {n?.node_ip ?? ""} <span class="muted">{shortId(node, 6)}</span></summary>
            {[...byKind.entries()].sort().map(([kind, kfs]) => (
              <details key={kind} open={kind.startsWith("worker") || kfs.some((f) => f.file_id === current)}>
                <summary>{kind} <span class="muted">({kfs.length})</span></summary>
                {kfs.map((f) => (
                  <button key={f.file_id} class={`file ${f.file_id === current ? "selected" : ""}`} title={f.path} onClick={() => onPick(f)} data-file-id={f.file_id}>
                    <span>{fileLabel(f)}</span><span class="muted small">{bytes(f.size)}</span>
                  </button>
                ))}
              </details>
            ))}
          </details>
        );
      })}
      {files.length === 0 && <Empty>No log files stored yet.</Empty>}
    </div>
  );
}

/** The newest lines of one file, then every line appended while the page is open. */
function Tail({ file }: { file: LogFile }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [follow, setFollow] = useState(true);
  const cursor = useRef<string | null>(null);
  const busy = useRef(false);
  const box = useRef<HTMLDivElement>(null);

  const pull = async (initial: boolean) => {
    if (busy.current) return;
    busy.current = true;
    try {
      for (let i = 0; i < 20; i++) {
        const page = await get<Page<LogLine>>("/logs/tail", { file_id: file.file_id, lines: TAIL_LINES, after: initial ? undefined : cursor.current });
        cursor.current = page.next_cursor;
        if (page.rows.length) setLines((old) => (initial ? page.rows : [...old, ...page.rows]).slice(-KEEP_LINES));
        setError(null);
        if (initial || page.rows.length < TAIL_LINES) break;
      }
    } catch (e) {
      setError((e as Error).message);
    } finally {
      busy.current = false;
    }
  };
  useEffect(() => { setLines([]); cursor.current = null; pull(true); }, [file.file_id]);
  useLive(["logs"], (rows, resync) => { if (resync || rows.some((r) => r.file_id === file.file_id)) pull(false); }, 300);
  useEffect(() => { if (follow && box.current) box.current.scrollTop = box.current.scrollHeight; }, [lines, follow]);

  return (
    <div>
      <div class="tail-head">
        <code title={file.path}>{file.path}</code>
        <span class="muted small">{num(file.lines)} lines · {bytes(file.size)}</span>
        {file.worker_id && <span class="muted small">worker {shortId(file.worker_id)}</span>}
        {file.actor_id && <Link href={`/actors/${file.actor_id}`}>actor {shortId(file.actor_id)}</Link>}
        {file.job_id && <Link href={`/jobs/${file.job_id}`}>job {file.job_id}</Link>}
        <span class="grow" />
        <label class="check"><input type="checkbox" checked={follow} onChange={(e) => setFollow((e.target as HTMLInputElement).checked)} /> follow</label>
      </div>
      <ErrorBox error={error} />
      <div class="logview tall" ref={box} data-testid="log-tail">
        {lines.length === 0 ? <Empty>No lines yet.</Empty> : lines.map((l) => <LineRow key={`${l.generation}:${l.offset}`} l={l} showSource={false} />)}
      </div>
    </div>
  );
}

function Search({ q, regex, ctx, node }: { q: string; regex: boolean; ctx: number; node: string }) {
  const [text, setText] = useState(q);
  const [more, setMore] = useState<{ hits: LogSearchHit[]; cursor: string | null }>({ hits: [], cursor: null });
  useEffect(() => setText(q), [q]);
  const params = { [regex ? "regex" : "q"]: q, context: ctx, limit: 100, filter: node ? [`node_id=${node}`] : [] };
  const r = useFetch((s) => (q ? get<Page<LogSearchHit>>("/logs/search", params, s) : Promise.resolve(null)), [q, regex, ctx, node]);
  useEffect(() => setMore({ hits: [], cursor: null }), [q, regex, ctx, node]);
  const hits = [...(r.data?.rows ?? []), ...more.hits];
  const cursor = more.cursor ?? r.data?.next_cursor ?? null;
  const loadMore = async () => {
    if (!cursor) return;
    const p = await get<Page<LogSearchHit>>("/logs/search", { ...params, cursor });
    setMore((m) => ({ hits: [...m.hits, ...p.rows], cursor: p.next_cursor ?? "" }));
  };
  return (
    <div>
      <form class="filters" onSubmit={(e) => { e.preventDefault(); setParams({ q: text.trim() || null }); }}>
        <label class="field wide"><span>Search every node's logs</span>
          <input name="q" value={text} placeholder="e.g. CUDA out of memory" onInput={(e) => setText((e.target as HTMLInputElement).value)} />
        </label>
        <label class="check"><input type="checkbox" checked={regex} onChange={(e) => setParams({ regex: (e.target as HTMLInputElement).checked ? "1" : null })} /> regex</label>
        <label class="field"><span>Context</span>
          <select name="ctx" value={String(ctx)} onChange={(e) => setParams({ ctx: (e.target as HTMLSelectElement).value })}>
            {[0, 1, 2, 3, 5, 10].map((n) => <option key={n} value={n}>{n} lines</option>)}
          </select>
        </label>
        <button class="primary" type="submit">Search</button>
      </form>
      <ErrorBox error={r.error} />
      {q && !r.loading && hits.length === 0 && <Empty>No line matches “{q}”.</Empty>}
      <div class="hits" data-testid="search-hits">
        {hits.map((h) => (
          <div key={`${h.line.file_id}:${h.line.generation}:${h.line.offset}`} class="hit">
            {h.before.map((l) => <LineRow key={l.offset} l={l} cls="ctx" />)}
            <LineRow l={h.line} showSource mark={regex ? undefined : q} cls="match" />
            {h.after.map((l) => <LineRow key={l.offset} l={l} cls="ctx" />)}
          </div>
        ))}
      </div>
      {cursor && <button class="link" onClick={loadMore}>more results</button>}
    </div>
  );
}

const FILE_PAGE = 10000;

export function LogsPage() {
  const { params } = useLocation();
  const node = params.get("node") ?? "";
  const fileId = params.get("file") ?? "";
  const q = params.get("q") ?? "";
  const mode = params.get("mode") ?? (q ? "search" : "files");
  const nodes = useFetch((s) => get<Page<Node>>("/nodes", { limit: 10000 }, s), []);
  // Re-list only when a delta names a file we do not show yet (new lines alone change sizes, not the tree).
  const known = useRef(new Set<string>());
  const files = usePagedList<LogFile>("/logs/files", { node_id: node || undefined }, FILE_PAGE, {}, ["logs"],
    (rows) => rows.some((r) => !known.current.has(r.file_id as string)), 2000);
  known.current = new Set((files.data?.rows ?? []).map((f) => f.file_id));
  const byId = new Map((nodes.data?.rows ?? []).map((n) => [n.node_id, n]));
  const current = (files.data?.rows ?? []).find((f) => f.file_id === fileId);
  return (
    <div data-testid="page-logs">
      <PageTitle title="Logs" sub={node ? <>node {shortId(node, 12)} · <Link href="/logs">all nodes</Link></> : `${num(files.data?.rows.length ?? 0)}${files.data?.next_cursor ? "+" : ""} files on ${byId.size} nodes`} />
      <Tabs tabs={[["files", "Files"], ["search", "Search"]]} value={mode} onChange={(v) => setParams({ mode: v })} />
      <ErrorBox error={files.error} />
      {mode === "search" ? (
        <Card><Search q={q} regex={params.get("regex") === "1"} ctx={Number(params.get("ctx") ?? 2)} node={node} /></Card>
      ) : (
        <div class="logs-layout">
          <Card class="tree-card"><FileTree files={files.data?.rows ?? []} nodes={byId} current={fileId} onPick={(f) => setParams({ file: f.file_id })} />
            <MoreRows page={files.data} pageSize={FILE_PAGE} what="log files" onMore={files.more} /></Card>
          <Card class="tail-card">{current ? <Tail file={current} /> : <Empty>Pick a file on the left to tail it live.</Empty>}</Card>
        </div>
      )}
    </div>
  );
}
