"""Undo of a batch (``undo --batch N``): the board and the production tables as they were before it,
a cell a person changed since left alone and reported, a killed undo resumed exactly, a dry run that
changes nothing, and a next sync that knows the board. An item or size the batch created and someone
(or a later batch) changed since stays on the board and in production; one archived already is taken
back without a conflict.

Every test runs real syncs over real HTTP against the sandbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import threading

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.exceptions import OrderSyncError
from core.push.progress import NullProgress
from core.push.run import BUSY
from core.staging.operations import StagingOperations
from core.undo import UndoProcessor
from tests.helpers import BOARD, count, monday_client, order_row, start_sandbox
from tests.test_board_edits import run, world
from tests.test_exactly_once import board_by_key, crash_at, successor

CUSTOMER = "MACK WELDON"


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", journal=True)
    yield server
    server.stop()


def lines(*orders: int) -> list[dict]:
    return [{"AAG ORDER NUMBER": f"MWE-{n:05d}"} for n in orders]


def board_state(server) -> dict:
    """What a planner sees: each line's name, group, cells and sizes."""
    return {
        key: (
            item["id"],
            item["name"],
            item["group_title"],
            item["column_values"],
            sorted(
                (sub["id"], sub["name"], json.dumps(sub["column_values"], sort_keys=True)) for sub in item["subitems"]
            ),
        )
        for key, item in board_by_key(server).items()
    }


def production(engine) -> dict:
    p, ps = s.items, s.subitems
    with engine.connect() as conn:
        items = {
            r.sync_key: (
                r.monday_item_id,
                r.group_id,
                r.group_name,
                r.item_name,
                json.loads(r.values_json),
                r.is_removed,
            )
            for r in conn.execute(sa.select(p))
        }
        subs = {
            (r.parent_sync_key, r.size_label): (
                r.monday_subitem_id,
                r.subitem_name,
                r.quantity,
                json.loads(r.values_json),
                r.is_removed,
            )
            for r in conn.execute(sa.select(ps))
        }
    return {"items": items, "subitems": subs}


def sent_only(items: dict, server) -> dict:
    titles = {c["title"] for c in server.board_dump(BOARD)["columns"]} | {"name", "group"}
    return {k: (*v[:4], {a: b for a, b in v[4].items() if a in titles}, *v[5:]) for k, v in items.items()}


def key_of(server, order: str) -> str:
    return next(k for k in board_by_key(server) if k.startswith(order))


def undo(ctx, server, batch_id, dry_run=False):
    client = monday_client(server)
    try:
        processor = UndoProcessor(ctx, client)
        return processor.plan(batch_id) if dry_run else processor.undo(batch_id)
    finally:
        client.close()


def two_batches(engine, sandbox):
    """A first sync of four lines, then a batch that creates, updates, moves and changes a size."""
    table, ctx = world(engine, lines(1, 2, 3, 4))
    (first,) = run(ctx, sandbox)
    assert first.status == s.COMPLETED
    board, prod = board_state(sandbox), production(engine)
    o = table.c["AAG ORDER NUMBER"]
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(o == "MWE-00001").values({"S": 13}))  # a size's quantity
        conn.execute(sa.update(table).where(o.in_(["MWE-00002", "MWE-00004"])).values(DESTINATION="OHIO"))
        conn.execute(sa.update(table).where(o == "MWE-00002").values(XL=6))  # a size added to a line
        conn.execute(sa.update(table).where(o == "MWE-00003").values({"CUSTOMER SEASON": "SS26"}))  # a move
        conn.execute(table.insert(), [order_row(table, **lines(5)[0])])  # a new line
    (second,) = run(ctx, sandbox)
    assert second.status == s.COMPLETED
    return table, ctx, second.batch_id, board, prod


