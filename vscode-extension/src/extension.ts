/** Entry point: wires settings, tokens, live connections, the Ray view, the status bar and the debug type. */
import * as vscode from "vscode";
import { Clusters } from "./clusters";
import { Commands, report } from "./commands";
import { SECTION } from "./config";
import { DEBUG_TYPE, RayAdapterFactory, RayConfigurationProvider } from "./debug";
import { TokenStore } from "./tokens";
import { RayTreeProvider } from "./tree";

/** Ages in the tree are redrawn this often while any worker is paused (a redraw, not a fetch). */
const AGE_REDRAW_MS = 30_000;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const tokens = new TokenStore(context.secrets);
  const commands: { setToken?: (url: string) => Promise<void> } = {};
  const clusters = new Clusters(tokens, (error) => void report(error, (url) => commands.setToken!(url)));
  const handlers = new Commands(clusters);
  commands.setToken = (url) => handlers.setToken({ kind: "cluster", url });
  handlers.register(context);

  const tree = new RayTreeProvider(clusters);
  const view = vscode.window.createTreeView("rayscope.clusters", { treeDataProvider: tree, showCollapseAll: true });

  const status = vscode.window.createStatusBarItem("rayscope.paused", vscode.StatusBarAlignment.Left, 50);
  status.name = "Rayscope paused workers";
  status.command = "rayscope.showView";
  let shown = "";
  const redrawStatus = () => {
    const n = clusters.pausedCount();
    const key = `${n}:${clusters.list().length > 0}`;
    if (key === shown) return; // unchanged: no re-render of the badge and the item
    shown = key;
    status.text = `$(debug-pause) Ray: ${n} paused`;
    status.tooltip = n ? `${n} Ray worker(s) wait for a debugger` : "No paused Ray workers";
    status.backgroundColor = n ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
    view.badge = n ? { value: n, tooltip: status.tooltip } : undefined;
    if (clusters.list().length) status.show();
    else status.hide();
  };
  clusters.onDidChange(redrawStatus);

  const ages = setInterval(() => {
    if (clusters.pausedCount()) tree.refresh();
  }, AGE_REDRAW_MS);

  context.subscriptions.push(
    vscode.commands.registerCommand("rayscope.showView", () => vscode.commands.executeCommand("rayscope.clusters.focus")),
    clusters,
    tree,
    view,
    status,
    { dispose: () => clearInterval(ages) },
    vscode.debug.registerDebugAdapterDescriptorFactory(DEBUG_TYPE, new RayAdapterFactory(clusters)),
    vscode.debug.registerDebugConfigurationProvider(DEBUG_TYPE, new RayConfigurationProvider(clusters)),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(`${SECTION}.clusters`)) void syncAndWarn(clusters);
    }),
  );
  await syncAndWarn(clusters);
  redrawStatus();
}

async function syncAndWarn(clusters: Clusters): Promise<void> {
  const invalid = await clusters.sync();
  if (invalid.length) void vscode.window.showWarningMessage(`Rayscope: skipped rayscope.clusters entries: ${invalid.join("; ")}`);
}

export function deactivate(): void {
  /* subscriptions dispose everything */
}
