"""The drift check of the board (``drift``): after a sync the board shows no drift; each kind of drift a
person can make on the board (planted through the sandbox, as a planner edits the board) is found,
and nothing else; the check writes nothing anywhere; its forecast is what it then reads; its
documents are monday's; it keeps to the budget. On SQLite and PostgreSQL, over the real sandbox.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import requests
import sqlalchemy as sa

from core.db import schema as s
from core.drift.check import DriftCheck
from core.drift.results import DriftCancelled
from core.drift.values import board_form, ordersync_form
from core.push.run import BatchProcessor
from tests.helpers import BOARD, empty_orders, engine_context, monday_client, order_row, start_sandbox

CUSTOMERS = ("MACK WELDON", "JOHNNIE O")


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", journal=True)
    yield server
    server.stop()


def synced(engine, server, **client_options):
    """Three lines of MACK WELDON (two seasons) and two of JOHNNIE O, synced to the board."""
    table = empty_orders(engine)
    rows = [
        {"AAG ORDER NUMBER": "MWE-00001"},
        {"AAG ORDER NUMBER": "MWE-00002", "CUSTOMER PRICE": "12.50"},
        {"AAG ORDER NUMBER": "MWE-00003", "CUSTOMER SEASON": "SS26"},
        {"AAG ORDER NUMBER": "JOO-00001", "CUSTOMER NAME": "JOHNNIE O"},
        {"AAG ORDER NUMBER": "JOO-00002", "CUSTOMER NAME": "JOHNNIE O", "S": 0},
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    ctx = engine_context(engine)
    client = monday_client(server, **client_options)
    try:
        results = BatchProcessor(ctx, client).run(list(CUSTOMERS))
    finally:
        client.close()
    assert [r.status for r in results] == [s.COMPLETED, s.COMPLETED]
    return ctx


def drift(ctx, server, customers=CUSTOMERS, **client_options):
    client = monday_client(server, **client_options)
    try:
        check = DriftCheck(ctx.engine, ctx.mapping, BOARD, client, list(customers))
        forecast = check.forecast()
        report = check.run()
    finally:
        client.close()
    assert report.forecast == forecast
    return report


def production(engine) -> dict[str, dict]:
    with engine.connect() as conn:
        return {
            r["sync_key"]: dict(r) for r in conn.execute(sa.select(s.items).order_by(s.items.c.sync_key)).mappings()
        }


def line(engine, order) -> dict:
    return next(row for key, row in production(engine).items() if key.startswith(order + " "))


def size_of(engine, order, size) -> dict:
    key = line(engine, order)["sync_key"]
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(s.subitems).where(s.subitems.c.parent_sync_key == key, s.subitems.c.size_label == size)
            )
            .mappings()
            .one()
        )


def findings(report) -> dict[str, list]:
    """Every finding, by customer and kind, with the ids that vary from run to run kept as they are."""
    out: dict[str, list] = {}
    for customer in report.customers:
        for kind in ("changed", "gone", "unknown", "duplicates"):
            for entry in getattr(customer, kind):
                out.setdefault(f"{customer.customer}/{kind}", []).append(entry)
    return out


def database_snapshot(engine) -> list:
    tables = (s.items, s.subitems, s.batches, s.err_items, s.err_subitems, s.stg_items, s.stg_subitems, s.requests)
    with engine.connect() as conn:
        return [sorted(map(tuple, conn.execute(sa.select(t)).all()), key=repr) for t in tables]


# == an untouched board ==========================================================================


def test_after_a_sync_the_board_shows_no_drift_and_the_check_writes_nothing(engine, sandbox):
    ctx = synced(engine, sandbox)
    before_db = database_snapshot(engine)
    before_board = sandbox.board_dump(BOARD)
    sandbox.clear_journal()

    report = drift(ctx, sandbox)

    assert report.found == 0, findings(report)
    by_customer = {c.customer: c for c in report.customers}
    assert by_customer["MACK WELDON"].items_checked == 3 and by_customer["JOHNNIE O"].items_checked == 2
    assert by_customer["MACK WELDON"].subitems_checked == 9 and by_customer["JOHNNIE O"].subitems_checked == 5
    # it changed nothing: no mutation reached the board, the board and every table are as they were
    assert [r for r in sandbox.journal if r["query"].lstrip().startswith("mutation")] == []
    assert sandbox.board_dump(BOARD) == before_board
    assert database_snapshot(engine) == before_db
    # the forecast is what it read: the three groups' pages in one request, the subitems board's in another
    assert report.forecast.reads == report.reads["requests"] == 2
    assert report.forecast.points == report.reads["points"]
    assert report.forecast.groups == 3 and report.forecast.items == 5 and report.forecast.subitems == 14
    assert report.forecast.board_reads == 2  # before the forecast: the board's columns and groups, its subitems board's
    assert len(sandbox.journal) == 2 + 2


def test_a_cell_retyped_in_another_form_of_the_same_value_is_not_drift(engine, sandbox):
    ctx = synced(engine, sandbox)
    mwe2 = line(engine, "MWE-00002")
    sandbox.set_value(mwe2["monday_item_id"], "CUSTOMER PRICE", "12.500")  # OrderSync wrote 12.5
    sandbox.set_value(mwe2["monday_item_id"], "TOTAL QTY", "60.0")
    sandbox.set_value(mwe2["monday_item_id"], "CUSTOMER ALT PO", "")  # blank stays blank
    assert drift(ctx, sandbox).found == 0


@pytest.mark.parametrize("policy", ["mark", "report", "archive", "delete"])
def test_what_ordersync_removed_itself_is_not_drift_under_any_removal_policy(engine, sandbox, tmp_path, policy):
    import dataclasses

    from core.source.mapping import default_mapping_path, load_mapping

    ctx = synced(engine, sandbox)
    text = default_mapping_path().read_text(encoding="utf-8").replace('policy = "mark"', f'policy = "{policy}"')
    (tmp_path / "mapping.toml").write_text(text, encoding="utf-8")
    ctx = dataclasses.replace(ctx, mapping=load_mapping(tmp_path / "mapping.toml"))
    assert ctx.mapping.removal_policy == policy
    orders = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(orders).where(orders.c["AAG ORDER NUMBER"] == "MWE-00002"))  # a line goes
        conn.execute(sa.update(orders).where(orders.c["AAG ORDER NUMBER"] == "JOO-00002").values({"M": 0}))  # a size
        conn.execute(sa.update(orders).where(orders.c["AAG ORDER NUMBER"] == "MWE-00003").values({"S": 11}))
    client = monday_client(sandbox)
    try:
        results = BatchProcessor(ctx, client).run(list(CUSTOMERS))
    finally:
        client.close()
    assert {r.status for r in results} <= {s.COMPLETED, s.COMPLETED_WITH_ERRORS}

    report = drift(ctx, sandbox)

    assert report.found == 0, findings(report)


# == each kind of drift, alone ===================================================================


def _plant(kind: str, engine, server) -> dict:
    """Make one kind of drift on the board as a person would; returns what the check must report."""
    mwe1, mwe2 = line(engine, "MWE-00001"), line(engine, "MWE-00002")
    if kind == "cell edited":
        server.set_value(mwe1["monday_item_id"], "CUSTOMER PRICE", "31")
        return {
            "MACK WELDON/changed": [
                {
                    "sync_key": mwe1["sync_key"],
                    "order_number": "MWE-00001",
                    "item_id": mwe1["monday_item_id"],
                    "column": "CUSTOMER PRICE",
                    "board": "31",
                    "ordersync": "28.86",
                }
            ]
        }
    if kind == "item moved to another group":
        other = line(engine, "MWE-00003")["group_name"]
        server.move_item(mwe1["monday_item_id"], other)
        return {
            "MACK WELDON/changed": [
                {
                    "sync_key": mwe1["sync_key"],
                    "order_number": "MWE-00001",
                    "item_id": mwe1["monday_item_id"],
                    "column": "group",
                    "board": other,
                    "ordersync": mwe1["group_name"],
                }
            ]
        }
    if kind == "item moved out of the customer's groups":
        joo2 = line(engine, "JOO-00002")
        server.move_item(joo2["monday_item_id"], "Topics")  # the board's first group: nobody's
        return {
            "JOHNNIE O/changed": [
                {
                    "sync_key": joo2["sync_key"],
                    "order_number": "JOO-00002",
                    "item_id": joo2["monday_item_id"],
                    "column": "group",
                    "board": "Topics",
                    "ordersync": joo2["group_name"],
                }
            ]
        }
    if kind in ("item deleted", "item archived"):
        state = "deleted" if kind == "item deleted" else "archived"
        target = mwe2 if state == "deleted" else line(engine, "MWE-00003")
        (server.delete_item if state == "deleted" else server.archive_item)(target["monday_item_id"])
        gone = {
            "sync_key": target["sync_key"],
            "order_number": target["order_number"],
            "item_id": target["monday_item_id"],
        }
        return {"MACK WELDON/gone": [{**gone, "state": state, "noticed": False}]}
    if kind == "unknown key":
        new = server.add_item(BOARD, "A planner's line", {"SYNC KEY": "MWE-99999 | X | Y"}, group=mwe1["group_id"])
        return {
            "MACK WELDON/unknown": [
                {
                    "item_id": new,
                    "name": "A planner's line",
                    "sync_key": "MWE-99999 | X | Y",
                    "group": mwe1["group_name"],
                    "known_as": None,
                }
            ]
        }
    if kind == "duplicate key":
        copy = server.add_item(BOARD, "copy", {"SYNC KEY": mwe1["sync_key"]}, group=mwe1["group_id"])
        return {
            "MACK WELDON/duplicates": [
                {
                    "sync_key": mwe1["sync_key"],
                    "item_ids": sorted([mwe1["monday_item_id"], copy], key=int),
                    "known_item_id": mwe1["monday_item_id"],
                }
            ]
        }
    if kind == "size edited":
        size = size_of(engine, "JOO-00001", "M")
        server.set_value(size["monday_subitem_id"], "Order Qty", "30")
        return {
            "JOHNNIE O/changed": [
                {
                    "sync_key": size["parent_sync_key"],
                    "order_number": "JOO-00001",
                    "item_id": size["monday_subitem_id"],
                    "size": "M",
                    "column": "Order Qty",
                    "board": "30",
                    "ordersync": "24",
                }
            ]
        }
    if kind == "size deleted":
        size = size_of(engine, "JOO-00001", "L")
        server.delete_subitem(size["monday_subitem_id"])
        entry = {"sync_key": size["parent_sync_key"], "order_number": None, "item_id": size["monday_subitem_id"]}
        return {"JOHNNIE O/gone": [{**entry, "state": "deleted", "noticed": False, "size": "L"}]}
    if kind == "size added":
        joo2 = line(engine, "JOO-00002")
        new = server.add_subitem(joo2["monday_item_id"], "Size S", {"Size": "S", "Order Qty": "5"})
        return {
            "JOHNNIE O/unknown": [
                {
                    "item_id": new,
                    "name": "Size S",
                    "sync_key": joo2["sync_key"],
                    "size": "S",
                    "group": None,
                    "known_as": None,
                }
            ]
        }
    raise AssertionError(kind)


KINDS = (
    "cell edited",
    "item moved to another group",
    "item moved out of the customer's groups",
    "item deleted",
    "item archived",
    "unknown key",
    "duplicate key",
    "size edited",
    "size deleted",
    "size added",
)


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_drift_is_found_and_nothing_else(engine, sandbox, kind):
    ctx = synced(engine, sandbox)
    expected = _plant(kind, engine, sandbox)
    before_db = database_snapshot(engine)

    report = drift(ctx, sandbox)

    assert findings(report) == expected
    assert database_snapshot(engine) == before_db


def test_every_kind_at_once_per_customer(engine, sandbox):
    ctx = synced(engine, sandbox)
    expected: dict[str, list] = {}
    for kind in KINDS:
        if kind == "item moved to another group":
            continue  # it moves the line the cell edit is planted on
        for where, entries in _plant(kind, engine, sandbox).items():
            expected.setdefault(where, []).extend(entries)

    found = findings(drift(ctx, sandbox))

    def ordered(d):
        return {k: sorted(v, key=lambda e: json.dumps(e, sort_keys=True)) for k, v in d.items()}

    assert ordered(found) == ordered(expected)
    # one customer asked for: only its own drift, though the board holds the other's too
    only = findings(drift(ctx, sandbox, customers=("JOHNNIE O",)))
    assert ordered(only) == ordered({k: v for k, v in expected.items() if k.startswith("JOHNNIE O/")})


def test_an_archived_item_ordersync_already_noticed_is_said_so(engine, sandbox):
    ctx = synced(engine, sandbox)
    mwe1 = line(engine, "MWE-00001")
    sandbox.archive_item(mwe1["monday_item_id"])
    orders = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.update(orders).where(orders.c["AAG ORDER NUMBER"] == "MWE-00001").values({"S": 13}))
    client = monday_client(sandbox)
    try:
        (result,) = BatchProcessor(ctx, client).run(["MACK WELDON"])
    finally:
        client.close()
    assert result.status == s.COMPLETED_WITH_ERRORS  # the sync held the line back: archived on the board
    assert line(engine, "MWE-00001")["board_state"] == s.BOARD_ARCHIVED

    found = findings(drift(ctx, sandbox))

    gone = {"sync_key": mwe1["sync_key"], "order_number": "MWE-00001", "item_id": mwe1["monday_item_id"]}
    assert found == {"MACK WELDON/gone": [{**gone, "state": "archived", "noticed": True}]}


# == pages, budget, contract =====================================================================


def test_pages_follow_the_cursor_and_the_forecast_counts_them(engine, sandbox):
    ctx = synced(engine, sandbox)
    sandbox.clear_journal()
    report = drift(ctx, sandbox, page_limit=2)
    assert report.found == 0, findings(report)
    assert sum("next_items_page" in r["query"] for r in sandbox.journal) == 6  # the subitems board's pages 2 to 7
    # three groups of at most two items, a request each (a request holds a page); the 14 sizes, seven pages
    assert report.forecast.reads == report.reads["requests"] == 3 + 7
    assert report.forecast.points == report.reads["points"]


def test_a_cancel_after_the_first_page_stops_the_reads_and_reports_nothing(engine, sandbox):
    ctx = synced(engine, sandbox)
    client = monday_client(sandbox, page_limit=2)
    cancel = threading.Event()
    # the hook runs after each answered read, in the reading thread: set after the first, as a person
    # pressing Stop while the first page is read
    check = DriftCheck(
        ctx.engine, ctx.mapping, BOARD, client, list(CUSTOMERS), cancel=cancel, on_read=lambda done: cancel.set()
    )
    try:
        forecast = check.forecast()
        sandbox.clear_journal()
        with pytest.raises(DriftCancelled) as stopped:
            check.run()
    finally:
        client.close()
    assert forecast.reads == 10  # three group pages, seven pages of sizes (as the test above)
    assert len(sandbox.journal) == 1 and "groups(ids" in sandbox.journal[0]["query"]  # the first page only
    assert (stopped.value.requests, stopped.value.planned, stopped.value.exit_code) == (1, 10, 1)
    assert "stopped after 1 of about 10 read requests" in str(stopped.value)
    assert "nothing is reported" in str(stopped.value)
    # the client's waits are its own again: a cancelled check leaves nothing of itself in the client
    assert client.sleep is time.sleep and client.governor.sleep is time.sleep


def test_a_cancel_ends_the_wait_for_the_budget_at_once(engine, tmp_path):
    from sandbox import SandboxServer
    from tests.helpers import SANDBOX_TOKEN

    fast = start_sandbox(tmp_path / "board.db")
    try:
        ctx = synced(engine, fast)
    finally:
        fast.stop()
    # a budget of 1,000 points a window of 60 real seconds: after the first read the check has to wait
    server = SandboxServer(tmp_path / "board.db", token=SANDBOX_TOKEN, complexity_budget=1_000, journal=True)
    server.start()
    client = monday_client(server)
    cancel = threading.Event()
    # Stop pressed a moment after the first read, while the check waits for the next window
    check = DriftCheck(
        ctx.engine,
        ctx.mapping,
        BOARD,
        client,
        list(CUSTOMERS),
        cancel=cancel,
        on_read=lambda done: threading.Timer(0.2, cancel.set).start(),
    )
    try:
        check.forecast()
        server.clear_journal()
        started = time.monotonic()
        with pytest.raises(DriftCancelled) as stopped:
            check.run()
        elapsed = time.monotonic() - started
    finally:
        client.close()
        server.stop()
    assert stopped.value.requests == len(server.journal) == 1
    assert client.governor.waited > 10  # the governor had set out to wait for the next window
    assert elapsed < 5  # and did not: the cancel ended the wait


def test_the_check_waits_for_the_budget_rather_than_running_into_it(engine, tmp_path):
    from sandbox import SandboxServer
    from tests.helpers import SANDBOX_TOKEN

    fast = start_sandbox(tmp_path / "board.db")
    try:
        ctx = synced(engine, fast)
    finally:
        fast.stop()
    # the same board, served with a budget of 1,000 points a one-second window: the four reads (about
    # 1,500 points) cannot all go in one window
    server = SandboxServer(tmp_path / "board.db", token=SANDBOX_TOKEN, complexity_budget=1_000, time_scale=60.0)
    server.start()
    try:
        report = drift(ctx, server)
        assert report.found == 0, findings(report)
        assert report.forecast.points > 1_000 and report.reads["points"] == report.forecast.points
        assert report.reads["waited"] > 0
        assert report.reads["points"] == report.forecast.points  # the sandbox charges the documented weights
        assert server.stats["rejected_429"] == {"complexity": 0, "minute": 0, "concurrency": 0, "storm": 0}
    finally:
        server.stop()


def test_every_document_of_the_drift_check_is_valid_for_monday(engine, sandbox, monday_sdl):
    from graphql import build_schema

    from sandbox import schema as sandbox_schema
    from tests.test_contract import monday_refuses, sdl_differences, used_by

    ctx = synced(engine, sandbox)
    mwe2 = line(engine, "MWE-00002")
    sandbox.archive_item(mwe2["monday_item_id"])  # so the lookup by id is sent too
    sandbox.delete_subitem(size_of(engine, "JOO-00001", "L")["monday_subitem_id"])
    sandbox.clear_journal()
    report = drift(ctx, sandbox, page_limit=2)
    assert report.found == 2
    real = build_schema(monday_sdl.read_text(encoding="utf-8"))
    recorded = sandbox.journal
    kinds = {name for r in recorded for name in ("next_items_page", "items(ids", "groups(ids") if name in r["query"]}
    assert kinds == {"next_items_page", "items(ids", "groups(ids"}
    refused = {r["query"]: monday_refuses(real, r["query"], r["variables"]) for r in recorded}
    assert {q: p for q, p in refused.items() if p} == {}
    used = used_by(sorted({r["query"] for r in recorded}), sandbox_schema.SCHEMA)
    assert sdl_differences(sandbox_schema.SCHEMA, real, used) == []


# == the sandbox's edits a person makes ==========================================================


def test_the_sandbox_moves_an_item_and_adds_a_subitem_over_http(sandbox):
    from core.monday.client import Mutation

    base = sandbox.url.rsplit("/v2", 1)[0]
    client = monday_client(sandbox)
    try:
        (made,) = client.mutate(BOARD, [Mutation("g", "create_group", {"board_id": BOARD, "group_name": "Elsewhere"})])
    finally:
        client.close()
    item = sandbox.add_item(BOARD, "a line", {"SYNC KEY": "K"})
    moved = requests.post(f"{base}/sandbox/items/{item}/move", json={"group": "Elsewhere"}, timeout=10)
    assert moved.status_code == 200
    answer = requests.post(f"{base}/sandbox/items/{item}/subitems", json={"name": "Size S"}, timeout=10)
    assert answer.status_code == 200
    sub = answer.json()["id"]
    dumped = next(i for i in sandbox.board_dump(BOARD)["items"] if i["id"] == item)
    assert (
        dumped["group_title"] == "Elsewhere"
        and dumped["group_id"] == made.id
        and [x["id"] for x in dumped["subitems"]] == [sub]
    )
    missing = requests.post(f"{base}/sandbox/items/{item}/move", json={"group": "no such group"}, timeout=10)
    assert missing.status_code == 404
    bad = requests.post(f"{base}/sandbox/items/{item}/move", json={}, timeout=10)
    assert bad.status_code == 400


# == normalised values ===========================================================================


@pytest.mark.parametrize(
    ("column_type", "ours", "text", "value", "same"),
    [
        ("numbers", "28.86", "28.860", '"28.860"', True),
        ("numbers", "60", "60.0", '"60.0"', True),
        ("numbers", "28.86", "28.87", '"28.87"', False),
        ("numbers", None, "", None, True),
        ("text", "ABC", "ABC", '"ABC"', True),
        ("text", "ABC", "abc", '"abc"', False),
        ("text", None, "", None, True),
        ("date", "2026-02-26", "2026-02-26", '{"date":"2026-02-26"}', True),
        ("date", "2026-02-26", "2026-02-26 09:00:00", '{"date":"2026-02-26","time":"09:00:00"}', False),
        ("status", "RECEIVED", "RECEIVED", '{"index":0}', True),
        ("status", "RECEIVED", "CANCELLED", '{"index":2}', False),
        ("dropdown", "FW25", "FW25", '{"ids":[1]}', True),
        ("dropdown", "FW25", "", None, False),
        ("long_text", "a note", "a note", '{"text":"a note"}', True),
    ],
)
def test_a_cell_compares_in_one_form_per_column_type(column_type, ours, text, value, same):
    assert (ordersync_form(column_type, ours) == board_form(column_type, text, value)) is same


# == the governor paces reads ====================================================================


def test_the_governor_lets_a_read_go_when_it_fits_and_waits_for_the_reset_when_it_does_not():
    from core.monday.governor import RateGovernor
    from tests.test_monday_client import FakeClock

    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.reserve_points(5_000_000)  # nothing known yet: monday decides
    governor.observe({"before": 100_000, "after": 8_000, "query": 92_000, "reset_in_x_seconds": 12}, None, 0)
    governor.reserve_points(8_000)  # fits what is left
    assert clock.slept == []
    governor.reserve_points(8_001)  # does not: wait for the window's reset, then the full budget is back
    assert clock.slept == [pytest.approx(12.0)] and governor.budget_left == 100_000
