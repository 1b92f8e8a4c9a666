"""Benchmark: what protecting a column costs a sync: its board reads, requests and time.

    .venv/bin/python benchmarks/bench_protect.py [--lines 1000] [--edited 0.1] [--postgres URL]

The same world is synced twice: once with the mapping's default (``source_wins`` everywhere) and once
with ``DESTINATION`` protected (``board_wins``). Each creates every line; then a person changes
``DESTINATION`` of a share of the items on the board, the ERP changes it on every line, and a second
sync sends the change. Printed per policy: the second sync's wall time, its requests (and how many
of them are the protection's reads), the cells kept. The sandbox answers at once (no latency), so the
reads' share of the time is as large as it can be.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa

from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table
from core.push.run import BatchProcessor
from core.source.mapping import default_mapping_path, load_mapping
from tests.helpers import engine_context, monday_client, start_sandbox

PROTECTION_READ = "column_values(ids: $columns)"


def run(folder: Path, lines: int, edited: float, policy: str, postgres: str | None) -> dict[str, float]:
    if postgres:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
        engine = sa.create_engine(postgres, connect_args={"options": f"-csearch_path={schema}"})
    else:
        engine = create_engine(f"sqlite:///{(folder / f'{uuid.uuid4().hex}.db').as_posix()}")
    with engine.begin() as conn:
        create_orders_table(conn, lines, seed=5, size_columns=SIZE_COLUMNS[:40], hostile=False)
    upgrade(engine)
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    text = default_mapping_path().read_text(encoding="utf-8")
    if policy != "source_wins":
        text = text.replace('title = "DESTINATION"\n', f'title = "DESTINATION"\npolicy = "{policy}"\n')
    path = folder / f"mapping-{uuid.uuid4().hex}.toml"
    path.write_text(text, encoding="utf-8")
    ctx = dataclasses.replace(engine_context(engine), mapping=load_mapping(path))
    server = start_sandbox(folder / f"sandbox-{uuid.uuid4().hex}.db", time_scale=1000.0, journal=True)
    try:
        client = monday_client(server)
        try:
            BatchProcessor(ctx, client).run(ctx.customers())
        finally:
            client.close()
        with engine.connect() as conn:
            ids = [r[0] for r in conn.execute(sa.select(s.items.c.monday_item_id).order_by(s.items.c.sync_key))]
        step = max(1, round(1 / edited)) if edited > 0 else 0
        touched = ids[::step] if step else []
        for item_id in touched:
            server.set_value(item_id, "DESTINATION", "TYPED ON THE BOARD")
        with engine.begin() as conn:
            conn.execute(sa.update(table).values({"DESTINATION": sa.func.coalesce(table.c.DESTINATION, "") + " X"}))
        server.clear_journal()
        client = monday_client(server)
        try:
            start = time.perf_counter()
            BatchProcessor(ctx, client).run(ctx.customers())
            seconds = time.perf_counter() - start
        finally:
            client.close()
        journal = server.journal
        with engine.connect() as conn:
            kept = conn.execute(sa.select(sa.func.count()).select_from(s.decisions)).scalar_one()
        return {
            "seconds": seconds,
            "requests": len(journal),
            "reads": sum(1 for r in journal if PROTECTION_READ in r["query"] and "items(ids" in r["query"]),
            "edited": len(touched),
            "kept": kept,
        }
    finally:
        server.stop()
        engine.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--edited", type=float, default=0.1, help="share of the items a person edits on the board")
    parser.add_argument("--postgres", default=None, metavar="URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for policy in ("source_wins", "board_wins"):
            f = run(Path(tmp), args.lines, args.edited, policy, args.postgres)
            print(
                f"{policy:>11}: {args.lines} changed lines, {f['edited']} edited on the board: second sync "
                f"{f['seconds']:.2f} s, {f['requests']} requests ({f['reads']} protection reads), {f['kept']} cells kept"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
