"""Benchmark: the drift check of a board of 5,000 items, its time and complexity points at the sandbox's limits.

    .venv/bin/python benchmarks/bench_drift.py [--lines 5000] [--sizes 6] [--limit 500] [--budget 10000000]
                                               [--base-latency 0.0] [--edits 20]

The board is made the way planners get one: ``--lines`` order lines of the demo's generator (with at
most ``--sizes`` size columns) synced to a fast sandbox (its budget windows run 600 times faster).
Then a second sandbox serves the same board at monday's own pace (a budget of ``--budget`` points per
real 60-second window, 5,000 requests a minute, ``--base-latency`` real seconds a request), and the
drift check runs against it twice: on the untouched board, and after ``--edits`` cells edited, items
deleted and archived, and items added by hand. Printed, for every customer at once (``--all``) and
with and without sizes: the forecast (requests, points, seconds at the budget) and what was measured
(requests, points charged by the sandbox, wall seconds, seconds waited for the budget), and the
drift found. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table
from core.drift.check import DriftCheck
from core.drift.known import customers_on_board
from core.push.run import BatchProcessor
from sandbox import SandboxServer
from tests.helpers import BOARD, SANDBOX_TOKEN, engine_context, monday_client, start_sandbox


def build(folder: Path, lines: int, sizes: int):
    engine = create_engine(f"sqlite:///{(folder / 'bench.db').as_posix()}")
    with engine.begin() as conn:
        create_orders_table(conn, lines, seed=5, size_columns=SIZE_COLUMNS[:sizes], hostile=False)
    upgrade(engine)
    ctx = engine_context(engine)
    server = start_sandbox(folder / "sandbox.db", time_scale=600.0, reference_schema=False)
    started = time.monotonic()
    try:
        client = monday_client(server)
        results = BatchProcessor(ctx, client).run(ctx.customers())
        client.close()
    finally:
        server.stop()
    print(
        f"board built: {lines:,} lines synced in {time.monotonic() - started:.0f} s "
        f"({', '.join(sorted({r.status for r in results}))})",
        flush=True,
    )
    return ctx


def check(ctx, server, subitems: bool, limit: int) -> dict:
    customers = customers_on_board(ctx.engine, BOARD)
    client = monday_client(server, page_limit=limit)
    try:
        drift = DriftCheck(ctx.engine, ctx.mapping, BOARD, client, customers, subitems=subitems)
        forecast = drift.forecast()
        report = drift.run()
    finally:
        client.close()
    return {"forecast": forecast.as_dict(), "reads": report.reads, "drift": report.found, "report": report}


def plant(ctx, server, edits: int) -> None:
    rng = random.Random(11)
    with ctx.engine.connect() as conn:
        rows = conn.execute(sa.select(s.items.c.monday_item_id, s.items.c.group_id, s.items.c.sync_key)).all()
    picked = rng.sample(rows, edits)
    quarter = max(1, edits // 4)
    for item_id, _, _ in picked[:quarter]:
        server.set_value(item_id, "CUSTOMER PRICE", "99.99")
    for item_id, _, _ in picked[quarter : 2 * quarter]:
        server.delete_item(item_id)
    for item_id, _, _ in picked[2 * quarter : 3 * quarter]:
        server.archive_item(item_id)
    for n, (_, group_id, key) in enumerate(picked[3 * quarter :]):
        server.add_item(BOARD, f"by hand {n}", {"SYNC KEY": key if n % 2 else f"HAND-{n}"}, group=group_id)


def show(name: str, figures: dict) -> None:
    f, r = figures["forecast"], figures["reads"]
    print(
        f"{name:>34}: forecast {f['reads']:4d} requests {f['points']:>10,} points {f['seconds']:6.2f} s at the budget"
        f" | measured {r['requests']:4d} requests {r['points']:>10,} points {r['seconds']:6.2f} s"
        f" ({r['answering']:.2f} s for the answers, {r['waited']:.2f} s waiting) | drift {figures['drift']}",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=5000)
    parser.add_argument("--sizes", type=int, default=6, help="size columns of the generated source")
    parser.add_argument("--limit", type=int, default=500, help="items a page")
    parser.add_argument("--budget", type=int, default=10_000_000, help="complexity points per 60 s window")
    parser.add_argument("--base-latency", type=float, default=0.0, help="sandbox latency per request, real seconds")
    parser.add_argument("--edits", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ctx = build(folder, args.lines, args.sizes)
        with ctx.engine.connect() as conn:
            items = conn.execute(sa.select(sa.func.count()).select_from(s.items)).scalar_one()
            subitems = conn.execute(sa.select(sa.func.count()).select_from(s.subitems)).scalar_one()
        server = SandboxServer(
            folder / "sandbox.db",
            token=SANDBOX_TOKEN,
            time_scale=1.0,
            complexity_budget=args.budget,
            base_latency=args.base_latency,
        )
        server.start()
        try:
            print(
                f"board: {items:,} items, {subitems:,} sizes; sandbox at monday's pace: {args.budget:,} points per "
                f"60 s, 5,000 requests a minute, {args.base_latency:g} s a request; pages of {args.limit}"
            )
            figures = {}
            for name, subs in (("untouched, items and sizes", True), ("untouched, items only", False)):
                figures[name] = check(ctx, server, subs, args.limit)
                show(name, figures[name])
            plant(ctx, server, args.edits)
            for name, subs in (
                (f"{args.edits} edits, items and sizes", True),
                (f"{args.edits} edits, items only", False),
            ):
                figures[name] = check(ctx, server, subs, args.limit)
                show(name, figures[name])
        finally:
            server.stop()
    print(
        json.dumps(
            {
                name: {"forecast": f["forecast"], "reads": f["reads"], "drift": f["drift"]}
                for name, f in figures.items()
            },
            default=str,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
