// Entry point: token bootstrap, cluster info, the live feed, and the page routes.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { adoptTokenFromUrl, get, getToken, onAuthFailure } from "./api";
import { Layout } from "./components/layout";
import { Login } from "./components/login";
import { ErrorBox } from "./components/ui";
import { connect } from "./live";
import { setClusterLive } from "./profiling";
import { match, useLocation } from "./router";
import type { ClusterInfo } from "./types";
import "./styles.css";
import { ActorPage, ActorsPage } from "./pages/actors";
import { AlertsPage } from "./pages/alerts";
import { AppMetricsPage } from "./pages/app-metrics";
import { DatasetPage, DatasetsPage } from "./pages/datasets";
import { DebuggerPage } from "./pages/debugger";
import { JobPage, JobsPage } from "./pages/jobs";
import { LogsPage } from "./pages/logs";
import { NodePage, NodesPage } from "./pages/nodes";
import { ObjectsPage } from "./pages/objects";
import { ProfilePage, ProfilesPage } from "./pages/profiles";
import { ServeAppPage, ServeAppsPage } from "./pages/serve";
import { OverviewPage } from "./pages/overview";
import { StackPage, StacksPage } from "./pages/stacks";
import { TaskPage } from "./pages/task";
import { TasksPage } from "./pages/tasks";
import { TimelinePage } from "./pages/timeline";
import { TrainPage, TrainRunPage } from "./pages/train";
import { WorkersPage } from "./pages/workers";

type Route = [string, (p: Record<string, string>, info: ClusterInfo) => preact.JSX.Element];

const ROUTES: Route[] = [
  ["/", (_p, i) => <OverviewPage info={i} />],
  ["/nodes", (_p, i) => <NodesPage info={i} />],
  ["/nodes/:id", (p, i) => <NodePage id={p.id} info={i} />],
  ["/jobs", () => <JobsPage />],
  ["/jobs/:id", (p) => <JobPage id={p.id} />],
  ["/tasks", () => <TasksPage />],
  ["/tasks/:id", (p) => <TaskPage id={p.id} />],
  ["/timeline", (_p, i) => <TimelinePage info={i} />],
  ["/actors", () => <ActorsPage />],
  ["/actors/:id", (p) => <ActorPage id={p.id} />],
  ["/workers", () => <WorkersPage />],
  ["/objects", (_p, i) => <ObjectsPage info={i} />],
  ["/logs", () => <LogsPage />],
  ["/app-metrics", (_p, i) => <AppMetricsPage info={i} />],
  ["/datasets", () => <DatasetsPage />],
  ["/datasets/:id", (p) => <DatasetPage id={p.id} />],
  ["/serve", () => <ServeAppsPage />],
  ["/serve/:name", (p) => <ServeAppPage name={p.name} />],
  ["/debugger", () => <DebuggerPage />],
  ["/stacks", () => <StacksPage />],
  ["/stacks/:id", (p) => <StackPage id={p.id} />],
  ["/profiles", () => <ProfilesPage />],
  ["/profiles/:id", (p) => <ProfilePage id={p.id} />],
  ["/train", () => <TrainPage />],
  ["/train/:id", (p) => <TrainRunPage id={p.id} />],
  ["/alerts", () => <AlertsPage />],
];

function App() {
  const loc = useLocation();
  const [authed, setAuthed] = useState<boolean | null>(getToken() ? null : false);
  const [failed, setFailed] = useState(false);
  const [info, setInfo] = useState<ClusterInfo | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => { onAuthFailure(() => { setFailed(true); setAuthed(false); }); }, []);
  useEffect(() => {
    if (authed === false) return;
    get<ClusterInfo>("/cluster").then(
      (i) => { setClusterLive(i.live); setInfo(i); setAuthed(true); setError(null); connect(); },
      (e: Error) => { if (getToken()) setError(e.message); },
    );
  }, [authed]);

  if (authed === false) return <Login failed={failed} onDone={() => { setFailed(false); setAuthed(null); }} />;
  if (!info) return <div class="boot">{error ? <ErrorBox error={error} /> : "Connecting to the Rayscope head…"}</div>;
  for (const [pattern, view] of ROUTES) {
    const p = match(pattern, loc.path);
    if (p) return <Layout path={loc.path} info={info}>{view(p, info)}</Layout>;
  }
  return <Layout path={loc.path} info={info}><ErrorBox error={`No page at ${loc.path}`} /></Layout>;
}

adoptTokenFromUrl();
render(<App />, document.getElementById("app")!);
