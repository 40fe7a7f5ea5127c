/** Wire shapes of the Rayscope head API the extension reads (see dashboard/models.py and docs/debugger.md). */

export type SessionState = "paused" | "attached" | "gone";

export interface DebugSession {
  session_id: string;
  cluster_id: string;
  state: SessionState;
  reason: "breakpoint" | "exception";
  exception: string | null;
  job_id: string;
  task_id: string;
  attempt: number;
  actor_id: string | null;
  function: string;
  file: string;
  line: number;
  node_id: string;
  node_ip: string;
  pid: number;
  worker_id: string;
  working_dir: string;
  paused_at: number;
  attached_by: string | null;
  attached_at: number | null;
}

export interface DebugTicket {
  ticket: string;
  session_id: string;
  expires_at: number;
  tunnel_path: string;
}

export interface Job {
  job_id: string;
  state: string;
  entrypoint?: string | null;
  start_time?: number | null;
  end_time?: number | null;
}

export interface Page<T> {
  rows: T[];
  next_cursor: string | null;
}

export interface LogLine {
  path: string;
  text: string;
  node_id: string;
  read_at: number;
}

export interface WsDelta {
  kind: string;
  rows: Record<string, unknown>[];
  ts: number;
}
