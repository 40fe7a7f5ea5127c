"""`python -m rayscope.dashboard`: the head service (see docs/architecture.md)."""
from __future__ import annotations

import asyncio
import logging
import sys

from rayscope.dashboard import native_memory
from rayscope.dashboard.config import parse_args
from rayscope.dashboard.server import serve


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    native_memory.limit_arenas()  # before any thread starts
    native_memory.freeze_startup_objects()
    native_memory.release_periodically()
    logging.basicConfig(level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
