"""OrderSync's own tables come from versioned migrations, on SQLite and PostgreSQL.

``db upgrade`` creates them from nothing and is a no-op the second time; every other command checks
the version first. The migrated schema must be exactly ``core.db.schema.metadata``, or the code and
the database disagree; the one-active-batch-per-customer rule is enforced by the database itself.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from core.db import schema as s
from core.db.engine import create_engine, own_schema
from core.db.migrate import VERSION_TABLE, current_revision, head_revision, require_current, upgrade, upgrade_sql
from core.demo.data import create_orders_table
from core.foundation.exceptions import SchemaError

OWN_TABLE_NAMES = {t.name for t in s.OWN_TABLES}


def table_names(engine: sa.Engine, schema: str | None = None) -> set[str]:
    return set(sa.inspect(engine).get_table_names(schema=schema))


def batch_row(customer: str, status: str) -> dict:
    now = dt.datetime(2026, 1, 5, 9, 30)
    return {
        "customer": customer,
        "board_id": "9200517329",
        "status": status,
        "started_at": now,
        "heartbeat_at": now,
        "owner_host": "PLAN-WS-01",
        "owner_user": "planner",
        "owner_pid": 4242,
        "owner_app": "test",
    }


def schema_differences(engine: sa.Engine, schema: str | None = None) -> list:
    """Alembic's autogenerate comparison of the database with ``core.db.schema.metadata``.

    With ``schema``, the tables are compared in that schema (through a plain connection: reflection
    and ``schema_translate_map`` do not mix) and every other schema is left out.
    """
    target = s.metadata
    opts: dict = {"compare_type": True, "compare_server_default": True}
    if schema:
        target = sa.MetaData(naming_convention=s.metadata.naming_convention)
        for table in s.metadata.sorted_tables:
            table.to_metadata(target, schema=schema)
        opts.update(include_schemas=True, include_name=lambda name, kind, parents: kind != "schema" or name == schema)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=opts)
        diffs = compare_metadata(context, target)
    return [d for d in diffs if not _is_version_table(d)]


def _is_version_table(diff) -> bool:
    return isinstance(diff, tuple) and diff[0] == "remove_table" and diff[1].name == VERSION_TABLE


def test_the_schema_names_its_ten_tables():
    assert OWN_TABLE_NAMES == {
        "MON_BatchProcessing",
        "STG_MON_CustMasterSchedule",
        "STG_MON_CustMasterSchedule_Subitems",
        "ERR_MON_CustMasterSchedule",
        "ERR_MON_CustMasterSchedule_Subitems",
        "MON_CustMasterSchedule",
        "MON_CustMasterSchedule_Subitems",
        "MON_Requests",
        "MON_AuditLog",
        "MON_Decisions",
    }
    assert set(s.metadata.tables) == OWN_TABLE_NAMES


def test_upgrade_from_nothing_creates_every_table_and_the_version_table(engine):
    assert table_names(engine) == set()
    assert current_revision(engine) is None
    before, after = upgrade(engine)
    assert (before, after) == (None, head_revision())
    assert table_names(engine) == OWN_TABLE_NAMES | {VERSION_TABLE}
    with engine.connect() as conn:
        versions = conn.execute(sa.text(f'SELECT version_num FROM "{VERSION_TABLE}"')).scalars().all()
    assert versions == [head_revision()]


def test_require_current_refuses_a_missing_schema_and_names_db_upgrade(engine):
    with pytest.raises(SchemaError) as caught:
        require_current(engine)
    assert "db upgrade" in str(caught.value)
    assert caught.value.exit_code == 2
    upgrade(engine)
    require_current(engine)  # passes now


def test_require_current_refuses_a_schema_newer_than_the_program(engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f'UPDATE "{VERSION_TABLE}" SET version_num = :v'), {"v": "9999"})
    with pytest.raises(SchemaError) as caught:
        require_current(engine)
    assert "newer than this program" in str(caught.value) and "9999" in str(caught.value)


def test_upgrade_leaves_the_source_table_alone(engine):
    with engine.begin() as conn:
        create_orders_table(conn, 25, seed=4, size_columns=["S", "M", "L"])
    with engine.connect() as conn:
        before = conn.execute(sa.text('SELECT * FROM "ORDERS_UNIFIED" ORDER BY record_uuid')).all()
    upgrade(engine)
    assert "ORDERS_UNIFIED" in table_names(engine)
    with engine.connect() as conn:
        after = conn.execute(sa.text('SELECT * FROM "ORDERS_UNIFIED" ORDER BY record_uuid')).all()
    assert after == before and len(after) == 25
    assert "ORDERS_UNIFIED" not in upgrade_sql("mssql")


def test_second_upgrade_is_a_no_op(engine):
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("MACK WELDON", s.COMPLETED))
    before, after = upgrade(engine)
    assert before == after == head_revision()
    assert table_names(engine) == OWN_TABLE_NAMES | {VERSION_TABLE}
    with engine.connect() as conn:
        assert conn.execute(sa.select(s.batches.c.customer)).scalars().all() == ["MACK WELDON"]
        assert conn.execute(sa.text(f'SELECT COUNT(*) FROM "{VERSION_TABLE}"')).scalar_one() == 1


def test_migrated_schema_matches_the_metadata(engine):
    upgrade(engine)
    assert schema_differences(engine) == []


def test_the_comparison_would_notice_a_drift(engine):
    """The comparison above is not vacuous: a column the code has and the database lacks shows up."""
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text('DROP INDEX "IX_MON_CustMasterSchedule_monday_item_id"'))
    diffs = schema_differences(engine)
    assert [(d[0], d[1].name) for d in diffs] == [("add_index", "IX_MON_CustMasterSchedule_monday_item_id")]


def test_one_active_batch_per_customer_is_enforced_by_the_database(engine):
    upgrade(engine)
    with engine.begin() as conn:
        first = conn.execute(
            s.batches.insert().returning(s.batches.c.batch_id), batch_row("MACK WELDON", s.STARTED)
        ).scalar_one()
    for status in s.ACTIVE_BATCH_STATES:
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(s.batches.insert(), batch_row("MACK WELDON", status))
    # Another customer is independent.
    with engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("JOHNNIE O", s.PUSHING))
    # Once the first batch is final, a new active batch for the customer is allowed ...
    with engine.begin() as conn:
        conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == first).values(status=s.COMPLETED))
        conn.execute(s.batches.insert(), batch_row("MACK WELDON", s.STARTED))
    # ... and any number of final ones.
    with engine.begin() as conn:
        conn.execute(s.batches.insert(), [batch_row("MACK WELDON", status) for status in s.FINAL_BATCH_STATES])
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.batches.c.status).where(s.batches.c.customer == "MACK WELDON")).scalars()
        statuses = sorted(rows)
    assert statuses == sorted([s.COMPLETED, s.STARTED, *s.FINAL_BATCH_STATES])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("MACK WELDON", s.PROMOTING))


def test_unknown_states_are_rejected_by_the_database(engine):
    upgrade(engine)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("MACK WELDON", "HALF_DONE"))


def _to_revision(engine: sa.Engine, revision: str) -> None:
    """Downgrade (there is no command for it: this is what a DBA's alembic run would do)."""
    from alembic import command
    from alembic.config import Config

    from core.db.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes.update(connection=conn, schema=own_schema(engine))
        command.downgrade(config, revision)


def test_the_key_collation_revision_is_a_no_op_here_both_ways(engine):
    """0002 gives SQL Server's key columns a binary collation; SQLite and PostgreSQL compare exactly already."""
    upgrade(engine)
    _to_revision(engine, "0002")
    _to_revision(engine, "0001")  # 0002's downgrade: nothing to undo here
    assert current_revision(engine) == "0001"
    with pytest.raises(SchemaError, match="db upgrade"):
        require_current(engine)
    assert upgrade(engine) == ("0001", head_revision())
    assert schema_differences(engine) == []


def test_the_key_columns_tell_keys_that_differ_only_in_case_apart(engine):
    upgrade(engine)
    now = dt.datetime(2026, 1, 5, 9, 30)
    row = {
        "board_id": "9200517329",
        "customer": "MACK WELDON",
        "item_name": "M01 Blue MWE-1",
        "values_json": "{}",
        "content_hash": "c",
        "line_hash": "l",
        "is_removed": False,
        "first_synced_at": now,
        "last_synced_at": now,
    }
    keys = ["MWE-1 | M01 | Blue", "MWE-1 | m01 | Blue", "MWE-1 | M01 | BLUE"]
    with engine.begin() as conn:
        conn.execute(s.items.insert(), [{**row, "sync_key": k, "monday_item_id": str(n)} for n, k in enumerate(keys)])
        conn.execute(
            s.subitems.insert(),
            [
                {
                    "board_id": "9200517329",
                    "parent_sync_key": keys[0],
                    "size_label": label,
                    "customer": "MACK WELDON",
                    "monday_subitem_id": label,
                    "parent_monday_item_id": "0",
                    "subitem_name": f"Size {label}",
                    "values_json": "{}",
                    "content_hash": "c",
                    "is_removed": False,
                    "first_synced_at": now,
                    "last_synced_at": now,
                }
                for label in ("XL", "xl")
            ],
        )
    with engine.connect() as conn:
        found = conn.execute(sa.select(s.items.c.monday_item_id).where(s.items.c.sync_key == keys[1])).scalars().all()
        sizes = conn.execute(sa.select(s.subitems.c.size_label).where(s.subitems.c.size_label == "xl")).scalars().all()
    assert found == ["1"] and sizes == ["xl"]


# --- PostgreSQL: a schema of OrderSync's own ------------------------------------------------------


@pytest.fixture
def own_schema_engine(pg_engine):
    """An engine through core.db.engine.create_engine whose own tables go to a separate schema.

    The search_path is the test's schema (as pg_engine's), so the source table and anything
    unqualified land there, and only OrderSync's tables are moved.
    """
    own = f"{pg_engine.test_schema}_own"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{own}"'))
    url = pg_engine.url.update_query_dict({"options": f"-csearch_path={pg_engine.test_schema}"})
    engine = create_engine(url.render_as_string(hide_password=False), schema=own)
    engine.own = own  # type: ignore[attr-defined]
    try:
        yield engine
    finally:
        engine.dispose()
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{own}" CASCADE'))


@pytest.mark.postgres
def test_own_tables_and_version_table_go_to_the_configured_schema(pg_engine, own_schema_engine):
    own = own_schema_engine.own
    assert own_schema(own_schema_engine) == own
    with pg_engine.begin() as conn:
        create_orders_table(conn, 10, seed=1, size_columns=["S", "M"])
    with pytest.raises(SchemaError, match="db upgrade"):
        require_current(own_schema_engine)
    before, after = upgrade(own_schema_engine)
    assert (before, after) == (None, head_revision())
    assert table_names(pg_engine, own) == OWN_TABLE_NAMES | {VERSION_TABLE}
    assert table_names(pg_engine, pg_engine.test_schema) == {"ORDERS_UNIFIED"}
    with pg_engine.connect() as conn:
        assert conn.execute(sa.text(f'SELECT version_num FROM "{own}"."{VERSION_TABLE}"')).scalar_one() == after
    require_current(own_schema_engine)
    assert upgrade(own_schema_engine) == (after, after)
    # Statements through the engine reach the own schema, and the active-batch rule holds there.
    with own_schema_engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("PELOTON", s.STARTED))
    with pytest.raises(sa.exc.IntegrityError), own_schema_engine.begin() as conn:
        conn.execute(s.batches.insert(), batch_row("PELOTON", s.STAGED))
    with pg_engine.connect() as conn:
        assert conn.execute(sa.text(f'SELECT customer FROM "{own}"."MON_BatchProcessing"')).scalars().all() == [
            "PELOTON"
        ]
    # The migrated tables in the own schema match the metadata too.
    assert schema_differences(pg_engine, own) == []
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'DROP INDEX "{own}"."IX_MON_CustMasterSchedule_monday_item_id"'))
    assert [(d[0], d[1].name) for d in schema_differences(pg_engine, own)] == [
        ("add_index", "IX_MON_CustMasterSchedule_monday_item_id")
    ]


