"""Terminal output for the CLIs: tables that fit the terminal, records, human sizes and times.

Tables follow Ray's state CLI (`ray list`): upper-case field names as headers, a row index,
plain alignment. Unlike Ray we fit the terminal: low-priority columns are dropped first, then
long free-text cells are cut with an ellipsis. Ids are never cut, because users copy them
into the next command. When stdout is not a terminal (pipes, tests) nothing is cut unless
$COLUMNS asks for a width.
"""
from __future__ import annotations

import datetime as _dt
import os
import shutil
import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

ELLIPSIS = "…"
GAP = "  "
COMFORTABLE = 20  # a cut column keeps this much room before lower-priority columns get any


@dataclass(frozen=True)
class Column:
    """One table column: how to read a cell from a row, and how willing it is to yield space.

    `priority`: lower is more important; when the terminal is narrow the highest numbers go
    first. `shrink`: the cell may be cut to fit (never for ids).
    """

    header: str
    value: Callable[[Any], Any]
    priority: int = 50
    shrink: bool = False
    min_width: int = 8
    align_right: bool = False


def terminal_width() -> Optional[int]:
    """Width to fit, or None for "do not cut" (stdout is not a terminal and $COLUMNS unset)."""
    env = os.environ.get("COLUMNS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((120, 24)).columns
    return None


def cell_text(value: Any) -> str:
    """One-line text for a cell: None is empty, bools are lowercase, newlines are shown as ⏎."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.3f}".rstrip("0").rstrip(".")
    if isinstance(value, dict):
        return ", ".join(f"{k}: {cell_text(v)}" for k, v in value.items())
    text = str(value)
    if "\n" in text or "\r" in text:
        text = " ⏎ ".join(part for part in text.splitlines() if part.strip())
    return text


def truncate(text: str, width: int) -> str:
    """Cut `text` to `width` characters, marking the cut with an ellipsis."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    return text[: width - 1] + ELLIPSIS


def _choose_columns(columns: Sequence[Column], natural: list[int], empty: list[bool], width: int) -> list[int]:
    """Indexes of the columns that fit, most important first; at least one is always kept.
    Columns with no value in any row go last: on a narrow terminal they only cost room."""
    order = sorted(range(len(columns)), key=lambda i: (empty[i], columns[i].priority, i))
    kept: list[int] = []
    used = 0
    for i in order:
        col, gap = columns[i], (len(GAP) if kept else 0)
        need = natural[i]
        if col.shrink:  # comfortable room if there is some, else whatever is left above its minimum
            need = min(natural[i], max(col.min_width, min(COMFORTABLE, width - used - gap)))
        has_data_column = any(columns[k].priority >= 0 for k in kept)  # the index does not count
        if has_data_column and used + gap + need > width:
            continue
        kept.append(i)
        used += gap + need
    return sorted(kept)


def _fit_widths(columns: Sequence[Column], widths: list[int], width: int) -> list[int]:
    """Shrink the widest cuttable columns until the row fits (or nothing can shrink)."""
    widths = list(widths)
    total = sum(widths) + len(GAP) * (len(widths) - 1)
    while total > width:
        candidates = [i for i, c in enumerate(columns) if c.shrink and widths[i] > c.min_width]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        widths[widest] -= 1
        total -= 1
    return widths


def render_table(
    columns: Sequence[Column], rows: Sequence[Any], width: Optional[int] = None, index: bool = True
) -> str:
    """Render rows as a plain aligned table (Ray's `tabulate(..., tablefmt="plain")` look)."""
    cols = list(columns)
    if index:
        cols.insert(0, Column("", lambda r: None, priority=-1, align_right=True))
    cells = [[cell_text(c.value(r)) for c in cols] for r in rows]
    if index:
        for i, row_cells in enumerate(cells):
            row_cells[0] = str(i)
    natural = [max([len(c.header)] + [len(rc[j]) for rc in cells]) for j, c in enumerate(cols)]
    empty = [all(not rc[j] for rc in cells) for j in range(len(cols))]
    keep = list(range(len(cols))) if width is None else _choose_columns(cols, natural, empty, width)
    cols = [cols[i] for i in keep]
    widths = [natural[i] for i in keep]
    cells = [[rc[i] for i in keep] for rc in cells]
    if width is not None:
        widths = _fit_widths(cols, widths, width)
    lines = [_render_line([c.header for c in cols], cols, widths)]
    lines += [_render_line(rc, cols, widths) for rc in cells]
    return "\n".join(lines)


def _render_line(texts: Sequence[str], cols: Sequence[Column], widths: Sequence[int]) -> str:
    parts = []
    for text, col, w in zip(texts, cols, widths):
        text = truncate(text, w)
        parts.append(text.rjust(w) if col.align_right else text.ljust(w))
    return GAP.join(parts).rstrip()


def render_record(pairs: Sequence[tuple[str, Any]]) -> str:
    """`key: value` lines (Ray's `ray get` prints YAML); multi-line values become an indented block."""
    key_width = max((len(k) for k, _ in pairs), default=0)
    out: list[str] = []
    for key, value in pairs:
        if isinstance(value, str) and "\n" in value:
            out.append(f"{key}: |")
            out.extend("  " + line for line in value.rstrip("\n").splitlines())
            continue
        out.append(f"{key + ':':<{key_width + 1}} {cell_text(value)}".rstrip())
    return "\n".join(out)


def banner(title: str) -> str:
    """Ray's section header: `======== List: 2026-01-01 12:00:00.123456 ========`."""
    return "=" * 8 + f" {title}: {_dt.datetime.now()} " + "=" * 8


def human_bytes(n: Optional[float]) -> str:
    """1536 -> '1.5 KiB'; None -> '' (unknown is not zero)."""
    if n is None:
        return ""
    if n < 0:
        return "-" + human_bytes(-n)
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    value = float(n)
    for unit in units:
        if value < 1024 or unit == units[-1]:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def human_duration(seconds: Optional[float]) -> str:
    """0.0123 -> '12ms', 75 -> '1m15s', 7260 -> '2h01m'; None -> ''."""
    if seconds is None:
        return ""
    if seconds < 0:
        return "-" + human_duration(-seconds)
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def human_time(ts: Optional[float]) -> str:
    """Unix seconds -> local 'YYYY-MM-DD HH:MM:SS'; None -> ''."""
    if ts is None:
        return ""
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def human_percent(value: Optional[float]) -> str:
    """12.345 -> '12.3%'; None -> ''."""
    return "" if value is None else f"{value:.1f}%"


def short_id(value: Optional[str], n: int = 8) -> str:
    """First `n` hex digits of an id, for prefixes where the full id would drown the text."""
    return "" if not value else value[:n]
