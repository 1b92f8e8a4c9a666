"""Detection that shares one read of the source across a run gives what a fresh read per customer gives.

``SourceReads(whole_run=True)`` reads every row once (census, unchanged rows, the others kept by
customer); ``EngineContext.one_run`` shares it between the run's ``detect`` calls and drops it at
the run's end, so the next run sees the source as it is then.
"""

from __future__ import annotations

import sqlalchemy as sa

from core.detect.changes import ChangeDetector, CustomerChanges, SourceReads
from tests.helpers import BOARD, engine_context, make_world


def _summary(changes: CustomerChanges) -> tuple:
    return (
        sorted((c.kind, c.sync_key, repr(sorted(c.diff().items())), len(c.sizes)) for c in changes.changes),
        sorted(line.sync_key or "" for line in changes.invalid),
        changes.unchanged,
        changes.held,
        changes.unknown_customer,
    )


def _partly_synced_world(engine):
    world = make_world(engine, n_orders=300, seed=7)
    customers = sorted(world.pending())
    for customer in customers[::2]:
        world.sync(customer)
    table = world.orders()
    number = table.c["AAG ORDER NUMBER"]
    numbers = [n for (n,) in world.execute(sa.select(number).order_by(number)).all()]
    world.execute(sa.update(table).where(number == numbers[3]).values({"TOTAL QTY": 999}))
    world.execute(sa.update(table).where(number == numbers[40]).values({"L": 7}))
    world.execute(sa.delete(table).where(number == numbers[80]))
    return world, customers


def test_one_read_for_the_run_detects_what_a_read_per_customer_does(engine):
    world, customers = _partly_synced_world(engine)
    source = world.source
    with engine.connect() as conn:
        fresh = {c: _summary(ChangeDetector(conn, source, BOARD).detect(c)) for c in customers}
        reads = SourceReads(whole_run=True)
        shared = ChangeDetector(conn, source, BOARD, reads)
        once = {c: _summary(shared.detect(c)) for c in customers}
    assert reads.prefetched, "the run-wide read was not used"
    assert once == fresh
    assert any(kinds for kinds, *_ in fresh.values())  # something changed, so the comparison means something


def test_one_run_shares_its_reads_and_the_next_run_sees_the_source_anew(engine):
    world, customers = _partly_synced_world(engine)
    ctx = engine_context(engine)
    customer = customers[0]  # synced: its lines are on the board
    with ctx.one_run():
        before = ctx.detect([customer])[0]
        reads = ctx._run.reads
        assert reads is not None and reads.census is not None
        again = ctx.detect([customer])[0]
        assert ctx._run.reads is reads
    assert ctx._run.reads is None
    assert _summary(again) == _summary(before)
    # The source changes between runs: the next run's detection sees it.
    table = world.orders()
    with engine.connect() as conn:
        raws = world.source.customer_names(conn)[customer]
    world.execute(
        sa.update(table)
        .where(table.c[ctx.mapping.customer_column].in_([r for r in raws if r is not None]))
        .values({"TOTAL QTY": 4242})
    )
    with ctx.one_run():
        after = ctx.detect([customer])[0]
    assert _summary(after) != _summary(before)
    assert {c.fields.get("TOTAL QTY") for c in after.changed} == {"4242"}
