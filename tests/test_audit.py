"""The audit trail: exactly one row per cell OrderSync changed on the board, of the right kind, with
the value OrderSync last wrote there before; ``history`` reads it; retention prunes it.

Every test runs a real sync over real HTTP against the sandbox, on SQLite and PostgreSQL; the
expected cells come from the board itself (what is on it) and from the edits each test makes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.staging.audit import HistoryFilter, history
from tests.helpers import BOARD, count, order_row, start_sandbox
from tests.test_board_edits import mapping_with, run, world
from tests.test_exactly_once import board_by_key, crash_at, processor, successor

CUSTOMER = "MACK WELDON"
OTHER = "TRACKSMITH"


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def audit_rows(engine, *where) -> list[dict]:
    a = s.audit_log
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(a).where(*where).order_by(a.c.audit_id)).mappings()]


def order_of(key: str) -> str:
    return key.split(" ")[0]


def created_cells(on_board: dict, orders: set[str]) -> dict[tuple, tuple]:
    """What creating these lines wrote, read off the board: (order, size, column title) -> (kind, before, sent)."""
    cells = {}
    for key, item in on_board.items():
        order = order_of(key)
        if order not in orders:
            continue
        cells[(order, None, "Name")] = (s.CREATED, None, item["name"])
        cells[(order, None, "Group")] = (s.CREATED, None, item["group_title"])
        for title, text in item["column_values"].items():
            if text is not None and title != "Subitems":
                cells[(order, None, title)] = (s.CREATED, None, text)
        for sub in item["subitems"]:
            size = sub["name"].removeprefix("Size ")
            cells[(order, size, "Name")] = (s.CREATED, None, sub["name"])
            for title, text in sub["column_values"].items():
                if text is not None:
                    cells[(order, size, title)] = (s.CREATED, None, text)
    return cells


def cells_of(rows: list[dict]) -> dict[tuple, tuple]:
    cells = {}
    for r in rows:
        cell = (r["order_number"], r["size_label"], r["column_title"])
        assert cell not in cells, f"audited twice: {cell}"
        cells[cell] = (r["kind"], r["value_before"], r["value_sent"])
    return cells


def board_column_ids(sandbox) -> dict[str, str]:
    dump = sandbox.board_dump(BOARD)
    ids = {c["title"]: c["id"] for c in dump["columns"]}
    subs = sandbox.board_dump(dump["subitems_board_id"])
    ids.update({f"sub:{c['title']}": c["id"] for c in subs["columns"]})
    return ids


def lines(*orders: int, **values) -> list[dict]:
    return [{"AAG ORDER NUMBER": f"MWE-{n:05d}", **values} for n in orders]


def test_one_row_per_changed_cell_of_creates_updates_moves_and_removals(engine, sandbox):
    table, ctx = world(engine, lines(1, 2, 3, 4, 6, 7))
    (first,) = run(ctx, sandbox)
    assert first.status == s.COMPLETED
    on_board = board_by_key(sandbox)
    orders = {f"MWE-{n:05d}" for n in (1, 2, 3, 4, 6, 7)}
    rows = audit_rows(engine)
    assert cells_of(rows) == created_cells(on_board, orders)
    # Who, when, which batch, which item and which column: the board's own ids.
    ids = board_column_ids(sandbox)
    item_ids = {order_of(k): item["id"] for k, item in on_board.items()}
    for r in rows:
        assert r["batch_id"] == first.batch_id and r["customer"] == CUSTOMER
        assert r["monday_item_id"] == item_ids[r["order_number"]]
        assert r["changed_by_user"] and r["changed_by_host"] and r["changed_at"] is not None
        if r["column_title"] not in ("Name", "Group"):
            expected = ids[r["column_title"]] if r["size_label"] is None else ids[f"sub:{r['column_title']}"]
            assert r["column_id"] == expected, r
    subs = {
        (order_of(k), sub["name"].removeprefix("Size ")): sub["id"]
        for k, i in on_board.items()
        for sub in i["subitems"]
    }
    assert {(r["order_number"], r["size_label"], r["monday_subitem_id"]) for r in rows if r["size_label"]} == {
        (order, size, sub_id) for (order, size), sub_id in subs.items()
    }

    o = table.c["AAG ORDER NUMBER"]
    with engine.begin() as conn:  # the ERP changes: one edit of each kind
        conn.execute(sa.update(table).where(o == "MWE-00001").values({"S": 13}))  # a size's quantity
        conn.execute(sa.update(table).where(o == "MWE-00002").values(DESTINATION="OHIO"))  # an item column
        conn.execute(sa.update(table).where(o == "MWE-00003").values({"CUSTOMER SEASON": "SS26"}))  # another group
        conn.execute(sa.delete(table).where(o == "MWE-00004"))  # the line leaves the ERP
        conn.execute(sa.update(table).where(o == "MWE-00006").values({"M": None}))  # a size drops out
        conn.execute(sa.update(table).where(o == "MWE-00007").values({"CUSTOMER NAME": OTHER}))  # another customer
        conn.execute(table.insert(), [order_row(table, **lines(5)[0])])  # a new line

    second = run(ctx, sandbox, customers=(CUSTOMER, OTHER))
    assert [r.status for r in second] == [s.COMPLETED, s.COMPLETED]

    after = board_by_key(sandbox)
    batches = [r.batch_id for r in second]
    rows = audit_rows(engine, s.audit_log.c.batch_id.in_(batches))
    expected = created_cells(after, {"MWE-00005"})
    expected.update(
        {
            ("MWE-00001", "S", "Order Qty"): (s.UPDATED, "12", "13"),
            ("MWE-00002", None, "DESTINATION"): (s.UPDATED, "MISSISSIPPI", "OHIO"),
            ("MWE-00003", None, "CUSTOMER SEASON"): (s.UPDATED, "FW25", "SS26"),
            ("MWE-00003", None, "Group"): (s.MOVED, f"{CUSTOMER} FW25", f"{CUSTOMER} SS26"),
            ("MWE-00004", None, "ORDER TYPE"): (s.UPDATED, "RECEIVED", "CANCELLED"),
            ("MWE-00006", "M", "Order Qty"): (s.UPDATED, "24", "0"),
            ("MWE-00007", None, "CUSTOMER"): (s.UPDATED, CUSTOMER, OTHER),
            ("MWE-00007", None, "Group"): (s.MOVED, f"{CUSTOMER} FW25", f"{OTHER} FW25"),
        }
    )
    assert cells_of(rows) == expected
    assert {r["customer"] for r in rows if r["order_number"] == "MWE-00007"} == {OTHER}
    # Each value sent is what the board shows now (the line that left shows its cancel).
    item3 = next(i for k, i in after.items() if k.startswith("MWE-00003"))
    assert item3["group_title"] == f"{CUSTOMER} SS26"

    # history reads it back, by each filter.
    everything = history(engine, HistoryFilter())
    assert len(everything) == count(engine, s.audit_log) == len(audit_rows(engine))
    by_order = history(engine, HistoryFilter(order_number="MWE-00003"))
    assert {(r["batch_id"], r["kind"]) for r in by_order if r["batch_id"] in batches} == {
        (batches[0], s.UPDATED),
        (batches[0], s.MOVED),
    }
    assert all(r["order_number"] == "MWE-00003" for r in by_order)
    key3 = next(k for k in after if k.startswith("MWE-00003"))
    assert history(engine, HistoryFilter(sync_key=key3)) == by_order
    assert {r["audit_id"] for r in history(engine, HistoryFilter(batch_id=batches[1]))} == {
        r["audit_id"] for r in rows if r["batch_id"] == batches[1]
    }
    assert {r["order_number"] for r in history(engine, HistoryFilter(customer=OTHER))} == {"MWE-00007"}
    assert history(engine, HistoryFilter(order_number="MWE-99999")) == []


@pytest.mark.parametrize("policy", ["archive", "delete"])
def test_an_archived_or_deleted_item_is_one_row_for_the_whole_item(engine, sandbox, tmp_path, policy):
    table, ctx = world(engine, lines(1, 2))
    ctx.mapping = mapping_with(tmp_path, policy)
    run(ctx, sandbox)
    gone = next(i for k, i in board_by_key(sandbox).items() if k.startswith("MWE-00002"))
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00002"))

    (result,) = run(ctx, sandbox)

    assert result.status == s.COMPLETED
    (row,) = audit_rows(engine, s.audit_log.c.batch_id == result.batch_id)
    kind = s.ARCHIVED if policy == "archive" else s.DELETED
    assert (row["kind"], row["order_number"], row["monday_item_id"]) == (kind, "MWE-00002", gone["id"])
    assert row["column_id"] is None and row["value_before"] is None and row["value_sent"] is None


def test_a_recreated_item_is_audited_as_recreated(engine, sandbox):
    table, ctx = world(engine, lines(1))
    run(ctx, sandbox)
    gone = next(iter(board_by_key(sandbox).values()))
    sandbox.delete_item(gone["id"])  # a planner deletes the line on the board
    with engine.begin() as conn:
        conn.execute(sa.update(table).values({"S": 13}))

    (result,) = run(ctx, sandbox)

    rows = audit_rows(engine, s.audit_log.c.batch_id == result.batch_id)
    on_board = board_by_key(sandbox)
    again = next(iter(on_board.values()))
    expected = {
        cell: (s.RECREATED, None, sent) for cell, (_, _, sent) in created_cells(on_board, {"MWE-00001"}).items()
    }
    assert cells_of(rows) == expected
    assert {r["monday_item_id"] for r in rows} == {again["id"]}


@pytest.mark.parametrize("settled_by", ["replay", "look-up"])
def test_killed_after_monday_applied_before_the_outcome_was_recorded_audits_each_cell_once(engine, sandbox, settled_by):
    # Resumed, the request is settled by monday's replay of its key, or (a board that ignores keys) by
    # looking its rows up on the board.
    keys = {} if settled_by == "replay" else {"monday.idempotency_keys": False, "monday.late_apply_seconds": 1}
    _, ctx = world(engine, lines(1, 2, 3), **keys)
    # The request reached monday and was applied; the process dies in the transaction recording it.
    with crash_at(engine, "monday_item_id=coalesce(") as crash:
        processor(ctx, sandbox, successor(3_100_001)).run([CUSTOMER])
    assert crash.fired and len(board_by_key(sandbox)) == 3
    assert count(engine, s.audit_log) == 0  # rolled back with the outcome

    results = processor(ctx, sandbox, successor(3_199_001)).run([CUSTOMER])

    assert [r.status for r in results] == [s.COMPLETED]
    if settled_by == "replay":
        assert sandbox.stats["idempotent_replays"] >= 1  # settled by monday's replay of the same request
    on_board = board_by_key(sandbox)
    assert cells_of(audit_rows(engine)) == created_cells(on_board, {"MWE-00001", "MWE-00002", "MWE-00003"})


def test_retention_prunes_rows_older_than_the_setting_when_a_sync_starts(engine, sandbox):
    table, ctx = world(engine, lines(1, 2), **{"audit.retention_days": 30})
    run(ctx, sandbox)
    a = s.audit_log
    old = [r["audit_id"] for r in audit_rows(engine, a.c.order_number == "MWE-00001")]
    with engine.begin() as conn:  # the first line's rows were written 31 days ago
        conn.execute(
            sa.update(a).where(a.c.audit_id.in_(old)).values(changed_at=a.c.changed_at - dt.timedelta(days=31))
        )
    kept = count(engine, a) - len(old)
    with engine.begin() as conn:
        conn.execute(sa.update(table).values(DESTINATION="OHIO"))

    run(ctx, sandbox)

    assert not audit_rows(engine, a.c.audit_id.in_(old))
    assert count(engine, a) == kept + 2  # the second line's rows, and today's two updates


def test_forever_by_default(engine, sandbox):
    _, ctx = world(engine, lines(1))
    run(ctx, sandbox)
    a = s.audit_log
    with engine.begin() as conn:
        conn.execute(sa.update(a).values(changed_at=a.c.changed_at - dt.timedelta(days=3650)))
    total = count(engine, a)
    run(ctx, sandbox)
    assert count(engine, a) == total > 0


def test_the_history_command_prints_a_table_and_json(sqlite_engine, sandbox, tmp_path, capsys):
    from core.cli import main
    from core.foundation.config import render_settings

    table, ctx = world(sqlite_engine, lines(1, 2))
    run(ctx, sandbox)
    with sqlite_engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00002").values(DESTINATION="OHIO"))
    (second,) = run(ctx, sandbox)
    settings = tmp_path / "settings.toml"
    settings.write_text(
        render_settings({"database.url": str(sqlite_engine.url), "monday.board_id": BOARD}), encoding="utf-8"
    )
    capsys.readouterr()

    assert main(["history", "--config", str(settings), "--order", "MWE-00002"]) == 0
    text = capsys.readouterr().out
    assert "WHEN" in text and "BEFORE" in text and "SENT" in text
    line = next(x for x in text.splitlines() if "DESTINATION" in x and "updated" in x)
    assert "MISSISSIPPI" in line and "OHIO" in line and str(second.batch_id) in line
    assert "MWE-00001" not in text

    assert main(["history", "--config", str(settings), "--batch", str(second.batch_id), "--json"]) == 0
    (change,) = json.loads(capsys.readouterr().out)["changes"]
    assert change["kind"] == "updated" and (change["before"], change["sent"]) == ("MISSISSIPPI", "OHIO")
    assert change["column_title"] == "DESTINATION" and change["order_number"] == "MWE-00002"

    assert main(["history", "--config", str(settings), "--customer", "NOBODY"]) == 0
    assert "No changes recorded for this selection." in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage:  # one line at a time
        main(["history", "--config", str(settings), "--order", "A", "--batch", "1"])
    assert usage.value.code == 2
    kinds = Counter(r["kind"] for r in audit_rows(sqlite_engine))
    assert kinds[s.CREATED] > 0 and kinds[s.UPDATED] == 1
