/**
 * Background problems of a cluster (no token, token rejected, head unreachable) as notifications that
 * close themselves once the cluster is live again.
 *
 * Why not `showErrorMessage`: VS Code offers no way to close it, so "needs a token" stayed on screen
 * after the token was set and a session was attached and working, which reads as failure. A progress
 * notification is closed by resolving its promise; "Cancel" lets the user dismiss it earlier. The
 * one-click fix lives in the status bar item (it runs "Set Token" while a token is needed).
 */
import * as vscode from "vscode";
import { HeadError } from "./errors";

export class ProblemNotices implements vscode.Disposable {
  /** One open notice per cluster URL: its closer. */
  private readonly open = new Map<string, () => void>();

  show(error: HeadError): void {
    this.clear(error.cluster); // a newer problem replaces the older one
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: error.message, cancellable: true },
      (_progress, cancelled) =>
        new Promise<void>((resolve) => {
          this.open.set(error.cluster, resolve);
          cancelled.onCancellationRequested(() => this.clear(error.cluster));
        }),
    );
  }

  /** The cluster is live again (or was removed): its notice has nothing left to say. */
  clear(url: string): void {
    const close = this.open.get(url);
    this.open.delete(url);
    close?.();
  }

  dispose(): void {
    for (const url of [...this.open.keys()]) this.clear(url);
  }
}
