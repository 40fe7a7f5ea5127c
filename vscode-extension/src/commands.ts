/** Command handlers: each turns a head failure into one clear notification. */
import * as vscode from "vscode";
import { Clusters } from "./clusters";
import { normalizeUrl, readClusters, writeClusters } from "./config";
import { configurationFor } from "./debug";
import { sessionName } from "./model";
import { AlreadyAttached, BadToken, HeadError, SessionGone } from "./errors";
import { StackDocuments } from "./stackdocs";
import { formatDump, formatSummary } from "./stacks";
import { Node } from "./tree";
import { LogLine } from "./types";

type ClusterArg = Extract<Node, { kind: "cluster" }> | undefined;
type SessionArg = Extract<Node, { kind: "session" }>;
type JobArg = Extract<Node, { kind: "job" }>;
type TaskArg = Extract<Node, { kind: "task" }>;

/** Show a head failure; a bad token offers "Set Token" right away. */
export async function report(error: unknown, setToken: (url: string) => Promise<void>): Promise<void> {
  if (error instanceof BadToken) {
    const pick = await vscode.window.showErrorMessage(error.message, "Set Token");
    if (pick) await setToken(error.cluster);
  } else if (error instanceof SessionGone) {
    void vscode.window.showWarningMessage(`Rayscope: ${error.message}`);
  } else if (error instanceof AlreadyAttached) {
    void vscode.window.showWarningMessage(`Rayscope: ${error.message}`);
  } else if (error instanceof HeadError) {
    void vscode.window.showErrorMessage(error.message);
  } else {
    void vscode.window.showErrorMessage(`Rayscope: ${(error as Error)?.message ?? String(error)}`);
  }
}

/** Log lines as one document, a `==> file <==` header whenever the file changes (like `tail`). */
export function formatLogs(subject: string, lines: LogLine[]): string {
  if (!lines.length) return `# no log lines recorded for ${subject} yet\n`;
  const out: string[] = [`# logs of ${subject}`];
  let file = "";
  for (const line of lines) {
    if (line.path !== file) {
      file = line.path;
      out.push("", `==> ${file} (node ${line.node_id.slice(0, 12)}) <==`);
    }
    out.push(line.text);
  }
  return out.join("\n") + "\n";
}

export class Commands {
  constructor(
    private readonly clusters: Clusters,
    private readonly stacks: StackDocuments,
  ) {}

  register(context: vscode.ExtensionContext): void {
    const bind = (name: string, fn: (...args: never[]) => Promise<unknown>) =>
      context.subscriptions.push(
        vscode.commands.registerCommand(name, (...args: never[]) =>
          fn.apply(this, args).catch((err: unknown) => report(err, (url) => this.setToken({ kind: "cluster", url }))),
        ),
      );
    bind("rayscope.addCluster", this.addCluster);
    bind("rayscope.removeCluster", this.removeCluster);
    bind("rayscope.setToken", this.setToken);
    bind("rayscope.openDashboard", this.openDashboard);
    bind("rayscope.refresh", this.refresh);
    bind("rayscope.attach", this.attach);
    bind("rayscope.resume", this.resume);
    bind("rayscope.resumeAll", this.resumeAll);
    bind("rayscope.openLogs", this.openLogs);
    bind("rayscope.stackSummary", this.stackSummary);
    bind("rayscope.stack", this.stack);
  }

  async addCluster(): Promise<void> {
    const input = await vscode.window.showInputBox({
      title: "Rayscope: add a cluster",
      prompt: "HTTP URL of the Rayscope head (printed by `rayscope start`)",
      placeHolder: "http://127.0.0.1:8265",
      validateInput: (v) => {
        try {
          normalizeUrl(v);
          return undefined;
        } catch (err) {
          return (err as Error).message;
        }
      },
    });
    if (!input) return;
    const url = normalizeUrl(input);
    const urls = readClusters().urls;
    if (!urls.includes(url)) await writeClusters([...urls, url]);
    if (!(await this.clusters.tokens.get(url))) await this.setToken({ kind: "cluster", url });
  }

  async removeCluster(node?: ClusterArg): Promise<void> {
    const url = node?.url ?? (await this.pickCluster("Remove which cluster?"));
    if (!url) return;
    await writeClusters(readClusters().urls.filter((u) => u !== url));
    await this.clusters.tokens.delete(url);
  }

