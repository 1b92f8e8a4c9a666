"""People edit the board: items and sizes deleted or archived there, two items with one key, a line
that moved to another customer, removals that meet an item already gone.

Each test sets the situation up exactly through the sandbox (as a person would edit the board, or
as a lost answer would leave it), on SQLite and PostgreSQL, and asserts the board and the tables.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.push.run import BatchProcessor
from core.source.mapping import default_mapping_path, load_mapping
from core.staging.errors import ErrorHandler
from core.staging.operations import StagingOperations
from tests.helpers import BOARD, count, empty_orders, engine_context, monday_client, order_row, start_sandbox
from tests.test_exactly_once import assert_nothing_pending, board_by_key, crash_at, successor

CUSTOMER = "MACK WELDON"


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def world(engine, rows, **settings):
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return table, engine_context(engine, **settings)


def run(ctx, server, customers=(CUSTOMER,), **client_options):
    client = monday_client(server, **client_options)
    try:
        return BatchProcessor(ctx, client).run(list(customers))
    finally:
        client.close()


def retry(ctx, server, refs):
    handler = ErrorHandler(ctx)
    selection = handler.select(refs)
    handler.prepare(selection)
    client = monday_client(server)
    try:
        processor = BatchProcessor(ctx, client)
        processor.recheck_duplicates(selection.duplicates)
        return processor.run(sorted(selection.keys), selection.keys)
    finally:
        client.close()


def set_quantity(engine, table, order, size, quantity):
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == order).values({size: quantity}))


def item_of(on_board, order) -> dict:
    return next(item for key, item in on_board.items() if key.startswith(order + " "))


def sizes(item) -> dict[str, str]:
    return {sub["name"]: sub["column_values"]["Order Qty"] for sub in item["subitems"]}


def open_errors(engine, table=s.err_items) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(table).where(table.c.resolved_at.is_(None))).mappings()]


def mapping_with(tmp_path: Path, policy: str):
    text = default_mapping_path().read_text(encoding="utf-8").replace('policy = "mark"', f'policy = "{policy}"')
    path = tmp_path / f"mapping-{policy}.toml"
    path.write_text(text, encoding="utf-8")
    return load_mapping(path)


# == deleted and archived on the board ===========================================================


def test_a_deleted_item_is_recreated_with_all_its_sizes_and_a_deleted_size_comes_back(engine, sandbox):
    table, ctx = world(
        engine,
        [{"AAG ORDER NUMBER": "MWE-00001"}, {"AAG ORDER NUMBER": "MWE-00002"}, {"AAG ORDER NUMBER": "MWE-00003"}],
    )
    assert [r.status for r in run(ctx, sandbox)] == [s.COMPLETED]
    before = board_by_key(sandbox)
    gone = item_of(before, "MWE-00001")
    sandbox.delete_item(gone["id"])  # a planner deletes a whole line ...
    lost_size = next(sub for sub in item_of(before, "MWE-00002")["subitems"] if sub["name"] == "Size M")
    sandbox.delete_subitem(lost_size["id"])  # ... and one size of another
    # The ERP changes one size of each: OrderSync has something to write to both.
    set_quantity(engine, table, "MWE-00001", "S", 13)
    set_quantity(engine, table, "MWE-00002", "M", 25)

    (result,) = run(ctx, sandbox)

    assert result.status == s.COMPLETED
    assert (result.counts["items_recreated"], result.counts["subitems_recreated"]) == (1, 4)
    after = board_by_key(sandbox)
    assert len(after) == 3
    again = item_of(after, "MWE-00001")
    assert again["id"] != gone["id"]
    assert sizes(again) == {"Size S": "13", "Size M": "24", "Size L": "24"}  # every current size, not only S
    assert sizes(item_of(after, "MWE-00002")) == {"Size S": "12", "Size M": "25", "Size L": "24"}
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(s.items.c.sync_key, s.items.c.monday_item_id)).all())
    assert again["id"] in ids.values() and gone["id"] not in ids.values()
    assert_nothing_pending(ctx)
    assert open_errors(engine) == [] and open_errors(engine, s.err_subitems) == []


def test_with_report_a_deleted_item_is_held_back_until_a_planner_retries_it(engine, sandbox):
    table, ctx = world(
        engine,
        [{"AAG ORDER NUMBER": "MWE-00001"}, {"AAG ORDER NUMBER": "MWE-00002"}],
        **{"sync.deleted_items": "report"},
    )
    run(ctx, sandbox)
    gone = item_of(board_by_key(sandbox), "MWE-00001")
    sandbox.delete_item(gone["id"])
    set_quantity(engine, table, "MWE-00001", "S", 13)

    (result,) = run(ctx, sandbox)

    assert result.status == s.COMPLETED_WITH_ERRORS and result.counts["items_recreated"] == 0
    assert len(board_by_key(sandbox)) == 1
    (error,) = open_errors(engine)
    assert error["error_type"] == "DELETED_ON_BOARD" and "retry this error" in error["message"]
    # Held: the next sync sends nothing for it, and says so through the open error.
    (again,) = run(ctx, sandbox)
    assert again.status == s.NO_CHANGES and len(board_by_key(sandbox)) == 1
    pending = {p.customer: p for p in ctx.pending()}[CUSTOMER]
    assert (pending.held, pending.open_errors, pending.changed) == (1, 1, 0)

    retry(ctx, sandbox, [f"I{error['err_id']}"])

    on_board = board_by_key(sandbox)
    assert sizes(item_of(on_board, "MWE-00001")) == {"Size S": "13", "Size M": "24", "Size L": "24"}
    assert open_errors(engine) == []
    assert_nothing_pending(ctx)


def test_an_archived_item_is_never_written_silently_and_is_updated_once_restored(engine, sandbox):
    table, ctx = world(engine, [{"AAG ORDER NUMBER": "MWE-00001"}, {"AAG ORDER NUMBER": "MWE-00002"}])
    run(ctx, sandbox)
    archived = item_of(board_by_key(sandbox), "MWE-00001")
    sandbox.archive_item(archived["id"])
    with engine.begin() as conn:
        conn.execute(sa.update(table).values({"DESTINATION": "OHIO"}))
    mutations_before = sandbox.stats["mutations"]

    (result,) = run(ctx, sandbox)

    assert result.status == s.COMPLETED_WITH_ERRORS
    assert sandbox.stats["mutations"] - mutations_before == 1  # only the active item was written
    (error,) = open_errors(engine)
    assert error["error_type"] == "ARCHIVED_ON_BOARD" and "Restore it" in error["message"]
    assert error["sync_key"].startswith("MWE-00001 ")
    with engine.connect() as conn:
        state = conn.execute(sa.select(s.items.c.board_state).where(s.items.c.sync_key == error["sync_key"])).scalar()
    assert state == s.BOARD_ARCHIVED

    (still,) = retry(ctx, sandbox, [f"I{error['err_id']}"])  # not restored yet: still held, still open
    assert still.status == s.COMPLETED_WITH_ERRORS
    assert [e["retry_count"] for e in open_errors(engine)] == [1]

    sandbox.restore_item(archived["id"])
    retry(ctx, sandbox, [f"I{error['err_id']}"])

    restored = item_of(board_by_key(sandbox), "MWE-00001")
    assert restored["id"] == archived["id"] and restored["column_values"]["DESTINATION"] == "OHIO"
    assert open_errors(engine) == []
    assert_nothing_pending(ctx)


def test_a_write_that_meets_an_item_deleted_after_the_check_recreates_it(engine, sandbox):
    """Deleted between the state check and the update: monday's not-found answer leads to the same end."""
    table, ctx = world(engine, [{"AAG ORDER NUMBER": "MWE-00001"}])
    run(ctx, sandbox)
    gone = item_of(board_by_key(sandbox), "MWE-00001")
    set_quantity(engine, table, "MWE-00001", "L", 30)
    client = monday_client(sandbox)
    processor = BatchProcessor(ctx, client)
    real_check = processor._check_board

    def check_then_delete(batch_id):  # the planner deletes it right after OrderSync looked
        real_check(batch_id)
        sandbox.delete_item(gone["id"])

    processor._check_board = check_then_delete
    (result,) = processor.run([CUSTOMER])
    client.close()
    assert result.status == s.COMPLETED and result.counts["items_recreated"] == 1
    again = item_of(board_by_key(sandbox), "MWE-00001")
    assert again["id"] != gone["id"] and sizes(again) == {"Size S": "12", "Size M": "24", "Size L": "30"}
    assert_nothing_pending(ctx)


