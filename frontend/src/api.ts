// The one HTTP client of the UI: bearer token from sessionStorage (a header: never in a URL), one-line errors.
import type { Page } from "./types";

const TOKEN_KEY = "rayscope.token";
export const API = "/api/v1";

export class ApiError extends Error {
  constructor(public status: number, message: string) { super(message); }
}

/** The CLI prints `http://HOST:PORT/#token=…`: the fragment never reaches the server (nor its logs).
 * We move it into sessionStorage (this tab only) and strip it from the address bar. */
export function adoptTokenFromUrl(): void {
  const m = location.hash.match(/(?:^#|&)token=([^&]+)/);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(history.state, "", location.pathname + location.search);
}

export const getToken = (): string | null => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (t: string): void => sessionStorage.setItem(TOKEN_KEY, t.trim());
export const clearToken = (): void => sessionStorage.removeItem(TOKEN_KEY);

export type Params = Record<string, string | number | boolean | null | undefined | string[]>;

export function query(params: Params): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === null || v === undefined || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? "?" + s : "";
}

let authListener: (() => void) | null = null;
export const onAuthFailure = (fn: () => void): void => { authListener = fn; };

/** One authorized request; a non-2xx answer becomes an ApiError with the head's one-line `error`. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(API + path, { ...init, headers: { ...init.headers, Authorization: `Bearer ${getToken() ?? ""}` } });
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new ApiError(0, "the head is unreachable");
  }
  if (!res.ok) {
    let msg = `${res.status} ${res.statusText}`;
    try { msg = (await res.json()).error ?? msg; } catch { /* not JSON */ }
    if (res.status === 401 && authListener) authListener();
    throw new ApiError(res.status, msg);
  }
  return res;
}

export async function get<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  return (await request(path + query(params), { signal })).json() as Promise<T>;
}

export async function post<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  const init = { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" }, signal };
  return (await request(path, init)).json() as Promise<T>;
}

/** Filters as the listing API takes them: `filter=KEY=VALUE`, repeatable. */
export function filters(f: Record<string, string | null | undefined>): string[] {
  return Object.entries(f).filter(([, v]) => v).map(([k, v]) => `${k}=${v}`);
}

export function list<T>(path: string, f: Record<string, string | null | undefined>, extra: Params = {},
                        signal?: AbortSignal): Promise<Page<T>> {
  return get<Page<T>>(path, { filter: filters(f), ...extra }, signal);
}

/** The first `want` rows of a listing, following `next_cursor` across pages (a page can hold fewer
 * rows than its limit: the head caps a page at ~4 MiB). `next_cursor` is set when more rows exist. */
export async function listFirst<T>(path: string, f: Record<string, string | null | undefined>, want: number,
                                   extra: Params = {}, signal?: AbortSignal): Promise<Page<T>> {
  const rows: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await list<T>(path, f, { ...extra, limit: Math.min(10000, want - rows.length), cursor }, signal);
    rows.push(...page.rows);
    cursor = page.next_cursor ?? null;
  } while (cursor && rows.length < want);
  return { rows, next_cursor: cursor };
}
