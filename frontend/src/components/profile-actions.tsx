// The Stack / CPU profile / Memory profile actions of a task, actor, worker or process: on rows
// (compact) and on pages. Stack opens the dump's page once taken (< 1 s); a profile asks for a
// duration first, then opens the profile's page, which shows it running until it is done.
import { useState } from "preact/hooks";
import { navigate } from "../router";
import {
  CPU_DEFAULT_S, DEFAULT_RATE_HZ, MAX_DURATION_S, MEMORY_DEFAULT_S, canProfile, dumpAndOpen, startProfile, type Target,
} from "../profiling";
import type { Profile } from "../types";

type ProfileKind = Profile["kind"];

export function ProfileActions({ target, compact = false, label }: { target: Target; compact?: boolean; label?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [dialog, setDialog] = useState<ProfileKind | null>(null);
  if (!canProfile()) return null;
  const stack = async () => {
    setBusy(true); setError(null);
    try { await dumpAndOpen(target); } catch (e) { setError((e as Error).message); } finally { setBusy(false); }
  };
  const cls = compact ? "act small" : "act";
  return (
    <span class="prof-actions" data-testid="profile-actions">
      <button class={cls} disabled={busy} onClick={stack} title={`Dump every thread's stack${label ? ` of ${label}` : ""}`}>
        {busy ? "Stack…" : "Stack"}</button>
      <button class={cls} onClick={() => setDialog("cpu")} title="Sample the CPU for a few seconds (flame graph)">{compact ? "CPU" : "CPU profile"}</button>
      <button class={cls} onClick={() => setDialog("memory")} title="Record allocations for a few seconds (memray)">{compact ? "Memory" : "Memory profile"}</button>
      {/* a row has no room for the line: a mark, the line on hover */}
      {error && <span class="err-line small prof-error" title={error} data-testid="profile-action-error" data-error={error}>
        {compact ? "⚠ failed" : error}</span>}
      {dialog && <ProfileDialog kind={dialog} target={target} label={label} onClose={() => setDialog(null)} />}
    </span>
  );
}

function ProfileDialog({ kind, target, label, onClose }: { kind: ProfileKind; target: Target; label?: string; onClose: () => void }) {
  const [duration, setDuration] = useState(String(kind === "cpu" ? CPU_DEFAULT_S : MEMORY_DEFAULT_S));
  const [rate, setRate] = useState(String(DEFAULT_RATE_HZ));
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const d = Number(duration), r = Number(rate);
  const invalid = !(d > 0 && d <= MAX_DURATION_S) ? `duration: between 0 and ${MAX_DURATION_S} s`
    : kind === "cpu" && !(Number.isInteger(r) && r >= 1 && r <= 1000) ? "rate: a whole number from 1 to 1000 Hz" : null;
  const start = async (e: Event) => {
    e.preventDefault();
    if (invalid) return;
    setBusy(true); setError(null);
    try {
      const p = await startProfile({ ...target, kind, duration_s: d, rate_hz: kind === "cpu" ? r : DEFAULT_RATE_HZ, idle: true, native: false });
      onClose();
      navigate(`/profiles/${p.profile_id}`);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  return (
    <div class="modal-back" onClick={(e) => { if (e.target === e.currentTarget) onClose(); }}>
      <div role="dialog" aria-label={kind === "cpu" ? "CPU profile" : "Memory profile"}>
      <form class="modal" data-testid="profile-dialog" onSubmit={start} onKeyDown={(e) => { if (e.key === "Escape") onClose(); }}>
        <h2>{kind === "cpu" ? "CPU profile" : "Memory profile"}{label && <span class="muted"> · {label}</span>}</h2>
        <p class="muted small">{kind === "cpu"
          ? "py-spy samples every thread, idle frames included, so a blocked worker still shows where it waits."
          : "memray attaches to the process (through gdb) and records every allocation; it must be installed in the worker's Python environment."}</p>
        <div class="filters">
          <label class="field"><span>Duration (s)</span>
            <input name="duration" type="number" min="1" max={MAX_DURATION_S} step="any" value={duration} autoFocus
                   onInput={(e) => setDuration((e.target as HTMLInputElement).value)} /></label>
          {kind === "cpu" && (
            <label class="field"><span>Rate (samples/s)</span>
              <input name="rate" type="number" min="1" max="1000" step="1" value={rate}
                     onInput={(e) => setRate((e.target as HTMLInputElement).value)} /></label>
          )}
        </div>
        {(invalid || error) && <div class="err-line small" role="alert">{invalid ?? error}</div>}
        <div class="modal-buttons">
          <button type="button" class="act" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary" disabled={busy || invalid !== null}>{busy ? "Starting…" : "Start"}</button>
        </div>
      </form>
      </div>
    </div>
  );
}
