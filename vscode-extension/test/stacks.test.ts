import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as vscode from "vscode";
import { HeadClient } from "../src/client";
import { HeadRejected } from "../src/errors";
import { ClusterConnection } from "../src/live";
import { FRAME_LINE, formatDump, formatSummary, localFile } from "../src/stacks";
import { Node, RayTreeProvider } from "../src/tree";
import { ResolvedTarget, StackDump, StackFrame, StackSummary, Task } from "../src/types";
import { FakeHead, job } from "./helpers";

function frame(over: Partial<StackFrame> = {}): StackFrame {
  return { function: "f", file: "/w/a.py", short_file: "w/a.py", line: 1, module: null, native: false, locals: null, ...over };
}

function target(over: Partial<ResolvedTarget> = {}): ResolvedTarget {
  return {
    node_id: "n".repeat(56), node_ip: "10.0.0.2", pid: 42, worker_id: "w".repeat(56), job_id: "01000000",
    task_id: "t1", attempt: 0, actor_id: null, name: "stand_in_line", ...over,
  };
}

const SLEEPING = [
  frame({ function: "time.sleep", file: "<built-in>", line: 0, native: true }),
  frame({ function: "stand_in_line", file: "/tmp/ray/session_1/runtime_resources/_ray_pkg_ab12/jobs/work.py", line: 40 }),
];

test("a job summary: 'N workers in <headline>', the frames innermost first as function (file:line), who, and failures", () => {
  const summary: StackSummary = {
    job_id: "01000000", taken_at: 0, took_ms: 12.4, workers: 4, dumped: 3,
    groups: [
      { count: 2, headline: "time.sleep at work.py:40", frames: SLEEPING, targets: [target(), target({ task_id: "t2", pid: 43 })] },
      { count: 1, headline: "ray.get at keeper.py:9", frames: [frame({ function: "wait_for", file: "/w/keeper.py", line: 9 })],
        targets: [target({ task_id: null, attempt: null, actor_id: "a1", name: "Keeper" })] },
    ],
    failures: [{ target: target({ task_id: "t9", pid: 44 }), error: "process 44 is gone" }],
  };
  const lines = formatSummary(summary).split("\n");
  assert.equal(lines[0], "# stacks of job 01000000: 3 of 4 worker(s) dumped at 1970-01-01 00:00:00 UTC in 12 ms");
  const at = lines.indexOf("2 workers in time.sleep at work.py:40");
  assert.ok(at > 0, lines.join("\n"));
  assert.deepEqual(lines.slice(at + 1, at + 5), [
    "    time.sleep (<built-in>:0) [native]",
    "    stand_in_line (/tmp/ray/session_1/runtime_resources/_ray_pkg_ab12/jobs/work.py:40)",
    "  - task t1 attempt 0 (stand_in_line), pid 42 on 10.0.0.2",
    "  - task t2 attempt 0 (stand_in_line), pid 43 on 10.0.0.2",
  ]);
  assert.ok(lines.includes("1 worker in ray.get at keeper.py:9"));
  assert.ok(lines.includes("  - actor a1 (Keeper), pid 42 on 10.0.0.2"));
  assert.ok(lines.includes("  - task t9 attempt 0 (stand_in_line), pid 44 on 10.0.0.2: process 44 is gone"));
  assert.doesNotMatch(formatSummary(summary), /null|undefined/);
  const empty = formatSummary({ ...summary, groups: [], failures: [], dumped: 0, workers: 0 });
  assert.match(empty, /no worker of this job is running a task right now/);
});

