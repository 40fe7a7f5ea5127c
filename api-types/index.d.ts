// The head's API models as TypeScript types, for the web UI and the VS Code extension.
// openapi.d.ts is generated from dashboard/models.py (python -m rayscope.dashboard.openapi): edit the
// Python models, never the generated file. This file adds only what OpenAPI cannot say.
import type { PageNode } from "./openapi";

export * from "./openapi";

/** One page of any listing: the schema has one Page_X_ per row type, all with these fields. */
export type Page<T> = Omit<PageNode, "rows"> & { rows: T[] };
