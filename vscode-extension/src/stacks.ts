/**
 * Stack dumps as text: a job's stack summary and one process's dump, rendered for a read-only
 * document, and the frame lines' `file:line` mapped to a local file. No VS Code imports (unit-tested).
 */
import * as path from "path";
import { ResolvedTarget, StackDump, StackFrame, StackSummary, ThreadStack } from "./types";

/** A frame line: `    function (file:line)`; FRAME_LINE finds the `file:line` part again for links. */
export function frameLine(f: StackFrame): string {
  return `    ${f.function} (${f.file}:${f.line})${f.native ? " [native]" : ""}`;
}

/** The function is the shortest prefix: a file name may hold " (", a function name hardly. */
export const FRAME_LINE = /^ {4}\S.*? \((.+):(\d+)\)( \[native\])?$/;

/** Where a dump came from, in words: "task 1a2b… attempt 0 (square), pid 42 on 10.0.0.2". */
export function targetName(t: ResolvedTarget): string {
  const what = t.task_id
    ? `task ${t.task_id}${t.attempt === null ? "" : ` attempt ${t.attempt}`}`
    : t.actor_id
      ? `actor ${t.actor_id}`
      : t.worker_id
        ? `worker ${t.worker_id.slice(0, 12)}`
        : "process";
  return `${what}${t.name ? ` (${t.name})` : ""}, pid ${t.pid} on ${t.node_ip ?? t.node_id.slice(0, 12)}`;
}

function when(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
}

/** "N workers in <headline>", then the shared frames innermost first, then which workers. */
export function formatSummary(s: StackSummary): string {
  const scope = s.job_id ? `job ${s.job_id}` : "the cluster";
  const out = [
    `# stacks of ${scope}: ${s.dumped} of ${s.workers} worker(s) dumped at ${when(s.taken_at)} in ${Math.round(s.took_ms)} ms`,
    "# frames innermost first; a file:line that exists in this workspace is a link",
  ];
  if (!s.groups.length && !s.failures.length) out.push("", "no worker of this job is running a task right now");
  for (const g of s.groups) {
    out.push("", `${g.count} worker${g.count === 1 ? "" : "s"} in ${g.headline}`);
    out.push(...g.frames.map(frameLine));
    out.push(...g.targets.map((t) => `  - ${targetName(t)}`));
  }
  if (s.failures.length) {
    out.push("", `${s.failures.length} worker(s) could not be dumped:`);
    out.push(...s.failures.map((f) => `  - ${targetName(f.target)}: ${f.error}`));
  }
  return out.join("\n") + "\n";
}

function threadHeader(t: ThreadStack): string {
  const state = [t.active ? "active" : "idle", t.owns_gil ? "holds the GIL" : ""].filter(Boolean).join(", ");
  const os = t.os_thread_id === null ? "" : ` (os thread ${t.os_thread_id})`;
  return `Thread ${t.thread_id}${t.name ? ` "${t.name}"` : ""}${os}: ${state}`;
}

/** Every thread of one process, innermost frame first; the fallback's warning on top when it was used. */
export function formatDump(d: StackDump): string {
  const out = [
    `# stack of ${targetName(d.target)}`,
    `# taken by ${d.method} at ${when(d.taken_at)} in ${Math.round(d.took_ms)} ms (dump ${d.dump_id})`,
  ];
  if (d.warning) out.push(`# warning: ${d.warning}`);
  out.push("# frames innermost first; a file:line that exists in this workspace is a link");
  for (const t of d.threads) {
    out.push("", threadHeader(t));
    if (!t.frames.length) out.push("    (no Python frames)");
    for (const f of t.frames) {
      out.push(frameLine(f));
      for (const [name, value] of Object.entries(f.locals ?? {})) out.push(`        ${name} = ${value}`);
    }
  }
  return out.join("\n") + "\n";
}

/**
 * The local file for a worker's `remote` path, as the debugger maps them (debug.ts pathMappings):
 * the path itself when it exists here; else under `local` (the workspace or rayscope.localRoot) by
 * each known remote root (the workers' working_dir); else the longest tail of `remote` found under
 * `local` (a runtime_env working_dir unpacked under /tmp/ray/.../_ray_pkg_<hash>/ matches that way).
 */
export function localFile(
  remote: string,
  local: string | undefined,
  remoteRoots: string[],
  exists: (file: string) => boolean,
): string | undefined {
  if (path.isAbsolute(remote) && exists(remote)) return remote;
  if (!local) return undefined;
  for (const root of remoteRoots) {
    const r = root.replace(/\/+$/, "") + "/";
    if (remote.startsWith(r)) {
      const candidate = path.join(local, remote.slice(r.length));
      if (exists(candidate)) return candidate;
    }
  }
  const parts = remote.split("/").filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const candidate = path.join(local, ...parts.slice(i));
    if (exists(candidate)) return candidate;
  }
  return undefined;
}
