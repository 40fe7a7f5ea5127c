// The frame every page sits in: navigation, the cluster line, the live/history/unreachable banner, and the
// alert banner while an alert fires.
import type { ComponentChildren } from "preact";
import { byUrgency, useAlerts } from "../alerts";
import { useLinkState } from "../live";
import type { ClusterInfo } from "../types";
import { Link } from "./ui";

export const NAV: [string, string][] = [
  ["/", "Overview"], ["/nodes", "Nodes"], ["/jobs", "Jobs"], ["/tasks", "Tasks"], ["/timeline", "Timeline"],
  ["/actors", "Actors"], ["/workers", "Workers"], ["/objects", "Objects"], ["/logs", "Logs"], ["/app-metrics", "Metrics"],
  ["/datasets", "Datasets"], ["/serve", "Serve"], ["/train", "Train"], ["/debugger", "Debugger"],
  ["/stacks", "Stacks"], ["/profiles", "Profiles"], ["/alerts", "Alerts"],
];

function active(path: string, target: string): boolean {
  return target === "/" ? path === "/" : path === target || path.startsWith(target + "/");
}

export function Banner({ info }: { info: ClusterInfo | null }) {
  const link = useLinkState();
  if (link === "down") {
    return <div class="banner down" role="status" data-testid="banner">The Rayscope head is unreachable — retrying. What you see may be out of date.</div>;
  }
  if (info && !info.live) {
    return (
      <div class="banner history" role="status" data-testid="banner">
        History mode: this cluster has ended. Showing the recorded run from <code>{info.db_path}</code>.
      </div>
    );
  }
  return null;
}

/** While any alert fires: how many, the most severe one, and a link to the Alerts page (every page). */
export function AlertBanner({ live }: { live: boolean }) {
  const firing = useAlerts("firing", 10_000);
  const rows = [...(firing.data?.rows ?? [])].sort(byUrgency);
  if (rows.length === 0) return null;
  const top = rows[0];
  const n = rows.length;
  return (
    <div class={`banner alerting sev-${top.severity}`} role="alert" data-testid="alert-banner" data-count={n}
         data-severity={top.severity}>
      <b>{n} alert{n === 1 ? "" : "s"} {live ? "firing" : "were firing when this record ends"}</b> · most severe: <b>{top.name}</b>{" "}
      ({top.severity}) — {top.summary}{" "}
      <Link href="/alerts" class="banner-link">{n === 1 ? "See the alert" : `See all ${n}`} →</Link>
    </div>
  );
}

export function Layout(props: { path: string; info: ClusterInfo | null; children: ComponentChildren }) {
  const link = useLinkState();
  const live = props.info?.live !== false;
  return (
    <div class="shell">
      <nav class="side">
        <div class="brand"><span class="dot" />Rayscope</div>
        {NAV.map(([p, label]) => (
          <Link key={p} href={p} class={active(props.path, p) ? "nav active" : "nav"}>{label}</Link>
        ))}
        <div class="side-foot">
          <div class={`live ${!live ? "hist" : link === "open" ? "on" : link === "down" ? "off" : ""}`}>
            <span class="dot" />{!live ? "history" : link === "open" ? "live" : link === "down" ? "offline" : "connecting"}
          </div>
          {props.info && <div class="muted small">{props.info.session_name ?? "no session"}<br />Ray {props.info.ray_version ?? "?"} · Rayscope {props.info.rayscope_version}</div>}
        </div>
      </nav>
      <main class="main">
        <Banner info={props.info} />
        <AlertBanner live={live} />
        {props.children}
      </main>
    </div>
  );
}
