"""End to end over real HTTP: ORDERS_UNIFIED → staging → the sandbox board → production tables.

Every test asserts the board itself (the sandbox's dump), not just OrderSync's tables. Runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.monday.client import Mutation
from core.monday.errors import AuthError
from core.push.run import BatchProcessor
from tests.helpers import (
    BOARD,
    count,
    empty_orders,
    engine_context,
    make_world,
    monday_client,
    order_row,
    start_sandbox,
)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def sync_all(ctx, server, customers=None, **client_options):
    client = monday_client(server, **client_options)
    try:
        processor = BatchProcessor(ctx, client)
        results = processor.run(customers or ctx.customers())
    finally:
        client.close()
    return results, client


def board_items(server) -> list[dict]:
    return server.board_dump(BOARD)["items"]


def small_ctx(engine, rows):
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return engine_context(engine)


def set_values(server, item_id, by_title, subitems=False):
    """What a planner does on the board: change columns OrderSync does not map (through the API)."""
    client = monday_client(server)
    try:
        meta = client.board(BOARD)
        columns = meta.subitem_columns if subitems else meta.columns
        ids = {c.title: c.id for c in columns}
        (outcome,) = client.mutate(
            BOARD,
            [
                Mutation(
                    "x",
                    "change_multiple_column_values",
                    {
                        "item_id": item_id,
                        "board_id": meta.subitem_board_id if subitems else BOARD,
                        "column_values": {ids[t]: v for t, v in by_title.items()},
                    },
                )
            ],
        )
        assert outcome.ok, outcome.error
    finally:
        client.close()


def update_order(engine, order, **values):
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == order).values(values))


def test_every_valid_line_is_on_the_board_exactly_once_with_its_sizes(engine, sandbox):
    make_world(engine, n_orders=250, seed=21)
    ctx = engine_context(engine)
    expected = {}
    invalid_orders = set()
    for change in ctx.detect(ctx.customers()):
        for c in change.changes:
            expected[c.sync_key] = c
        invalid_orders.update(line.order_number for line in change.invalid)

    results, _client = sync_all(ctx, sandbox)

    assert {r.status for r in results} <= {"COMPLETED", "COMPLETED_WITH_ERRORS"}
    items = board_items(sandbox)
    keys = Counter(item["column_values"]["SYNC KEY"] for item in items)
    assert not [k for k, n in keys.items() if n > 1], "duplicate items on the board"
    assert set(keys) == set(expected)
    for item in items:
        change = expected[item["column_values"]["SYNC KEY"]]
        fields = change.fields
        assert item["name"] == fields["name"]
        assert item["group_title"] == fields["group"]
        for title in ("STYLE", "COLOR", "AAG ORDER NUMBER", "ORDER TYPE", "TOTAL QTY", "CUSTOMER", "PO NUMBER"):
            assert (item["column_values"].get(title) or None) == fields[title], (title, item["name"])
        if fields["CUSTOMER PRICE"] is not None:
            assert float(item["column_values"]["CUSTOMER PRICE"]) == float(fields["CUSTOMER PRICE"])
        sizes = {sub["name"]: sub["column_values"] for sub in item["subitems"]}
        assert sorted(sizes) == sorted(sz.name for sz in change.sizes)
        for sz in change.sizes:
            assert sizes[sz.name]["Size"] == sz.label
            assert int(sizes[sz.name]["Order Qty"]) == sz.quantity
    # Invalid lines are in ERR and not on the board.
    assert invalid_orders
    with engine.connect() as conn:
        err_orders = set(
            conn.execute(
                sa.select(s.err_items.c.order_number).where(s.err_items.c.error_type == "VALIDATION")
            ).scalars()
        )
    assert invalid_orders <= err_orders
    invalid_keys = {line.sync_key for change in ctx.detect(ctx.customers()) for line in change.invalid}
    assert not invalid_keys & set(keys)
    # Groups were created once each, never per item.
    group_titles = [g["title"] for g in sandbox.board_dump(BOARD)["groups"]]
    assert len(group_titles) == len(set(group_titles))
    assert {i["group_title"] for i in items} <= set(group_titles)
    # The production tables hold what the board holds.
    assert count(engine, s.items) == len(items)
    assert count(engine, s.subitems) == sum(len(i["subitems"]) for i in items)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(s.items.c.sync_key, s.items.c.monday_item_id)).all())
    assert ids == {i["column_values"]["SYNC KEY"]: i["id"] for i in items}


def test_rerun_with_nothing_changed_sends_zero_mutations(engine, sandbox):
    make_world(engine, n_orders=120, seed=8)
    ctx = engine_context(engine)
    sync_all(ctx, sandbox)
    before = sandbox.stats["mutations"]
    results, client = sync_all(ctx, sandbox)
    assert client.stats.mutations == 0
    assert sandbox.stats["mutations"] == before
    assert {r.status for r in results} <= {"NO_CHANGES"}


def test_one_changed_quantity_sends_one_mutation(engine, sandbox):
    ctx = small_ctx(engine, [{"AAG ORDER NUMBER": "MWE-00024"}, {"AAG ORDER NUMBER": "MWE-00025"}])
    sync_all(ctx, sandbox)
    update_order(engine, "MWE-00024", M=30)
    results, client = sync_all(ctx, sandbox)
    assert client.stats.mutations == 1
    (item,) = [i for i in board_items(sandbox) if i["column_values"]["AAG ORDER NUMBER"] == "MWE-00024"]
    sizes = {sub["name"]: sub["column_values"] for sub in item["subitems"]}
    assert sizes["Size M"]["Order Qty"] == "30"
    assert [r.status for r in results] == ["COMPLETED"]


def test_changed_line_sends_only_the_changed_columns_and_leaves_hand_columns_alone(engine, sandbox):
    ctx = small_ctx(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
    sync_all(ctx, sandbox)
    (item,) = board_items(sandbox)
    # A planner fills the columns OrderSync does not map.
    set_values(sandbox, item["id"], {"FACTORY": "HANOI 2", "PLANNER NOTES": {"text": "rush, check trims"}})
    set_values(sandbox, item["subitems"][0]["id"], {"Cut Qty": "10"}, subitems=True)
    update_order(engine, "MWE-00024", **{"CUSTOMER PRICE": "31.50", "ORDER TYPE": "CANCELLED"})
    _results, client = sync_all(ctx, sandbox)
    assert client.stats.mutations == 1
    (item,) = board_items(sandbox)
    values = item["column_values"]
    assert values["ORDER TYPE"] == "CANCELLED" and float(values["CUSTOMER PRICE"]) == 31.5
    assert values["FACTORY"] == "HANOI 2" and values["PLANNER NOTES"] == "rush, check trims"
    assert item["subitems"][0]["column_values"]["Cut Qty"] == "10"


def test_removed_line_and_size_follow_the_removal_policy(engine, sandbox):
    ctx = small_ctx(engine, [{"AAG ORDER NUMBER": "MWE-00024"}, {"AAG ORDER NUMBER": "MWE-00025"}])
    sync_all(ctx, sandbox)
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00025"))
    update_order(engine, "MWE-00024", L=0)
    _results, client = sync_all(ctx, sandbox)
    assert client.stats.mutations == 2
    items = {i["column_values"]["AAG ORDER NUMBER"]: i for i in board_items(sandbox)}
    assert len(items) == 2  # nothing deleted on the board
    assert items["MWE-00025"]["column_values"]["ORDER TYPE"] == "CANCELLED"
    sizes = {sub["name"]: sub["column_values"] for sub in items["MWE-00024"]["subitems"]}
    assert sizes["Size L"]["Order Qty"] == "0"
    assert sync_all(ctx, sandbox)[1].stats.mutations == 0


def test_a_label_the_board_lacks_is_a_clear_column_value_error(engine, sandbox):
    ctx = small_ctx(
        engine, [{"AAG ORDER NUMBER": "MWE-00024", "ORDER TYPE": "ON HOLD"}, {"AAG ORDER NUMBER": "MWE-00025"}]
    )
    results, _client = sync_all(ctx, sandbox)
    assert [r.status for r in results] == ["COMPLETED_WITH_ERRORS"]
    assert [i["column_values"]["AAG ORDER NUMBER"] for i in board_items(sandbox)] == ["MWE-00025"]
    with engine.connect() as conn:
        err = conn.execute(sa.select(s.err_items)).mappings().one()
    assert err["error_type"] == "COLUMN_VALUE" and err["order_number"] == "MWE-00024"
    assert "ORDER TYPE" in err["message"] and "ON HOLD" in err["message"]
    assert not err["retryable"]
    # Its sizes were never sent either, and say why.
    with engine.connect() as conn:
        subs = conn.execute(sa.select(s.err_subitems.c.error_type)).scalars().all()
    assert subs and set(subs) == {"PARENT_FAILED"}


def test_monday_rejecting_a_value_is_recorded_per_row_and_the_rest_is_applied(engine, sandbox):
    ctx = small_ctx(engine, [{"AAG ORDER NUMBER": "MWE-00009"}])
    sync_all(ctx, sandbox)  # the board has this customer's dropdown labels now
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **{"AAG ORDER NUMBER": f"MWE-000{n}"}) for n in range(10, 16)])
    # The board loses a status label after OrderSync read the board: monday itself refuses it.
    client = monday_client(sandbox)
    processor = BatchProcessor(ctx, client)
    processor.board()
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
    results = processor.run(ctx.customers())
    client.close()
    assert [r.status for r in results] == ["COMPLETED_WITH_ERRORS"]
    with engine.connect() as conn:
        errs = conn.execute(sa.select(s.err_items.c.error_type, s.err_items.c.error_code)).all()
    assert len(errs) == 6 and {e.error_type for e in errs} == {"COLUMN_VALUE"}
    assert {e.error_code for e in errs} == {"ColumnValueException"}
    assert [i["column_values"]["AAG ORDER NUMBER"] for i in board_items(sandbox)] == ["MWE-00009"]


def test_revoked_token_stops_with_auth_error_and_the_batch_resumes(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", token="the-real-token")
    try:
        ctx = small_ctx(engine, [{"AAG ORDER NUMBER": "MWE-00024"}])
        from core.monday.client import MondayApiClient

        bad = MondayApiClient(server.url, "revoked")
        (failed,) = BatchProcessor(ctx, bad).run(ctx.customers())
        assert failed.status == s.FAILED and isinstance(failed.error, AuthError)
        with engine.connect() as conn:
            batch = conn.execute(sa.select(s.batches)).mappings().one()
        assert (batch["batch_id"], batch["status"]) == (failed.batch_id, s.FAILED)
        good = MondayApiClient(server.url, "the-real-token")
        results = BatchProcessor(ctx, good).run(ctx.customers())
        # The failed batch is resumed and finished; nothing changed since, so no second batch.
        assert [(r.batch_id, r.status) for r in results] == [(batch["batch_id"], "COMPLETED")]
        assert len(server.board_dump(BOARD)["items"]) == 1
    finally:
        server.stop()
