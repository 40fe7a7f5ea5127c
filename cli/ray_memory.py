"""`ray-memory`: Ray's `ray memory`, over the Rayscope head's API (works from a laptop).

Reads the object references the agents sampled from every raylet (GET /api/v1/objects, all
pages) and the object-store totals (GET /api/v1/objects/store), then prints the same groups,
summaries and columns as `ray memory`; `--json` prints the same data as one JSON document.
Beyond Ray: `--top-callsites N` and a leak hint from the history of previous runs
(cli/memory_leaks.py). The head address and token are found like the `rayscope` CLI's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from dataclasses import asdict
from typing import Optional, Sequence

from rayscope.cli import memory_leaks as leaks
from rayscope.cli import memory_table as mt
from rayscope.cli.client import HeadClient, HeadError, resolve_target
from rayscope.dashboard.models import ObjectRef, ObjectStoreStats


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ray-memory", description="`ray memory` over the Rayscope head's API")
    p.add_argument("--address", help="head URL (default: $RAYSCOPE_ADDRESS, else the local `rayscope start` head)")
    p.add_argument("--token", help="API token (default: $RAYSCOPE_TOKEN, else the local token file)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per API request (default 60)")
    p.add_argument("--tls-ca", metavar="FILE",
                   help="CA file (PEM) to verify an https:// head against "
                        "(default: $RAYSCOPE_TLS_CA, else $RAY_TLS_CA_CERT)")
    p.add_argument("--group-by", type=str.upper, choices=["NODE_ADDRESS", "STACK_TRACE"], default="NODE_ADDRESS")
    p.add_argument("--sort-by", type=str.upper, choices=["OBJECT_SIZE", "PID", "REFERENCE_TYPE"],
                   default="OBJECT_SIZE", help="largest first (Ray sorts ascending)")
    p.add_argument("--units", type=str.upper, choices=list(mt.UNITS), default="B")
    p.add_argument("--stats-only", action="store_true", help="only the aggregate object store stats")
    p.add_argument("--num-entries", "--n", type=_positive, default=None, help="entries per group (default all)")
    p.add_argument("--json", action="store_true", help="one JSON document instead of text")
    p.add_argument("--top-callsites", type=_positive, default=None, metavar="N",
                   help="also list the N call sites holding the most bytes")
    p.add_argument("--leak-window", type=_positive, default=leaks.DEFAULT_WINDOW, metavar="K",
                   help="flag call sites that grew over each of the last K runs (default 3)")
    p.add_argument("--no-history", action="store_true", help="do not record this run for the leak hint")
    return p


def _width() -> int:
    return shutil.get_terminal_size((80, 20)).columns


def _fetch(client: HeadClient, stats_only: bool) -> tuple[list[ObjectRef], ObjectStoreStats]:
    stats = client.get("/objects/store", ObjectStoreStats)
    rows = [] if stats_only else list(client.iter_rows("/objects", ObjectRef))
    return rows, stats


def _text(args: argparse.Namespace, groups: list[mt.Group], stats: ObjectStoreStats,
          top: list[leaks.CallSiteTotal], hints: list[leaks.LeakHint]) -> str:
    lines = [f"{'=' * 8} Object references status: {datetime.datetime.now()} {'=' * 8}"]  # as Ray's CLI
    if not args.stats_only:
        lines += mt.render(groups, args.group_by, args.sort_by, args.units, args.num_entries, _width())
    lines += mt.store_block(stats)
    if top:
        lines += ["", f"--- Top {len(top)} call sites by bytes ---"]
        w = max(len("Call Site"), *(len(t.call_site) for t in top))
        lines.append(f"{'Call Site'.ljust(w)}  {'Objects':>8}  Size")
        lines += [f"{t.call_site.ljust(w)}  {t.objects:>8}  {mt.fmt_size(t.bytes, args.units)}" for t in top]
    if hints:
        lines += ["", f"--- Possible leaks: growing over the last {args.leak_window} runs ---"]
        for h in hints:
            sizes = " -> ".join(mt.fmt_size(b, args.units) for b in h.bytes)
            lines.append(f"{h.call_site}: objects {' -> '.join(map(str, h.objects))}; bytes {sizes}")
    return "\n".join(lines) + "\n"


def _json(groups: list[mt.Group], stats: ObjectStoreStats, top: list[leaks.CallSiteTotal],
          hints: list[leaks.LeakHint], args: argparse.Namespace) -> str:
    doc = {
        "group_by": args.group_by, "sort_by": args.sort_by,
        "groups": [{"key": g.key, "summary": {"total_object_size": g.summary.total_bytes,
                                              "count": dict(g.summary.count), "bytes": dict(g.summary.bytes)},
                    "entries": [r.model_dump() for r in (g.rows if args.num_entries is None
                                                         else g.rows[:args.num_entries])]} for g in groups],
        "store": stats.model_dump(),
        "top_callsites": [asdict(t) for t in top],
        "leak_hints": [asdict(h) for h in hints],
    }
    return json.dumps(doc, indent=1) + "\n"


def run(args: argparse.Namespace) -> int:
    target = resolve_target(args.address, args.token, args.tls_ca)
    with HeadClient(target, timeout=args.timeout) as client:
        rows, stats = _fetch(client, args.stats_only)
    groups = mt.group_rows(rows, args.group_by, args.sort_by)
    totals = leaks.call_site_totals(rows)
    hints: list[leaks.LeakHint] = []
    if not args.stats_only and not args.no_history:
        snaps = leaks.record(leaks.history_path(target.url), totals)
        hints = leaks.leak_hints(snaps, args.leak_window)
    top = totals[:args.top_callsites] if args.top_callsites else []
    out = _json(groups, stats, top, hints, args) if args.json else _text(args, groups, stats, top, hints)
    sys.stdout.write(out)
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except HeadError as exc:
        print(f"ray-memory: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
