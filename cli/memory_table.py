"""`ray memory`'s table, from the head's object rows: grouping, sorting, summaries and text layout.

Same columns, group summaries and closing store block as Ray's `memory_summary`
(ray/dashboard/memory_utils.py), with three fixes: sorting is largest first (Ray sorts
ascending), the layout fits the terminal (Ray's narrow layout prints 56-character object ids
into a 10-character column), and object ids are never cut.
"""
from __future__ import annotations

import textwrap
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal, Optional

from rayscope.dashboard.models import ObjectRef, ObjectStoreStats

GroupBy = Literal["NODE_ADDRESS", "STACK_TRACE"]
SortBy = Literal["OBJECT_SIZE", "PID", "REFERENCE_TYPE"]
Unit = Literal["B", "KB", "MB", "GB"]
UNITS: dict[str, int] = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9}  # as Ray: decimal

# Ray's precedence (memory_utils._get_reference_type): "largest" first when sorting by type.
REFERENCE_TYPES = ("ACTOR_HANDLE", "PINNED_IN_MEMORY", "USED_BY_PENDING_TASK", "LOCAL_REFERENCE",
                   "CAPTURED_IN_OBJECT", "UNKNOWN_STATUS")
SUMMARY_LABELS = ("Mem Used by Objects", "Local References", "Pinned", "Used by task", "Captured in Objects",
                  "Actor Handles")
SUMMARY_TYPES = ("LOCAL_REFERENCE", "PINNED_IN_MEMORY", "USED_BY_PENDING_TASK", "CAPTURED_IN_OBJECT", "ACTOR_HANDLE")
COLUMNS = ("IP Address", "PID", "Type", "Call Site", "Status", "Attempt", "Size", "Reference Type", "Object Ref")
WIDE_AT = 138  # Ray switches to its wide layout above 137 columns
GAP = "  "


@dataclass
class GroupSummary:
    total_bytes: int = 0  # sizes that are known (Ray skips -1)
    count: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bytes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, r: ObjectRef) -> None:
        size = r.object_size if r.object_size is not None and r.object_size > 0 else 0
        self.total_bytes += size
        self.count[r.reference_type] += 1
        self.bytes[r.reference_type] += size


@dataclass
class Group:
    key: str
    rows: list[ObjectRef]
    summary: GroupSummary


def _sort_key(by: SortBy):
    rank = {t: i for i, t in enumerate(REFERENCE_TYPES)}
    size = lambda r: r.object_size if r.object_size is not None else -1  # noqa: E731
    if by == "OBJECT_SIZE":
        return lambda r: (-size(r), r.object_id)
    if by == "PID":
        return lambda r: (-r.pid, -size(r), r.object_id)
    return lambda r: (rank.get(r.reference_type, len(rank)), -size(r), r.object_id)


def group_rows(rows: list[ObjectRef], group_by: GroupBy, sort_by: SortBy) -> list[Group]:
    """Sorted first, then grouped (order kept inside groups), groups in order of first appearance."""
    groups: dict[str, Group] = {}
    for r in sorted(rows, key=_sort_key(sort_by)):
        key = (r.node_ip or r.node_id) if group_by == "NODE_ADDRESS" else (r.call_site or "disabled")
        g = groups.get(key)
        if g is None:
            g = groups[key] = Group(key, [], GroupSummary())
        g.rows.append(r)
        g.summary.add(r)
    return list(groups.values())


def fmt_size(nbytes: Optional[int], unit: Unit) -> str:
    """Ray's format: `str(v / unit) + " " + unit`, "?" when unknown."""
    if nbytes is None or nbytes < 0:
        return "?"
    return f"{nbytes / UNITS[unit]} {unit}"


def summary_lines(s: GroupSummary, unit: Unit) -> list[str]:
    values = [fmt_size(s.total_bytes, unit)] + [f"{s.count.get(t, 0)}, ({s.bytes.get(t, 0) / UNITS[unit]} {unit})"
                                               for t in SUMMARY_TYPES]
    widths = [max(len(a), len(b)) for a, b in zip(SUMMARY_LABELS, values)]
    return [GAP.join(x.ljust(w) for x, w in zip(SUMMARY_LABELS, widths)).rstrip(),
            GAP.join(x.ljust(w) for x, w in zip(values, widths)).rstrip()]