# == removals that meet an item already gone =====================================================


@pytest.mark.parametrize("policy", ["archive", "delete"])
def test_a_removal_resent_after_an_unknown_outcome_that_meets_not_found_is_done(engine, sandbox, tmp_path, policy):
    table, ctx = world(
        engine,
        [{"AAG ORDER NUMBER": "MWE-00001"}, {"AAG ORDER NUMBER": "MWE-00002"}],
        **{"monday.idempotency_keys": False, "monday.late_apply_seconds": 1},
    )
    ctx.mapping = mapping_with(tmp_path, policy)
    run(ctx, sandbox)
    with engine.begin() as conn:  # the line leaves the ERP
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00002"))
    # monday applies the removal and the answer is lost; the board ignores keys, so it is sent again.
    sandbox.fail_next("drop", field=f"{policy}_item")

    (result,) = run(ctx, sandbox)

    assert result.status == s.COMPLETED and result.counts["removed_count"] == 1
    assert open_errors(engine) == []
    on_board = board_by_key(sandbox)
    assert [k.split(" ")[0] for k in on_board] == ["MWE-00001"]
    dump = sandbox.board_dump(BOARD)
    assert len(dump["archived_item_ids"]) == (1 if policy == "archive" else 0)
    assert_nothing_pending(ctx)


