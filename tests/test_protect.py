"""Protection of edits made on the board: a column's ``policy`` in the mapping.

``board_wins`` keeps a cell a person changed while the line's other columns update, and records it;
``ask`` holds the cell in the decision list (``status``) until a planner runs ``decide``, then each
choice does what it says; ``source_wins`` (the default) costs no extra read; the reads are forecast by
the dry run; every document is monday's. On SQLite and PostgreSQL, over the real sandbox.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.detect.report import dry_run_report, render_dry_run
from core.foundation.config import render_settings
from core.push.forecast import Pace, describe_forecast, plan_of
from core.push.run import BatchProcessor
from core.source.mapping import default_mapping_path, load_mapping, parse_mapping
from core.staging.decisions import KEEP_BOARD, USE_ERP, decide, waiting
from tests.helpers import BOARD, empty_orders, engine_context, monday_client, order_row, start_sandbox
from tests.test_exit_codes import database_url, ordersync

CUSTOMER = "MACK WELDON"
PROTECTION_READ = "column_values(ids: $columns)"  # the protection's read of the board by ids


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", journal=True)
    yield server
    server.stop()


def protected_mapping(tmp_path, price="board_wins", alt_po="ask"):
    text = default_mapping_path().read_text(encoding="utf-8")
    text = text.replace('title = "CUSTOMER PRICE"\n', f'title = "CUSTOMER PRICE"\npolicy = "{price}"\n')
    text = text.replace('title = "CUSTOMER ALT PO"\n', f'title = "CUSTOMER ALT PO"\npolicy = "{alt_po}"\n')
    path = tmp_path / "mapping.toml"
    path.write_text(text, encoding="utf-8")
    return path


def context(engine, mapping_path=None):
    ctx = engine_context(engine)
    if mapping_path is not None:
        ctx = dataclasses.replace(ctx, mapping=load_mapping(mapping_path))
    return ctx


def sync(ctx, server):
    client = monday_client(server)
    try:
        results = BatchProcessor(ctx, client).run([CUSTOMER])
    finally:
        client.close()
    return results


def orders(engine):
    return sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)


def seed(engine):
    table = empty_orders(engine)
    rows = [
        {"AAG ORDER NUMBER": "MWE-00001", "CUSTOMER PRICE": "28.86", "CUSTOMER ALT PO": "ALT-1", "PO NUMBER": "PO-1"},
        {"AAG ORDER NUMBER": "MWE-00002", "CUSTOMER PRICE": "12.50", "CUSTOMER ALT PO": "ALT-2", "PO NUMBER": "PO-2"},
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])


def erp_changes(engine, order, **values):
    table = orders(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == order).values(values))


def line(engine, order) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.items)).mappings().all()
    return dict(next(r for r in rows if r["sync_key"].startswith(order + " ")))


def cell(server, item_id, title):
    item = next(i for i in server.board_dump(BOARD)["items"] if str(i["id"]) == str(item_id))
    return item["column_values"].get(title)


def decisions(engine) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(s.decisions).order_by(s.decisions.c.decision_id)).mappings()]


def mutations(server) -> list[dict]:
    return [r for r in server.journal if r["query"].lstrip().startswith("mutation")]


def protection_reads(server) -> list[dict]:
    return [r for r in server.journal if PROTECTION_READ in r["query"] and "items(ids" in r["query"]]


# == the mapping ===================================================================================


def test_the_policy_is_a_column_setting_with_source_wins_by_default(tmp_path):
    assert load_mapping().protected() == {}
    mapping = load_mapping(protected_mapping(tmp_path))
    assert mapping.protected() == {"CUSTOMER PRICE": "board_wins", "CUSTOMER ALT PO": "ask"}
    import tomllib

    from core.foundation.exceptions import SettingsError

    data = tomllib.loads(default_mapping_path().read_text(encoding="utf-8"))
    data["columns"][1]["policy"] = "sometimes"
    with pytest.raises(SettingsError, match="policy"):
        parse_mapping(data)
    data["columns"][1]["policy"] = "ask"
    data["columns"][0]["policy"] = "board_wins"  # the SYNC KEY column
    with pytest.raises(SettingsError, match="SYNC KEY"):
        parse_mapping(data)
    data["columns"][0].pop("policy")
    data["subitems"]["columns"][0]["policy"] = "ask"  # sizes follow the ERP
    with pytest.raises(SettingsError, match="policy"):
        parse_mapping(data)


# == board_wins ====================================================================================


def test_board_wins_keeps_an_edited_cell_while_the_other_columns_update(engine, sandbox, tmp_path):
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}
    mwe1, mwe2 = line(engine, "MWE-00001"), line(engine, "MWE-00002")
    sandbox.set_value(mwe1["monday_item_id"], "CUSTOMER PRICE", "31")  # a planner's price
    erp_changes(engine, "MWE-00001", **{"CUSTOMER PRICE": "29.99", "PO NUMBER": "PO-1B"})
    erp_changes(engine, "MWE-00002", **{"CUSTOMER PRICE": "13.00"})  # untouched on the board: sent
    sandbox.clear_journal()

    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}

    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER PRICE") == "31"  # kept
    assert cell(sandbox, mwe1["monday_item_id"], "PO NUMBER") == "PO-1B"  # the other column updated
    assert cell(sandbox, mwe2["monday_item_id"], "CUSTOMER PRICE") == "13"
    assert len(protection_reads(sandbox)) == 1  # one read for the batch's two changed lines
    assert json.loads(line(engine, "MWE-00001")["values_json"])["CUSTOMER PRICE"] == "31"  # production follows
    (kept,) = decisions(engine)
    assert (kept["status"], kept["policy"], kept["column_label"]) == (s.DECISION_KEPT, "board_wins", "CUSTOMER PRICE")
    assert (kept["board_value"], kept["erp_value"], kept["written_value"]) == ("31", "29.99", "28.86")
    assert kept["decided_by"] == "the board_wins policy" and kept["sync_key"] == mwe1["sync_key"]
    assert waiting(engine, BOARD) == []  # nothing for a planner to decide
    with engine.connect() as conn:  # the audit holds what was sent, not the kept cell
        audited = {
            (r.sync_key, r.column_title)
            for r in conn.execute(sa.select(s.audit_log).where(s.audit_log.c.kind == s.UPDATED)).all()
        }
    assert audited == {(mwe1["sync_key"], "PO NUMBER"), (mwe2["sync_key"], "CUSTOMER PRICE")}

    # The next sync has nothing to send and reads nothing more.
    sandbox.clear_journal()
    assert {r.status for r in sync(ctx, sandbox)} == {s.NO_CHANGES}
    assert mutations(sandbox) == [] and protection_reads(sandbox) == []

    # The ERP changes the price again: the board still holds the person's value, so it is kept again.
    erp_changes(engine, "MWE-00001", **{"CUSTOMER PRICE": "30.50"})
    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}
    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER PRICE") == "31"
    (kept,) = decisions(engine)
    assert (kept["status"], kept["board_value"], kept["erp_value"]) == (s.DECISION_KEPT, "31", "30.5")


# == ask ===========================================================================================


def test_ask_holds_the_cell_until_a_planner_decides_then_each_choice_does_what_it_says(engine, sandbox, tmp_path):
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1, mwe2 = line(engine, "MWE-00001"), line(engine, "MWE-00002")
    for mwe in (mwe1, mwe2):
        sandbox.set_value(mwe["monday_item_id"], "CUSTOMER ALT PO", "TYPED-" + mwe["sync_key"][:9])
    erp_changes(engine, "MWE-00001", **{"CUSTOMER ALT PO": "ERP-1", "PO NUMBER": "PO-1B"})
    erp_changes(engine, "MWE-00002", **{"CUSTOMER ALT PO": "ERP-2"})

    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}
    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER ALT PO") == "TYPED-MWE-00001"  # held
    assert cell(sandbox, mwe1["monday_item_id"], "PO NUMBER") == "PO-1B"  # the rest of the line went
    assert cell(sandbox, mwe2["monday_item_id"], "CUSTOMER ALT PO") == "TYPED-MWE-00002"
    open_cells = waiting(engine, BOARD)
    assert [
        (d["sync_key"], d["column_label"], d["board_value"], d["erp_value"], d["written_value"]) for d in open_cells
    ] == [
        (mwe1["sync_key"], "CUSTOMER ALT PO", "TYPED-MWE-00001", "ERP-1", "ALT-1"),
        (mwe2["sync_key"], "CUSTOMER ALT PO", "TYPED-MWE-00002", "ERP-2", "ALT-2"),
    ]
    # Production keeps what OrderSync wrote; the line waits without being sent or read again.
    assert json.loads(line(engine, "MWE-00001")["values_json"])["CUSTOMER ALT PO"] == "ALT-1"
    sandbox.clear_journal()
    assert {r.status for r in sync(ctx, sandbox)} == {s.NO_CHANGES}
    assert mutations(sandbox) == [] and protection_reads(sandbox) == []
    assert len(waiting(engine, BOARD)) == 2

    # use-erp: the next sync sends the ERP's value.
    decide(engine, BOARD, mwe1["sync_key"], "CUSTOMER ALT PO", USE_ERP)
    # keep-board: production takes the board's value; it is not asked again.
    decide(engine, BOARD, mwe2["sync_key"], "CUSTOMER ALT PO", KEEP_BOARD)
    assert waiting(engine, BOARD) == []
    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}
    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER ALT PO") == "ERP-1"
    assert cell(sandbox, mwe2["monday_item_id"], "CUSTOMER ALT PO") == "TYPED-MWE-00002"
    assert json.loads(line(engine, "MWE-00001")["values_json"])["CUSTOMER ALT PO"] == "ERP-1"
    assert json.loads(line(engine, "MWE-00002")["values_json"])["CUSTOMER ALT PO"] == "TYPED-MWE-00002"
    assert [(d["sync_key"], d["status"]) for d in decisions(engine)] == [(mwe2["sync_key"], s.DECISION_KEPT)]
    sandbox.clear_journal()
    assert {r.status for r in sync(ctx, sandbox)} == {s.NO_CHANGES}
    assert mutations(sandbox) == [] and waiting(engine, BOARD) == []


def test_ask_on_the_command_line_status_lists_the_cell_and_decide_sends_the_erp_value(engine, sandbox, tmp_path):
    mapping_path = protected_mapping(tmp_path)
    ctx = context(engine, mapping_path)
    seed(engine)
    sync(ctx, sandbox)
    mwe1 = line(engine, "MWE-00001")
    sandbox.set_value(mwe1["monday_item_id"], "CUSTOMER ALT PO", "TYPED")
    erp_changes(engine, "MWE-00001", **{"CUSTOMER ALT PO": "ERP-1"})
    config = tmp_path / "settings.toml"
    config.write_text(
        render_settings(
            {
                "database.url": database_url(engine),
                "monday.api_url": sandbox.url,
                "monday.board_id": BOARD,
                "mapping.file": "mapping.toml",
            }
        ),
        encoding="utf-8",
    )
    synced = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    assert synced.code == 0, synced.err[-1500:]
    assert "1 cell a person changed on the board waits for a decision" in synced.err

    status = ordersync(tmp_path, "status", "--config", str(config), "--json")
    assert status.code == 0, status.err[-1500:]
    (entry,) = json.loads(status.out)["decisions"]
    assert (entry["order_number"], entry["column"], entry["board"], entry["erp"]) == (
        "MWE-00001",
        "CUSTOMER ALT PO",
        "TYPED",
        "ERP-1",
    )
    text = ordersync(tmp_path, "status", "--config", str(config))
    assert "Need a decision (1;" in text.out and "'TYPED'" in text.out and "'ERP-1'" in text.out

    wrong = ordersync(
        tmp_path, "decide", "--config", str(config), "--key", mwe1["sync_key"], "--column", "PO NUMBER", "--use-erp"
    )
    assert wrong.code == 2 and "no decision waits" in wrong.err
    unknown = ordersync(
        tmp_path, "decide", "--config", str(config), "--order", "MWE-09999", "--column", "CUSTOMER ALT PO", "--use-erp"
    )
    assert unknown.code == 2 and "no decision waits for order 'MWE-09999'" in unknown.err
    neither = ordersync(
        tmp_path, "decide", "--config", str(config), "--order", "MWE-00001", "--column", "CUSTOMER ALT PO"
    )
    assert neither.code == 2 and "--keep-board" in neither.err
    done = ordersync(
        tmp_path, "decide", "--config", str(config), "--order", "MWE-00001", "--column", "CUSTOMER ALT PO", "--use-erp"
    )
    assert done.code == 0, done.err[-1500:]
    assert "'ERP-1' is sent on the next sync" in done.out
    assert json.loads(ordersync(tmp_path, "status", "--config", str(config), "--json").out)["decisions"] == []
    assert ordersync(tmp_path, "sync", "--config", str(config), "--all").code == 0
    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER ALT PO") == "ERP-1"


# == source_wins and the cost ======================================================================


def test_source_wins_costs_no_extra_read(engine, sandbox, tmp_path):
    """The same run with the default mapping and with protected columns that did not change: the same
    requests, none of them the protection's read; and a person's edit is overwritten, as always."""
    ctx = context(engine)
    seed(engine)
    sync(ctx, sandbox)
    mwe1 = line(engine, "MWE-00001")
    sandbox.set_value(mwe1["monday_item_id"], "CUSTOMER PRICE", "31")
    erp_changes(engine, "MWE-00001", **{"CUSTOMER PRICE": "29.99"})
    sandbox.clear_journal()
    assert {r.status for r in sync(ctx, sandbox)} == {s.COMPLETED}
    default_run = [r["query"] for r in sandbox.journal]
    assert protection_reads(sandbox) == []
    assert cell(sandbox, mwe1["monday_item_id"], "CUSTOMER PRICE") == "29.99"
    assert decisions(engine) == []

    # Protected columns that a run does not change cost nothing either.
    protected = context(engine, protected_mapping(tmp_path))
    sync(protected, sandbox)  # (the changed mapping re-compares every line: nothing to send)
    erp_changes(engine, "MWE-00001", **{"PO NUMBER": "PO-1B"})
    sandbox.clear_journal()
    assert {r.status for r in sync(protected, sandbox)} == {s.COMPLETED}
    assert protection_reads(sandbox) == []
    assert len(sandbox.journal) == len(default_run)


def test_the_dry_run_counts_the_protections_reads(engine, sandbox, tmp_path):
    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    erp_changes(engine, "MWE-00001", **{"CUSTOMER PRICE": "29.99"})
    erp_changes(engine, "MWE-00002", **{"PO NUMBER": "PO-2B"})  # no protected column changed: no read
    (changes,) = ctx.detect([CUSTOMER])
    report = dry_run_report(changes, ctx.mapping.protected())
    assert report["board_reads"] == 1 and report["protected_lines"] == 1
    assert dry_run_report(changes)["board_reads"] == 0
    # the run's plan (what the window shows before a sync) counts them too
    (planned,) = plan_of([changes], None, ctx.mapping.protected())
    assert planned.reads == 1 and plan_of([changes])[0].reads == 0
    other = next(c.sync_key for c in changes.changes if "CUSTOMER PRICE" not in c.changed_fields)
    assert plan_of([changes], {CUSTOMER: {other}}, ctx.mapping.protected())[0].reads == 0  # a retry of the other
    assert "and 1 read of the board first: 1 changed line in protected columns" in render_dry_run([report])
    assert "(and 1 read of the board first)" in describe_forecast(planned.changes, Pace(), planned.reads)
    assert "read" not in describe_forecast(planned.changes, Pace())
    sandbox.clear_journal()
    sync(ctx, sandbox)
    assert len(protection_reads(sandbox)) == report["board_reads"]


def test_every_document_of_the_protection_is_valid_for_monday(engine, sandbox, tmp_path, monday_sdl):
    from graphql import build_schema

    from tests.test_contract import monday_refuses

    ctx = context(engine, protected_mapping(tmp_path))
    seed(engine)
    sync(ctx, sandbox)
    mwe1 = line(engine, "MWE-00001")
    sandbox.set_value(mwe1["monday_item_id"], "CUSTOMER PRICE", "31")
    erp_changes(engine, "MWE-00001", **{"CUSTOMER PRICE": "29.99", "CUSTOMER ALT PO": "ERP-1"})
    sandbox.clear_journal()
    sync(ctx, sandbox)
    reads = protection_reads(sandbox)
    assert len(reads) == 1
    (read,) = reads
    assert read["variables"]["limit"] == len(read["variables"]["ids"]) == 1  # an explicit limit
    real = build_schema(monday_sdl.read_text(encoding="utf-8"))
    refused = {r["query"]: monday_refuses(real, r["query"], r["variables"]) for r in sandbox.journal}
    assert {q: p for q, p in refused.items() if p} == {}
