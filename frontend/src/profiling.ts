// Profiling's client side (issue 14): what a row's Stack / CPU profile / Memory profile actions send,
// and the authorized downloads of a profile's speedscope document.
import { post, request } from "./api";
import { navigate } from "./router";
import type { Profile, ProfileRequest, ResolvedTarget, StackDump, StackRequest } from "./types";

/** Exactly one of task_id, actor_id, worker_id, pid (+ node_id): what the API's Target takes. */
export type Target = Pick<StackRequest, "task_id" | "attempt" | "actor_id" | "worker_id" | "pid" | "node_id">;

export const CPU_DEFAULT_S = 5;
export const MEMORY_DEFAULT_S = 10;
export const MAX_DURATION_S = 60;
export const DEFAULT_RATE_HZ = 100;

let clusterLive = true;
/** History mode has no processes to look at: the actions are not offered there (main.tsx sets it). */
export const setClusterLive = (live: boolean): void => { clusterLive = live; };
export const canProfile = (): boolean => clusterLive;

export const RUNNING_TASK_STATES = new Set(["RUNNING", "RUNNING_IN_RAY_GET", "RUNNING_IN_RAY_WAIT"]);

/** The target to ask again for a fresh dump of what `t` resolved to: the task while it is a task's
 * (not an actor's), the actor, the worker, else the process. */
export function targetOf(t: ResolvedTarget): Target {
  if (t.actor_id) return { actor_id: t.actor_id };
  if (t.task_id) return { task_id: t.task_id, attempt: t.attempt ?? undefined };
  if (t.worker_id) return { worker_id: t.worker_id };
  return { pid: t.pid, node_id: t.node_id };
}

export async function takeStack(target: Target, locals = false): Promise<StackDump> {
  return post<StackDump>("/profiling/stacks", { ...target, locals, native: false } satisfies StackRequest);
}

export async function dumpAndOpen(target: Target, locals = false): Promise<void> {
  const d = await takeStack(target, locals);
  navigate(`/stacks/${d.dump_id}${locals ? "?locals=1" : ""}`);
}

export async function startProfile(req: ProfileRequest): Promise<Profile> {
  return post<Profile>("/profiling/profiles", req);
}

/** The profile's speedscope document as a blob: URL of this page. The document route needs the token
 * (a header), which the framed speedscope cannot send; a blob: URL is same-origin and fetchable by it. */
export async function speedscopeBlobUrl(profileId: string, signal?: AbortSignal): Promise<string> {
  const res = await request(`/profiling/profiles/${encodeURIComponent(profileId)}/speedscope.json`, { signal });
  return URL.createObjectURL(new Blob([await res.arrayBuffer()], { type: "application/json" }));
}

/** The speedscope viewer, vendored at /speedscope/, opened on a blob: URL. */
export function speedscopeSrc(blobUrl: string, title: string): string {
  return `/speedscope/index.html#profileURL=${encodeURIComponent(blobUrl)}&title=${encodeURIComponent(title)}&view=left-heavy`;
}

/** Saves the document through an authorized fetch (a plain link would carry no token). */
export async function downloadProfile(profileId: string): Promise<void> {
  const res = await request(`/profiling/profiles/${encodeURIComponent(profileId)}/speedscope.json?download=1`);
  const name = res.headers.get("Content-Disposition")?.match(/filename="?([^";]+)"?/)?.[1] ?? `${profileId}.speedscope.json`;
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** "weave_the_pattern · task 3f2a…", for titles. */
export function targetLabel(t: ResolvedTarget): string {
  const what = t.task_id ? `task ${t.task_id.slice(0, 10)}` : t.actor_id ? `actor ${t.actor_id.slice(0, 10)}`
    : t.worker_id ? `worker ${t.worker_id.slice(0, 10)}` : `pid ${t.pid}`;
  return t.name ? `${t.name} · ${what}` : what;
}