def test_undo_restores_the_board_and_production_and_leaves_a_cell_a_person_changed(engine, sandbox):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    four = key_of(sandbox, "MWE-00004")
    sandbox.set_value(board_by_key(sandbox)[four]["id"], "DESTINATION", "TEXAS")  # a planner, on the board
    prod_four = production(engine)["items"][four]
    board_now = board_state(sandbox)

    preview = undo(ctx, sandbox, batch_id, dry_run=True)
    assert board_state(sandbox) == board_now  # the preview changes nothing
    assert [(c.order_number, c.title) for c in preview.archive] == [("MWE-00005", "Name")]
    assert {(c.order_number, c.title) for c in preview.conflicts} == {("MWE-00004", "DESTINATION")}
    assert [(c.order_number, c.size) for c in preview.delete] == [("MWE-00002", "XL")]
    assert [(c.order_number, c.before) for c in preview.move] == [("MWE-00003", f"{CUSTOMER} FW25")]
    assert {(c.order_number, c.size, c.title, c.before) for c in preview.restore} == {
        ("MWE-00001", "S", "Order Qty", "12"),
        ("MWE-00002", None, "DESTINATION", "MISSISSIPPI"),
        ("MWE-00003", None, "CUSTOMER SEASON", "FW25"),
    }

    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    expected = dict(board_before)
    i, name, group, _cells, subs = board_now[four]
    expected[four] = (i, name, group, {**board_before[four][3], "DESTINATION": "TEXAS"}, subs)
    assert board_state(sandbox) == expected  # line 5 archived, the rest as before; the conflict kept

    prod = production(engine)
    want_items = {**prod_before["items"], four: prod_four}
    # Labels kept in production but never sent to the board (no audit row) stay as batch N left them.
    assert sent_only(prod["items"], sandbox) == sent_only(want_items, sandbox)
    assert prod["subitems"] == prod_before["subitems"]

    undo_batch = s.batches.c.undo_of_batch == batch_id
    assert count(engine, s.batches, undo_batch) == 1
    a = s.audit_log
    with engine.connect() as conn:
        kinds = sorted(
            (r.order_number, r.size_label or "", r.column_title or "", r.kind)
            for r in conn.execute(sa.select(a).where(a.c.batch_id == result.batch_id))
        )
    assert kinds == [
        ("MWE-00001", "S", "Order Qty", s.RESTORED),
        ("MWE-00002", "", "DESTINATION", s.RESTORED),
        ("MWE-00002", "XL", "", s.DELETED),
        ("MWE-00003", "", "CUSTOMER SEASON", s.RESTORED),
        ("MWE-00003", "", "Group", s.MOVED),
        ("MWE-00005", "", "", s.ARCHIVED),
    ]

    # The next sync knows the board: the source still says what batch N sent, so it sends it again.
    (again,) = run(ctx, sandbox)
    assert again.status == s.COMPLETED
    assert again.counts["items_created"] == 1  # line 5 is new again
    on_board = board_by_key(sandbox)
    assert on_board[key_of(sandbox, "MWE-00002")]["column_values"]["DESTINATION"] == "OHIO"
    assert on_board[key_of(sandbox, "MWE-00003")]["group_title"] == f"{CUSTOMER} SS26"


@pytest.mark.parametrize(
    "at",
    [
        'sends=("MON_Requests".sends',  # a request stored, killed before it leaves
        "DELETE FROM",  # monday applied the first request, killed while its answer is recorded
    ],
)
def test_an_undo_killed_midway_and_run_again_ends_exact(engine, sandbox, at):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    stale = ctx.settings["sync.heartbeat_stale_seconds"]
    ctx.staging = StagingOperations(ctx.engine, successor(3_000_201), stale)
    with crash_at(engine, at) as crash:
        undo(ctx, sandbox, batch_id)
    assert crash.fired
    assert count(engine, s.requests) == 1  # in flight when it died
    ctx.staging = StagingOperations(ctx.engine, successor(3_999_201), stale)
    (refused,) = run(ctx, sandbox)  # a sync never sends the undo's rows as its own
    assert refused.status == BUSY and f"undo --batch {batch_id}" in refused.message
    assert count(engine, s.requests) == 1
    plan, result = undo(ctx, sandbox, batch_id)
    assert plan is None and result.status == s.COMPLETED, result.message
    assert board_state(sandbox) == board_before
    prod = production(engine)
    assert sent_only(prod["items"], sandbox) == sent_only(prod_before["items"], sandbox)
    assert prod["subitems"] == prod_before["subitems"]
    assert count(engine, s.requests) == 0
    with pytest.raises(OrderSyncError, match="undone already"):
        undo(ctx, sandbox, batch_id)


class CancelAfterFirst(NullProgress):
    """A planner presses Cancel as soon as the first answer is recorded."""

    def __init__(self, cancel: threading.Event):
        self.cancel = cancel

    def progress(self, *args) -> None:
        self.cancel.set()