@pytest.mark.postgres
def test_two_own_schemas_in_one_database_are_independent(pg_engine, own_schema_engine):
    """Upgrading one schema does not make another look current (the version table is per schema)."""
    upgrade(own_schema_engine)
    other = f"o_{uuid.uuid4().hex[:12]}"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other}"'))
    url = pg_engine.url.update_query_dict({"options": f"-csearch_path={pg_engine.test_schema}"})
    second = create_engine(url.render_as_string(hide_password=False), schema=other)
    try:
        assert current_revision(second) is None
        with pytest.raises(SchemaError, match="db upgrade"):
            require_current(second)
        upgrade(second)
        assert table_names(pg_engine, other) == OWN_TABLE_NAMES | {VERSION_TABLE}
    finally:
        second.dispose()
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{other}" CASCADE'))


# --- 0008: the audit trail holds the cells whose board value was kept ------------------------------


def audit_row(kind: str, **values) -> dict:
    return {
        "batch_id": 7,
        "customer": "MACK WELDON",
        "sync_key": "MWE-1 | M01 | Blue",
        "order_number": "MWE-1",
        "monday_item_id": "101",
        "column_id": "text_price",
        "column_title": "CUSTOMER PRICE",
        "value_before": "28.86",
        "value_sent": "29.99",
        "kind": kind,
        "changed_by_user": "planner",
        "changed_by_host": "PLAN-WS-01",
        "changed_at": dt.datetime(2026, 1, 5, 9, 30),
        **values,
    }


