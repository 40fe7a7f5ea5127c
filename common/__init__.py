"""Small helpers shared by the agent, the head, the debugger and the CLIs.

Only the standard library here (no pydantic, no Ray, nothing of the head), so that a module of
any of them can import it without pulling in another one's dependencies: the agent on every
node stays free of the head (tests/test_import_boundaries.py).
"""
