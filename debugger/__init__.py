"""rayscope.debugger — the breakpoint service (the remote-debugger issue fills this in)."""
