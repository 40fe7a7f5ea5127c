/** Settings: head URLs live in `rayscope.clusters`; tokens never do (see tokens.ts). */
import * as vscode from "vscode";

export const SECTION = "rayscope";

/** A head URL as the extension keys it: http(s), no path, no trailing slash. Throws one clear line. */
export function normalizeUrl(input: string): string {
  const text = input.trim();
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(text) ? text : `http://${text}`);
  } catch {
    throw new Error(`"${input}" is not a URL (expected e.g. http://127.0.0.1:8265)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`"${input}" must be an http:// or https:// URL`);
  }
  if (url.username || url.password || url.search || url.hash) {
    throw new Error(`"${input}": put only scheme, host and port in the URL (the token goes in "Rayscope: Set Token")`);
  }
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, "")}`;
}

export interface ClusterList {
  urls: string[];
  /** One line per setting entry that was skipped. */
  invalid: string[];
}

/** Valid, de-duplicated head URLs from the raw setting value. */
export function parseClusters(raw: unknown): ClusterList {
  const urls: string[] = [];
  const invalid: string[] = [];
  for (const entry of Array.isArray(raw) ? raw : []) {
    if (typeof entry !== "string") {
      invalid.push(`${JSON.stringify(entry)} is not a string`);
      continue;
    }
    try {
      const url = normalizeUrl(entry);
      if (!urls.includes(url)) urls.push(url);
    } catch (err) {
      invalid.push((err as Error).message);
    }
  }
  return { urls, invalid };
}

export function readClusters(): ClusterList {
  return parseClusters(vscode.workspace.getConfiguration(SECTION).get("clusters"));
}

export async function writeClusters(urls: string[]): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update("clusters", urls, vscode.ConfigurationTarget.Global);
}

/** Local folder that mirrors the workers' working_dir: the setting, else the first workspace folder. */
export function localRoot(): string | undefined {
  const configured = vscode.workspace.getConfiguration(SECTION).get<string>("localRoot")?.trim();
  if (configured) return configured;
  return vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
}
