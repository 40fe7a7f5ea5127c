// The head's API models (dashboard/models.py), as the browser sees them: generated from the head's
// OpenAPI schema into api-types/ (python -m rayscope.dashboard.openapi), never written by hand.
export type * from "@rayscope/api-types";
