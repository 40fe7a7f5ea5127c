/** Entry point: wires settings, tokens, live connections, the Ray view, the status bar and the debug type. */
import * as vscode from "vscode";
import { Clusters } from "./clusters";
import { Commands } from "./commands";
import { SECTION } from "./config";
import { DEBUG_TYPE, RayAdapterFactory, RayConfigurationProvider } from "./debug";
import { ProblemNotices } from "./notices";
import { StackDocuments } from "./stackdocs";
import { PausedStatus } from "./status";
import { TokenStore } from "./tokens";
import { Node, RayTreeProvider } from "./tree";

/** Ages in the tree are redrawn this often while any worker is paused (a redraw, not a fetch). */
const AGE_REDRAW_MS = 30_000;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const tokens = new TokenStore(context.secrets);
  const notices = new ProblemNotices();
  const clusters = new Clusters(tokens, { problem: (error) => notices.show(error), over: (url) => notices.clear(url) });
  const stacks = new StackDocuments();
  const handlers = new Commands(clusters, stacks);
  handlers.register(context);

  const tree = new RayTreeProvider(clusters);
  const view = vscode.window.createTreeView("rayscope.clusters", { treeDataProvider: tree, showCollapseAll: true });
  const status = new PausedStatus(clusters, view);
  clusters.onDidChange(() => status.redraw());

  const ages = setInterval(() => {
    const { waiting, attached } = clusters.pausedCounts();
    if (waiting + attached) tree.refresh();
  }, AGE_REDRAW_MS);

  context.subscriptions.push(
    vscode.commands.registerCommand("rayscope.showView", () => vscode.commands.executeCommand("rayscope.clusters.focus")),
    vscode.commands.registerCommand("rayscope.refreshTasks", (node: Node) => tree.refreshNode(node)),
    stacks.register(),
    clusters,
    tree,
    view,
    status,
    notices,
    { dispose: () => clearInterval(ages) },
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new RayAdapterFactory(clusters)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new RayConfigurationProvider(clusters)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.clusters`)) void syncAndWarn(clusters);
    }),
  );
  await syncAndWarn(clusters);
  status.redraw();
}

async function syncAndWarn(clusters: Clusters): Promise<void> {
  const invalid = await clusters.sync();
  if (invalid.length) void vscode.window.showWarningMessage(`Rayscope: skipped rayscope.clusters entries: ${invalid.join("; ")}`);
}

export function deactivate(): void {
  /* subscriptions dispose everything */
}
