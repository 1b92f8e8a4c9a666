"""Benchmark: the undo of a batch of 1,000 lines (``undo --batch N``), against the sandbox.

    .venv/bin/python benchmarks/bench_undo.py [--lines 1000] [--postgres URL]
                                              [--base-latency 0] [--mutation-latency 0]

One customer's ``--lines`` lines are synced (batch A creates them all), then two cells of every line
change (an item column and one size) and are synced (batch B). Then B is undone (2 cells per line set
back: the plan reads the board's current values of those cells by id, in bulk), and then A (every
item archived, in bulk). Then every line is created again by a sync and that batch is undone with
one ``archive_item`` each (``monday.bulk_archive = false``): the ratio of complexity points is
printed. Printed for each undo: the time to plan it (the audit read, the later-batch check and the
board's reads), the time to run it, the requests and their mutations, the complexity points spent
(plan and undo), the audit rows it wrote. No assertions: figures only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from benchmarks.bench_audit import change_every_line, drop, new_engine
from core.db import schema as s
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table
from core.push.run import BatchProcessor
from core.undo import UndoProcessor
from tests.helpers import engine_context, monday_client, start_sandbox


def sync(engine: sa.Engine, server: Any) -> int:
    ctx = engine_context(engine)
    client = monday_client(server)
    try:
        (result,) = BatchProcessor(ctx, client).run(ctx.customers())
    finally:
        client.close()
    if result.status != s.COMPLETED:
        raise SystemExit(f"the sync ended {result.status}: {result.message}")
    assert result.batch_id is not None
    return result.batch_id


def undo(engine: sa.Engine, server: Any, batch_id: int, **settings: Any) -> float:
    """Undo ``batch_id``, print its figures; returns the complexity points it spent."""
    ctx = engine_context(engine, **settings)
    client = monday_client(server)
    points_before = server.stats["complexity_used_total"]
    try:
        processor = UndoProcessor(ctx, client)
        start = time.perf_counter()
        plan = processor.plan(batch_id)
        planned = time.perf_counter() - start
        reads = client.stats.requests
        start = time.perf_counter()
        _, result = processor.undo(batch_id)  # plans again (the same reads) and runs
        ran = time.perf_counter() - start
        with engine.connect() as conn:
            a, r = s.audit_log, s.batches
            rows = conn.scalar(sa.select(sa.func.count()).select_from(a).where(a.c.batch_id == result.batch_id))
            calls = conn.scalar(sa.select(r.c.api_calls).where(r.c.batch_id == result.batch_id))
    finally:
        client.close()
    points = server.stats["complexity_used_total"] - points_before
    how = " (one archive_item each)" if settings.get("monday.bulk_archive") is False else ""
    print(
        f"  undo of batch {batch_id}{how}: {len(plan.archive)} to archive, {len(plan.delete)} sizes to delete, "
        f"{len(plan.restore)} cells to set back, {len(plan.move)} to move back, {len(plan.conflicts)} conflicts"
    )
    print(f"    plan (dry run): {planned:.2f} s, {reads} read requests to monday")
    print(f"    undo: {ran:.2f} s in all ({ran - planned:.2f} s beyond the plan), ended {result.status}")
    print(
        f"    {calls} requests to monday while pushing, {client.stats.mutations:,} mutations; "
        f"{points:,} complexity points in all (plan and undo); {rows:,} audit rows written"
    )
    return float(points)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--postgres", default=None, metavar="URL", help="run on PostgreSQL (a schema of its own)")
    parser.add_argument("--base-latency", type=float, default=0.0, help="sandbox latency per request, real seconds")
    parser.add_argument(
        "--mutation-latency", type=float, default=0.0, help="sandbox latency per mutation, real seconds"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = new_engine(folder, args.postgres)
        with engine.begin() as conn:
            create_orders_table(conn, args.lines, seed=5, size_columns=SIZE_COLUMNS[:40], hostile=False)
        upgrade(engine)
        table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
        with engine.begin() as conn:  # one customer: one batch of every line
            customer = conn.scalar(sa.select(table.c["CUSTOMER NAME"]).limit(1))
            conn.execute(sa.update(table).values({"CUSTOMER NAME": customer}))
        server = start_sandbox(
            folder / f"sandbox-{uuid.uuid4().hex}.db",
            time_scale=1000.0,
            base_latency=args.base_latency,
            mutation_latency=args.mutation_latency,
        )
        try:
            where = "PostgreSQL" if args.postgres else "SQLite"
            print(
                f"{args.lines} lines of {customer}, {where}, sandbox latency {args.base_latency:g} s "
                f"+ {args.mutation_latency:g} s per mutation"
            )
            start = time.perf_counter()
            created = sync(engine, server)
            print(f"  sync creating them (batch {created}): {time.perf_counter() - start:.2f} s")
            change_every_line(engine, table)
            start = time.perf_counter()
            updated = sync(engine, server)
            print(f"  sync updating 2 cells of each (batch {updated}): {time.perf_counter() - start:.2f} s")
            undo(engine, server, updated)
            bulk = undo(engine, server, created)
            # The floor to compare with: the same undo with one archive_item per item (the batch is
            # synced again and a second batch creating every line is undone that way).
            again = sync(engine, server)
            one_by_one = undo(engine, server, again, **{"monday.bulk_archive": False})
            print(f"  complexity points, in bulk / one by one: {bulk / one_by_one:.3f}")
        finally:
            server.stop()
            drop(engine, args.postgres)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
