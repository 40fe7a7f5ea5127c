/** What the extension knows about one cluster: its jobs and paused sessions, patched by live deltas. */
import { DebugSession, Job } from "./types";

export type ConnectionStatus = "connecting" | "live" | "unreachable" | "badToken" | "noToken";

export interface JobGroup {
  /** null: paused workers the head could not tie to a job (job_id null: no task context). */
  jobId: string | null;
  job: Job | undefined;
  sessions: DebugSession[];
}

export class ClusterState {
  status: ConnectionStatus = "connecting";
  /** One line for the tree when not live. */
  problem: string | undefined;
  private readonly sessions = new Map<string, DebugSession>();
  private readonly jobs = new Map<string, Job>();

  constructor(readonly url: string) {}

  replaceSessions(rows: DebugSession[]): void {
    this.sessions.clear();
    this.applySessions(rows);
  }

  /** Live rows: a row with state "gone" removes its session. */
  applySessions(rows: DebugSession[]): void {
    for (const row of rows) {
      if (!row || typeof row.session_id !== "string") continue;
      if (row.state === "gone") this.sessions.delete(row.session_id);
      else this.sessions.set(row.session_id, row);
    }
  }

  replaceJobs(rows: Job[]): void {
    this.jobs.clear();
    this.applyJobs(rows);
  }

  applyJobs(rows: Partial<Job>[]): void {
    for (const row of rows) {
      if (!row || typeof row.job_id !== "string") continue;
      const old = this.jobs.get(row.job_id);
      this.jobs.set(row.job_id, { ...(old ?? { job_id: row.job_id, state: "" }), ...row } as Job);
    }
  }

  session(id: string): DebugSession | undefined {
    return this.sessions.get(id);
  }

  allSessions(): DebugSession[] {
    return [...this.sessions.values()];
  }

  /** Paused workers, split into those waiting for a debugger and those a client is attached to. */
  pausedCounts(): PausedCounts {
    const all = this.allSessions();
    const attached = all.filter((s) => s.state === "attached").length;
    return { waiting: all.length - attached, attached };
  }

  /**
   * Jobs to show: running jobs and every job that has a session, newest first; sessions oldest
   * pause first inside a job (the one waiting longest is on top).
   */
  groups(): JobGroup[] {
    const byJob = new Map<string | null, DebugSession[]>();
    for (const s of this.sessions.values()) {
      const list = byJob.get(s.job_id) ?? [];
      list.push(s);
      byJob.set(s.job_id, list);
    }
    const ids = new Set<string | null>(byJob.keys());
    for (const job of this.jobs.values()) if (job.state === "RUNNING") ids.add(job.job_id);
    const groups = [...ids].map((jobId) => ({
      jobId,
      job: jobId === null ? undefined : this.jobs.get(jobId),
      sessions: (byJob.get(jobId) ?? []).sort((a, b) => a.paused_at - b.paused_at),
    }));
    return groups.sort(
      (a, b) => (b.job?.start_time ?? 0) - (a.job?.start_time ?? 0) || (a.jobId ?? "").localeCompare(b.jobId ?? ""),
    );
  }
}

/** Paused workers: waiting ones need a user, attached ones are being debugged (both are stopped). */
export interface PausedCounts {
  waiting: number;
  attached: number;
}

/** "3 paused (1 attached)": how the status bar and the Ray view say it, so both read the same. */
export function pausedSummary({ waiting, attached }: PausedCounts): string {
  return `${waiting + attached} paused${attached ? ` (${attached} attached)` : ""}`;
}

/** What a paused worker is running: its function, or its pid when the head does not know it. */
export function sessionName(s: DebugSession): string {
  return s.function ?? `pid ${s.pid}`;
}

/** Where it stopped, as file:line; each part may be unknown to the head. */
export function sessionLocation(s: DebugSession, base: (file: string) => string = (f) => f): string {
  return s.file ? `${base(s.file)}:${s.line ?? "?"}` : "unknown location";
}
