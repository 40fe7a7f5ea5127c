"""What indexing a log line for search costs the writer, per index layout (issue 15).

Inserts N real log lines (bench/data/agent_batches.pb.gz, each given a fresh timestamp and pid so
no two are alike) into a bare log_lines table with the index under test, in transactions of
LINES_PER_TX lines as the writer commits them at 1,000 nodes (1,000 agent batches of 5 lines),
and prints writer CPU per line, the DB's bytes per line, and the latency of a few searches.

    .venv/bin/python bench/bench_log_fts.py --lines 200000 --layouts full,none
    .venv/bin/python bench/bench_log_fts.py --writer   # through the real apply path, before and after
"""
from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import rayscope.dashboard.store.apply_batch as apply_batch  # noqa: E402
from rayscope.dashboard.store.connection import log_fts_ddl, open_writer  # noqa: E402
from rayscope.dashboard.store.log_index import FoldedSubstring, migrate_log_fts, trigram_query  # noqa: E402
from rayscope.wire import rayscope_ingest_pb2 as pb  # noqa: E402
from sim_agents import Recording, Templates  # noqa: E402

LINES_PER_TX = 5000
TABLE = """CREATE TABLE log_lines (id INTEGER PRIMARY KEY, file_id TEXT NOT NULL, generation INTEGER NOT NULL,
  offset INTEGER NOT NULL, text TEXT NOT NULL, is_binary INTEGER NOT NULL DEFAULT 0,
  truncated_bytes INTEGER NOT NULL DEFAULT 0, read_at REAL NOT NULL, UNIQUE (file_id, generation, offset));
CREATE INDEX log_lines_by_time ON log_lines(read_at);"""
TRIGGER = """CREATE TRIGGER log_lines_fts_insert AFTER INSERT ON log_lines BEGIN
  INSERT INTO log_fts(rowid, text) VALUES (new.id, new.text); END;"""


def fts(detail: str) -> str:
    return (f"CREATE VIRTUAL TABLE log_fts USING fts5(text, content='log_lines', content_rowid='id', "
            f"tokenize='trigram case_sensitive 0'{detail});")


LAYOUTS = {  # name -> (DDL, per-transaction statement or None)
    "bare": (TABLE, None),
    "full": (TABLE + fts("") + TRIGGER, None),
    "none": (TABLE + fts(", detail=none") + TRIGGER, None),
    "none_cs0": (TABLE + fts(", detail=none, columnsize=0") + TRIGGER, None),
    "none_batch": (TABLE + fts(", detail=none"), "INSERT INTO log_fts(rowid, text) SELECT id, text FROM log_lines "
                   "WHERE id > ?"),
    "none_pgsz": (TABLE + fts(", detail=none") + TRIGGER
                  + "INSERT INTO log_fts(log_fts, rank) VALUES ('pgsz', 4000);"
                  + "INSERT INTO log_fts(log_fts, rank) VALUES ('automerge', 8);", None),
    "full_batch": (TABLE + fts(""), "INSERT INTO log_fts(rowid, text) SELECT id, text FROM log_lines WHERE id > ?"),
}


def lines(n: int) -> list[tuple]:
    texts = [t for _, t in Templates.from_recording(Recording.load()).log_texts]
    rng = random.Random(1)
    out = []
    t0 = 1_780_000_000.0
    for i in range(n):
        raw = texts[i % len(texts)].decode(errors="replace")
        ts = t0 + i / 5000
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts)) + f",{int(ts * 1000) % 1000:03d}"
        text = (stamp + raw[23:] if raw[:2] == "20" else raw).replace("pid", f"pid={rng.randrange(1000, 99999)}")
        out.append((f"f{i % 5000}", 0, i, text, 0, 0, ts))
    return out


