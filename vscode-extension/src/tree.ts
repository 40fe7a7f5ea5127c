/**
 * The "Ray" view: clusters → jobs → paused sessions (function, file:line, node, reason, age), and
 * under each job a collapsed "Running tasks" row whose tasks are fetched only while it is expanded.
 */
import * as path from "path";
import * as vscode from "vscode";
import { ClusterConnection } from "./live";
import { ClusterState, JobGroup, pausedSummary, sessionLocation, sessionName } from "./model";
import { DebugSession } from "./types";

export type Node =
  | { kind: "cluster"; url: string }
  | { kind: "job"; url: string; jobId: string | null }
  | { kind: "session"; url: string; sessionId: string }
  | { kind: "tasks"; url: string; jobId: string }
  | { kind: "task"; url: string; taskId: string; name: string | null; pid: number | null }
  | { kind: "message"; url: string; text: string };

export interface ClusterSource {
  list(): ClusterConnection[];
  get(url: string): ClusterConnection | undefined;
  onDidChange: vscode.Event<void>;
}

/** "<1m", "5m", "3h", "2d": how long a worker has been waiting (minutes at best, so rows redraw rarely). */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return "<1m";
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function sessionDescription(s: DebugSession, nowSec: number): string {
  const reason = s.reason === "exception" ? `exception${s.exception ? `: ${s.exception}` : ""}` : "breakpoint";
  const state = s.state === "attached" ? ` · attached by ${s.attached_by ?? "?"}` : "";
  return `${sessionLocation(s, path.basename)} · ${s.node_ip || s.node_id.slice(0, 8)} · ${reason} · ${formatAge(nowSec - s.paused_at)}${state}`;
}

function clusterDescription(state: ClusterState): string {
  switch (state.status) {
    case "live": {
      const counts = state.pausedCounts();
      return counts.waiting + counts.attached ? pausedSummary(counts) : "live";
    }
    case "connecting":
      return "connecting…";
    case "badToken":
      return "token rejected";
    case "noToken":
      return "no token";
    case "unreachable":
      return "unreachable";
  }
}

