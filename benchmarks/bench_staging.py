"""Benchmark: change detection and staging of ORDERS_UNIFIED, 100,000 order lines, against a raw floor.

    .venv/bin/python benchmarks/bench_staging.py                       # SQLite in a temporary folder
    .venv/bin/python benchmarks/bench_staging.py --db postgresql        # the local PostgreSQL, own schema
    .venv/bin/python benchmarks/bench_staging.py --lines 10000          # a quick run
    (or BENCH_DB=postgresql; --url for any other database)

Phases, each in a fresh process so that its peak memory is its own:

  build    ORDERS_UNIFIED with --lines order lines and --sizes size columns (not timed as part of a/b)
  (a)      detection and staging of everything NEW, one batch per customer, whole run
  promote  monday's confirmations (fresh ids) and promotion of every staged row; promotion and
           cleanup are timed on their own
  pending  the customers-with-pending-work list
  mutate   1% of the lines changed: half a size quantity, half a price
  (b)      the same detection and staging again: only the changed lines are staged

Each timed step has a floor, measured in the same run on the same database by the driver itself
(sqlite3 / psycopg through SQLAlchemy's raw connection, no ORM, no mapping): reading the source
table, and ``executemany`` writing as many rows as the step wrote into scratch tables of the same
shape (copies of the rows the step wrote, so the values are as wide). The table printed at the end
gives step, time, floor, ratio and peak RSS. No assertion: figures for the closing note. Targets on
SQLite, 100,000 lines: (a) ≤ 3× its floor, promotion and cleanup ≤ 2×, (b) ≤ 3 s, the pending
list ≤ 1.5× a plain read of the source.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOARD = "9200517329"
# One owner for every phase: the phases are separate processes playing one run.


def _engine(url: str, schema: str | None):
    import sqlalchemy as sa

    from core.db.engine import create_engine

    engine = create_engine(url)
    if schema and engine.dialect.name == "postgresql":
        engine = sa.create_engine(engine.url, connect_args={"options": f"-csearch_path={schema}"})
    return engine


def _owner():
    from core.staging.operations import Owner

    # One owner for every phase: the phases are separate processes playing one run.
    return Owner("benchmark", "benchmark", 1)


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def phase_build(args) -> dict:
    from core.db.migrate import upgrade
    from core.demo.data import SIZE_COLUMNS, create_orders_table

    engine = _engine(args.url, args.schema)
    start = time.perf_counter()
    with engine.begin() as conn:
        create_orders_table(conn, args.lines, seed=args.seed, size_columns=SIZE_COLUMNS[: args.sizes])
    upgrade(engine)
    return {"seconds": time.perf_counter() - start}


def phase_stage(args) -> dict:
    from core.detect.changes import ChangeDetector, SourceReads
    from core.source.mapping import load_mapping
    from core.source.reader import Source
    from core.staging.operations import StagingOperations

    engine = _engine(args.url, args.schema)
    start = time.perf_counter()
    source = Source.reflect(engine, load_mapping())
    ops = StagingOperations(engine, _owner())
    staged = {"items": 0, "subitems": 0, "invalid": 0, "lines_read": 0, "customers": 0}
    with engine.connect() as conn:
        # One run over every customer, as a sync inside EngineContext.one_run reads the source.
        detector = ChangeDetector(conn, source, BOARD, SourceReads(whole_run=True))
        customers = sorted(source.customer_names(conn))
        for customer in customers:
            changes = detector.detect(customer)
            staged["lines_read"] += len(changes.changes) + len(changes.invalid) + changes.unchanged
            batch = ops.claim(customer, BOARD)
            result = ops.stage(batch.batch_id, changes)
            staged["items"] += result.items
            staged["subitems"] += result.subitems
            staged["invalid"] += result.invalid
            staged["customers"] += 1
    seconds = time.perf_counter() - start
    return {"seconds": seconds, **staged, "lines_per_second": staged["lines_read"] / seconds}


def phase_pending(args) -> dict:
    from core.detect.changes import ChangeDetector
    from core.source.mapping import load_mapping
    from core.source.reader import Source

    engine = _engine(args.url, args.schema)
    start = time.perf_counter()
    source = Source.reflect(engine, load_mapping())
    with engine.connect() as conn:
        rows = ChangeDetector(conn, source, BOARD).pending()
    return {
        "seconds": time.perf_counter() - start,
        "customers": len(rows),
        "new": sum(r.new for r in rows),
        "changed": sum(r.changed for r in rows),
    }


def phase_promote(args) -> dict:
    import sqlalchemy as sa

    from core.db import schema as s
    from core.staging.operations import StagingOperations

    engine = _engine(args.url, args.schema)
    ops = StagingOperations(engine, _owner())
    start = time.perf_counter()
    with engine.connect() as conn:
        batch_ids = [r[0] for r in conn.execute(sa.select(s.batches.c.batch_id).where(s.batches.c.status == s.STAGED))]
    next_id = 20_000_000_000
    promote_seconds = 0.0
    for batch_id in batch_ids:
        ops.claim(ops.batch(batch_id)["customer"], BOARD)  # staged by a process that is gone: resumed here
        items = ops.pending_rows(batch_id, s.stg_items)
        ops.mark_sending(batch_id, s.stg_items, [r["stg_id"] for r in items])
        ops.record_item_ids(
            batch_id, [(r["stg_id"], r["monday_item_id"] or str(next_id + i)) for i, r in enumerate(items)]
        )
        next_id += len(items)
        subs = ops.pending_rows(batch_id, s.stg_subitems)
        ops.mark_sending(batch_id, s.stg_subitems, [r["stg_sub_id"] for r in subs])
        ops.record_subitem_ids(
            batch_id, [(r["stg_sub_id"], r["monday_subitem_id"] or str(next_id + i)) for i, r in enumerate(subs)]
        )
        next_id += len(subs)
        began = time.perf_counter()
        ops.promote(batch_id, BOARD)
        ops.cleanup(batch_id)
        ops.set_status(batch_id, s.COMPLETED)
        promote_seconds += time.perf_counter() - began
    return {"seconds": time.perf_counter() - start, "batches": len(batch_ids), "promote_seconds": promote_seconds}


def phase_mutate(args) -> dict:
    import sqlalchemy as sa

    engine = _engine(args.url, args.schema)
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    from core.demo.data import SIZE_COLUMNS

    rng = random.Random(args.seed + 1)
    key = ["AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION"]
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(*[table.c[k] for k in key], *[table.c[sz] for sz in SIZE_COLUMNS[: args.sizes]]).where(
                table.c["AAG ORDER NUMBER"].is_not(None)
            )
        ).all()
        chosen = rng.sample(rows, len(rows) // 100)
        prices, sizes = chosen[: len(chosen) // 2], chosen[len(chosen) // 2 :]
        where = sa.and_(*[table.c[k] == sa.bindparam(f"k{i}") for i, k in enumerate(key)])
        conn.execute(
            sa.update(table).where(where).values({"CUSTOMER PRICE": sa.bindparam("price")}),
            [{"k0": r[0], "k1": r[1], "k2": r[2], "price": f"{rng.uniform(5, 90):.2f}"} for r in prices],
        )
        by_size: dict[str, list] = {}
        for r in sizes:
            filled = [sz for sz, q in zip(SIZE_COLUMNS[: args.sizes], r[3:], strict=False) if q]
            if filled:
                by_size.setdefault(rng.choice(filled), []).append(
                    {"k0": r[0], "k1": r[1], "k2": r[2], "q": rng.randint(1, 400)}
                )
        for size, params in by_size.items():
            conn.execute(sa.update(table).where(where).values({size: sa.bindparam("q")}), params)
    return {"changed_lines": len(chosen)}


# == the floor ======================================================================================

FLOOR_PREFIX = "bench_floor_"


def _raw_read_source(engine) -> tuple[float, int]:
    """Every row and column of ORDERS_UNIFIED through the driver's cursor, in chunks; (seconds, rows)."""
    raw = engine.raw_connection()
    try:
        start = time.perf_counter()
        cursor = raw.cursor()
        cursor.execute('SELECT * FROM "ORDERS_UNIFIED"')
        n = 0
        while chunk := cursor.fetchmany(5000):
            n += len(chunk)
        cursor.close()
        return time.perf_counter() - start, n
    finally:
        raw.close()


