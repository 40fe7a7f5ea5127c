// The head's API models (dashboard/models.py), as the browser sees them.

export interface Page<T> { rows: T[]; next_cursor: string | null }

export interface ClusterInfo {
  session_name: string | null; ray_version: string | null; rayscope_version: string;
  db_path: string; live: boolean; started_at: number;
}

export interface Node {
  node_id: string; node_ip: string | null; node_name: string | null; hostname: string | null;
  state: string; is_head_node: boolean; resources_total: Record<string, number>;
  labels: Record<string, string>; start_time: number | null; end_time: number | null;
  death_reason: string | null; death_message: string | null; agent_connected: boolean;
  agent_last_seen: number | null; metrics_url: string | null; cpu_percent: number | null;
  mem_used: number | null; mem_total: number | null; object_store_used: number | null;
  object_store_capacity: number | null; num_gpus: number;
}

export interface Job {
  job_id: string; state: string; driver_pid: number | null; driver_ip: string | null;
  entrypoint: string | null; ray_namespace: string | null; start_time: number | null; end_time: number | null;
}

export interface Task {
  task_id: string; attempt: number; job_id: string; name: string | null; type: string | null;
  language: string | null; state: string; parent_task_id: string | null; actor_id: string | null;
  placement_group_id: string | null; node_id: string | null; worker_id: string | null;
  worker_pid: number | null; required_resources: Record<string, number>; creation_time: number | null;
  start_time: number | null; end_time: number | null; duration: number | null; error_type: string | null;
  error_message: string | null; state_times: Record<string, number>; is_debugger_paused: boolean | null;
}

export interface Actor {
  actor_id: string; job_id: string; state: string; class_name: string | null; name: string | null;
  repr_name: string | null; ray_namespace: string | null; pid: number | null; node_id: string | null;
  is_detached: boolean | null; required_resources: Record<string, number>; death_cause: string | null;
  num_restarts: number; start_time: number | null; end_time: number | null;
}

export interface Process {
  node_id: string; pid: number; ppid: number | null; role: string; title: string | null;
  cmdline: string | null; cpu_percent: number; rss: number; uss: number; num_fds: number;
  num_threads: number; create_time: number | null; worker_id: string | null; job_id: string | null;
  task_id: string | null; task_name: string | null; actor_id: string | null; actor_class: string | null;
  gpu_memory_used: number; sampled_at: number;
}

export interface ObjectRef {
  object_id: string; node_id: string; node_ip: string | null; pid: number; worker_type: string | null;
  job_id: string | null; call_site: string | null; task_status: string | null; attempt: number | null;
  object_size: number | null; reference_type: string; sampled_at: number;
}

export interface LogFile {
  file_id: string; node_id: string; path: string; kind: string; worker_id: string | null;
  job_id: string | null; pid: number | null; actor_id: string | null; size: number; lines: number;
  last_line_at: number | null;
}

export interface LogLine {
  file_id: string; node_id: string; path: string; generation: number; offset: number; text: string;
  is_binary: boolean; truncated_bytes: number; read_at: number; worker_id: string | null;
  job_id: string | null; task_id: string | null; task_name: string | null; actor_id: string | null;
}

export interface LogSearchHit { line: LogLine; before: LogLine[]; after: LogLine[] }

export interface TaskSummaryRow { name: string; type: string | null; total: number; states: Record<string, number> }
export interface TaskSummary { total: number; rows: TaskSummaryRow[] }
export interface ActorSummaryRow { class_name: string; total: number; states: Record<string, number> }
export interface ActorSummary { total: number; rows: ActorSummaryRow[] }

export interface NodeMetricPoint {
  ts: number; cpu_percent: number; mem_used: number; mem_total: number; swap_used: number;
  disk_used: number; disk_total: number; disk_read_bytes: number; disk_write_bytes: number;
  net_sent_bytes: number; net_recv_bytes: number; object_store_used: number | null;
  object_store_capacity: number | null; object_store_spilled: number | null;
  gpu_utilization_ratio: number | null; gpu_memory_used: number | null;
}
export interface NodeMetricSeries { node_id: string; points: NodeMetricPoint[] }

export interface DropCount {
  node_id: string | null; source: string; reason: string; count: number; bytes: number;
  last_detail: string | null; last_at: number;
}
export interface IngestHealth { agents_connected: number; batches_committed: number; drops: DropCount[] }

export interface TimelineLane { node_id: string; worker_id: string | null; pid: number | null }
export interface TimelineBar {
  task_id: string; attempt: number; name: string | null; job_id: string; actor_id: string | null;
  lane: number; start: number; end: number | null; state: string; error_type: string | null;
}
export interface Timeline { lanes: TimelineLane[]; bars: TimelineBar[]; truncated: boolean }

export interface DebugSession {
  session_id: string; cluster_id: string; state: string; reason: string; exception: string | null;
  job_id: string | null; task_id: string | null; attempt: number | null; actor_id: string | null;
  function: string | null; file: string | null; line: number | null; node_id: string | null;
  node_ip: string | null; pid: number | null; worker_id: string | null; working_dir: string | null;
  paused_at: number | null; attached_by: string | null; attached_at: number | null;
}

export interface WsDelta { kind: string; rows: Record<string, unknown>[]; ts: number }
