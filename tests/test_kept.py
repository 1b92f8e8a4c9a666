"""A protected cell whose board value was kept is in the audit trail: one KEPT row, shown by ``history``
and by the window's history, and left alone by the undo.

``board_wins`` keeps the cell during the push; a planner's ``decide --keep-board`` keeps a cell that
asked. Each writes exactly one KEPT row, in the transaction that records the decision: the value before
is what OrderSync last wrote there, the value sent the board's value kept (nothing was sent), and the
value not sent the ERP's. Real syncs over real HTTP against the sandbox, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.config import render_settings
from core.history import render_history
from core.staging.audit import HistoryFilter, history
from core.staging.batches import Owner
from core.staging.decisions import KEEP_BOARD, USE_ERP, decide
from core.undo import UndoProcessor
from gui.history_view import history_row
from tests.helpers import BOARD, monday_client, start_sandbox
from tests.test_exit_codes import database_url
from tests.test_protect import CUSTOMER, context, erp_changes, line, protected_mapping, seed, sync

PRICE, ALT_PO = "CUSTOMER PRICE", "CUSTOMER ALT PO"
PLANNER = Owner("PLAN-WS-07", "anna", 4242)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def audit_rows(engine, *where) -> list[dict]:
    a = s.audit_log
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(a).where(*where).order_by(a.c.audit_id)).mappings()]


def kept_rows(engine) -> list[dict]:
    return audit_rows(engine, s.audit_log.c.kind == s.KEPT)


def column_id(server, title: str) -> str:
    return next(c["id"] for c in server.board_dump(BOARD)["columns"] if c["title"] == title)


def plan(ctx, server, batch_id):
    client = monday_client(server)
    try:
        return UndoProcessor(ctx, client).plan(batch_id)
    finally:
        client.close()


def board_wins_kept(engine, sandbox, tmp_path):
    """A first sync; a person types a price on the board; the ERP changes it and the PO: kept."""
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1 = line(engine, "MWE-00001")
    sandbox.set_value(mwe1["monday_item_id"], PRICE, "31")
    erp_changes(engine, "MWE-00001", **{PRICE: "29.99", "PO NUMBER": "PO-1B"})
    (second,) = sync(ctx, sandbox)
    assert second.status == s.COMPLETED
    return ctx, mwe1, second.batch_id


def test_board_wins_writes_one_kept_row_that_history_and_the_window_show(engine, sandbox, tmp_path, capsys):
    ctx, mwe1, batch_id = board_wins_kept(engine, sandbox, tmp_path)

    (kept,) = kept_rows(engine)
    me = Owner.current()  # the sync ran in this process
    assert {k: kept[k] for k in ("batch_id", "customer", "sync_key", "order_number", "column_title")} == {
        "batch_id": batch_id,
        "customer": CUSTOMER,
        "sync_key": mwe1["sync_key"],
        "order_number": "MWE-00001",
        "column_title": PRICE,
    }
    assert (kept["monday_item_id"], kept["column_id"]) == (mwe1["monday_item_id"], column_id(sandbox, PRICE))
    assert (kept["size_label"], kept["monday_subitem_id"]) == (None, None)
    # before: what OrderSync wrote; sent: the board's value, kept; not sent: the ERP's.
    assert (kept["value_before"], kept["value_sent"], kept["value_not_sent"]) == ("28.86", "31", "29.99")
    assert (kept["changed_by_user"], kept["changed_by_host"]) == (me.user, me.host)
    # The rest of the line was sent as usual; no other row names a value not sent.
    others = audit_rows(engine, s.audit_log.c.batch_id == batch_id, s.audit_log.c.kind != s.KEPT)
    assert [(r["kind"], r["column_title"]) for r in others] == [(s.UPDATED, "PO NUMBER")]
    assert all(r["value_not_sent"] is None for r in audit_rows(engine, s.audit_log.c.kind != s.KEPT))

    # history reads it, in plain words
    rows = history(engine, HistoryFilter(order_number="MWE-00001", batch_id=batch_id))
    assert [r["kind"] for r in rows] == [s.KEPT, s.UPDATED]  # kept before the rest was sent
    table = render_history(rows).splitlines()
    assert "NOT SENT" in table[0]
    (text,) = [x for x in table if PRICE in x]
    assert "kept the board's value" in text and "28.86" in text and "— (kept 31)" in text and "29.99" in text
    when, what, column, change, who = history_row(rows[0])
    assert (what, column) == ("kept the board's value", PRICE)
    assert change == "28.86 → 31 kept on the board (the ERP's 29.99 not sent)"
    assert who == f"{me.user} on {me.host}" and f"(batch {batch_id})" in when

    # the command, as a planner runs it: the table and --json
    from core.cli import main

    settings = tmp_path / "settings.toml"
    settings.write_text(
        render_settings({"database.url": database_url(engine), "monday.board_id": BOARD}), encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["history", "--config", str(settings), "--batch", str(batch_id)]) == 0
    out = capsys.readouterr().out
    assert "kept the board's value" in out and "NOT SENT" in out
    assert main(["history", "--config", str(settings), "--batch", str(batch_id), "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)["changes"]
    (entry,) = [c for c in changes if c["column_title"] == PRICE]
    assert (entry["kind"], entry["before"], entry["sent"], entry["kept"], entry["not_sent"]) == (
        "kept the board's value",
        "28.86",
        None,
        "31",
        "29.99",
    )
    (po,) = [c for c in changes if c["column_title"] == "PO NUMBER"]
    assert (po["sent"], po["kept"], po["not_sent"]) == ("PO-1B", None, None)

    # A sync with nothing to send keeps nothing again: still exactly one row.
    assert {r.status for r in sync(ctx, sandbox)} == {s.NO_CHANGES}
    assert len(kept_rows(engine)) == 1


def test_the_undo_leaves_a_kept_cell_alone_and_does_not_count_it_as_a_later_change(engine, sandbox, tmp_path):
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1 = line(engine, "MWE-00001")
    erp_changes(engine, "MWE-00001", **{PRICE: "29.00"})
    (updated,) = sync(ctx, sandbox)  # OrderSync writes 29 there
    sandbox.set_value(mwe1["monday_item_id"], PRICE, "31")  # then a person types 31
    erp_changes(engine, "MWE-00001", **{PRICE: "29.99", "PO NUMBER": "PO-1B"})
    (keeping,) = sync(ctx, sandbox)
    assert [r["batch_id"] for r in kept_rows(engine)] == [keeping.batch_id]

    # The batch that kept the price: only its PO is set back; the kept cell is neither undone nor a conflict.
    preview = plan(ctx, sandbox, keeping.batch_id)
    assert [(c.order_number, c.title) for c in preview.restore] == [("MWE-00001", "PO NUMBER")]
    assert preview.conflicts == [] and preview.archive == [] and preview.delete == [] and preview.move == []

    # The batch that wrote 29: the price is a conflict because of what the board holds, not because a
    # later batch "changed" it (the later batch sent nothing there).
    preview = plan(ctx, sandbox, updated.batch_id)
    assert preview.restore == []
    (conflict,) = preview.conflicts
    assert conflict.title == PRICE and "the board holds" in conflict.why and "batch" not in conflict.why


def test_a_planners_keep_writes_one_kept_row_under_the_batch_that_met_the_cell(engine, sandbox, tmp_path):
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1, mwe2 = line(engine, "MWE-00001"), line(engine, "MWE-00002")
    for mwe in (mwe1, mwe2):
        sandbox.set_value(mwe["monday_item_id"], ALT_PO, "TYPED-" + mwe["sync_key"][:9])
    erp_changes(engine, "MWE-00001", **{ALT_PO: "ERP-1"})
    erp_changes(engine, "MWE-00002", **{ALT_PO: "ERP-2"})
    (met,) = sync(ctx, sandbox)
    assert kept_rows(engine) == []  # waiting is not keeping
    (idle,) = sync(ctx, sandbox)  # a later batch that does not touch the cell
    assert idle.status == s.NO_CHANGES and idle.batch_id > met.batch_id

    decide(engine, BOARD, mwe1["sync_key"], ALT_PO, KEEP_BOARD, owner=PLANNER)
    decide(engine, BOARD, mwe2["sync_key"], ALT_PO, USE_ERP, owner=PLANNER)  # sent by the next sync: no KEPT

    (kept,) = kept_rows(engine)
    assert (kept["batch_id"], kept["sync_key"], kept["column_title"]) == (met.batch_id, mwe1["sync_key"], ALT_PO)
    assert (kept["value_before"], kept["value_sent"], kept["value_not_sent"]) == ("ALT-1", "TYPED-MWE-00001", "ERP-1")
    assert (kept["changed_by_user"], kept["changed_by_host"]) == ("anna", "PLAN-WS-07")
    assert kept["column_id"] == column_id(sandbox, ALT_PO) and kept["monday_item_id"] == mwe1["monday_item_id"]
    (row,) = history(engine, HistoryFilter(sync_key=mwe1["sync_key"], batch_id=met.batch_id))
    assert history_row(row)[1:4] == (
        "kept the board's value",
        ALT_PO,
        "ALT-1 → TYPED-MWE-00001 kept on the board (the ERP's ERP-1 not sent)",
    )

    (after,) = sync(ctx, sandbox)  # sends the ERP's value to the second line, keeps nothing new
    assert after.status == s.COMPLETED
    assert len(kept_rows(engine)) == 1
    updated = audit_rows(engine, s.audit_log.c.batch_id == after.batch_id)
    assert [(r["kind"], r["sync_key"], r["value_sent"]) for r in updated] == [(s.UPDATED, mwe2["sync_key"], "ERP-2")]
