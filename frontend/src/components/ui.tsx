// Small display primitives shared by every page.
import type { ComponentChildren } from "preact";
import { navigate } from "../router";
import { ACTOR_STATES, TASK_STATES } from "../states";

export function Link(props: { href: string; class?: string; title?: string; children: ComponentChildren }) {
  const onClick = (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
    window.scrollTo(0, 0);
  };
  return <a href={props.href} class={props.class} title={props.title} onClick={onClick}>{props.children}</a>;
}

const STATE_CLASS: Record<string, string> = {
  FINISHED: "ok", ALIVE: "ok", SUCCEEDED: "ok",
  FAILED: "bad", DEAD: "dead", STOPPED: "dead", ERRORED: "bad", ABORTED: "dead",
  RUNNING: "run", RUNNING_IN_RAY_GET: "run", RUNNING_IN_RAY_WAIT: "run",
  RESTARTING: "warn", PENDING_CREATION: "warn", DEPENDENCIES_UNREADY: "idle",
  SUBMITTED_TO_WORKER: "sub", NIL: "idle", paused: "warn", attached: "run",
  running: "run", done: "ok", failed: "bad",  // profiles
  // Ray Serve
  HEALTHY: "ok", UNHEALTHY: "bad", DEPLOY_FAILED: "bad", DEPLOYING: "warn", UPDATING: "warn", UPSCALING: "warn",
  DOWNSCALING: "warn", STARTING: "warn", RECOVERING: "warn", STOPPING: "dead", DRAINING: "warn", DRAINED: "dead",
};

export function stateClass(s: string): string {
  return STATE_CLASS[s] ?? (s.startsWith("PENDING") ? "warn" : "idle");
}

export function Badge({ state }: { state: string }) {
  return <span class={`badge ${stateClass(state)}`} data-state={state}>{state}</span>;
}

/** Order of task states in stacked bars: done first, then running, then waiting. */
export const STATE_ORDER: readonly string[] = [...TASK_STATES, ...ACTOR_STATES];

const rank = (s: string) => { const i = STATE_ORDER.indexOf(s); return i < 0 ? 99 : i; };
export const byStateOrder = (a: string, b: string) => rank(a) - rank(b);

/** A stacked progress bar of counts per state. */
export function StateBar({ states, total }: { states: Record<string, number>; total?: number }) {
  const entries = Object.entries(states).filter(([, n]) => n > 0).sort(([a], [b]) => byStateOrder(a, b));
  const sum = total ?? entries.reduce((a, [, n]) => a + n, 0);
  return (
    <div class="statebar" title={entries.map(([s, n]) => `${s}: ${n}`).join("\n")}>
      {entries.map(([s, n]) => <span key={s} class={stateClass(s)} style={{ width: `${(100 * n) / Math.max(sum, 1)}%` }} />)}
    </div>
  );
}

export function StateCounts({ states }: { states: Record<string, number> }) {
  const entries = Object.entries(states).filter(([, n]) => n > 0).sort(([a], [b]) => byStateOrder(a, b));
  return (
    <span class="counts">
      {entries.map(([s, n]) => <span key={s} class={`count ${stateClass(s)}`} title={s}>{n.toLocaleString("en-US")} {s.toLowerCase()}</span>)}
    </span>
  );
}

/** Utilization as a thin bar with the number beside it. */
export function Meter({ value, max, label }: { value: number | null | undefined; max: number | null | undefined; label: string }) {
  if (value === null || value === undefined || !max) return <span class="muted">–</span>;
  const f = Math.min(1, value / max);
  return (
    <span class="meter" title={label}>
      <span class="track"><span class={f > 0.9 ? "hot" : f > 0.7 ? "warm" : ""} style={{ width: `${f * 100}%` }} /></span>
      <span class="mlabel">{label}</span>
    </span>
  );
}

export function Card(props: { title?: ComponentChildren; extra?: ComponentChildren; class?: string; children: ComponentChildren }) {
  return (
    <section class={`card ${props.class ?? ""}`}>
      {props.title !== undefined && <header><h2>{props.title}</h2>{props.extra && <div class="extra">{props.extra}</div>}</header>}
      {props.children}
    </section>
  );
}

export function Stat({ label, value, sub, cls }: { label: string; value: ComponentChildren; sub?: ComponentChildren; cls?: string }) {
  return <div class={`stat ${cls ?? ""}`}><div class="label">{label}</div><div class="value">{value}</div>{sub && <div class="sub">{sub}</div>}</div>;
}

export function KV({ rows }: { rows: [string, ComponentChildren][] }) {
  return <dl class="kv">{rows.map(([k, v]) => [<dt key={k + ":k"}>{k}</dt>, <dd key={k + ":v"}>{v ?? "–"}</dd>])}</dl>;
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function ErrorBox({ error }: { error: string | null }) {
  return error ? <div class="error-box" role="alert">{error}</div> : null;
}

export function Loading() { return <div class="loading">Loading…</div>; }

export function PageTitle({ title, sub }: { title: ComponentChildren; sub?: ComponentChildren }) {
  return <div class="page-title"><h1>{title}</h1>{sub && <div class="sub">{sub}</div>}</div>;
}

export function Select(props: { value: string; onChange: (v: string) => void; options: [string, string][]; label: string; name?: string }) {
  return (
    <label class="field"><span>{props.label}</span>
      <select name={props.name} value={props.value} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        {props.options.map(([v, l]) => <option key={v} value={v}>{l}</option>)}
      </select>
    </label>
  );
}

/** A text filter that commits on Enter or blur (so the URL is not rewritten per keystroke). */
export function TextFilter(props: { value: string; onCommit: (v: string) => void; label: string; placeholder?: string; name?: string; wide?: boolean }) {
  const commit = (e: Event) => {
    const v = (e.target as HTMLInputElement).value.trim();
    if (v !== props.value) props.onCommit(v);
  };
  return (
    <label class={`field ${props.wide ? "wide" : ""}`}><span>{props.label}</span>
      <input name={props.name} value={props.value} placeholder={props.placeholder} onBlur={commit}
             onKeyDown={(e) => { if (e.key === "Enter") commit(e); }} />
    </label>
  );
}

export function Tabs(props: { tabs: [string, string][]; value: string; onChange: (v: string) => void }) {
  return (
    <div class="tabs" role="tablist">
      {props.tabs.map(([v, l]) => (
        <button key={v} role="tab" class={v === props.value ? "active" : ""} aria-selected={v === props.value}
                onClick={() => props.onChange(v)}>{l}</button>
      ))}
    </div>
  );
}
