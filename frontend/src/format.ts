// Number, size, time and id formatting shared by every page.

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = n, i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v >= 100 || i === 0 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

export function pct(n: number | null | undefined, digits = 0): string {
  return n === null || n === undefined ? "–" : `${n.toFixed(digits)}%`;
}

export function num(n: number | null | undefined): string {
  return n === null || n === undefined ? "–" : n.toLocaleString("en-US");
}

export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined) return "–";
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 0)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${Math.floor(s % 60)}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

export function time(t: number | null | undefined): string {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Time of day, with the date in front when it is not today: compact for table columns. */
export function shortTime(t: number | null | undefined): string {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000), now = new Date();
  const hms = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  return d.toDateString() === now.toDateString() ? hms : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hms}`;
}

export function clock(t: number | null | undefined): string {
  if (t === null || t === undefined) return "–";
  const d = new Date(t * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function ago(t: number | null | undefined, now = Date.now() / 1000): string {
  if (t === null || t === undefined) return "–";
  const s = Math.max(0, now - t);
  if (s < 60) return `${Math.floor(s)}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

export const shortId = (id: string | null | undefined, n = 8): string => (id ? id.slice(0, n) : "–");

/** Ray task ids put their unique bytes first, except actor-creation and driver tasks (ffff…). */
export function taskShort(id: string, n = 10): string {
  const lead = id.match(/^f+/)?.[0].length ?? 0;
  return lead >= 16 && lead < id.length - 8 ? "…" + id.slice(lead, lead + n) : id.slice(0, n);
}

export function firstLine(s: string | null | undefined): string {
  if (!s) return "";
  const lines = s.split("\n").map((l) => l.trim()).filter(Boolean);
  // Ray's error text ends with the exception line; that is the useful one-liner.
  const exc = [...lines].reverse().find((l) => /^[A-Za-z_.]+(Error|Exception|Interrupt)\b/.test(l));
  return exc ?? lines[0] ?? "";
}

const BYTE_RESOURCES = new Set(["memory", "object_store_memory"]);

export function resources(r: Record<string, number>): string {
  return Object.entries(r).filter(([k]) => !k.startsWith("node:") && !k.startsWith("accelerator_type"))
    .map(([k, v]) => `${k}: ${BYTE_RESOURCES.has(k) ? bytes(v) : Number.isInteger(v) ? v : v.toFixed(2)}`).join(", ") || "–";
}

/** Ray colors its worker prefixes ("\x1b[36m(pid=…)\x1b[39m"); the browser shows plain text. */
export const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");

/** Ray's own bookkeeping lines in worker logs (":task_name:f", ":job_id:…"): not the user's output. */
export const isRayMarker = (s: string): boolean => /^:(job_id|task_name|actor_name|task_attempt_start|task_attempt_end):/.test(s);
