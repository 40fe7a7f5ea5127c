/** The configured clusters and their live connections, kept in step with settings and tokens. */
import * as os from "os";
import * as vscode from "vscode";
import { HeadClient } from "./client";
import { readClusters } from "./config";
import { HeadError } from "./errors";
import { ClusterConnection } from "./live";
import { TokenStore } from "./tokens";

export const CLIENT_NAME = `vscode@${os.hostname()}`;

export class Clusters implements vscode.Disposable {
  private readonly connections = new Map<string, ClusterConnection>();
  private readonly changed = new vscode.EventEmitter<void>();
  private queue: Promise<unknown> = Promise.resolve();
  readonly onDidChange = this.changed.event;

  constructor(
    readonly tokens: TokenStore,
    private readonly onProblem: (error: HeadError) => void,
  ) {}

  list(): ClusterConnection[] {
    return [...this.connections.values()];
  }

  get(url: string): ClusterConnection | undefined {
    return this.connections.get(url);
  }

  /** A client for one head with its current token (fresh: the token may have changed). */
  async client(url: string): Promise<HeadClient> {
    return new HeadClient(url, await this.tokens.get(url), CLIENT_NAME);
  }

  /** Open connections for new URLs in settings, close those removed. Returns skipped entries. */
  sync(): Promise<string[]> {
    return this.serially(() => this.syncNow());
  }

  /** Reconnect one cluster (its token changed, or the user asked for a refresh). */
  reconnect(url: string): Promise<void> {
    return this.serially(async () => {
      this.connections.get(url)?.dispose();
      this.connections.delete(url);
      await this.connect(url);
      this.changed.fire();
    });
  }

  /** Settings and token changes can race; applying them one at a time keeps one connection per URL. */
  private serially<T>(step: () => Promise<T>): Promise<T> {
    const next = this.queue.then(step);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async syncNow(): Promise<string[]> {
    const { urls, invalid } = readClusters();
    for (const [url, conn] of this.connections) {
      if (!urls.includes(url)) {
        conn.dispose();
        this.connections.delete(url);
      }
    }
    for (const url of urls) if (!this.connections.has(url)) await this.connect(url);
    this.changed.fire();
    return invalid;
  }

  pausedCount(): number {
    return this.list().reduce((n, c) => n + c.state.pausedCount(), 0);
  }

  dispose(): void {
    for (const conn of this.connections.values()) conn.dispose();
    this.connections.clear();
    this.changed.dispose();
  }

  private async connect(url: string): Promise<void> {
    const conn = new ClusterConnection(await this.client(url), {
      changed: () => this.changed.fire(),
      problem: (error) => this.onProblem(error),
    });
    this.connections.set(url, conn);
    conn.start();
  }
}
