// The WebSocket feed: one connection per tab, fan-out to the pages that care about a kind.
// Pages re-fetch only what they show when a relevant delta arrives (debounced), never the dataset.
import { useEffect, useRef, useState } from "preact/hooks";
import { API, getToken } from "./api";
import type { WsDelta } from "./types";

export type LinkState = "connecting" | "open" | "down";
type Handler = (d: WsDelta) => void;

const handlers = new Set<Handler>();
const stateListeners = new Set<(s: LinkState) => void>();
let state: LinkState = "connecting";
let socket: WebSocket | null = null;
let retry = 500;
let everOpened = false;

function setState(s: LinkState): void {
  state = s;
  stateListeners.forEach((l) => l(s));
}

export function connect(): void {
  if (socket) return;
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}${API}/ws?token=${encodeURIComponent(getToken() ?? "")}`);
  socket = ws;
  ws.onopen = () => {
    retry = 500;
    const reconnected = everOpened;
    everOpened = true;
    setState("open");
    // After a gap we may have missed deltas: tell every page to re-fetch what it shows.
    if (reconnected) handlers.forEach((h) => h({ kind: "resync", rows: [], ts: Date.now() / 1000 }));
  };
  ws.onmessage = (ev) => {
    const d = JSON.parse(ev.data as string) as WsDelta;
    handlers.forEach((h) => h(d));
  };
  ws.onclose = () => {
    socket = null;
    setState("down");
    setTimeout(connect, retry);
    retry = Math.min(retry * 2, 5000);
  };
}

export function useLinkState(): LinkState {
  const [s, set] = useState(state);
  useEffect(() => {
    stateListeners.add(set);
    set(state);  // a change between the first render and this effect would otherwise be missed for good
    return () => { stateListeners.delete(set); };
  }, []);
  return s;
}

/** Calls `fn` with the rows of the given kinds that arrived, at most once per `ms`. */
export function useLive(kinds: WsDelta["kind"][], fn: (rows: Record<string, unknown>[], resync: boolean) => void, ms = 400): void {
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const key = kinds.join(",");
  useEffect(() => {
    let pending: Record<string, unknown>[] = [];
    let resync = false;
    let timer: number | null = null;
    const flush = () => {
      timer = null;
      const rows = pending, rs = resync;
      pending = [];
      resync = false;
      fnRef.current(rows, rs);
    };
    const h: Handler = (d) => {
      if (d.kind === "resync") resync = true;
      else if (kinds.includes(d.kind)) pending.push(...d.rows);
      else return;
      if (timer === null) timer = window.setTimeout(flush, ms);
    };
    handlers.add(h);
    return () => {
      handlers.delete(h);
      if (timer !== null) clearTimeout(timer);
    };
  }, [key, ms]);
}
