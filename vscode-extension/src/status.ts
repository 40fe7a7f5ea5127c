/**
 * The "Ray: N paused" status bar item and the Ray view's badge.
 *
 * Attached workers are stopped too, so they are counted, and told apart: "Ray: 3 paused (1 attached)".
 * Only waiting workers colour the item and badge the view (they are what needs the user). While a
 * cluster needs a token the item says so and clicking it runs "Set Token" for that cluster.
 */
import * as vscode from "vscode";
import { Clusters } from "./clusters";
import { pausedSummary } from "./model";

export class PausedStatus implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem("rayscope.paused", vscode.StatusBarAlignment.Left, 50);
  private shown = "";

  constructor(
    private readonly clusters: Clusters,
    private readonly view: vscode.TreeView<unknown>,
  ) {
    this.item.name = "Rayscope paused workers";
  }

  /** Re-render only when what is shown changes (each re-render repaints the status bar and badge). */
  redraw(): void {
    const counts = this.clusters.pausedCounts();
    const tokenFor = this.clusters.needingToken();
    const any = this.clusters.list().length > 0;
    const key = JSON.stringify([counts, tokenFor, any]);
    if (key === this.shown) return;
    this.shown = key;
    const summary = `Ray: ${pausedSummary(counts)}`;
    const waiting = counts.waiting
      ? `${counts.waiting} Ray worker(s) wait for a debugger`
      : "No Ray worker waits for a debugger";
    const attached = counts.attached ? `; ${counts.attached} attached to a debugger` : "";
    if (tokenFor) {
      this.item.text = `$(key) ${summary} · token needed`;
      this.item.tooltip = `${tokenFor} needs a token: click to set it`;
      this.item.command = { title: "Set Token", command: "rayscope.setToken", arguments: [{ kind: "cluster", url: tokenFor }] };
      this.item.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
    } else {
      this.item.text = `$(debug-pause) ${summary}`;
      this.item.tooltip = waiting + attached;
      this.item.command = "rayscope.showView";
      this.item.backgroundColor = counts.waiting ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
    }
    this.view.badge = counts.waiting ? { value: counts.waiting, tooltip: waiting } : undefined;
    if (any) this.item.show();
    else this.item.hide();
  }

  dispose(): void {
    this.item.dispose();
  }
}
