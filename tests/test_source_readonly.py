"""OrderSync never writes ORDERS_UNIFIED: proved on SQLite and PostgreSQL.

Three independent proofs, over everything the engine does (the pending list, detection, claim,
stage, the push's confirmations, promotion, cleanup, a second round after the source changed, and on
SQLite the command line's ``status`` and ``sync --dry-run``):

1. database guards: triggers that make any INSERT, UPDATE or DELETE of ORDERS_UNIFIED fail (on
   PostgreSQL statement-level, so even a write that matches no row fails, and TRUNCATE too), so a
   write would have raised in the middle of the run;
2. every statement sent to the database (``before_cursor_execute``, on every engine, the CLI's
   included) is read: none inserts into, updates, deletes from, truncates, alters, drops or
   indexes ORDERS_UNIFIED;
3. a checksum of the table's columns and full contents is the same before and after.

Controls keep each proof from passing vacuously: a deliberate write by the test raises through the
guards (before the run, between the rounds and after it), the statement checker flags the recorded
text of that deliberate write and of OrderSync's own writes to its staging tables, and the recording
holds OrderSync's reads of ORDERS_UNIFIED.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa

from core.cli import main as cli_main
from core.db import schema as s
from core.detect.changes import CHANGED, REMOVED
from core.foundation.config import render_settings
from tests.helpers import BOARD, World, make_world

SOURCE = "ORDERS_UNIFIED"
GUARD_MESSAGE = "ORDERS_UNIFIED is read-only for OrderSync"

# --- the statement checker ------------------------------------------------------------------------

_NAME = r"""(?:[\w$]+|"[^"]+"|\[[^\]]+\]|`[^`]+`)"""  # an identifier, bare or quoted in any dialect's way
_WRITES = (
    r"INSERT\s+(?:OR\s+\w+\s+)?INTO",
    r"REPLACE\s+INTO",
    r"MERGE\s+INTO",
    r"UPDATE(?:\s+OR\s+\w+)?",
    r"DELETE\s+FROM",
    r"DELETE",
    r"TRUNCATE(?:\s+TABLE)?",
    r"ALTER\s+TABLE(?:\s+ONLY)?(?:\s+IF\s+EXISTS)?",
    r"DROP\s+TABLE(?:\s+IF\s+EXISTS)?",
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+.*?\bON(?:\s+ONLY)?",
    r"CREATE\s+TRIGGER\s+.*?\bON",
    r"DROP\s+TRIGGER\s+.*?\bON",
    r"COPY",
    r"LOCK(?:\s+TABLE)?",
)


def _strip_literals(sql: str) -> str:
    """The statement without its string literals and comments (a value may say anything)."""
    sql = re.sub(r"'(?:[^']|'')*'", "''", sql)
    sql = re.sub(r"--[^\n]*", " ", sql)
    return re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)


def writes_to(sql: str, table: str) -> str | None:
    """The clause of ``sql`` that writes, alters or drops ``table`` (schema-qualified or not, quoted
    or not), or None."""
    text = _strip_literals(sql)
    name = re.escape(table)
    target = rf"""(?:{_NAME}\s*\.\s*)*(?:{name}|"{name}"|\[{name}\]|`{name}`)(?![\w"\]`])"""
    for verb in _WRITES:
        found = re.search(rf"\b{verb}\s+{target}", text, re.IGNORECASE | re.DOTALL)
        if found:
            return found.group(0)
    return None