export class RayTreeProvider implements vscode.TreeDataProvider<Node>, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<Node | undefined | void>();
  readonly onDidChangeTreeData = this.changed.event;
  private readonly subscription: vscode.Disposable;
  private lastRendered: string | undefined;

  constructor(
    private readonly clusters: ClusterSource,
    private readonly now: () => number = () => Date.now() / 1000,
  ) {
    this.subscription = clusters.onDidChange(() => this.refresh());
  }

  /**
   * Redraw, but only when something shown changed: every redraw rebuilds the rows, and a rebuild
   * between mouse-down and mouse-up swallows a click on a row's inline button.
   */
  refresh(): void {
    const rendered = this.signature();
    if (rendered === this.lastRendered) return;
    this.lastRendered = rendered;
    this.changed.fire(undefined);
  }

  /** Re-fetch one "Running tasks" row's tasks (its Refresh button): nothing else is redrawn. */
  refreshNode(node: Node): void {
    this.changed.fire(node);
  }

  /**
   * Everything the tree would show, as one string; without the running tasks, which are fetched
   * per expanded row (a live delta must not cost one request per job).
   */
  private signature(): string {
    const parts: string[] = [];
    const walk = (node?: Node): void => {
      for (const child of this.children(node)) {
        const item = this.getTreeItem(child);
        parts.push(`${item.id ?? ""}|${String(item.label)}|${item.description ?? ""}|${item.contextValue ?? ""}`);
        walk(child);
      }
    };
    walk();
    return parts.join("\n");
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }

  /** VS Code asks for a row's children when it is shown expanded: only then are running tasks fetched. */
  getChildren(node?: Node): Node[] | Promise<Node[]> {
    return node?.kind === "tasks" ? this.runningTasks(node) : this.children(node);
  }

  /** A job's running tasks, or one message row saying why there are none. */
  async runningTasks(node: Extract<Node, { kind: "tasks" }>): Promise<Node[]> {
    const conn = this.clusters.get(node.url);
    if (!conn) return [];
    const message = (text: string): Node => ({ kind: "message", url: node.url, text });
    try {
      const { tasks, more } = await conn.client.runningTasks(node.jobId);
      if (!tasks.length) return [message("no running tasks")];
      const rows: Node[] = tasks.map((t) => ({ kind: "task", url: node.url, taskId: t.task_id, name: t.name, pid: t.worker_pid }));
      return more ? [...rows, message(`first ${tasks.length} shown (the web dashboard lists all)`)] : rows;
    } catch (err) {
      return [message((err as Error).message)];
    }
  }

  /** The rows known without a request: clusters, jobs, sessions (and a job's "Running tasks" row). */
  children(node?: Node): Node[] {
    if (!node) return this.clusters.list().map((c) => ({ kind: "cluster", url: c.state.url }));
    const conn = this.clusters.get(node.url);
    if (!conn) return [];
    if (node.kind === "cluster") {
      if (conn.state.status !== "live") {
        return conn.state.problem ? [{ kind: "message", url: node.url, text: conn.state.problem }] : [];
      }
      const groups = conn.state.groups();
      if (!groups.length) return [{ kind: "message", url: node.url, text: "no running jobs, no paused workers" }];
      return groups.map((g) => ({ kind: "job", url: node.url, jobId: g.jobId }));
    }
    if (node.kind === "job") {
      const group = conn.state.groups().find((g) => g.jobId === node.jobId);
      const sessions: Node[] = (group?.sessions ?? []).map((s) => ({ kind: "session", url: node.url, sessionId: s.session_id }));
      return node.jobId === null ? sessions : [...sessions, { kind: "tasks", url: node.url, jobId: node.jobId }];
    }
    return [];
  }

  getTreeItem(node: Node): vscode.TreeItem {
    const state = this.clusters.get(node.url)?.state;
    switch (node.kind) {
      case "cluster":
        return this.clusterItem(node.url, state);
      case "job":
        return this.jobItem(node, state?.groups().find((g) => g.jobId === node.jobId));
      case "session":
        return this.sessionItem(node, state?.session(node.sessionId));
      case "tasks": {
        const item = new vscode.TreeItem("Running tasks", vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `tasks:${node.url}:${node.jobId}`;
        item.tooltip = "The job's running tasks (fetched when expanded); Show Stack dumps one task's threads";
        item.contextValue = "tasks";
        item.iconPath = new vscode.ThemeIcon("run-all");
        return item;
      }
      case "task": {
        const item = new vscode.TreeItem(node.name ?? "task", vscode.TreeItemCollapsibleState.None);
        item.id = `task:${node.url}:${node.taskId}`;
        item.description = node.pid === null ? node.taskId : `${node.taskId} · pid ${node.pid}`;
        item.tooltip = `task ${node.taskId}: Show Stack dumps its threads`;
        item.contextValue = "task";
        item.iconPath = new vscode.ThemeIcon("symbol-method");
        return item;
      }
      case "message": {
        const item = new vscode.TreeItem(node.text, vscode.TreeItemCollapsibleState.None);
        item.iconPath = new vscode.ThemeIcon("info");
        item.contextValue = "message";
        return item;
      }
    }
  }

  private clusterItem(url: string, state: ClusterState | undefined): vscode.TreeItem {
    const label = url.replace(/^https?:\/\//, "");
    const item = new vscode.TreeItem(label, vscode.TreeItemCollapsibleState.Expanded);
    item.id = `cluster:${url}`;
    item.description = state ? clusterDescription(state) : "";
    item.tooltip = state?.problem ?? url;
    item.contextValue = `cluster.${state?.status ?? "connecting"}`;
    const ok = state?.status === "live";
    item.iconPath = new vscode.ThemeIcon(ok ? "server-environment" : "warning");
    return item;
  }

  private jobItem(node: Extract<Node, { kind: "job" }>, group: JobGroup | undefined): vscode.TreeItem {
    const sessions = group?.sessions ?? [];
    // A job with an id always has its "Running tasks" row, so it is collapsible; open when a worker waits.
    const item = new vscode.TreeItem(
      node.jobId === null ? "no job" : `job ${node.jobId}`,
      sessions.length
        ? vscode.TreeItemCollapsibleState.Expanded
        : node.jobId === null
          ? vscode.TreeItemCollapsibleState.None
          : vscode.TreeItemCollapsibleState.Collapsed,
    );
    // The id changes when the first session arrives, so VS Code shows the job expanded then
    // (it remembers a collapsed state per id, and a job without sessions had no children).
    item.id = `job:${node.url}:${node.jobId ?? "-"}:${sessions.length ? "sessions" : "idle"}`;
    const paused = sessions.filter((s) => s.state === "paused").length;
    const parts = [group?.job?.state ?? "", paused ? `${paused} paused` : "", group?.job?.entrypoint ?? ""];
    item.description = parts.filter(Boolean).join(" · ");
    // "Resume all" resumes by job id: not offered for the workers without a job.
    item.contextValue = !sessions.length ? "job.idle" : node.jobId === null ? "job.none" : "job";
    item.iconPath = new vscode.ThemeIcon("layers");
    return item;
  }

  private sessionItem(node: Extract<Node, { kind: "session" }>, s: DebugSession | undefined): vscode.TreeItem {
    if (!s) return new vscode.TreeItem("(gone)", vscode.TreeItemCollapsibleState.None);
    const item = new vscode.TreeItem(sessionName(s), vscode.TreeItemCollapsibleState.None);
    item.id = `session:${node.url}:${s.session_id}`;
    item.description = sessionDescription(s, this.now());
    item.tooltip = new vscode.MarkdownString(
      [
        `**${sessionName(s)}** — ${s.reason}${s.exception ? ` (\`${s.exception}\`)` : ""}`,
        sessionLocation(s),
        `node ${s.node_ip ? `${s.node_ip} (${s.node_id})` : s.node_id}, pid ${s.pid}`,
        s.task_id
          ? `task ${s.task_id}${s.attempt === null ? "" : ` attempt ${s.attempt}`}${s.actor_id ? `, actor ${s.actor_id}` : ""}`
          : `no task${s.actor_id ? `, actor ${s.actor_id}` : ""}`,
        s.state === "attached" ? `attached by ${s.attached_by ?? "?"}` : "waiting for a debugger",
      ].join("\n\n"),
    );
    item.contextValue = "session";
    item.iconPath = new vscode.ThemeIcon(
      s.state === "attached" ? "debug" : s.reason === "exception" ? "error" : "debug-pause",
    );
    return item;
  }
}
