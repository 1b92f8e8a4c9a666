"""A planner's decision waits while a sync of the cell's customer runs, or was left unfinished: ``decide``
(the command, and the window's decision list, which calls the same code) refuses with a plain message
naming the customer and the batch, and changes nothing. Another customer's sync is no reason to wait.

The batches are set up exactly: claimed by another workstation, or killed after its rows went out
(SENDING), or cancelled with them still out. Real syncs over real HTTP against the sandbox, on SQLite
and PostgreSQL.
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.config import render_settings
from core.foundation.exceptions import CustomerBusy
from core.staging.batches import Owner
from core.staging.decisions import KEEP_BOARD, USE_ERP, decide
from core.staging.operations import StagingOperations
from gui.decisions_pane import decide_cells
from tests.helpers import BOARD, count, start_sandbox
from tests.test_exactly_once import crash_at, processor, successor
from tests.test_exit_codes import database_url, ordersync
from tests.test_protect import CUSTOMER, context, decisions, erp_changes, line, protected_mapping, seed, sync

ALT_PO = "CUSTOMER ALT PO"
OTHER_WORKSTATION = Owner("PLAN-WS-09", "bob", 4242)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def two_waiting_cells(engine, sandbox, tmp_path):
    """Both lines' ALT PO typed on the board and changed in the ERP: two cells wait for a decision."""
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1, mwe2 = line(engine, "MWE-00001"), line(engine, "MWE-00002")
    for mwe in (mwe1, mwe2):
        sandbox.set_value(mwe["monday_item_id"], ALT_PO, "TYPED-" + mwe["sync_key"][:9])
    erp_changes(engine, "MWE-00001", **{ALT_PO: "ERP-1"})
    erp_changes(engine, "MWE-00002", **{ALT_PO: "ERP-2"})
    sync(ctx, sandbox)
    assert [d["status"] for d in decisions(engine)] == [s.DECISION_OPEN, s.DECISION_OPEN]
    return ctx, mwe1, mwe2


def snapshot(engine) -> tuple:
    """Everything a decision could change: the decisions, production's lines, the audit trail."""
    with engine.connect() as conn:
        items = sorted((r.sync_key, r.values_json, r.line_hash) for r in conn.execute(sa.select(s.items)))
    return decisions(engine), items, count(engine, s.audit_log)


def test_decide_refuses_while_another_workstation_syncs_the_customer(engine, sandbox, tmp_path):
    _, mwe1, mwe2 = two_waiting_cells(engine, sandbox, tmp_path)
    elsewhere = StagingOperations(engine, OTHER_WORKSTATION)
    other = elsewhere.claim("TRACKSMITH", BOARD)  # another customer's sync: no reason to wait
    running = elsewhere.claim(CUSTOMER, BOARD)
    before = snapshot(engine)

    for choice in (KEEP_BOARD, USE_ERP):
        with pytest.raises(CustomerBusy) as refused:
            decide(engine, BOARD, mwe1["sync_key"], ALT_PO, choice)
        assert str(refused.value) == (
            f"a sync of {CUSTOMER} is running (batch {running.batch_id}: started, by bob on PLAN-WS-09); "
            "decide when it has finished"
        )
    # The window's list: refused before any of the chosen cells changes.
    with pytest.raises(CustomerBusy, match=f"batch {running.batch_id}"):
        decide_cells(engine, BOARD, [(mwe1["sync_key"], ALT_PO), (mwe2["sync_key"], ALT_PO)], KEEP_BOARD)
    assert snapshot(engine) == before

    # The command line: exit 1, the same words, nothing changed.
    config = tmp_path / "settings.toml"
    config.write_text(
        render_settings(
            {"database.url": database_url(engine), "monday.board_id": BOARD, "mapping.file": "mapping.toml"}
        ),
        encoding="utf-8",
    )
    cli = ordersync(
        tmp_path, "decide", "--config", str(config), "--order", "MWE-00001", "--column", ALT_PO, "--keep-board"
    )
    assert cli.code == 1, cli.err[-1500:]
    assert f"a sync of {CUSTOMER} is running (batch {running.batch_id}" in cli.err
    assert snapshot(engine) == before

    # The sync ends: the same choice goes through (the other customer's batch still runs).
    elsewhere.set_status(running.batch_id, s.COMPLETED)
    decided = decide(engine, BOARD, mwe1["sync_key"], ALT_PO, KEEP_BOARD)
    assert decided["status"] == s.DECISION_KEPT
    assert elsewhere.batch(other.batch_id)["status"] == s.STARTED


def test_decide_refuses_while_a_killed_or_cancelled_sync_left_rows_out(engine, sandbox, tmp_path):
    ctx, mwe1, _ = two_waiting_cells(engine, sandbox, tmp_path)
    erp_changes(engine, "MWE-00002", **{"PO NUMBER": "PO-2B"})  # something for the next sync to send
    # Killed right after its request was stored and its rows marked SENDING, before monday answered.
    with crash_at(engine, 'sends=("MON_Requests".sends'):
        processor(ctx, sandbox, successor(3_000_001)).run([CUSTOMER])
    b = s.batches
    with engine.connect() as conn:
        (killed,) = conn.execute(sa.select(b.c.batch_id, b.c.status).where(b.c.status == s.PUSHING)).all()
        sending = conn.execute(
            sa.select(sa.func.count()).where(
                s.stg_items.c.batch_id == killed.batch_id, s.stg_items.c.state == s.SENDING
            )
        ).scalar_one()
    assert sending == 1
    before = snapshot(engine)

    with pytest.raises(CustomerBusy, match=rf"a sync of {CUSTOMER} is running \(batch {killed.batch_id}: sending"):
        decide(engine, BOARD, mwe1["sync_key"], ALT_PO, KEEP_BOARD)
    assert snapshot(engine) == before

    # Cancelled with its rows still out: the next sync resumes it, so the decision still waits.
    with engine.begin() as conn:
        conn.execute(sa.update(b).where(b.c.batch_id == killed.batch_id).values(status=s.CANCELLED))
    with pytest.raises(CustomerBusy) as refused:
        decide(engine, BOARD, mwe1["sync_key"], ALT_PO, USE_ERP)
    assert str(refused.value) == (
        f"{CUSTOMER} has an unfinished sync (batch {killed.batch_id}: cancelled; it resumes on the next sync); "
        "decide when a sync has finished it"
    )
    assert snapshot(engine) == before

    # A sync finishes it; then the planner's choice is taken.
    (resumed,) = processor(ctx, sandbox, successor(3_000_002)).run([CUSTOMER])
    assert resumed.batch_id == killed.batch_id and resumed.status == s.COMPLETED
    decide(engine, BOARD, mwe1["sync_key"], ALT_PO, USE_ERP)
    assert json.loads(line(engine, "MWE-00002")["values_json"])["PO NUMBER"] == "PO-2B"
    assert [d["status"] for d in decisions(engine)] == [s.DECISION_USE_ERP, s.DECISION_OPEN]