def test_a_cancelled_undo_stops_after_its_request_and_resumes_exact(engine, sandbox):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    cancel = threading.Event()
    client = monday_client(sandbox)
    try:
        processor = UndoProcessor(ctx, client, CancelAfterFirst(cancel), cancel, max_batch=2)
        _, result = processor.undo(batch_id)
    finally:
        client.close()
    assert result.status == s.CANCELLED
    assert board_state(sandbox) != board_before  # stopped part of the way
    assert count(engine, s.requests) == 0  # the request in flight was settled before it stopped
    _, resumed = undo(ctx, sandbox, batch_id)
    assert resumed.status == s.COMPLETED and resumed.batch_id == result.batch_id
    assert board_state(sandbox) == board_before
    prod = production(engine)
    assert sent_only(prod["items"], sandbox) == sent_only(prod_before["items"], sandbox)
    assert prod["subitems"] == prod_before["subitems"]


def test_a_cell_a_later_batch_changed_is_a_conflict_and_stays(engine, sandbox):
    table, ctx, batch_id, _, _ = two_batches(engine, sandbox)
    o = table.c["AAG ORDER NUMBER"]
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(o == "MWE-00002").values(DESTINATION="IOWA"))
    (later,) = run(ctx, sandbox)
    assert later.status == s.COMPLETED
    two = key_of(sandbox, "MWE-00002")
    preview = undo(ctx, sandbox, batch_id, dry_run=True)
    assert [(c.order_number, c.title, c.why) for c in preview.conflicts] == [
        ("MWE-00002", "DESTINATION", f"batch {later.batch_id} changed it later")
    ]
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED
    assert board_by_key(sandbox)[two]["column_values"]["DESTINATION"] == "IOWA"
    assert production(engine)["items"][two][4]["DESTINATION"] == "IOWA"


class fail_once:
    """The database drops the connection once, on the first statement that contains ``text``."""

    def __init__(self, engine: sa.Engine, text: str):
        self.engine, self.text, self.fired = engine, text, False

    def _listener(self, conn, cursor, statement, parameters, context, executemany):
        if not self.fired and self.text in statement:
            self.fired = True
            raise sa.exc.InterfaceError(statement, parameters, Exception("the connection was lost"))

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._listener)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._listener)


def test_an_undo_that_failed_bringing_production_in_line_is_finished_by_running_it_again(engine, sandbox):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    five = key_of(sandbox, "MWE-00005")
    with fail_once(engine, 'DELETE FROM "MON_CustMasterSchedule_Subitems"') as fault:
        _, failed = undo(ctx, sandbox, batch_id)
    assert fault.fired and failed.status == s.FAILED
    assert board_state(sandbox) == board_before  # the board is done; production is not yet in line
    assert production(engine)["items"][five][5] is True
    plan, done = undo(ctx, sandbox, batch_id)
    assert plan is None and done.status == s.COMPLETED and done.batch_id == failed.batch_id
    prod = production(engine)
    assert sent_only(prod["items"], sandbox) == sent_only(prod_before["items"], sandbox)
    assert prod["subitems"] == prod_before["subitems"]
    assert count(engine, s.batches, s.batches.c.status == s.STARTED) == 0  # no stray batch was begun


def test_a_size_a_person_already_deleted_is_not_brought_back_by_the_undo(engine, sandbox):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    two = board_by_key(sandbox)[key_of(sandbox, "MWE-00002")]
    (xl,) = [sub["id"] for sub in two["subitems"] if sub["name"].endswith("XL")]
    sandbox.delete_subitem(xl)  # a planner removed the size before the undo
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    assert board_state(sandbox) == board_before
    prod = production(engine)
    assert sent_only(prod["items"], sandbox) == sent_only(prod_before["items"], sandbox)
    assert prod["subitems"] == prod_before["subitems"]