  async setToken(node?: ClusterArg): Promise<void> {
    const url = node?.url ?? (await this.pickCluster("Set the token of which cluster?"));
    if (!url) return;
    const token = await vscode.window.showInputBox({
      title: `Rayscope: token for ${url}`,
      prompt: "The head's bearer token (`rayscope token`, or $RAYSCOPE_HOME/token); kept in VS Code's secret storage",
      password: true,
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : "the token is empty"),
    });
    if (!token) return;
    await this.clusters.tokens.set(url, token);
    await this.clusters.reconnect(url);
  }

  async openDashboard(node?: ClusterArg): Promise<void> {
    const url = node?.url ?? (await this.pickCluster("Open the dashboard of which cluster?"));
    if (url) await vscode.env.openExternal(vscode.Uri.parse(url + "/"));
  }

  async refresh(): Promise<void> {
    await this.clusters.sync();
    for (const conn of this.clusters.list()) if (conn.state.status === "live") await conn.refetch();
  }

  async attach(node: SessionArg): Promise<void> {
    const session = this.clusters.get(node.url)?.state.session(node.sessionId);
    if (!session) throw new SessionGone(`session ${node.sessionId} is gone (worker resumed or died)`, node.url);
    const client = await this.clusters.client(node.url);
    const ticket = await client.ticket(session.session_id);
    const folder = vscode.workspace.workspaceFolders?.[0];
    const started = await vscode.debug.startDebugging(folder, configurationFor(node.url, session, ticket.tunnel_path));
    if (!started) void vscode.window.showErrorMessage(`Rayscope: could not start debugging ${sessionName(session)}`);
  }

  async resume(node: SessionArg): Promise<void> {
    await (await this.clusters.client(node.url)).resume(node.sessionId);
  }

  async resumeAll(node: JobArg): Promise<void> {
    if (node.jobId === null) return; // the "no job" group offers no "Resume all" (tree.ts)
    const resumed = await (await this.clusters.client(node.url)).resumeJob(node.jobId);
    void vscode.window.showInformationMessage(`Rayscope: resumed ${resumed.length} worker(s) of job ${node.jobId}`);
  }

  async openLogs(node: SessionArg): Promise<void> {
    const session = this.clusters.get(node.url)?.state.session(node.sessionId);
    if (!session) throw new SessionGone(`session ${node.sessionId} is gone (worker resumed or died)`, node.url);
    // A worker paused outside any task (task_id null) still has its own log files.
    let select: { task_id: string } | { worker_id: string };
    let subject: string;
    if (session.task_id) {
      select = { task_id: session.task_id };
      subject = `task ${session.task_id}`;
    } else if (session.worker_id) {
      select = { worker_id: session.worker_id };
      subject = `worker ${session.worker_id}`;
    } else {
      void vscode.window.showWarningMessage(`Rayscope: ${sessionName(session)} has neither a task nor a worker id: no logs to show`);
      return;
    }
    const lines = await (await this.clusters.client(node.url)).logLines(select);
    const doc = await vscode.workspace.openTextDocument({ content: formatLogs(subject, lines), language: "log" });
    await vscode.window.showTextDocument(doc, { preview: false });
  }

  /** The job's workers grouped by identical stack, as a document ("N workers in <headline>" + frames). */
  async stackSummary(node?: JobArg): Promise<void> {
    const picked = node ?? (await this.pickJob());
    if (!picked || picked.jobId === null) return; // the "no job" group offers no summary (package.json menus)
    const jobId = picked.jobId;
    const client = await this.clusters.client(picked.url);
    const summary = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Rayscope: dumping the stacks of job ${jobId}…` },
      () => client.stackSummary(jobId),
    );
    await this.stacks.show(`stacks of job ${jobId}.txt`, formatSummary(summary), this.workingDirs(picked.url, jobId));
  }

  /** Every thread of one running task's process, as a document. */
  async stack(node: TaskArg): Promise<void> {
    const dump = await (await this.clusters.client(node.url)).stack(node.taskId);
    const name = `stack of ${node.name ?? "task"} ${node.taskId.slice(0, 8)}.txt`;
    await this.stacks.show(name, formatDump(dump), this.workingDirs(node.url, dump.target.job_id));
  }

  /** The workers' working_dir the head reported with paused sessions: roots for mapping frame files. */
  private workingDirs(url: string, jobId: string | null): string[] {
    const sessions = this.clusters.get(url)?.state.allSessions() ?? [];
    const dirs = sessions.filter((s) => jobId === null || s.job_id === jobId).map((s) => s.working_dir);
    return [...new Set(dirs.filter((d): d is string => !!d && d !== "/"))];
  }

  /** From the command palette: a job the Ray view shows, of the one cluster or a picked one. */
  private async pickJob(): Promise<JobArg | undefined> {
    const url = await this.pickCluster("Show the stacks of a job of which cluster?");
    const groups = (url && this.clusters.get(url)?.state.groups()) || [];
    const items = groups.flatMap((g) =>
      g.jobId === null ? [] : [{ label: `job ${g.jobId}`, description: [g.job?.state, g.job?.entrypoint].filter(Boolean).join(" · "), jobId: g.jobId }],
    );
    if (!url || !items.length) {
      if (url) void vscode.window.showWarningMessage(`Rayscope: ${url} has no running job`);
      return undefined;
    }
    const pick = items.length === 1 ? items[0] : await vscode.window.showQuickPick(items, { title: "Show the stacks of which job?" });
    return pick && { kind: "job", url, jobId: pick.jobId };
  }

  private async pickCluster(title: string): Promise<string | undefined> {
    const urls = readClusters().urls;
    if (urls.length <= 1) return urls[0];
    return vscode.window.showQuickPick(urls, { title });
  }
}