def test_the_statement_checker_flags_every_kind_of_write():
    writes = [
        'INSERT INTO "ORDERS_UNIFIED" ("CUSTOMER NAME") VALUES (?)',
        "insert into ORDERS_UNIFIED values (1)",
        'INSERT OR REPLACE INTO main."ORDERS_UNIFIED" ("S") VALUES (1)',
        'UPDATE "ORDERS_UNIFIED" SET "S/M"=? WHERE "ORDERS_UNIFIED"."AAG ORDER NUMBER" = ?',
        "UPDATE dbo.[ORDERS_UNIFIED] SET [TOTAL QTY]=? WHERE 1 = 1",
        'update "t_abc"."ORDERS_UNIFIED" set x = 1',
        'DELETE FROM "ORDERS_UNIFIED" WHERE "ORDERS_UNIFIED".record_uuid = %(uuid)s',
        "DELETE [ORDERS_UNIFIED] WHERE 1 = 1",
        'TRUNCATE TABLE "ORDERS_UNIFIED"',
        'ALTER TABLE "ORDERS_UNIFIED" ADD COLUMN x INTEGER',
        'ALTER TABLE ONLY public."ORDERS_UNIFIED" DROP COLUMN x',
        'DROP TABLE IF EXISTS "ORDERS_UNIFIED"',
        'DROP TABLE "ORDERS_UNIFIED"',
        'CREATE INDEX ix ON "ORDERS_UNIFIED" ("S")',
        'CREATE TRIGGER g BEFORE UPDATE ON "ORDERS_UNIFIED" BEGIN SELECT 1; END',
        "MERGE INTO dbo.[ORDERS_UNIFIED] AS t USING s ON 1 = 1 WHEN MATCHED THEN DELETE",
        'COPY "ORDERS_UNIFIED" FROM STDIN',
    ]
    for sql in writes:
        assert writes_to(sql, SOURCE), sql
    reads = [
        (
            'SELECT "ORDERS_UNIFIED"."AAG ORDER NUMBER" FROM "ORDERS_UNIFIED" '
            'WHERE "ORDERS_UNIFIED"."CUSTOMER NAME" IN (?)'
        ),
        'SELECT DISTINCT "ORDERS_UNIFIED"."CUSTOMER NAME" FROM "ORDERS_UNIFIED"',
        'PRAGMA main.table_xinfo("ORDERS_UNIFIED")',
        "UPDATE \"STG_MON_CustMasterSchedule\" SET last_error='could not UPDATE ORDERS_UNIFIED' WHERE 1 = 1",
        'INSERT INTO "ORDERS_UNIFIED_ARCHIVE" SELECT * FROM "ORDERS_UNIFIED"',
        'UPDATE "MON_BatchProcessing" SET message=? WHERE "MON_BatchProcessing".batch_id = ?',
    ]
    for sql in reads:
        assert writes_to(sql, SOURCE) is None, sql


# --- guards ---------------------------------------------------------------------------------------


class Guards:
    """Database-level guards that make every write of ORDERS_UNIFIED fail."""

    OPS = ("INSERT", "UPDATE", "DELETE")

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.dialect = engine.dialect.name

    def install(self) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                for op in self.OPS:
                    conn.exec_driver_sql(
                        f'CREATE TRIGGER "guard_{op.lower()}_orders" BEFORE {op} ON "{SOURCE}" '
                        f"BEGIN SELECT RAISE(ABORT, '{GUARD_MESSAGE} ({op})'); END"
                    )
            elif self.dialect == "postgresql":
                # Created in the test's own schema (the pg_engine fixture's search_path), dropped with it.
                conn.exec_driver_sql(
                    "CREATE FUNCTION ordersync_source_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "
                    f"BEGIN RAISE EXCEPTION USING MESSAGE = '{GUARD_MESSAGE} (' || TG_OP || ')'; END $$"
                )
                # Statement-level: fires even when the write matches no row.
                conn.exec_driver_sql(
                    f'CREATE TRIGGER guard_orders BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON "{SOURCE}" '
                    "FOR EACH STATEMENT EXECUTE FUNCTION ordersync_source_guard()"
                )
            else:  # pragma: no cover
                raise NotImplementedError(self.dialect)

    def remove(self) -> None:
        with self.engine.begin() as conn:
            if self.dialect == "sqlite":
                for op in self.OPS:
                    conn.exec_driver_sql(f'DROP TRIGGER "guard_{op.lower()}_orders"')
            else:
                conn.exec_driver_sql(f'DROP TRIGGER guard_orders ON "{SOURCE}"')
                conn.exec_driver_sql("DROP FUNCTION ordersync_source_guard()")

    def count(self) -> int:
        with self.engine.connect() as conn:
            if self.dialect == "sqlite":
                return conn.execute(
                    sa.text(
                        "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t "
                        "AND name LIKE 'guard_%'"
                    ),
                    {"t": SOURCE},
                ).scalar_one()
            return conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_trigger WHERE tgrelid = CAST(:t AS regclass) AND tgname = 'guard_orders' "
                    "AND tgenabled <> 'D'"
                ),
                {"t": f'"{SOURCE}"'},
            ).scalar_one()

    @contextlib.contextmanager
    def lifted(self):
        """The guards off, for the test's own edit of the source."""
        self.remove()
        try:
            yield
        finally:
            self.install()


