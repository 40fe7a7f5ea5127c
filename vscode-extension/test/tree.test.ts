import assert from "node:assert/strict";
import { test } from "node:test";
import * as vscode from "vscode";
import { HeadClient } from "../src/client";
import { ClusterConnection } from "../src/live";
import { formatAge, Node, RayTreeProvider } from "../src/tree";
import { job, session } from "./helpers";

function source(urls: string[]) {
  const changed = new vscode.EventEmitter<void>();
  const conns = new Map(
    urls.map((u) => [u, new ClusterConnection(new HeadClient(u, "t", "v"), { changed: () => undefined, problem: () => undefined, recovered: () => undefined })]),
  );
  return { list: () => [...conns.values()], get: (u: string) => conns.get(u), onDidChange: changed.event, changed, conns };
}

test("formatAge", () => {
  assert.deepEqual([formatAge(-3), formatAge(59), formatAge(61), formatAge(7200), formatAge(200000)], ["<1m", "<1m", "1m", "2h", "2d"]);
});

test("clusters → jobs → sessions with function, file:line, node, reason and age", () => {
  const src = source(["http://h:1"]);
  const state = src.conns.get("http://h:1")!.state;
  state.status = "live";
  state.replaceJobs([
    job({ job_id: "01000000", state: "RUNNING", start_time: 1, entrypoint: "python train.py" }),
    job({ job_id: "02000000", state: "FINISHED", start_time: 2 }),
  ]);
  state.replaceSessions([
    session({ session_id: "b", paused_at: 990, function: "late" }),
    session({ session_id: "a", paused_at: 900, reason: "exception", exception: "ValueError: bad input", function: "early", line: 7 }),
  ]);
  const tree = new RayTreeProvider(src, () => 1000);
  const [cluster] = tree.children();
  const clusterItem = tree.getTreeItem(cluster);
  assert.equal(clusterItem.label, "h:1");
  assert.equal(clusterItem.description, "2 paused");
  const jobs = tree.children(cluster);
  assert.deepEqual(jobs.map((j) => (j as { jobId: string }).jobId), ["01000000"]); // finished job without sessions is hidden
  const jobItem = tree.getTreeItem(jobs[0]);
  assert.equal(jobItem.contextValue, "job");
  assert.equal(jobItem.description, "RUNNING · 2 paused · python train.py");
  const sessions = tree.children(jobs[0]);
  const items = sessions.map((s) => tree.getTreeItem(s));
  // Longest waiting first; then the job's "Running tasks" row, collapsed (fetched only when expanded).
  assert.deepEqual(items.map((i) => i.label), ["early", "late", "Running tasks"]);
  assert.equal(items[2].collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
  assert.equal(items[0].description, "tasks.py:7 · 127.0.0.1 · exception: ValueError: bad input · 1m");
  assert.equal(items[1].description, "tasks.py:12 · 127.0.0.1 · breakpoint · <1m");
  assert.equal(items[0].contextValue, "session");
  assert.equal((items[0].iconPath as vscode.ThemeIcon).id, "error");
});

test("an attached session says by whom; a problem shows as a message under the cluster", () => {
  const src = source(["http://h:1", "http://down:2"]);
  const live = src.conns.get("http://h:1")!.state;
  live.status = "live";
  live.replaceSessions([session({ state: "attached", attached_by: "vscode@me" })]);
  const down = src.conns.get("http://down:2")!.state;
  down.status = "unreachable";
  down.problem = "Rayscope head http://down:2 is unreachable (ECONNREFUSED)";
  const tree = new RayTreeProvider(src, () => 1000);
  const [c1, c2] = tree.children();
  const s = tree.children(tree.children(c1)[0])[0];
  assert.match(tree.getTreeItem(s).description as string, /attached by vscode@me$/);
  // An attached worker is still stopped: counted, and told apart from the waiting ones.
  assert.equal(tree.getTreeItem(c1).description, "1 paused (1 attached)");
  assert.equal(tree.getTreeItem(c2).description, "unreachable");
  const [msg] = tree.children(c2);
  assert.equal(tree.getTreeItem(msg).label, down.problem);
});

test("the tree redraws when the clusters change", () => {
  const src = source(["http://h:1"]);
  const tree = new RayTreeProvider(src);
  let fired = 0;
  tree.onDidChangeTreeData(() => void (fired += 1));
  src.changed.fire();
  assert.equal(fired, 1);
  src.changed.fire(); // nothing shown changed: no redraw (a redraw would swallow a click)
  assert.equal(fired, 1);
  src.conns.get("http://h:1")!.state.status = "unreachable";
  src.changed.fire();
  assert.equal(fired, 2);
  src.conns.get("http://h:1")!.state.status = "connecting";
  const empty: Node = { kind: "cluster", url: "http://h:1" };
  src.conns.get("http://h:1")!.state.status = "live";
  assert.match(tree.getTreeItem(tree.children(empty)[0]).label as string, /no running jobs/);
});

/** Every field the API may leave null (dashboard/models.py DebugSession), null: e.g. a breakpoint outside a task. */
const bare = {
  job_id: null, task_id: null, attempt: null, actor_id: null, function: null, file: null, line: null,
  node_ip: null, worker_id: null, working_dir: null,
} as const;

test("a session the head knows little about still shows, under 'no job', without 'null' anywhere", () => {
  const src = source(["http://h:1"]);
  const state = src.conns.get("http://h:1")!.state;
  state.status = "live";
  state.replaceJobs([job({ job_id: "01000000", state: "RUNNING", start_time: 1 })]);
  state.replaceSessions([session({ session_id: "x", ...bare, pid: 77 }), session({ session_id: "y", line: null })]);
  const tree = new RayTreeProvider(src, () => 1000);
  const jobs = tree.children(tree.children()[0]);
  assert.deepEqual(jobs.map((j) => (j as { jobId: string | null }).jobId).sort(), ["01000000", null]);
  const none = jobs.find((j) => (j as { jobId: string | null }).jobId === null)!;
  const noneItem = tree.getTreeItem(none);
  assert.equal(noneItem.label, "no job");
  assert.equal(noneItem.contextValue, "job.none"); // no "Resume all": that resumes by job id
  const [s] = tree.children(none);
  const item = tree.getTreeItem(s);
  assert.equal(item.label, "pid 77");
  assert.equal(item.description, `unknown location · ${"f".repeat(8)} · breakpoint · <1m`);
  const tooltip = (item.tooltip as vscode.MarkdownString).value;
  assert.doesNotMatch(tooltip, /null|undefined/);
  assert.match(tooltip, /no task/);
  const y = tree.children(jobs.find((j) => (j as { jobId: string | null }).jobId === "01000000")!);
  assert.equal(tree.getTreeItem(y[0]).description, "tasks.py:? · 127.0.0.1 · breakpoint · <1m");
});

test("a debug configuration for a session without task or function does not throw", async () => {
  const { configurationFor } = await import("../src/debug");
  const cfg = configurationFor("http://h:1", session({ session_id: "abcdef123456", ...bare, pid: 9 }));
  assert.equal(cfg.name, "Ray: pid 9 (abcdef12)");
  assert.deepEqual(cfg.pathMappings, []);
});
