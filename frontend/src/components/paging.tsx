// Bounded lists that say when they are cut: the first N rows, a note that more exist, a button for the next N.
import { useState } from "preact/hooks";
import { listFirst } from "../api";
import { num } from "../format";
import { type Loaded, useLiveFetch } from "../hooks";
import type { Page, WsDelta } from "../types";

/** A live listing of the first `pageSize * pages` rows; `more()` adds a page. Never truncates silently:
 * `data.next_cursor` is set when the head has more rows than shown (render <MoreRows>). */
export function usePagedList<T>(path: string, f: Record<string, string | null | undefined>, pageSize: number,
                                extra: Record<string, string | number | undefined>, kinds: WsDelta["kind"][],
                                accept?: (rows: Record<string, unknown>[]) => boolean, ms?: number):
  Loaded<Page<T>> & { more: () => void } {
  const [pages, setPages] = useState(1);
  const key = JSON.stringify([path, f, extra]);
  const r = useLiveFetch((s) => listFirst<T>(path, f, pageSize * pages, extra, s), [key, pages], kinds, accept, ms);
  return { ...r, more: () => setPages((p) => p + 1) };
}

/** "Showing the first N <what>; more exist" with a button that loads the next page. */
export function MoreRows({ page, pageSize, what, onMore }: { page: Page<unknown> | null; pageSize: number; what: string; onMore: () => void }) {
  if (!page?.next_cursor) return null;
  return (
    <div class="muted small more-rows" data-testid="more-rows">
      Showing the first {num(page.rows.length)} {what}; more exist.{" "}
      <button class="link" data-testid="load-more" onClick={onMore}>load {num(pageSize)} more</button>
    </div>
  );
}