def assert_guards_fire(engine: sa.Engine, recorder: Recorder | None = None) -> None:
    """Control: a deliberate INSERT, UPDATE and DELETE of ORDERS_UNIFIED by the test all fail."""
    orders = sa.Table(SOURCE, sa.MetaData(), autoload_with=engine)
    attempts = [
        sa.insert(orders).values({"AAG ORDER NUMBER": "XXX-99999", "CUSTOMER NAME": "NOBODY"}),
        sa.update(orders).values({"TOTAL QTY": orders.c["TOTAL QTY"]}),
        sa.delete(orders),
    ]
    for statement in attempts:
        with contextlib.ExitStack() as stack:
            if recorder is not None:
                stack.enter_context(recorder.control())
            with pytest.raises(sa.exc.DBAPIError, match=re.escape(GUARD_MESSAGE)), engine.begin() as conn:
                conn.execute(statement)


# --- checksum -------------------------------------------------------------------------------------


def checksum(engine: sa.Engine) -> tuple[int, str]:
    """(rows, digest) over the table's column definitions and every row, independent of row order."""
    with engine.connect() as conn:
        table = sa.Table(SOURCE, sa.MetaData(), autoload_with=conn)
        columns = [(c.name, str(c.type), c.nullable) for c in table.columns]
        rows = sorted(hashlib.sha256(repr(tuple(row)).encode()).hexdigest() for row in conn.execute(sa.select(table)))
    digest = hashlib.sha256(repr(columns).encode())
    for row in rows:
        digest.update(row.encode())
    return len(rows), digest.hexdigest()


# --- recording ------------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Every statement any engine sends while ``on``; the test's own statements are kept apart."""

    on: bool = False
    statements: list[str] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    _control: bool = False

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if self._control:
            self.controls.append(statement)
        elif self.on:
            self.statements.append(statement)

    @contextlib.contextmanager
    def recording(self):
        self.on = True
        try:
            yield
        finally:
            self.on = False

    @contextlib.contextmanager
    def control(self):
        self._control = True
        try:
            yield
        finally:
            self._control = False


@pytest.fixture
def recorder():
    rec = Recorder()
    # On the Engine class: the engine the CLI creates for itself is recorded too.
    sa.event.listen(sa.Engine, "before_cursor_execute", rec)
    try:
        yield rec
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", rec)


# --- the run --------------------------------------------------------------------------------------


def run_everything(world: World) -> dict[str, int]:
    """The engine's whole data path over every customer; returns the kinds of change it met."""
    kinds: dict[str, int] = {}
    pending = world.pending()
    with world.engine.connect() as conn:
        source = world.source
        source.key_census(conn)
        source.customer_names(conn)
        source.unknown_customers(conn)
    for customer in sorted(pending):
        changes = world.detect(customer)
        for change in changes.changes:
            kinds[change.kind] = kinds.get(change.kind, 0) + 1
        batch, _ = world.sync(customer)  # claim, stage, confirm_all, promote, cleanup, COMPLETED
        world.staging.heartbeat(batch.batch_id)
        world.staging.row_counts(batch.batch_id)
    return kinds