def run(layout: str, data: list[tuple], searches: list[str], workdir: Path) -> None:
    ddl, per_tx = LAYOUTS[layout]
    path = workdir / f"{layout}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA cache_size=-131072")
    conn.executescript(ddl)
    cpu = time.process_time()
    wall = time.perf_counter()
    last = 0
    for i in range(0, len(data), LINES_PER_TX):
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("INSERT OR IGNORE INTO log_lines (file_id, generation, offset, text, is_binary, "
                         "truncated_bytes, read_at) VALUES (?, ?, ?, ?, ?, ?, ?)", data[i:i + LINES_PER_TX])
        if per_tx:
            conn.execute(per_tx, (last,))
            last = conn.execute("SELECT max(id) FROM log_lines").fetchone()[0]
        conn.execute("COMMIT")
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    size = path.stat().st_size
    n = len(data)
    print(f"{layout:11s} {cpu / n * 1e6:6.1f} us/line CPU ({wall / n * 1e6:6.1f} wall)  {size / n:6.0f} B/line",
          flush=True)
    for q in searches:
        if layout == "bare":
            continue
        if "none" in layout:  # as read_logs.search runs it: trigrams ANDed, each candidate checked exactly
            FoldedSubstring.register(conn)
            sql = ("SELECT l.id FROM log_lines l JOIN log_fts ON log_fts.rowid = l.id WHERE log_fts MATCH ? "
                   f"AND {FoldedSubstring.NAME}(l.text, ?) ORDER BY log_fts.rowid LIMIT 101")
            args: tuple = (trigram_query(q), q)
        else:
            sql = ("SELECT l.id FROM log_lines l JOIN log_fts ON log_fts.rowid = l.id WHERE log_fts MATCH ? "
                   "ORDER BY log_fts.rowid LIMIT 101")
            args = ('"' + q.replace('"', '""') + '"',)
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            got = conn.execute(sql, args).fetchall()
            best = min(best, time.perf_counter() - t)
        print(f"    search {q!r:40s} {best * 1e3:8.1f} ms  ({len(got)} hits of limit 101)", flush=True)
    if layout == "full":  # what opening such an older DB costs: its index rebuilt as detail=none
        t = time.perf_counter()
        migrate_log_fts(conn, log_fts_ddl())
        print(f"    rebuilt as detail=none on open: {time.perf_counter() - t:.1f} s", flush=True)
    conn.close()


WRITER_AGENTS, WRITER_TXS = 1000, 30
# The layout before issue 15's change, put back on a new store: detail=full, filled by a per-row trigger.
OLD_LAYOUT = """DROP TRIGGER log_lines_fts_delete; DROP TABLE log_fts;
CREATE VIRTUAL TABLE log_fts USING fts5(text, content='log_lines', content_rowid='id',
  tokenize='trigram case_sensitive 0');
CREATE TRIGGER log_lines_fts_insert AFTER INSERT ON log_lines BEGIN
  INSERT INTO log_fts(rowid, text) VALUES (new.id, new.text); END;"""


def writer_cpu_per_batch(texts: list[bytes], n_lines: int, old: bool, workdir: Path) -> float:
    """Writer CPU per agent batch through apply_batches on open_writer's schema: transactions of
    1,000 batches (1,000 agents), each with `n_lines` log lines; the first 2 transactions not counted."""
    conn = open_writer(workdir / f"writer-{n_lines}-{old}.db")
    index_new_lines = apply_batch.index_new_lines
    if old:
        conn.executescript(OLD_LAYOUT)
        apply_batch.index_new_lines = lambda c: None  # the trigger does it
    try:
        k, cpu = 0, 0.0
        for tx in range(WRITER_TXS + 2):
            items = []
            for a in range(WRITER_AGENTS):
                node = f"{a:056x}"
                b = pb.Batch(seq=tx + 1)
                if tx == 0:
                    b.log_files.add(file_id=f"f{a}", node_id=node, path=f"logs/worker-{a}.out")
                for i in range(n_lines):
                    b.log_lines.add(file_id=f"f{a}", generation=0, offset=tx * 1000 + i,
                                    text=texts[k % len(texts)], read_at=time.time())
                    k += 1
                items.append((f"agent{a}", node, b, False))
            t = time.process_time()
            apply_batch.apply_batches(conn, items)
            cpu += time.process_time() - t if tx >= 2 else 0.0
    finally:
        apply_batch.index_new_lines = index_new_lines
        conn.close()
    return cpu / (WRITER_TXS * WRITER_AGENTS)


def writer_path(workdir: Path) -> None:
    texts = [t[3].encode() for t in lines(WRITER_AGENTS * 5 * WRITER_TXS)]
    base = writer_cpu_per_batch(texts, 0, False, workdir)
    for old, name in ((True, "before (detail=full, trigger)"), (False, "after (detail=none, per transaction)")):
        per = writer_cpu_per_batch(texts, 5, old, workdir)
        print(f"writer, {name}: {per * 1e3:.3f} ms per batch of 5 lines ({base * 1e3:.3f} without) -> "
              f"{(per - base) / 5 * 1e6:.1f} us per line", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--layouts", default="bare,full,none,none_cs0,none_batch,none_pgsz")
    ap.add_argument("--search", default="Starting Ray Client server,zzznotthere,raylet pid,TimeoutError")
    ap.add_argument("--writer", action="store_true", help="only the per-line cost through the real apply path")
    args = ap.parse_args()
    if args.writer:
        with tempfile.TemporaryDirectory() as d:
            writer_path(Path(d))
        return
    data = lines(args.lines)
    with tempfile.TemporaryDirectory() as d:
        for layout in args.layouts.split(","):
            run(layout, data, args.search.split(","), Path(d))


if __name__ == "__main__":
    main()
