"""One bad value holds back one line: every value is checked against where it will be stored.

A quantity too large for an INTEGER column, a PO number, season, customer name or key longer than
OrderSync's columns, a character no database stores: each makes its line a VALIDATION error that
names the column, the value (shortened) and the limit, in the dry run as in the sync, on SQLite
(which would not enforce a length) and PostgreSQL alike. The other lines go on to the board.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import schema as s
from core.db.migrate import upgrade
from core.demo.data import orders_table
from core.detect.report import dry_run_report
from core.push.run import BatchProcessor
from core.source.limits import INT32_MAX, fit, storable, storage_limits
from core.source.mapping import load_mapping, unstorable
from tests.helpers import BOARD, count, engine_context, monday_client, order_row, start_sandbox

CUSTOMER = "MACK WELDON"
LONG_STYLE = "S" * 450  # the key (order | style | colour) is over 400 characters


def ok(n: int) -> dict:
    return {"AAG ORDER NUMBER": f"MWE-{n:05d}"}


BAD = {
    "quantity": ({"AAG ORDER NUMBER": "MWE-90001", "S": 10**12}, "quantity 1000000000000 is more than 2147483647"),
    "po": ({"AAG ORDER NUMBER": "MWE-90002", "PO NUMBER": "P" * 150}, "PO NUMBER 'PPPP"),
    "season": ({"AAG ORDER NUMBER": "MWE-90003", "AAG SEASON": "W" * 300, "CUSTOMER SEASON": None}, "the group name"),
    "key": ({"AAG ORDER NUMBER": "MWE-90004", "CUSTOMER STYLE": LONG_STYLE}, "the key 'MWE-90004"),
}


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def wide_orders(engine) -> sa.Table:
    """ORDERS_UNIFIED as SQL Server may hold it: text columns of any length (NVARCHAR(MAX)), BIGINT sizes."""
    shape = orders_table(sa.MetaData())
    table = sa.Table(
        shape.name,
        sa.MetaData(),
        *[
            sa.Column(
                c.name,
                sa.BigInteger()
                if isinstance(c.type, sa.Integer)
                else sa.UnicodeText()
                if isinstance(c.type, sa.String)
                else c.type,
            )
            for c in shape.columns
        ],
    )
    with engine.begin() as conn:
        table.create(conn)
    upgrade(engine)
    return table


def world(engine, rows):
    table = wide_orders(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return engine_context(engine)


def test_the_limits_come_from_the_table_definitions():
    limits = storage_limits()
    assert (limits.key, limits.customer, limits.order_number, limits.po_number) == (400, 200, 100, 100)
    assert (limits.group_name, limits.item_name, limits.size_label, limits.subitem_name) == (255, 255, 60, 255)
    assert limits.quantity == INT32_MAX == 2_147_483_647


@pytest.mark.parametrize("kind", sorted(BAD))
def test_an_oversized_value_holds_back_its_line_and_the_rest_is_on_the_board(engine, sandbox, kind):
    row, expected = BAD[kind]
    ctx = world(engine, [ok(1), row, ok(2)])
    # The dry run reports it the same way.
    (report,) = [dry_run_report(c) for c in ctx.detect([CUSTOMER])]
    (invalid,) = report["invalid_lines"]
    reason = "; ".join(invalid["errors"])
    assert expected in reason and ("the longest OrderSync's tables hold" in reason or "the largest" in reason)

    client = monday_client(sandbox)
    try:
        (result,) = BatchProcessor(ctx, client).run([CUSTOMER])
    finally:
        client.close()

    assert result.status == s.COMPLETED_WITH_ERRORS and result.error is None
    on_board = sorted(item["column_values"]["SYNC KEY"].split(" | ")[0] for item in sandbox.board_dump(BOARD)["items"])
    assert on_board == ["MWE-00001", "MWE-00002"]
    with engine.connect() as conn:
        (error,) = conn.execute(sa.select(s.err_items).where(s.err_items.c.resolved_at.is_(None))).mappings().all()
    assert error["error_type"] == "VALIDATION" and expected in error["message"]
    assert error["order_number"] == row["AAG ORDER NUMBER"]
    for name in ("sync_key", "po_number", "customer", "order_number"):  # the error row itself fits
        value = error[name]
        assert value is None or len(value) <= s.err_items.c[name].type.length


def test_a_customer_name_longer_than_the_tables_hold_is_held_back_not_a_crash(engine, sandbox):
    name = "C" * 230
    ctx = world(engine, [{"AAG ORDER NUMBER": "MWE-00001", "CUSTOMER NAME": name}, ok(2)])
    customers = ctx.customers()
    assert CUSTOMER in customers and "C" * 200 in customers  # shortened to what every table holds
    client = monday_client(sandbox)
    try:
        results = BatchProcessor(ctx, client).run(customers)
    finally:
        client.close()
    by_customer = {r.customer: r for r in results}
    assert by_customer[CUSTOMER].status == s.COMPLETED
    assert by_customer["C" * 200].status == s.COMPLETED_WITH_ERRORS and by_customer["C" * 200].error is None
    with engine.connect() as conn:
        message = conn.execute(sa.select(s.err_items.c.message)).scalar_one()
    assert "is 230 characters long, over 200" in message


def test_a_nul_character_holds_back_its_line_and_its_error_row_is_stored(sqlite_engine, sandbox):
    # (PostgreSQL cannot hold a NUL in ORDERS_UNIFIED at all; SQL Server and SQLite can.)
    ctx = world(sqlite_engine, [ok(1), {"AAG ORDER NUMBER": "MWE-00002", "PO NUMBER": "47\x0055"}])
    client = monday_client(sandbox)
    try:
        (result,) = BatchProcessor(ctx, client).run([CUSTOMER])
    finally:
        client.close()
    assert result.status == s.COMPLETED_WITH_ERRORS
    with sqlite_engine.connect() as conn:
        error = conn.execute(sa.select(s.err_items)).mappings().one()
    assert "PO NUMBER holds a NUL character" in error["message"]
    assert error["po_number"] == "47\ufffd55" and "\x00" not in error["message"]
    assert count(sqlite_engine, s.items) == 1


# == the validators never raise anything but a VALIDATION message ================================

MAPPING = load_mapping()
SOURCE_COLUMNS = [c.name for c in orders_table(sa.MetaData(), ["S", "M", "L"]).columns]
_TEXT = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=60)
_VALUE = st.one_of(
    st.none(),
    _TEXT,
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_VALUE, min_size=40, max_size=40), long=st.integers(min_value=0, max_value=3))
def test_any_source_row_maps_to_a_line_or_validation_messages_never_an_exception(values, long):
    mapper = MAPPING.bind(SOURCE_COLUMNS, storage_limits())
    row = list(values[: len(mapper.select_columns)])
    if long:
        row[mapper.columns.index("CUSTOMER STYLE")] = "x" * (400 * long)
    line = mapper.map_row(row)
    assert isinstance(line.errors, list) and all(isinstance(e, str) and e for e in line.errors)
    if line.valid:  # a valid line stores as it is: every text fits and is storable
        limits = storage_limits()
        assert line.sync_key is not None and len(line.sync_key) <= limits.key
        assert len(line.customer) <= limits.customer and len(line.group_name) <= limits.group_name
        for text in (
            line.sync_key,
            line.customer,
            line.item_name,
            line.group_name,
            line.po_number or "",
            line.order_number or "",
            *[v for v in line.values.values() if v],
        ):
            assert unstorable(text) is None
        assert all(0 < size.quantity <= limits.quantity for size in line.sizes)
    # Whatever it is, its error row can be written: fitted and storable.
    for text in (line.sync_key or "", line.customer, line.po_number or "", "; ".join(line.errors)):
        fitted = fit(text, s.err_items.c.po_number)
        assert len(fitted) <= 100 and unstorable(fitted) is None and unstorable(storable(text)) is None
