/** The configured clusters and their live connections, kept in step with settings and tokens. */
import * as os from "os";
import * as vscode from "vscode";
import { HeadClient } from "./client";
import { readClusters } from "./config";
import { HeadError } from "./errors";
import { ClusterConnection } from "./live";
import { PausedCounts } from "./model";
import { TokenStore } from "./tokens";

export const CLIENT_NAME = `vscode@${os.hostname()}`;

/** Where a cluster's background problems go (notifications), and when they are over. */
export interface ClusterProblems {
  problem(error: HeadError): void;
  /** The cluster is live again, or no longer configured. */
  over(url: string): void;
}

export class Clusters implements vscode.Disposable {
  private readonly connections = new Map<string, ClusterConnection>();
  private readonly changed = new vscode.EventEmitter<void>();
  private queue: Promise<unknown> = Promise.resolve();
  readonly onDidChange = this.changed.event;

  constructor(
    readonly tokens: TokenStore,
    private readonly problems: ClusterProblems,
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
        this.problems.over(url);
      }
    }
    for (const url of urls) if (!this.connections.has(url)) await this.connect(url);
    this.changed.fire();
    return invalid;
  }

  pausedCounts(): PausedCounts {
    const total: PausedCounts = { waiting: 0, attached: 0 };
    for (const conn of this.list()) {
      const counts = conn.state.pausedCounts();
      total.waiting += counts.waiting;
      total.attached += counts.attached;
    }
    return total;
  }

  /** The first cluster waiting for a token (missing or rejected): the status bar offers "Set Token" for it. */
  needingToken(): string | undefined {
    return this.list().find((c) => c.state.status === "badToken")?.state.url;
  }

  dispose(): void {
    for (const conn of this.connections.values()) conn.dispose();
    this.connections.clear();
    this.changed.dispose();
  }

  private async connect(url: string): Promise<void> {
    const conn = new ClusterConnection(await this.client(url), {
      changed: () => this.changed.fire(),
      problem: (error) => this.problems.problem(error),
      recovered: () => this.problems.over(url),
    });
    this.connections.set(url, conn);
    conn.start();
  }
}
