// The head's alerts (dashboard/alerting/, GET /alerts): the firing ones, shared by the banner every page
// shows and the Alerts page; re-read when the live feed says an alert fired or resolved.
import { listFirst } from "./api";
import { useLiveFetch } from "./hooks";
import type { Alert, Page } from "./types";

/** Most severe first. */
export const SEVERITIES = ["critical", "warning", "info"] as const;
export const severityRank = (s: string): number => { const i = SEVERITIES.indexOf(s as typeof SEVERITIES[number]); return i < 0 ? 9 : i; };

/** Firing first, then the most severe, then the newest (what `rayscope alerts` prints too). */
export function byUrgency(a: Alert, b: Alert): number {
  return Number(a.state !== "firing") - Number(b.state !== "firing") || severityRank(a.severity) - severityRank(b.severity)
    || b.since - a.since;
}

/** Up to `limit` alerts of one state, live. */
export function useAlerts(state: "firing" | "resolved", limit: number) {
  return useLiveFetch<Page<Alert>>((s) => listFirst<Alert>("/alerts", {}, limit, { state }, s), [state, limit], ["alerts"]);
}
