"""Benchmark: what the audit trail costs a sync, as a ratio to the same sync without it.

    .venv/bin/python benchmarks/bench_audit.py [--lines 400] [--rounds 3] [--postgres URL]
                                               [--base-latency 0] [--mutation-latency 0]

The same world is synced twice per round, once with the audit and once without (the processor's
ledger given no audit trail: the switch exists only here), alternating which goes first. Each sync
creates every line, then a second sync updates two cells of every line (an item column and one
size). By default the sandbox answers at once (no latency, a budget that never binds), so the
database's work is as large a share of the time as it can be: the ratio is the worst case; with
``--base-latency`` and ``--mutation-latency`` it answers as slowly as monday does. Printed per phase (create, update), median of the rounds:

- the whole sync's wall time and CPU time (the sandbox runs in this process too), with and without
  the audit, and their ratios;
- the time inside the transactions that record the outcomes (where the audit is written), and
  their ratio;
- the audit rows written.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

import core.push.phases as phases_module
import core.staging.ledger as ledger_module
from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table
from core.push.run import BatchProcessor
from tests.helpers import engine_context, monday_client, start_sandbox

SETTLING: list[float] = []  # seconds inside apply_settlement, this sync
_original = ledger_module.apply_settlement


def _timed(*args: Any, **kwargs: Any) -> None:
    start = time.perf_counter()
    try:
        _original(*args, **kwargs)
    finally:
        SETTLING.append(time.perf_counter() - start)


ledger_module.apply_settlement = _timed  # type: ignore[assignment]
phases_module.apply_settlement = _timed  # type: ignore[assignment]


def new_engine(folder: Path, postgres: str | None) -> sa.Engine:
    if not postgres:
        return create_engine(f"sqlite:///{(folder / f'{uuid.uuid4().hex}.db').as_posix()}")
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    admin.dispose()
    engine = sa.create_engine(postgres, connect_args={"options": f"-csearch_path={schema}"})
    engine.bench_schema = schema  # type: ignore[attr-defined]
    return engine


def drop(engine: sa.Engine, postgres: str | None) -> None:
    engine.dispose()
    if postgres:
        admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{engine.bench_schema}" CASCADE'))  # type: ignore[attr-defined]
        admin.dispose()


def one_sync(engine: sa.Engine, server: Any, audit: bool) -> tuple[float, float, float]:
    ctx = engine_context(engine)
    client = monday_client(server)
    try:
        processor = BatchProcessor(ctx, client)
        if not audit:
            processor.ledger.audit = None
        SETTLING.clear()
        start, cpu = time.perf_counter(), time.process_time()
        results = processor.run(ctx.customers())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    finally:
        client.close()
    bad = [r.status for r in results if r.status not in (s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES)]
    if bad:
        raise SystemExit(f"a sync ended {bad}")
    return seconds, cpu, sum(SETTLING)


def world(folder: Path, lines: int, postgres: str | None) -> tuple[sa.Engine, sa.Table]:
    engine = new_engine(folder, postgres)
    with engine.begin() as conn:
        create_orders_table(conn, lines, seed=5, size_columns=SIZE_COLUMNS[:40], hostile=False)
    upgrade(engine)
    return engine, sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)


def change_every_line(engine: sa.Engine, table: sa.Table) -> None:
    size = next(c for c in SIZE_COLUMNS[:40] if c in table.c)
    with engine.begin() as conn:
        conn.execute(
            sa.update(table).values(
                {
                    "DESTINATION": sa.func.coalesce(table.c.DESTINATION, "") + " X",
                    size: sa.func.coalesce(table.c[size], 0) + 1,
                }
            )
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres", default=None, metavar="URL", help="run on PostgreSQL (a schema of its own)")
    parser.add_argument("--base-latency", type=float, default=0.0, help="sandbox latency per request, real seconds")
    parser.add_argument(
        "--mutation-latency", type=float, default=0.0, help="sandbox latency per mutation of a request, real seconds"
    )
    args = parser.parse_args()
    figures: dict[tuple[str, bool], list[tuple[float, float, float]]] = {}
    audit_rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for round_ in range(args.rounds):
            for audit in (True, False) if round_ % 2 == 0 else (False, True):
                engine, table = world(folder, args.lines, args.postgres)
                server = start_sandbox(
                    folder / f"sandbox-{uuid.uuid4().hex}.db",
                    time_scale=1000.0,
                    base_latency=args.base_latency,
                    mutation_latency=args.mutation_latency,
                )
                try:
                    figures.setdefault(("create", audit), []).append(one_sync(engine, server, audit))
                    created = _count(engine)
                    change_every_line(engine, table)
                    figures.setdefault(("update", audit), []).append(one_sync(engine, server, audit))
                    if audit:
                        audit_rows = {"create": created, "update": _count(engine) - created}
                finally:
                    server.stop()
                    drop(engine, args.postgres)
    where = "PostgreSQL" if args.postgres else "SQLite"
    latency = f"sandbox latency {args.base_latency:g} s + {args.mutation_latency:g} s per mutation"
    print(f"{args.lines} lines, {args.rounds} rounds, {where}, {latency}; medians (and the fastest of the rounds)")
    for phase in ("create", "update"):
        on, off = figures[(phase, True)], figures[(phase, False)]
        parts = []
        for i, name in enumerate(("sync wall", "sync CPU (engine and sandbox)", "recording outcomes")):
            a, b = statistics.median(x[i] for x in on), statistics.median(x[i] for x in off)
            fa, fb = min(x[i] for x in on), min(x[i] for x in off)
            parts.append(f"{name} {a:.2f} s vs {b:.2f} s: {a / b:.3f}x (fastest {fa / fb:.3f}x)")
        print(f"{phase:>6}: {audit_rows[phase]:,} audit rows; with the audit vs without:")
        for part in parts:
            print(f"        {part}")
    return 0


def _count(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(s.audit_log)).scalar_one())


if __name__ == "__main__":
    raise SystemExit(main())
