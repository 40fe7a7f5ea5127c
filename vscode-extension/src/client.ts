/** REST client of one Rayscope head. No VS Code imports: unit-tested against a local HTTP server. */
import { AlreadyAttached, BadToken, HeadError, HeadRejected, HeadUnreachable, SessionGone } from "./errors";
import { DebugSession, DebugTicket, Job, LogLine, Page, StackDump, StackSummary, Task } from "./types";

const API = "/api/v1";
const TIMEOUT_MS = 10_000;
const PAGE_LIMIT = 1000;
/** A job summary asks every worker of the job for its stack: give the head more than one dump's time. */
const SUMMARY_TIMEOUT_MS = 60_000;
/** The "Running tasks" row lists at most this many (one request; the web UI has the full table). */
export const RUNNING_TASKS_LIMIT = 100;

export interface RequestOptions {
  method?: string;
  /** A list value repeats the parameter (`filter=a&filter=b`). */
  query?: Record<string, string | string[]>;
  /** Sent as JSON. */
  body?: unknown;
  /** What 404 means for this call: a gone session, or just "unknown id". */
  notFound?: "session" | "plain";
  /** What 409 means: another client attached (debugger calls), or the head's own reason (profiling). */
  conflict?: "attached" | "plain";
  timeoutMs?: number;
}

/** One page of a job's running tasks; `more` when the head has further rows. */
export interface RunningTasks {
  tasks: Task[];
  more: boolean;
}

export class HeadClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly clientName: string,
  ) {}

  /** Cheap call that proves the head answers and the token is good. */
  async cluster(): Promise<Record<string, unknown>> {
    return (await this.request("/cluster")) as Record<string, unknown>;
  }

  async sessions(): Promise<DebugSession[]> {
    return this.pages<DebugSession>("/debug/sessions");
  }

  async jobs(): Promise<Job[]> {
    return this.pages<Job>("/jobs");
  }

  async ticket(sessionId: string): Promise<DebugTicket> {
    const path = `/debug/sessions/${encodeURIComponent(sessionId)}/ticket`;
    return (await this.request(path, { method: "POST", notFound: "session" })) as DebugTicket;
  }

  async resume(sessionId: string): Promise<void> {
    const path = `/debug/sessions/${encodeURIComponent(sessionId)}/resume`;
    await this.request(path, { method: "POST", notFound: "session" });
  }

  async resumeJob(jobId: string): Promise<string[]> {
    const body = (await this.request("/debug/resume", { method: "POST", query: { job_id: jobId } })) as {
      resumed: string[];
    };
    return body.resumed;
  }

  /** Log lines of one task, or of one worker process (a worker paused outside any task). */
  async logLines(select: { task_id: string } | { worker_id: string }): Promise<LogLine[]> {
    return this.pages<LogLine>("/logs/lines", select);
  }

  /** Every thread of one running task's process, as the head's profiling route dumps it. */
  async stack(taskId: string): Promise<StackDump> {
    const body = { task_id: taskId };
    return (await this.request("/profiling/stacks", { method: "POST", body, conflict: "plain" })) as StackDump;
  }

  /** The job's workers grouped by identical stack, largest group first. */
  async stackSummary(jobId: string): Promise<StackSummary> {
    const opts: RequestOptions = { method: "POST", body: { job_id: jobId }, conflict: "plain", timeoutMs: SUMMARY_TIMEOUT_MS };
    return (await this.request("/profiling/stack-summary", opts)) as StackSummary;
  }

  /** The job's RUNNING tasks: the first page only, so expanding the row costs one bounded request. */
  async runningTasks(jobId: string): Promise<RunningTasks> {
    const query = { filter: [`job_id=${jobId}`, "state=RUNNING"], limit: String(RUNNING_TASKS_LIMIT) };
    const page = (await this.request("/tasks", { query })) as Page<Task>;
    return { tasks: page.rows, more: page.next_cursor !== null };
  }

  /** ws(s):// URL for a head-relative path (the live feed or a ticket's tunnel_path). */
  wsUrl(path: string): string {
    const url = new URL(path, this.baseUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  authHeaders(): Record<string, string> {
    const headers: Record<string, string> = { "X-Rayscope-Client": this.clientName };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    return headers;
  }

  private async pages<T>(path: string, query: Record<string, string> = {}): Promise<T[]> {
    const rows: T[] = [];
    let cursor: string | null = null;
    do {
      const q: Record<string, string> = { ...query, limit: String(PAGE_LIMIT) };
      if (cursor) q.cursor = cursor;
      const page = (await this.request(path, { query: q })) as Page<T>;
      rows.push(...page.rows);
      cursor = page.next_cursor;
    } while (cursor);
    return rows;
  }

  async request(path: string, opts: RequestOptions = {}): Promise<unknown> {
    const url = new URL(API + path, this.baseUrl);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      for (const one of Array.isArray(v) ? v : [v]) url.searchParams.append(k, one);
    }
    const headers = this.authHeaders();
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    let res: Response;
    try {
      res = await fetch(url, {
        method: opts.method ?? "GET",
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: AbortSignal.timeout(opts.timeoutMs ?? TIMEOUT_MS),
      });
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      throw new HeadUnreachable(`Rayscope head ${this.baseUrl} is unreachable (${why})`, this.baseUrl);
    }
    if (res.ok) return res.status === 204 ? undefined : res.json();
    throw await this.failure(res, opts.notFound ?? "plain", opts.conflict ?? "attached");
  }

  private async failure(res: Response, notFound: "session" | "plain", conflict: "attached" | "plain"): Promise<HeadError> {
    const message = await errorLine(res);
    const where = this.baseUrl;
    if (res.status === 401) {
      const what = this.token ? "rejected the token" : "needs a token";
      return new BadToken(`Rayscope head ${where} ${what} (run "Rayscope: Set Token")`, where);
    }
    if (res.status === 404 && notFound === "session") return new SessionGone(message, where);
    if (res.status === 409 && conflict === "attached") return new AlreadyAttached(message, where);
    return new HeadRejected(`Rayscope head ${where}: ${message}`, where, res.status);
  }
}

/** The head's one-line `{"error": …}` body, or the HTTP status text. */
async function errorLine(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string") return body.error;
  } catch {
    /* not JSON: fall through */
  }
  return `HTTP ${res.status} ${res.statusText}`.trim();
}
