"""Per-node collectors: each returns wire messages for one aspect of the node."""