def test_0008_upgrades_an_audit_trail_with_rows_and_accepts_kept_cells(engine):
    upgrade(engine)
    _to_revision(engine, "0007")
    a = s.audit_log
    with engine.begin() as conn:  # the rows as 0007 holds them (no value not sent)
        conn.execute(a.insert(), [audit_row(s.UPDATED), audit_row(s.RESTORED, value_before="29.99")])
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # 0007 refuses the new kind
        conn.execute(a.insert(), audit_row(s.KEPT))
    with engine.connect() as conn:
        before = [tuple(r) for r in conn.execute(sa.select(a.c.audit_id, a.c.kind, a.c.value_before, a.c.value_sent))]

    assert upgrade(engine) == ("0007", head_revision())
    assert schema_differences(engine) == []
    with engine.connect() as conn:
        after = conn.execute(sa.select(a).order_by(a.c.audit_id)).mappings().all()
    assert [(r["audit_id"], r["kind"], r["value_before"], r["value_sent"]) for r in after] == before
    assert [r["value_not_sent"] for r in after] == [None, None]
    with engine.begin() as conn:
        kept = conn.execute(a.insert(), audit_row(s.KEPT, value_sent="31", value_not_sent="29.99"))
        kept_id = kept.inserted_primary_key[0]
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:  # the constraint still checks
        conn.execute(a.insert(), audit_row("GUESSED"))
    # The table kept its never-reused ids (SQLite rebuilt it: AUTOINCREMENT stays).
    with engine.begin() as conn:
        conn.execute(sa.delete(a).where(a.c.audit_id == kept_id))
        again = conn.execute(a.insert(), audit_row(s.KEPT, value_sent="31", value_not_sent="30.50"))
    assert again.inserted_primary_key[0] > kept_id

    # Back to 0007: the kept rows go (it cannot hold them), the others stay.
    _to_revision(engine, "0007")
    with engine.connect() as conn:
        rows = conn.execute(sa.text('SELECT audit_id, kind FROM "MON_AuditLog" ORDER BY audit_id')).all()
    assert [tuple(r) for r in rows] == [(i, kind) for i, kind, *_ in before]
    assert upgrade(engine) == ("0007", head_revision())
