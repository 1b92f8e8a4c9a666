"""The data path end to end on SQLite and PostgreSQL: detect, stage, confirm, promote, clean up.

Each scenario of the issue: hostile rows, a size that drops to zero, a line that disappears, a
CANCELLED line that was ACTIVE, and a re-run with nothing changed, which stages nothing.
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from core.db import schema as s
from core.detect.changes import CHANGED, NEW, REMOVED
from core.source.mapping import load_mapping
from core.staging.operations import Failure, StagingOperations
from tests.helpers import BOARD, World, confirm_all, count, empty_orders, make_world, order_row


def small_world(engine, rows: list[dict]) -> World:
    table = empty_orders(engine)
    if engine.dialect.name == "postgresql":
        # Let one size column hold a fraction, as a text or decimal export can.
        with engine.begin() as conn:
            conn.execute(sa.text('ALTER TABLE "ORDERS_UNIFIED" ALTER COLUMN "M" TYPE NUMERIC(10, 2)'))
        table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return World(engine, load_mapping(), StagingOperations(engine))


def update_order(world: World, key_order: str, style: str, **values) -> None:
    table = world.orders()
    world.execute(
        sa.update(table)
        .where(table.c["AAG ORDER NUMBER"] == key_order, table.c["CUSTOMER STYLE"] == style)
        .values(values)
    )


def test_first_sync_stages_every_valid_line_and_promotes_it(engine):
    world = make_world(engine, n_orders=400, seed=11)
    pending = world.pending()
    customer = "MACK WELDON"
    expected_new = pending[customer].new
    changes = world.detect(customer)
    assert len(changes.new) == expected_new > 0
    sizes = sum(len(c.sizes) for c in changes.new)

    batch, result = world.sync(customer)

    assert result.items == expected_new
    assert result.subitems == sizes
    assert count(engine, s.items, s.items.c.customer == customer) == expected_new
    assert count(engine, s.subitems, s.subitems.c.customer == customer) == sizes
    # cleanup left nothing of the batch in staging
    assert count(engine, s.stg_items, s.stg_items.c.batch_id == batch.batch_id) == 0
    assert count(engine, s.stg_subitems, s.stg_subitems.c.batch_id == batch.batch_id) == 0
    after = world.pending()[customer]
    assert (after.new, after.changed, after.removed) == (0, 0, 0)
    assert after.unchanged == expected_new


def test_rerun_with_nothing_changed_stages_nothing(engine):
    world = make_world(engine, n_orders=300, seed=5)
    customers = [c for c, p in world.pending().items() if p.new or p.invalid]
    for customer in customers:
        world.sync(customer)
    errors_before = count(engine, s.err_items)
    for customer in customers:
        batch, result = world.stage(customer)
        assert (result.items, result.subitems, result.invalid) == (0, 0, 0), customer
        assert count(engine, s.stg_items, s.stg_items.c.batch_id == batch.batch_id) == 0
        world.staging.set_status(batch.batch_id, s.NO_CHANGES)
    assert count(engine, s.err_items) == errors_before


def test_hostile_but_valid_values_pass_through_untouched(engine):
    world = small_world(
        engine,
        [
            {
                "AAG ORDER NUMBER": "JOO-00505",
                "CUSTOMER NAME": "JOHNNIE O",
                "CUSTOMER STYLE": "  M01Z26 ",
                "CUSTOMER COLOUR DESCRIPTION": "TOTAL ECLIPSE/TRUE BLACK LINER",
                "STYLE DESCRIPTION": '"POCKETED RUN SHORT"',
                "CUSTOMER SEASON": "nan",
                "AAG SEASON": "2026 SPRING",
            },
            {
                "AAG ORDER NUMBER": "ONL-00001",
                "CUSTOMER NAME": "O'NEILL",
                "CUSTOMER STYLE": "O'S & CO",
                "CUSTOMER COLOUR DESCRIPTION": 'NAVY & GOLD "LUX"',
                "CUSTOMER SEASON": "",
                "AAG SEASON": "2025 FALL",
            },
            {
                "AAG ORDER NUMBER": "CCO-00001",
                "CUSTOMER NAME": "CAFÉ CRÈME ÖSTERREICH",
                "CUSTOMER STYLE": "ÉTÉ-01",
                "CUSTOMER COLOUR DESCRIPTION": "BLEU ÉLECTRIQUE",
                "CUSTOMER SEASON": None,
                "AAG SEASON": "2025 SPRING",
            },
        ],
    )
    johnnie = world.detect("JOHNNIE O")
    assert not johnnie.invalid
    (line,) = johnnie.new
    assert line.sync_key == "JOO-00505 | M01Z26 | TOTAL ECLIPSE/TRUE BLACK LINER"
    assert line.fields["STYLE"] == "M01Z26"  # padded style trimmed
    assert line.fields["name"] == "M01Z26 TOTAL ECLIPSE/TRUE BLACK LINER JOO-00505"
    assert line.fields["group"] == "JOHNNIE O 2026 SPRING"  # 'nan' season falls back to AAG SEASON
    assert line.fields["CUSTOMER SEASON"] is None

    oneill = world.detect("O'NEILL")
    assert oneill.unknown_customer and not oneill.invalid
    (line,) = oneill.new
    assert line.fields["STYLE"] == "O'S & CO"
    assert line.fields["COLOR"] == 'NAVY & GOLD "LUX"'
    assert line.fields["group"] == "O'NEILL 2025 FALL"

    cafe = world.detect("CAFÉ CRÈME ÖSTERREICH")
    (line,) = cafe.new
    assert line.fields["CUSTOMER"] == "CAFÉ CRÈME ÖSTERREICH"
    assert line.fields["group"] == "CAFÉ CRÈME ÖSTERREICH 2025 SPRING"

    # And they survive the round trip through staging and promotion byte for byte.
    for customer in ("JOHNNIE O", "O'NEILL", "CAFÉ CRÈME ÖSTERREICH"):
        world.sync(customer)
    stored = {r.sync_key: json.loads(r.values_json) for r in world.execute(sa.select(s.items))}
    assert stored['ONL-00001 | O\'S & CO | NAVY & GOLD "LUX"']["COLOR"] == 'NAVY & GOLD "LUX"'
    assert stored["CCO-00001 | ÉTÉ-01 | BLEU ÉLECTRIQUE"]["CUSTOMER"] == "CAFÉ CRÈME ÖSTERREICH"
    assert all(p.new == p.changed == 0 for p in world.pending().values())


def test_invalid_lines_go_to_err_with_reasons_and_are_never_staged_to_send(engine):
    world = small_world(
        engine,
        [
            {"AAG ORDER NUMBER": "MWE-00001", "CUSTOMER PRICE": "N/A"},
            {"AAG ORDER NUMBER": "MWE-00002", "S": -3},
            {"AAG ORDER NUMBER": "MWE-00003", "M": 2.5},
            {"AAG ORDER NUMBER": None, "CUSTOMER STYLE": "NOKEY"},
            {"AAG ORDER NUMBER": "MWE-00004", "CUSTOMER STYLE": "DUP"},
            {"AAG ORDER NUMBER": "MWE-00004", "CUSTOMER STYLE": "DUP"},
            {"AAG ORDER NUMBER": "MWE-00005", "CUSTOMER STYLE": "X" * 190, "CUSTOMER COLOUR DESCRIPTION": "Y" * 100},
            {"AAG ORDER NUMBER": "MWE-00006", "UNIT OF MEASURE": "PIECES PACKED IN CARTONS OF TWELVE"},
            {"AAG ORDER NUMBER": "MWE-00007"},  # the one valid line
        ],
    )
    changes = world.detect("MACK WELDON")
    messages = {line.order_number: "; ".join(line.errors) for line in changes.invalid}
    assert "CUSTOMER PRICE: 'N/A' is not a number" in messages["MWE-00001"]
    assert "size S: quantity -3 is negative" in messages["MWE-00002"]
    assert "size M: quantity 2.5 is not a whole number" in messages["MWE-00003"]
    assert "key column AAG ORDER NUMBER is empty" in messages[None]
    assert "appears more than once" in messages["MWE-00004"]
    assert sum(1 for line in changes.invalid if line.order_number == "MWE-00004") == 2  # both duplicates
    assert "item name is 301 characters long" in messages["MWE-00005"]
    assert "'PIECES PACKED IN CARTONS OF TWELVE' is longer than 30 characters" in messages["MWE-00006"]
    assert [c.sync_key for c in changes.new] == ["MWE-00007 | M01Y09 | DEAN BLUE/WHITE"]

    batch, result = world.stage("MACK WELDON")
    assert result.invalid == 8 and result.items == 1
    rows = world.execute(sa.select(s.err_items)).mappings().all()
    assert len(rows) == 8
    assert {r["error_type"] for r in rows} == {"VALIDATION"}
    assert all(not r["retryable"] and r["resolved_at"] is None for r in rows)
    invalid_staged = world.staging.row_counts(batch.batch_id)["items"]
    assert invalid_staged == {s.INVALID: 8, s.PENDING: 1}
    # Nothing invalid is ever offered to the push.
    sendable = world.staging.pending_rows(batch.batch_id, s.stg_items)
    assert [r["order_number"] for r in sendable] == ["MWE-00007"]


def test_fixing_an_invalid_line_resolves_its_error(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00001", "CUSTOMER PRICE": "N/A"}])
    world.sync("MACK WELDON")
    assert count(engine, s.err_items, s.err_items.c.resolved_at.is_(None)) == 1
    # Unchanged and still invalid: no new error, nothing staged.
    batch, result = world.stage("MACK WELDON")
    assert (result.items, result.invalid, result.invalid_unchanged) == (0, 0, 1)
    world.staging.set_status(batch.batch_id, s.NO_CHANGES)
    update_order(world, "MWE-00001", "M01Y09", **{"CUSTOMER PRICE": "28.86"})
    batch, result = world.sync("MACK WELDON")
    assert result.items == 1
    (err,) = world.execute(sa.select(s.err_items)).mappings().all()
    assert err["resolved_at"] is not None and err["resolved_by"]


def test_one_changed_quantity_is_one_subitem_update(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    world.sync("MACK WELDON")
    update_order(world, "MWE-00024", "M01Y09", M=30, **{"TOTAL QTY": 66})
    changes = world.detect("MACK WELDON")
    (change,) = changes.changes
    assert change.kind == CHANGED
    assert change.changed_fields == ["TOTAL QTY"]
    assert [(sz.label, sz.kind, sz.old_quantity, sz.quantity) for sz in change.sizes] == [("M", CHANGED, 24, 30)]

    update_order(world, "MWE-00024", "M01Y09", **{"TOTAL QTY": 60})  # only the size now
    (change,) = world.detect("MACK WELDON").changes
    assert change.changed_fields == []
    batch, _ = world.stage("MACK WELDON")
    items = world.staging.pending_rows(batch.batch_id, s.stg_items, states=(s.PENDING, s.API_SUCCESS))
    assert [(r["action"], r["state"]) for r in items] == [(s.NONE, s.API_SUCCESS)]  # parent only, nothing sent
    subs = world.staging.pending_rows(batch.batch_id, s.stg_subitems)
    assert [(r["action"], r["size_label"], r["quantity"], r["old_quantity"]) for r in subs] == [(s.UPDATE, "M", 30, 24)]
    assert subs[0]["monday_subitem_id"]  # the existing subitem's id, ready for change_multiple_column_values


def test_a_size_that_drops_to_zero_is_marked_by_the_removal_policy(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    world.sync("MACK WELDON")
    update_order(world, "MWE-00024", "M01Y09", L=0, **{"TOTAL QTY": 36})
    (change,) = world.detect("MACK WELDON").changes
    removed = [sz for sz in change.sizes if sz.kind == REMOVED]
    assert [(sz.label, sz.old_quantity, sz.values["Order Qty"]) for sz in removed] == [("L", 24, "0")]
    world.sync("MACK WELDON")
    row = world.execute(sa.select(s.subitems).where(s.subitems.c.size_label == "L")).mappings().one()
    assert row["is_removed"] and row["quantity"] == 0
    assert world.detect("MACK WELDON").changes == []
    # The size comes back: the same subitem is updated, not created again.
    update_order(world, "MWE-00024", "M01Y09", L=10, **{"TOTAL QTY": 46})
    (change,) = world.detect("MACK WELDON").changes
    (size,) = change.sizes
    assert (size.kind, size.label, size.monday_subitem_id) == (CHANGED, "L", row["monday_subitem_id"])


def test_a_line_that_disappears_is_removed_by_policy(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}, {"AAG ORDER NUMBER": "MWE-00025"}])
    world.sync("MACK WELDON")
    table = world.orders()
    world.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00025"))
    assert world.pending()["MACK WELDON"].removed == 1
    (change,) = world.detect("MACK WELDON").changes
    assert change.kind == REMOVED and change.order_number == "MWE-00025"
    assert change.diff() == {"ORDER TYPE": ("RECEIVED", "CANCELLED")}
    world.sync("MACK WELDON")
    row = world.execute(sa.select(s.items).where(s.items.c.order_number == "MWE-00025")).mappings().one()
    assert row["is_removed"]
    assert world.pending()["MACK WELDON"].removed == 0
    assert world.detect("MACK WELDON").changes == []


def test_cancelled_line_that_was_active_changes_only_its_status(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    world.sync("MACK WELDON")
    update_order(world, "MWE-00024", "M01Y09", **{"ORDER TYPE": "cancelled"})
    (change,) = world.detect("MACK WELDON").changes
    assert change.kind == CHANGED
    assert change.diff() == {"ORDER TYPE": ("RECEIVED", "CANCELLED")}
    assert change.sizes == []


def test_a_failed_subitem_is_still_pending_next_time(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    batch, _ = world.stage("MACK WELDON")
    ops = world.staging
    (item,) = ops.pending_rows(batch.batch_id, s.stg_items)
    ops.mark_sending(batch.batch_id, s.stg_items, [item["stg_id"]])
    ops.record_item_ids(batch.batch_id, [(item["stg_id"], "10000000001")])
    subs = ops.pending_rows(batch.batch_id, s.stg_subitems)
    assert len(subs) == 3
    ops.mark_sending(batch.batch_id, s.stg_subitems, [r["stg_sub_id"] for r in subs])
    ops.record_subitem_ids(
        batch.batch_id, [(subs[0]["stg_sub_id"], "20000000001"), (subs[1]["stg_sub_id"], "20000000002")]
    )
    ops.record_failures(
        batch.batch_id,
        s.stg_subitems,
        [
            Failure(
                subs[2]["stg_sub_id"], "COLUMN_VALUE", "label L is not on the board", False, "ColumnValueException", 200
            )
        ],
    )
    ops.promote(batch.batch_id, BOARD)
    ops.cleanup(batch.batch_id)
    ops.set_status(batch.batch_id, s.COMPLETED_WITH_ERRORS)

    err = world.execute(sa.select(s.err_subitems)).mappings().one()
    assert (err["error_type"], err["size_label"], err["customer"], err["order_number"]) == (
        "COLUMN_VALUE",
        subs[2]["size_label"],
        "MACK WELDON",
        "MWE-00024",
    )
    (change,) = world.detect("MACK WELDON").changes
    assert change.kind == CHANGED and change.changed_fields == []
    assert [(sz.kind, sz.label) for sz in change.sizes] == [(NEW, subs[2]["size_label"])]
    assert change.monday_item_id == "10000000001"
    # Second attempt succeeds: the error row is resolved, not deleted.
    world.sync("MACK WELDON")
    err = world.execute(sa.select(s.err_subitems)).mappings().one()
    assert err["resolved_at"] is not None and err["resolution"].startswith("synced in batch")
    assert world.detect("MACK WELDON").changes == []


def test_failed_item_takes_its_waiting_subitems_with_it(engine):
    world = small_world(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    batch, _ = world.stage("MACK WELDON")
    ops = world.staging
    (item,) = ops.pending_rows(batch.batch_id, s.stg_items)
    assert {r["state"] for r in ops.pending_rows(batch.batch_id, s.stg_subitems, states=(s.WAITING_PARENT,))} == {
        s.WAITING_PARENT
    }
    ops.record_failures(batch.batch_id, s.stg_items, [Failure(item["stg_id"], "SERVER", "HTTP 500", True, None, 500)])
    assert count(engine, s.err_items) == 1
    errs = world.execute(sa.select(s.err_subitems)).mappings().all()
    assert len(errs) == 3 and {e["error_type"] for e in errs} == {"PARENT_FAILED"}
    assert all(e["retryable"] for e in errs)
    ops.promote(batch.batch_id, BOARD)
    assert count(engine, s.items) == 0
    assert [c.kind for c in world.detect("MACK WELDON").changes] == [NEW]


def test_staging_is_bulk_not_a_statement_per_row(engine):
    world = make_world(engine, n_orders=400, seed=2)
    changes = world.detect("MACK WELDON")
    rows = len(changes.changes) + sum(len(c.sizes) for c in changes.changes)
    assert rows > 100
    statements = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        batch = world.staging.claim("MACK WELDON", BOARD)
        world.staging.stage(batch.batch_id, changes)
        confirm_all(world.staging, batch.batch_id)
        world.staging.promote(batch.batch_id, BOARD)
        world.staging.cleanup(batch.batch_id)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    # executemany and multi-row inserts: a bounded number of round trips, far fewer than rows
    assert len(statements) < 60, len(statements)
