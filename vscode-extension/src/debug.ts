/** The `rayscope` debug type: configurations for a paused Ray worker and the inline tunnel adapter. */
import * as vscode from "vscode";
import { Clusters } from "./clusters";
import { localRoot } from "./config";
import { TunnelAdapter } from "./tunnel";
import { sessionName } from "./model";
import { DebugSession } from "./types";

export const DEBUG_TYPE = "rayscope";

export interface RayDebugConfiguration extends vscode.DebugConfiguration {
  cluster: string;
  sessionId: string;
  justMyCode?: boolean;
  pathMappings?: { localRoot: string; remoteRoot: string }[];
  /** Pre-fetched ticket's tunnel path (the Attach command gets it first to report errors clearly). */
  tunnelPath?: string;
}

/**
 * Workspace folder <-> the worker's working_dir. None when there is nothing to map (no folder, the
 * same directory, or "/"). Both roots end in "/": debugpy then matches whole directories only
 * (without it, remote root /tmp/a would also rewrite /tmp/ab/x.py).
 */
export function pathMappings(session: DebugSession, local: string | undefined): { localRoot: string; remoteRoot: string }[] {
  const remote = session.working_dir?.replace(/\/+$/, "");
  const here = local?.replace(/\/+$/, "");
  if (!here || !remote || remote === here) return [];
  return [{ localRoot: `${here}/`, remoteRoot: `${remote}/` }];
}

export function configurationFor(url: string, session: DebugSession, tunnelPath?: string): RayDebugConfiguration {
  return {
    type: DEBUG_TYPE,
    request: "attach",
    name: `Ray: ${sessionName(session)} (${(session.task_id ?? session.session_id).slice(0, 8)})`,
    cluster: url,
    sessionId: session.session_id,
    justMyCode: false,
    pathMappings: pathMappings(session, localRoot()),
    tunnelPath,
  };
}

/** Fills what a hand-written launch.json entry leaves out: justMyCode false, path mappings. */
export class RayConfigurationProvider implements vscode.DebugConfigurationProvider {
  constructor(private readonly clusters: Clusters) {}

  async resolveDebugConfiguration(
    _folder: vscode.WorkspaceFolder | undefined,
    config: vscode.DebugConfiguration,
  ): Promise<vscode.DebugConfiguration | undefined> {
    const cfg = config as RayDebugConfiguration;
    if (!cfg.cluster || !cfg.sessionId) {
      void vscode.window.showErrorMessage('Rayscope: a "rayscope" debug configuration needs "cluster" and "sessionId"');
      return undefined;
    }
    cfg.request = "attach";
    cfg.justMyCode ??= false;
    if (!cfg.pathMappings) {
      const known = this.clusters.get(cfg.cluster)?.state.session(cfg.sessionId);
      const session = known ?? ((await (await this.clusters.client(cfg.cluster)).request(
        `/debug/sessions/${encodeURIComponent(cfg.sessionId)}`, { notFound: "session" },
      )) as DebugSession);
      cfg.pathMappings = pathMappings(session, localRoot());
    }
    return cfg;
  }
}

export class RayAdapterFactory implements vscode.DebugAdapterDescriptorFactory {
  constructor(private readonly clusters: Clusters) {}

  async createDebugAdapterDescriptor(session: vscode.DebugSession): Promise<vscode.DebugAdapterDescriptor> {
    const cfg = session.configuration as RayDebugConfiguration;
    const client = await this.clusters.client(cfg.cluster);
    const tunnelPath = cfg.tunnelPath ?? (await client.ticket(cfg.sessionId)).tunnel_path;
    cfg.tunnelPath = undefined; // single use: a restart must ask for a fresh ticket
    return new vscode.DebugAdapterInlineImplementation(new TunnelAdapter(client.wsUrl(tunnelPath), client.authHeaders()));
  }
}