def test_an_item_the_batch_created_and_a_person_edited_since_stays_and_is_reported(engine, sandbox):
    table, ctx = world(engine, lines(1, 2))
    (first,) = run(ctx, sandbox)
    assert first.status == s.COMPLETED
    board_before = board_state(sandbox)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **line) for line in lines(5, 6)])
    (second,) = run(ctx, sandbox)
    assert second.status == s.COMPLETED
    six = key_of(sandbox, "MWE-00006")
    sandbox.set_value(board_by_key(sandbox)[six]["id"], "DESTINATION", "TEXAS")  # a planner, on the board
    board_six, prod_six = board_state(sandbox)[six], production(engine)["items"][six]

    sandbox.clear_journal()
    preview = undo(ctx, sandbox, second.batch_id, dry_run=True)
    # One read of the board's cells for both new items and their sizes, whatever their count.
    assert sum("items(ids:" in r["query"] for r in sandbox.journal) == 1
    assert [(c.order_number, c.title) for c in preview.archive] == [("MWE-00005", "Name")]
    assert [(c.order_number, c.title, c.whole, c.why) for c in preview.conflicts] == [
        (
            "MWE-00006",
            "DESTINATION",
            "item",
            "the batch created this item and the board holds TEXAS now; it stays on the board",
        )
    ]

    _, result = undo(ctx, sandbox, second.batch_id)
    assert result.status == s.COMPLETED, result.message
    assert board_state(sandbox) == {**board_before, six: board_six}  # five archived, six active and unchanged
    prod = production(engine)
    assert prod["items"][six] == prod_six  # production still knows it: no duplicate comes
    assert set(prod["items"]) == {*board_before, six}  # line 5 left production: the next sync makes it new

    (again,) = run(ctx, sandbox)
    assert again.status == s.COMPLETED
    assert again.counts["items_created"] == 1  # line 5 again, and only it
    assert again.counts["items_updated"] == 0
    assert [k for k in board_by_key(sandbox) if k.startswith("MWE-00006")] == [six]
    assert board_state(sandbox)[six] == board_six


def test_an_item_the_batch_created_and_a_later_batch_changed_is_a_conflict_and_stays(engine, sandbox):
    table, ctx, batch_id, _, _ = two_batches(engine, sandbox)
    o = table.c["AAG ORDER NUMBER"]
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(o == "MWE-00005").values(DESTINATION="IOWA"))
    (later,) = run(ctx, sandbox)
    assert later.status == s.COMPLETED
    five = key_of(sandbox, "MWE-00005")
    preview = undo(ctx, sandbox, batch_id, dry_run=True)
    assert preview.archive == []
    assert [(c.order_number, c.title, c.why) for c in preview.conflicts] == [
        (
            "MWE-00005",
            "DESTINATION",
            f"the batch created this item and batch {later.batch_id} changed it later; it stays on the board",
        )
    ]
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    on_board = board_by_key(sandbox)
    assert on_board[five]["column_values"]["DESTINATION"] == "IOWA"
    assert production(engine)["items"][five][4]["DESTINATION"] == "IOWA"
    assert production(engine)["items"][five][5] is False


def test_a_size_the_batch_created_and_a_person_changed_since_is_not_deleted(engine, sandbox):
    _, ctx, batch_id, _, _ = two_batches(engine, sandbox)
    two = key_of(sandbox, "MWE-00002")
    (xl,) = [sub["id"] for sub in board_by_key(sandbox)[two]["subitems"] if sub["name"].endswith("XL")]
    sandbox.set_value(xl, "Order Qty", 9)  # a planner, on the board
    preview = undo(ctx, sandbox, batch_id, dry_run=True)
    assert preview.delete == []
    assert [(c.order_number, c.size, c.title, c.whole) for c in preview.conflicts] == [
        ("MWE-00002", "XL", "Order Qty", "size")
    ]
    assert preview.conflicts[0].why == "the batch created this size and the board holds 9 now; it stays on the board"
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    subs = {sub["id"]: sub for sub in board_by_key(sandbox)[two]["subitems"]}
    assert xl in subs
    assert production(engine)["subitems"][(two, "XL")][0] == xl


def test_an_item_the_batch_created_and_a_person_archived_already_is_taken_back_without_a_conflict(engine, sandbox):
    _, ctx, batch_id, board_before, prod_before = two_batches(engine, sandbox)
    five = key_of(sandbox, "MWE-00005")
    sandbox.archive_item(board_by_key(sandbox)[five]["id"])  # a planner archived the new line already
    preview = undo(ctx, sandbox, batch_id, dry_run=True)
    assert [(c.order_number, c.title) for c in preview.archive] == [("MWE-00005", "Name")]
    assert [c.order_number for c in preview.conflicts] == []
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    assert board_state(sandbox) == board_before
    prod = production(engine)
    assert sent_only(prod["items"], sandbox) == sent_only(prod_before["items"], sandbox)  # line 5 forgotten