def _raw_write_like(engine, tables, where: dict | None = None) -> tuple[float, int]:
    """executemany of copies of the rows of ``tables`` into scratch tables of the same shape.

    The rows are read first (not timed); the scratch tables are dropped after. (seconds, rows).
    """
    import sqlalchemy as sa

    metadata = sa.MetaData()
    scratch = []
    data = []
    with engine.connect() as conn:
        for table in tables:
            copy = sa.Table(FLOOR_PREFIX + table.name, metadata, *[sa.Column(c.name, c.type) for c in table.columns])
            query = sa.select(*table.columns)
            if where and table.name in where:
                query = query.where(where[table.name])
            rows = [tuple(r) for r in conn.execute(query)]
            scratch.append(copy)
            data.append(rows)
    metadata.drop_all(engine)
    metadata.create_all(engine)
    try:
        raw = engine.raw_connection()
        try:
            paramstyle = engine.dialect.paramstyle
            start = time.perf_counter()
            cursor = raw.cursor()
            for copy, rows in zip(scratch, data, strict=False):
                marks = ", ".join(["?" if paramstyle == "qmark" else "%s"] * len(copy.columns))
                names = ", ".join(f'"{c.name}"' for c in copy.columns)
                if rows:
                    cursor.executemany(f'INSERT INTO "{copy.name}" ({names}) VALUES ({marks})', rows)
            raw.commit()
            cursor.close()
            seconds = time.perf_counter() - start
        finally:
            raw.close()
    finally:
        metadata.drop_all(engine)
    return seconds, sum(len(rows) for rows in data)