# == a line that moves to another customer =======================================================


def test_a_line_moved_to_another_customer_is_moved_on_the_board_never_cancelled(engine, sandbox):
    table, ctx = world(
        engine,
        [
            {"AAG ORDER NUMBER": "MWE-00001"},
            {"AAG ORDER NUMBER": "MWE-00002"},
            {"AAG ORDER NUMBER": "TNC-00001", "CUSTOMER NAME": "TITLE NINE"},
        ],
    )
    run(ctx, sandbox, customers=(CUSTOMER, "TITLE NINE"))
    moved = item_of(board_by_key(sandbox), "MWE-00002")
    with engine.begin() as conn:
        conn.execute(
            sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00002").values({"CUSTOMER NAME": "TITLE NINE"})
        )

    (first,) = run(ctx, sandbox, customers=(CUSTOMER,))  # only its old customer is synced
    assert first.status == s.NO_CHANGES and first.counts.get("removed_count", 0) == 0
    untouched = item_of(board_by_key(sandbox), "MWE-00002")
    assert untouched["column_values"]["ORDER TYPE"] == "RECEIVED"  # not cancelled
    pending = {p.customer: p for p in ctx.pending()}
    assert pending["TITLE NINE"].changed == 1 and pending[CUSTOMER].removed == 0

    (second,) = run(ctx, sandbox, customers=("TITLE NINE",))

    assert second.status == s.COMPLETED and second.counts["items_updated"] == 1
    now = item_of(board_by_key(sandbox), "MWE-00002")
    assert now["id"] == moved["id"]
    assert now["column_values"]["CUSTOMER"] == "TITLE NINE" and now["group_title"].startswith("TITLE NINE")
    assert now["column_values"]["ORDER TYPE"] == "RECEIVED"
    with engine.connect() as conn:
        assert (
            conn.execute(sa.select(s.items.c.customer).where(s.items.c.monday_item_id == moved["id"])).scalar()
            == "TITLE NINE"
        )
    assert_nothing_pending(ctx)


# == two items with one key ======================================================================


def test_two_items_with_one_sync_key_are_reported_and_no_third_is_created(engine, sandbox):
    _, ctx = world(
        engine,
        [{"AAG ORDER NUMBER": "MWE-00001"}, {"AAG ORDER NUMBER": "MWE-00002"}],
        **{"monday.idempotency_keys": False, "monday.late_apply_seconds": 1},
    )
    # monday created the items, the process died before it recorded them ...
    ctx.staging = StagingOperations(engine, successor(3_100_001))
    with crash_at(engine, "monday_item_id=coalesce("):
        run(ctx, sandbox)
    first = item_of(board_by_key(sandbox), "MWE-00001")
    key = first["column_values"]["SYNC KEY"]
    # ... and someone copied one of them on the board meanwhile.
    twin = sandbox.add_item(BOARD, first["name"], {"SYNC KEY": key})
    ctx.staging = StagingOperations(engine, successor(3_100_002))

    (result,) = run(ctx, sandbox)

    items = [item for item in sandbox.board_dump(BOARD)["items"] if item["column_values"]["SYNC KEY"] == key]
    assert sorted(item["id"] for item in items) == sorted([first["id"], twin])  # no third
    (error,) = open_errors(engine)
    assert error["error_type"] == "DUPLICATE_ON_BOARD" and twin in error["message"] and first["id"] in error["message"]
    assert result.status == s.COMPLETED
    with engine.connect() as conn:
        assert conn.execute(sa.select(s.items.c.monday_item_id).where(s.items.c.sync_key == key)).scalar() == min(
            first["id"], twin, key=lambda i: (len(i), i)
        )

    sandbox.delete_item(twin)  # the planner removes the copy, then retries the error
    retry(ctx, sandbox, [f"I{error['err_id']}"])
    assert open_errors(engine) == []
    assert count(engine, s.items) == 2
