"""Benchmark: change detection and staging of ORDERS_UNIFIED, 100,000 order lines.

    .venv/bin/python benchmarks/bench_staging.py                      # SQLite in a temporary folder
    .venv/bin/python benchmarks/bench_staging.py --url postgresql+psycopg://postgres@127.0.0.1/test

Phases, each in a fresh process so that its peak memory is its own:

  build    ORDERS_UNIFIED with --lines order lines and --sizes size columns (not timed as part of a/b)
  (a)      detection and staging of everything NEW, one batch per customer, whole run
  promote  monday's confirmations (fresh ids) and promotion of every staged row (timed, reported)
  mutate   1% of the lines changed: half a size quantity, half a price
  (b)      the same detection and staging again: only the changed lines are staged

Prints lines/s and peak RSS per phase. No assertion: figures for the closing note. Targets on a
2-core machine: (a) ≤ 15 s and ≤ 500 MB peak; (b) ≤ 5 s.
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
        create_orders_table(conn, args.lines, seed=args.seed, size_columns=SIZE_COLUMNS[:args.sizes])
    upgrade(engine)
    return {"seconds": time.perf_counter() - start}


def phase_stage(args) -> dict:
    from core.detect.changes import ChangeDetector
    from core.source.mapping import load_mapping
    from core.source.reader import Source
    from core.staging.operations import StagingOperations

    engine = _engine(args.url, args.schema)
    start = time.perf_counter()
    source = Source.reflect(engine, load_mapping())
    ops = StagingOperations(engine, _owner())
    staged = {"items": 0, "subitems": 0, "invalid": 0, "lines_read": 0, "customers": 0}
    with engine.connect() as conn:
        detector = ChangeDetector(conn, source, BOARD)
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
    return {"seconds": time.perf_counter() - start, "customers": len(rows),
            "new": sum(r.new for r in rows), "changed": sum(r.changed for r in rows)}


def phase_promote(args) -> dict:
    import sqlalchemy as sa

    from core.db import schema as s
    from core.staging.operations import StagingOperations

    engine = _engine(args.url, args.schema)
    ops = StagingOperations(engine, _owner())
    start = time.perf_counter()
    with engine.connect() as conn:
        batch_ids = [r[0] for r in conn.execute(sa.select(s.batches.c.batch_id).where(
            s.batches.c.status == s.STAGED))]
    next_id = 20_000_000_000
    promote_seconds = 0.0
    for batch_id in batch_ids:
        ops.claim(ops.batch(batch_id)["customer"], BOARD)  # staged by a process that is gone: resumed here
        items = ops.pending_rows(batch_id, s.stg_items)
        ops.mark_sending(batch_id, s.stg_items, [r["stg_id"] for r in items])
        ops.record_item_ids(batch_id, [(r["stg_id"], r["monday_item_id"] or str(next_id + i))
                                       for i, r in enumerate(items)])
        next_id += len(items)
        subs = ops.pending_rows(batch_id, s.stg_subitems)
        ops.mark_sending(batch_id, s.stg_subitems, [r["stg_sub_id"] for r in subs])
        ops.record_subitem_ids(batch_id, [(r["stg_sub_id"], r["monday_subitem_id"] or str(next_id + i))
                                          for i, r in enumerate(subs)])
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
        rows = conn.execute(sa.select(*[table.c[k] for k in key], *[table.c[sz] for sz in SIZE_COLUMNS[:args.sizes]])
                            .where(table.c["AAG ORDER NUMBER"].is_not(None))).all()
        chosen = rng.sample(rows, len(rows) // 100)
        prices, sizes = chosen[: len(chosen) // 2], chosen[len(chosen) // 2:]
        where = sa.and_(*[table.c[k] == sa.bindparam(f"k{i}") for i, k in enumerate(key)])
        conn.execute(sa.update(table).where(where).values({"CUSTOMER PRICE": sa.bindparam("price")}),
                     [{"k0": r[0], "k1": r[1], "k2": r[2], "price": f"{rng.uniform(5, 90):.2f}"} for r in prices])
        by_size: dict[str, list] = {}
        for r in sizes:
            filled = [sz for sz, q in zip(SIZE_COLUMNS[:args.sizes], r[3:]) if q]
            if filled:
                by_size.setdefault(rng.choice(filled), []).append({"k0": r[0], "k1": r[1], "k2": r[2],
                                                                   "q": rng.randint(1, 400)})
        for size, params in by_size.items():
            conn.execute(sa.update(table).where(where).values({size: sa.bindparam("q")}), params)
    return {"changed_lines": len(chosen)}


PHASES = {"build": phase_build, "a": phase_stage, "pending": phase_pending, "promote": phase_promote,
          "mutate": phase_mutate, "b": phase_stage}


def run_phase(name: str, args) -> dict:
    cmd = [sys.executable, __file__, "--phase", name, "--url", args.url, "--lines", str(args.lines),
           "--sizes", str(args.sizes), "--seed", str(args.seed)]
    if args.schema:
        cmd += ["--schema", args.schema]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default=None, help="database URL (default: a SQLite file in a temp folder)")
    parser.add_argument("--schema", default=None, help="PostgreSQL: a schema to create and use (dropped after)")
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--sizes", type=int, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--phase", choices=sorted(PHASES), help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.phase:
        result = PHASES[args.phase](args)
        result["peak_rss_mb"] = _peak_mb()
        print(json.dumps(result))
        return 0

    tmp = None
    created_schema = None
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
    try:
        print(f"database: {args.url.split('@')[-1]}  lines: {args.lines:,}  size columns: {args.sizes}")
        for name, label in (("build", "build ORDERS_UNIFIED"), ("a", "(a) detect + stage, all NEW"),
                            ("promote", "confirm + promote all"), ("pending", "pending-work list"),
                            ("mutate", "change 1% of lines"), ("b", "(b) detect + stage after 1% change")):
            r = run_phase(name, args)
            extra = ""
            if "lines_per_second" in r:
                extra = (f"  {r['lines_read']:,} lines, {r['lines_per_second']:,.0f} lines/s, staged "
                         f"{r['items']:,} items + {r['subitems']:,} subitems, {r['invalid']} invalid")
            elif "promote_seconds" in r:
                extra = f"  of which promotion + cleanup {r['promote_seconds']:.2f} s (the rest: recording ids)"
            elif "changed_lines" in r:
                extra = f"  {r['changed_lines']:,} lines changed"
            seconds = f"{r['seconds']:6.2f} s" if "seconds" in r else "        "
            print(f"{label:<38} {seconds}  peak RSS {r['peak_rss_mb']:6.0f} MB{extra}")
    finally:
        if created_schema:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{created_schema}" CASCADE'))
        if tmp:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