test("one process's dump: every thread with its state, frames, locals, and the fallback's warning", () => {
  const dump: StackDump = {
    dump_id: "d1", target: target(), method: "faulthandler", taken_at: 60, took_ms: 3, round_trip_ms: 9,
    warning: "ptrace not permitted (yama ptrace_scope=1); fix: sysctl kernel.yama.ptrace_scope=0",
    threads: [
      { thread_id: 140, name: "MainThread", os_thread_id: 4242, active: false, owns_gil: false,
        frames: [frame({ function: "stand_in_line", line: 40, locals: { n: "3" } })] },
      { thread_id: 141, name: null, os_thread_id: null, active: true, owns_gil: true, frames: [] },
    ],
  };
  const text = formatDump(dump);
  assert.match(text, /^# stack of task t1 attempt 0 \(stand_in_line\), pid 42 on 10\.0\.0\.2\n# taken by faulthandler at 1970-01-01 00:01:00 UTC in 3 ms \(dump d1\)\n# warning: ptrace not permitted/);
  assert.match(text, /\nThread 140 "MainThread" \(os thread 4242\): idle\n {4}stand_in_line \(\/w\/a\.py:40\)\n {8}n = 3\n/);
  assert.match(text, /\nThread 141: active, holds the GIL\n {4}\(no Python frames\)\n/);
  assert.doesNotMatch(formatDump({ ...dump, warning: null }), /warning/);
});

test("frame lines are found again for links, and only frame lines", () => {
  const m = FRAME_LINE.exec("    stand_in_line (/w/dir with space/a (1).py:40)");
  assert.deepEqual([m?.[1], m?.[2]], ["/w/dir with space/a (1).py", "40"]);
  assert.equal(FRAME_LINE.exec("    time.sleep (<built-in>:0) [native]")?.[1], "<built-in>");
  assert.equal(FRAME_LINE.exec("  - task t1 attempt 0 (stand_in_line), pid 42 on 10.0.0.2"), null);
  assert.equal(FRAME_LINE.exec("2 workers in time.sleep at work.py:40"), null);
});

test("a frame's file maps to the workspace like the debugger's path mappings", () => {
  const here = new Set(["/ws/jobs/work.py", "/usr/lib/python3.12/threading.py", "/ws/tasks.py"]);
  const exists = (f: string) => here.has(f);
  // The file exists as is (same machine, or a library at the same place).
  assert.equal(localFile("/usr/lib/python3.12/threading.py", "/ws", [], exists), "/usr/lib/python3.12/threading.py");
  // Under a worker's known working_dir.
  assert.equal(localFile("/remote/wd/tasks.py", "/ws", ["/remote/wd/"], exists), "/ws/tasks.py");
  // A runtime_env working_dir unpacked under the session: the longest tail found in the workspace.
  assert.equal(localFile("/tmp/ray/session_1/runtime_resources/_ray_pkg_ab12/jobs/work.py", "/ws", [], exists), "/ws/jobs/work.py");
  assert.equal(localFile("/elsewhere/nothing.py", "/ws", [], exists), undefined);
  assert.equal(localFile("<built-in>", "/ws", [], exists), undefined);
  assert.equal(localFile("/remote/wd/tasks.py", undefined, ["/remote/wd"], exists), undefined);
});

function task(over: Partial<Task> & Pick<Task, "task_id">): Task {
  return {
    attempt: 0, job_id: "01000000", name: "stand_in_line", type: "NORMAL_TASK", language: "PYTHON", state: "RUNNING",
    parent_task_id: null, actor_id: null, placement_group_id: null, node_id: "n", worker_id: "w", worker_pid: 42,
    required_resources: {}, creation_time: null, start_time: null, end_time: null, duration: null, error_type: null,
    error_message: null, state_times: {}, is_debugger_paused: null, data_operator_id: null, stuck: null, ...over,
  };
}

let head: FakeHead;
let tasksAnswer: { status: number; body?: unknown } = { status: 200, body: { rows: [], next_cursor: null } };
before(async () => {
  head = await FakeHead.start((req, url) => {
    const p = url.pathname;
    if (p === "/api/v1/tasks") return tasksAnswer;
    if (p === "/api/v1/profiling/stack-summary" && req.method === "POST")
      return { status: 200, body: { job_id: "01000000", taken_at: 0, took_ms: 1, workers: 0, dumped: 0, groups: [], failures: [] } };
    if (p === "/api/v1/profiling/stacks" && req.method === "POST") {
      const taskId = (JSON.parse(head.seen.at(-1)!.body) as { task_id: string }).task_id;
      if (taskId === "done") return { status: 409, body: { error: "task done is FINISHED: nothing to dump" } };
      if (taskId === "denied") return { status: 502, body: { error: "ptrace not permitted (yama ptrace_scope=1); fix: sysctl kernel.yama.ptrace_scope=0" } };
      if (taskId === "noagent") return { status: 503, body: { error: "the agent of node 10.0.0.2 has no profiling link" } };
    }
    return undefined;
  });
});
after(() => head.close());

test("stack and stack-summary POST JSON bodies; the head's 409, 502 and 503 lines reach the user as errors", async () => {
  const client = new HeadClient(head.url, "t", "v");
  assert.equal((await client.stackSummary("01000000")).job_id, "01000000");
  const sent = head.seen.at(-1)!;
  assert.equal(sent.method, "POST");
  assert.equal(sent.headers["content-type"], "application/json");
  assert.deepEqual(JSON.parse(sent.body), { job_id: "01000000" });
  for (const [id, line] of [
    ["done", "task done is FINISHED: nothing to dump"],
    ["denied", "ptrace not permitted (yama ptrace_scope=1); fix: sysctl kernel.yama.ptrace_scope=0"],
    ["noagent", "the agent of node 10.0.0.2 has no profiling link"],
  ]) {
    // HeadRejected (not "already attached"): the command shows it with showErrorMessage.
    await assert.rejects(client.stack(id), (e: unknown) => e instanceof HeadRejected && (e as Error).message.endsWith(`: ${line}`));
  }
});

function treeOver(url: string) {
  const conn = new ClusterConnection(new HeadClient(url, "t", "v"), { changed: () => undefined, problem: () => undefined, recovered: () => undefined });
  conn.state.status = "live";
  conn.state.replaceJobs([job({ job_id: "01000000", state: "RUNNING" })]);
  const tree = new RayTreeProvider({ list: () => [conn], get: (u) => (u === url ? conn : undefined), onDidChange: new vscode.EventEmitter<void>().event });
  const jobNode = tree.children(tree.children()[0])[0];
  return { tree, jobNode };
}

test("a job without paused workers is collapsed with one 'Running tasks' row; its tasks are fetched only when expanded", async () => {
  tasksAnswer = { status: 200, body: { rows: [task({ task_id: "t1" }), task({ task_id: "t2", name: null, worker_pid: null })], next_cursor: null } };
  const { tree, jobNode } = treeOver(head.url);
  assert.equal(tree.getTreeItem(jobNode).collapsibleState, vscode.TreeItemCollapsibleState.Collapsed);
  assert.equal(tree.getTreeItem(jobNode).contextValue, "job.idle"); // the menus offer Show Stacks of Job on it
  const before = head.seen.length;
  tree.refresh(); // a redraw (as on every live delta) walks the tree without asking for tasks
  const [tasksNode] = tree.children(jobNode);
  assert.equal(head.seen.length, before);
  assert.equal(tree.getTreeItem(tasksNode).contextValue, "tasks");
  const rows = (await tree.getChildren(tasksNode)) as Node[];
  const asked = head.seen.at(-1)!.path;
  assert.match(asked, /^\/api\/v1\/tasks\?filter=job_id%3D01000000&filter=state%3DRUNNING&limit=100$/);
  const items = rows.map((r) => tree.getTreeItem(r));
  assert.deepEqual(items.map((i) => [i.label, i.description, i.contextValue]), [
    ["stand_in_line", "t1 · pid 42", "task"],
    ["task", "t2", "task"],
  ]);
  assert.deepEqual(rows[0], { kind: "task", url: head.url, taskId: "t1", name: "stand_in_line", pid: 42 });
});

test("'Running tasks' says when there are none, when more exist, and why a fetch failed", async () => {
  const { tree, jobNode } = treeOver(head.url);
  const [tasksNode] = tree.children(jobNode);
  const labels = async () => ((await tree.getChildren(tasksNode)) as Node[]).map((r) => tree.getTreeItem(r).label);
  tasksAnswer = { status: 200, body: { rows: [], next_cursor: null } };
  assert.deepEqual(await labels(), ["no running tasks"]);
  tasksAnswer = { status: 200, body: { rows: [task({ task_id: "t1" })], next_cursor: "c" } };
  assert.deepEqual(await labels(), ["stand_in_line", "first 1 shown (the web dashboard lists all)"]);
  tasksAnswer = { status: 400, body: { error: "bad filter key 'x'" } };
  assert.deepEqual(await labels(), [`Rayscope head ${head.url}: bad filter key 'x'`]);
});
