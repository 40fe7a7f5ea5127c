// The frame every page sits in: navigation, the cluster line, and the live/history/unreachable banner.
import type { ComponentChildren } from "preact";
import { useLinkState } from "../live";
import type { ClusterInfo } from "../types";
import { Link } from "./ui";

export const NAV: [string, string][] = [
  ["/", "Overview"], ["/nodes", "Nodes"], ["/jobs", "Jobs"], ["/tasks", "Tasks"], ["/timeline", "Timeline"],
  ["/actors", "Actors"], ["/workers", "Workers"], ["/objects", "Objects"], ["/logs", "Logs"], ["/app-metrics", "Metrics"],
  ["/datasets", "Datasets"], ["/serve", "Serve"], ["/train", "Train"], ["/debugger", "Debugger"],
  ["/stacks", "Stacks"], ["/profiles", "Profiles"],
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
        {props.children}
      </main>
    </div>
  );
}