def _cells(r: ObjectRef, unit: Unit) -> list[str]:
    return [r.node_ip or "", str(r.pid), r.worker_type or "", r.call_site or "disabled", r.task_status or "?",
            str(r.attempt if r.attempt is not None else ""), fmt_size(r.object_size, unit), r.reference_type,
            r.object_id]


def table_lines(rows: list[ObjectRef], unit: Unit, width: int) -> list[str]:
    """Columns fitted to `width`: only Call Site and Status wrap onto extra lines. Below the
    width the fixed columns need, each entry is two lines (the object id alone on the second),
    so nothing is cut and nothing misaligns."""
    cells = [_cells(r, unit) for r in rows]
    natural = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(COLUMNS)]
    fixed = sum(natural) - natural[3] - natural[4] + len(GAP) * (len(COLUMNS) - 1)
    room = width - fixed
    if room >= 20:  # one line per entry (plus wrapped call-site/status lines)
        status_w = min(natural[4], max(8, room // 3))
        call_w = max(10, min(natural[3], room - status_w))
        widths = natural[:3] + [call_w, status_w] + natural[5:]
        out = [_join(COLUMNS, widths)]
        for c in cells:
            wrapped = {3: textwrap.wrap(c[3], call_w) or [""], 4: textwrap.wrap(c[4], status_w) or [""]}
            for k in range(max(len(v) for v in wrapped.values())):
                line = []
                for i in range(len(COLUMNS)):
                    if i in wrapped:
                        line.append(wrapped[i][k] if k < len(wrapped[i]) else "")
                    else:
                        line.append(c[i] if k == 0 else "")
                out.append(_join(line, widths))
        return out
    # narrow: all columns but the id on the first line, the id (never cut) on the second
    widths = natural[:8]
    out = [_join(COLUMNS[:8], widths), "  " + COLUMNS[8]]
    for c in cells:
        out += [_join(c[:8], widths), "  " + c[8]]
    return out


def _join(values, widths: list[int]) -> str:
    return GAP.join(str(v).ljust(w) for v, w in zip(values, widths)).rstrip()


def store_block(s: ObjectStoreStats) -> list[str]:
    """Ray's `store_stats_summary` (MiB, whole numbers; percentages of capacity)."""
    mib = 1024 * 1024
    full = round(100 * s.used_bytes / s.capacity_bytes, 2) if s.capacity_bytes else 0.0
    out = ["--- Aggregate object store stats across all nodes ---",
           f"Plasma memory usage {s.used_bytes // mib} MiB, {s.num_objects} objects, {full}% full"]
    if s.fallback_bytes > 0:
        out.append(f"Plasma filesystem mmap usage: {s.fallback_bytes // mib} MiB")
    if s.spilled_bytes_total > 0:
        out.append(f"Spilled {s.spilled_bytes_total // mib} MiB")
    if s.restored_bytes_total > 0:
        out.append(f"Restored {s.restored_bytes_total // mib} MiB")
    return out


def render(groups: list[Group], group_by: GroupBy, sort_by: SortBy, unit: Unit, num_entries: Optional[int],
           width: int) -> list[str]:
    """The whole `ray memory` text before the store block."""
    gname, sname = group_by.lower().replace("_", " "), sort_by.lower().replace("_", " ")
    out = [f"Grouping by {gname}...        Sorting by {sname}...        "
           f"Display {num_entries if num_entries is not None else 'all'} entries per group...", "", ""]
    for g in groups:
        out.append(f"--- Summary for {gname}: {g.key} ---")
        out += summary_lines(g.summary, unit) + [""]
        out.append(f"--- Object references for {gname}: {g.key} ---")
        rows = g.rows if num_entries is None else g.rows[:num_entries]
        out += table_lines(rows, unit, width) + [""]
    out.append("To record callsite information for each ObjectRef created, set env variable "
               "RAY_record_ref_creation_sites=1")
    out.append("")
    return out
