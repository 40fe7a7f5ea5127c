"""Stack dumps, CPU flame graphs and memory profiles of a cluster's processes (issue 14).

Node side (the agent loads these; standard library and protobuf only): the tools and their
parsers, the worker's no-ptrace fallback, and the agent's end of the `Ingest/Profile` link.
Head side: the other end of that link (head_link.py). See docs/profiling.md.
"""