def floor_stage(args) -> dict:
    """Read the source; write as many staging rows as the stage step wrote (the rows not yet promoted)."""
    from core.db import schema as s

    engine = _engine(args.url, args.schema)
    read, lines = _raw_read_source(engine)
    pending = (s.PENDING, s.WAITING_PARENT, s.API_SUCCESS, s.INVALID)
    write, rows = _raw_write_like(
        engine,
        [s.stg_items, s.stg_subitems],
        {s.stg_items.name: s.stg_items.c.state.in_(pending), s.stg_subitems.name: s.stg_subitems.c.state.in_(pending)},
    )
    return {"seconds": read + write, "read": read, "write": write, "rows_written": rows, "lines": lines}


def floor_promote(args) -> dict:
    """Write as many production rows as promotion wrote."""
    from core.db import schema as s

    engine = _engine(args.url, args.schema)
    write, rows = _raw_write_like(engine, [s.items, s.subitems])
    return {"seconds": write, "rows_written": rows}


def floor_read(args) -> dict:
    engine = _engine(args.url, args.schema)
    read, lines = _raw_read_source(engine)
    return {"seconds": read, "lines": lines}


PHASES = {
    "build": phase_build,
    "a": phase_stage,
    "pending": phase_pending,
    "promote": phase_promote,
    "mutate": phase_mutate,
    "b": phase_stage,
    "floor-a": floor_stage,
    "floor-promote": floor_promote,
    "floor-pending": floor_read,
    "floor-b": floor_stage,
}

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def run_phase(name: str, args) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--phase",
        name,
        "--url",
        args.url,
        "--lines",
        str(args.lines),
        "--sizes",
        str(args.sizes),
        "--seed",
        str(args.seed),
    ]
    if args.schema:
        cmd += ["--schema", args.schema]
    if args.profile and not name.startswith("floor") and name not in ("build", "mutate"):
        cmd += ["--profile", args.profile]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default=os.environ.get("BENCH_DB", "sqlite"),
        help="sqlite (a file in a temp folder) or postgresql (the local test database, in a "
        "schema of its own, dropped after); default from BENCH_DB, else sqlite",
    )
    parser.add_argument("--url", default=None, help="any other database URL (overrides --db)")
    parser.add_argument("--schema", default=None, help="PostgreSQL: a schema to create and use (dropped after)")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--sizes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", default=None, help="a folder: cProfile output per timed phase goes there")
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        result = PHASES[args.phase](args)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(Path(args.profile, f"{args.phase}.prof")))
        result["peak_rss_mb"] = _peak_mb()
        print(json.dumps(result))
        return 0

    tmp = None
    created_schema = None
    if args.url is None and args.db == "postgresql":
        args.url = PG_URL
    if args.url is None:
        tmp = tempfile.TemporaryDirectory()
        args.url = f"sqlite:///{Path(tmp.name, 'bench.db').as_posix()}"
    elif args.url.startswith("postgresql"):
        import sqlalchemy as sa

        created_schema = args.schema = args.schema or f"bench_{os.getpid()}"
        admin = sa.create_engine(args.url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{created_schema}" CASCADE'))
            conn.execute(sa.text(f'CREATE SCHEMA "{created_schema}"'))
    table: list[tuple[str, float | None, float | None, float, str]] = []

    def step(label: str, seconds: float | None, floor: float | None, rss: float, note: str = "") -> None:
        table.append((label, seconds, floor, rss, note))
        ratio = f"{seconds / floor:6.2f}x" if seconds is not None and floor else "       "
        time_ = f"{seconds:8.2f} s" if seconds is not None else " " * 10
        floor_ = f"{floor:8.2f} s" if floor is not None else " " * 10
        print(f"{label:<36} {time_} {floor_} {ratio}  {rss:7.0f} MB  {note}", flush=True)

    try:
        print(f"database: {args.url.split('@')[-1]}  lines: {args.lines:,}  size columns: {args.sizes}")
        print(f"{'step':<36} {'time':>10} {'floor':>10} {'ratio':>7}  {'peak RSS':>10}")
        r = run_phase("build", args)
        step("build ORDERS_UNIFIED", r["seconds"], None, r["peak_rss_mb"])
        r = run_phase("a", args)
        f = run_phase("floor-a", args)
        step(
            "(a) detect + stage, all NEW",
            r["seconds"],
            f["seconds"],
            r["peak_rss_mb"],
            f"{r['lines_read']:,} lines, {r['items']:,} items + {r['subitems']:,} subitems, {r['invalid']} invalid; "
            f"floor: read {f['read']:.2f} s + write {f['rows_written']:,} rows {f['write']:.2f} s",
        )
        r = run_phase("promote", args)
        f = run_phase("floor-promote", args)
        step(
            "promotion + cleanup",
            r["promote_seconds"],
            f["seconds"],
            r["peak_rss_mb"],
            f"{r['batches']} batches; floor: write {f['rows_written']:,} rows",
        )
        step("  confirm ids + promote (whole phase)", r["seconds"], None, r["peak_rss_mb"])
        r = run_phase("pending", args)
        f = run_phase("floor-pending", args)
        step(
            "pending-work list",
            r["seconds"],
            f["seconds"],
            r["peak_rss_mb"],
            f"{r['customers']} customers; floor: read {f['lines']:,} source rows",
        )
        r = run_phase("mutate", args)
        step("change 1% of lines", None, None, r["peak_rss_mb"], f"{r['changed_lines']:,} lines changed")
        r = run_phase("b", args)
        f = run_phase("floor-b", args)
        step(
            "(b) detect + stage after 1% change",
            r["seconds"],
            f["seconds"],
            r["peak_rss_mb"],
            f"{r['items']:,} items + {r['subitems']:,} subitems; floor: read + write {f['rows_written']:,} rows",
        )
    finally:
        if created_schema:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{created_schema}" CASCADE'))
        if tmp:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
