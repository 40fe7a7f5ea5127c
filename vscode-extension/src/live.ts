/**
 * One cluster's live connection: a full fetch, then the head's /api/v1/ws feed patches the state.
 * Reconnects with backoff; never polls. No VS Code imports (unit-tested against a local server).
 */
import WebSocket from "ws";
import { HeadClient } from "./client";
import { BadToken, HeadError, HeadUnreachable } from "./errors";
import { ClusterState } from "./model";
import { DebugSession, Job, WsDelta } from "./types";

const BACKOFF_MIN_MS = 1000;
const BACKOFF_MAX_MS = 30_000;
/** Job deltas come in bursts; one re-fetch per burst is enough. */
const JOBS_REFETCH_MS = 500;

export interface LiveEvents {
  /** The state changed (rows or status): redraw. */
  changed(state: ClusterState): void;
  /** The status became a problem (called once per transition, not per retry). */
  problem(error: HeadError): void;
  /** The connection is live (again): any problem it reported is over. */
  recovered(): void;
}

export class ClusterConnection {
  readonly state: ClusterState;
  private ws: WebSocket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private jobsTimer: NodeJS.Timeout | undefined;
  private backoff = BACKOFF_MIN_MS;
  private disposed = false;
  private generation = 0;

  constructor(
    readonly client: HeadClient,
    private readonly events: LiveEvents,
  ) {
    this.state = new ClusterState(client.baseUrl);
  }

  /** (Re)connect now, e.g. after the token changed. */
  start(): void {
    this.stopSocket();
    this.backoff = BACKOFF_MIN_MS;
    void this.connect(++this.generation);
  }

  dispose(): void {
    this.disposed = true;
    this.stopSocket();
  }

  /** Re-read everything shown (after (re)connect, a resync, or the Refresh command). */
  async refetch(): Promise<void> {
    const [sessions, jobs] = await Promise.all([this.client.sessions(), this.client.jobs()]);
    this.state.replaceSessions(sessions);
    this.state.replaceJobs(jobs);
    this.events.changed(this.state);
  }

  private async connect(gen: number): Promise<void> {
    if (this.disposed || gen !== this.generation) return;
    try {
      await this.client.cluster();
    } catch (err) {
      this.fail(gen, err);
      return;
    }
    if (gen !== this.generation) return;
    const ws = new WebSocket(this.client.wsUrl("/api/v1/ws"), { headers: this.client.authHeaders() });
    this.ws = ws;
    ws.on("open", () => {
      void this.refetch().then(
        () => this.setLive(gen),
        (err) => this.fail(gen, err),
      );
    });
    ws.on("message", (data) => this.onMessage(data.toString()));
    ws.on("error", () => {
      /* "close" follows and reconnects */
    });
    ws.on("unexpected-response", (_req, res) => {
      ws.terminate();
      const status = res.statusCode ?? 0;
      const err =
        status === 401 || status === 403
          ? new BadToken(`Rayscope head ${this.client.baseUrl} rejected the token (run "Rayscope: Set Token")`, this.client.baseUrl)
          : new HeadUnreachable(`Rayscope head ${this.client.baseUrl} refused the live feed (HTTP ${status})`, this.client.baseUrl);
      this.fail(gen, err);
    });
    ws.on("close", () => {
      if (this.ws === ws) this.ws = undefined;
      if (gen === this.generation) {
        this.fail(gen, new HeadUnreachable(`Rayscope head ${this.client.baseUrl} closed the live feed`, this.client.baseUrl));
      }
    });
  }

  private setLive(gen: number): void {
    if (gen !== this.generation) return;
    this.backoff = BACKOFF_MIN_MS;
    this.state.status = "live";
    this.state.problem = undefined;
    this.events.changed(this.state);
    this.events.recovered();
  }

  private fail(gen: number, err: unknown): void {
    if (this.disposed || gen !== this.generation) return;
    const error = err instanceof HeadError ? err : new HeadUnreachable(String(err), this.client.baseUrl);
    const status = error instanceof BadToken ? "badToken" : "unreachable";
    const changed = this.state.status !== status;
    this.state.status = status;
    this.state.problem = error.message;
    this.stopSocket();
    this.events.changed(this.state);
    if (changed) this.events.problem(error);
    if (status === "badToken") return; // waits for "Set Token", which calls start()
    this.retryTimer = setTimeout(() => void this.connect(gen), this.backoff);
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
  }

  private onMessage(text: string): void {
    let delta: WsDelta;
    try {
      delta = JSON.parse(text) as WsDelta;
    } catch {
      return; // the head only sends JSON; ignore anything else
    }
    if (delta.kind === "debug_sessions") {
      this.state.applySessions(delta.rows as unknown as DebugSession[]);
      this.events.changed(this.state);
    } else if (delta.kind === "jobs") {
      this.state.applyJobs(delta.rows as Partial<Job>[]);
      this.scheduleJobsRefetch();
    } else if (delta.kind === "resync") {
      void this.refetch().catch((err) => this.fail(this.generation, err));
    }
  }

  private scheduleJobsRefetch(): void {
    if (this.jobsTimer) return;
    this.jobsTimer = setTimeout(() => {
      this.jobsTimer = undefined;
      this.client.jobs().then(
        (jobs) => {
          this.state.replaceJobs(jobs);
          this.events.changed(this.state);
        },
        () => undefined, // the socket's close handler reports outages
      );
    }, JOBS_REFETCH_MS);
  }

  private stopSocket(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.jobsTimer) clearTimeout(this.jobsTimer);
    this.retryTimer = this.jobsTimer = undefined;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) {
      ws.removeAllListeners();
      ws.on("error", () => undefined);
      ws.terminate();
    }
  }
}
