// Data hooks: fetch on mount/param change, and re-fetch when the live feed says something changed.
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { useLive } from "./live";
import type { WsDelta } from "./types";

export interface Loaded<T> { data: T | null; error: string | null; loading: boolean; reload: () => void }

export function useFetch<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [n, setN] = useState(0);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  useEffect(() => {
    const ctl = new AbortController();
    setLoading(true);
    fnRef.current(ctl.signal).then(
      (d) => { if (!ctl.signal.aborted) { setData(d); setError(null); setLoading(false); } },
      (e: Error) => { if (!ctl.signal.aborted) { setError(e.message); setLoading(false); } },
    );
    return () => ctl.abort();
  }, [...deps, n]);
  const reload = useCallback(() => setN((x) => x + 1), []);
  return { data, error, loading, reload };
}

/** useFetch that re-runs (debounced) when a delta of one of `kinds` arrives, or `accept` says so. */
export function useLiveFetch<T>(fn: (signal: AbortSignal) => Promise<T>, deps: unknown[], kinds: WsDelta["kind"][],
                                accept?: (rows: Record<string, unknown>[]) => boolean, ms = 700): Loaded<T> {
  const r = useFetch(fn, deps);
  useLive(kinds, (rows, resync) => { if (resync || !accept || accept(rows)) r.reload(); }, ms);
  return r;
}

/** Re-renders every `ms` (for "3s ago" labels and live chart windows). */
export function useTick(ms: number): number {
  const [t, setT] = useState(Date.now());
  useEffect(() => {
    const id = setInterval(() => setT(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return t;
}
