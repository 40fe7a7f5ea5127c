// A plain table for bounded lists (nodes, jobs, actors of a page, processes...).
import type { ComponentChildren } from "preact";
import { Empty } from "./ui";

export interface Col<T> {
  key: string;
  label: ComponentChildren;
  render: (row: T) => ComponentChildren;
  cls?: string;
  title?: string;
}

export function Table<T>(props: { cols: Col<T>[]; rows: T[]; rowKey: (r: T) => string; empty?: ComponentChildren;
                                   testid?: string; rowClass?: (r: T) => string }) {
  if (props.rows.length === 0) return <Empty>{props.empty ?? "Nothing here yet."}</Empty>;
  return (
    <div class="table-wrap">
      <table class="grid" data-testid={props.testid}>
        <thead><tr>{props.cols.map((c) => <th key={c.key} class={c.cls} title={c.title}>{c.label}</th>)}</tr></thead>
        <tbody>
          {props.rows.map((r) => (
            <tr key={props.rowKey(r)} class={props.rowClass?.(r)}>
              {props.cols.map((c) => <td key={c.key} class={c.cls}>{c.render(r)}</td>)}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