def edit_source(world: World) -> None:
    """The test's own change of ORDERS_UNIFIED (guards lifted): a quantity, a deleted line, a cancelled
    line, all valid lines of MACK WELDON with a key of their own."""
    orders = world.orders()
    uuid = orders.c["record_uuid"]
    key = ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION")
    with world.engine.begin() as conn:
        rows = (
            conn.execute(
                sa.select(orders)
                .where(
                    orders.c["CUSTOMER NAME"] == "MACK WELDON",
                    orders.c["AAG ORDER NUMBER"].is_not(None),
                    orders.c["CUSTOMER PRICE"] != "N/A",
                )
                .order_by(uuid)
            )
            .mappings()
            .all()
        )
        keys = Counter(tuple(r[k] for k in key) for r in rows)
        rows = [r for r in rows if keys[tuple(r[k] for k in key)] == 1]
        sized = next(r for r in rows if (r["M"] or 0) > 0)
        deleted, cancelled = [r for r in rows if r is not sized][:2]
        conn.execute(
            sa.update(orders)
            .where(uuid == sized["record_uuid"])
            .values({"M": sized["M"] + 5, "TOTAL QTY": (sized["TOTAL QTY"] or 0) + 5})
        )
        conn.execute(sa.delete(orders).where(uuid == deleted["record_uuid"]))
        conn.execute(sa.update(orders).where(uuid == cancelled["record_uuid"]).values({"ORDER TYPE": "CANCELLED"}))


def run_cli(engine: sa.Engine, tmp_path, capsys) -> list[dict]:
    settings = tmp_path / "settings.toml"
    settings.write_text(render_settings({"database.url": str(engine.url), "monday.board_id": BOARD}), encoding="utf-8")
    outputs = []
    for argv, codes in ((["status", "--json"], (0,)), (["sync", "--all", "--dry-run", "--json"], (0, 1))):
        code = cli_main([*argv, "--config", str(settings)])
        captured = capsys.readouterr()
        assert code in codes, (argv, code, captured.err)
        outputs.append(json.loads(captured.out))
    return outputs


def test_ordersync_never_writes_orders_unified(engine, recorder, tmp_path, capsys):
    world = make_world(engine, n_orders=300, seed=3, hostile=True)
    guards = Guards(engine)
    guards.install()
    assert guards.count() == (3 if engine.dialect.name == "sqlite" else 1)
    assert_guards_fire(engine, recorder)
    before = checksum(engine)
    assert before[0] == 300

    # -- first round: every customer is new
    with recorder.recording():
        first = run_everything(world)
    assert first.get("NEW", 0) > 100, first
    assert checksum(engine) == before

    # -- the test changes the source itself, with the guards lifted
    with guards.lifted():
        edit_source(world)
    changed = checksum(engine)
    assert changed != before and changed[0] == before[0] - 1
    assert_guards_fire(engine, recorder)

    # -- second round: CHANGED and REMOVED lines, then (SQLite) the command line
    with recorder.recording():
        second = run_everything(world)
        if engine.dialect.name == "sqlite":
            status, dry_run = run_cli(engine, tmp_path, capsys)
            assert {c["customer"] for c in status["customers"]} >= {"MACK WELDON", "JOHNNIE O"}
            assert dry_run["dry_run"] is True and dry_run["customers"]
    assert second.get(CHANGED, 0) >= 2 and second.get(REMOVED, 0) >= 1, second
    assert checksum(engine) == changed
    assert guards.count() == (3 if engine.dialect.name == "sqlite" else 1)
    assert_guards_fire(engine, recorder)
    assert checksum(engine) == changed

    # -- no statement OrderSync sent writes, alters or drops the source table
    statements = recorder.statements
    offending = [(clause, sql) for sql in statements if (clause := writes_to(sql, SOURCE))]
    assert not offending, "OrderSync wrote ORDERS_UNIFIED:\n" + "\n".join(f"{c!r} in: {sql}" for c, sql in offending)

    # -- controls: the recording is real and the checker sees writes in it
    reads = [sql for sql in statements if re.search(rf'\bFROM\s+"?{SOURCE}\b', sql)]
    assert len(reads) >= 10, len(reads)  # OrderSync read the source, and it was recorded
    assert any(writes_to(sql, s.stg_items.name) for sql in statements)  # its own writes are seen as writes
    assert any(writes_to(sql, s.items.name) for sql in statements)
    assert any(writes_to(sql, s.batches.name) for sql in statements)
    assert len(recorder.controls) >= 3
    assert all(writes_to(sql, SOURCE) for sql in recorder.controls), recorder.controls  # the test's own writes are
    if engine.dialect.name == "sqlite":
        # the CLI's engine was recorded too (its status query of recent batches)
        assert any("LIMIT" in sql and s.batches.name in sql for sql in statements)
