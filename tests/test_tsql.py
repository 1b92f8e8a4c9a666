"""Everything OrderSync would say to SQL Server is valid T-SQL (sqlglot's ``tsql`` dialect).

Two sources of SQL are checked, both compiled for ``sqlalchemy.dialects.mssql``:

* the DDL: the offline migration script (``upgrade_sql("mssql")``, split on ``GO`` and ``;``) and
  ``CreateTable`` / ``CreateIndex`` of every table in ``core.db.schema.OWN_TABLES``;
* every statement the engine issues: a full, realistic run on SQLite (hostile source rows, every
  customer, failures, a busy customer, a resumed batch, changed / removed / cancelled lines, and the
  CLI) is recorded through SQLAlchemy's ``before_execute`` event, and each Core statement object is
  compiled for SQL Server exactly as ``Connection.execute`` would compile it there (same column keys,
  executemany flag and ``schema_translate_map``), with post-compile parameters rendered.

sqlglot is lenient in two ways that could make this vacuous, and both are closed here (see
``parse_tsql``): a statement it does not understand can become a raw ``exp.Command`` (failed on), and
its tsql reader also accepts other dialects' syntax it knows how to transpile (LIMIT, TRUE, RETURNING,
``||``, ``::``, ``IN ()``, a dangling comma; ``tsql_lint`` fails on those). Parsing is always with
``ErrorLevel.RAISE``; ``test_the_checker_itself_rejects_what_is_not_tsql`` is the control.

No sqlglot allowance is needed for the statements OrderSync issues today; if one ever is, add it to
``SQLGLOT_GAPS`` with the exact statement shape and why it is valid T-SQL.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
import sqlglot
import sqlglot.errors
from sqlalchemy.dialects import mssql
from sqlalchemy.sql import util as sql_util
from sqlglot import exp

from core.cli import main as cli_main
from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import VERSION_TABLE, upgrade_sql
from core.detect.changes import CHANGED, REMOVED
from core.foundation.config import render_settings
from core.foundation.exceptions import CustomerBusy
from core.push.run import BatchProcessor
from core.staging.errors import ErrorHandler
from core.staging.operations import Failure, Owner, StagingOperations
from tests.helpers import BOARD, confirm_all, engine_context, make_world, monday_client, order_row, start_sandbox

SCHEMA = "dbo"  # what create_engine gives a mssql:// URL when no schema is configured
MSSQL = mssql.dialect(paramstyle="qmark")  # mssql+pyodbc, as core.db.engine creates it; pyodbc binds with ?

# Statements sqlglot rejects although they are valid T-SQL: (regex on the compiled SQL, why).
# Empty on purpose: every statement OrderSync issues parses today. Keep each entry narrow.
SQLGLOT_GAPS: tuple[tuple[str, str], ...] = ()


class NotTSQL(AssertionError):
    pass


# sqlglot's tsql reader is a transpiler's reader: it also accepts what it can rewrite into T-SQL, so a
# parse alone would wave through the usual non-T-SQL output of a wrong dialect. These tokens parse
# but SQL Server rejects them (LIMIT and bare OFFSET, TRUE/FALSE literals, RETURNING, ILIKE, || and ::).
# (T-SQL's OUTPUT clause is tokenised as RETURNING too, hence the check on the text.)
_NOT_TSQL_TOKENS = {"LIMIT", "TRUE", "FALSE", "RETURNING", "ILIKE", "DPIPE", "DCOLON"}
_TSQL = sqlglot.Dialect.get_or_raise("tsql")


def tsql_lint(sql: str) -> list[str]:
    """What sqlglot's tsql reader accepts although SQL Server does not."""
    tokens = _TSQL.tokenize(sql)
    kinds = [t.token_type.name for t in tokens]
    problems = [
        f"{t.text!r} is not T-SQL"
        for t in tokens
        if t.token_type.name in _NOT_TSQL_TOKENS and t.text.upper() != "OUTPUT"
    ]
    if "OFFSET" in kinds and "FETCH" not in kinds:
        problems.append("OFFSET without FETCH is not T-SQL")
    for first, second, third in zip(kinds, kinds[1:], kinds[2:] + [None], strict=False):
        if first == "COMMA" and second in ("FROM", "R_PAREN", "WHERE"):
            problems.append(f"a dangling comma before {second}")
        if first == "IN" and second == "L_PAREN" and third == "R_PAREN":
            problems.append("an empty IN () list")
    return problems


def boolean_in_select_list(tree: exp.Expression) -> list[str]:
    """A predicate (EXISTS, a comparison, AND / OR) as a column of a select list: T-SQL has no boolean
    values there, so SQL Server refuses it; it must be a CASE WHEN … THEN 1 ELSE 0 END."""
    problems = []
    for select in tree.find_all(exp.Select):
        for column in select.expressions:
            inner = column.this if isinstance(column, exp.Alias) else column
            while isinstance(inner, exp.Paren):
                inner = inner.this
            if isinstance(inner, (exp.Predicate, exp.Connector, exp.Not)):
                problems.append(f"a boolean expression in a select list ({inner.sql(dialect='tsql')[:60]})")
    return problems


def parse_tsql(sql: str) -> list[exp.Expression]:
    """Parse ``sql`` as T-SQL; raise NotTSQL unless sqlglot understood every part of it as T-SQL."""
    for pattern, _why in SQLGLOT_GAPS:
        if re.search(pattern, sql):
            return []
    try:
        trees = [t for t in sqlglot.parse(sql, read="tsql", error_level=sqlglot.ErrorLevel.RAISE) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as exc:
        raise NotTSQL(f"sqlglot (tsql) rejects:\n{sql}\n--> {exc}") from None
    if not trees:
        raise NotTSQL(f"sqlglot parsed nothing from:\n{sql}")
    for tree in trees:
        command = next(tree.find_all(exp.Command), None)
        if command is not None:
            raise NotTSQL(f"sqlglot fell back to an unparsed Command for:\n{sql}\n--> {command.sql()}")
    problems = tsql_lint(sql) + [problem for tree in trees for problem in boolean_in_select_list(tree)]
    if problems:
        raise NotTSQL(f"parses, but is not T-SQL ({'; '.join(problems)}):\n{sql}")
    return trees


def _from_clause(tree: exp.Expression):
    return tree.args.get("from_") or tree.args.get("from")


# == DDL: the migration script ===================================================================


def script_statements(script: str) -> list[str]:
    """The statements of an offline Alembic script: batches split on GO, then on a trailing ';'."""
    statements = []
    for batch in re.split(r"^\s*GO\s*$", script, flags=re.MULTILINE | re.IGNORECASE):
        body = "\n".join(line for line in batch.splitlines() if not line.lstrip().startswith("--"))
        statements += [part.strip() for part in re.split(r";\s*$", body, flags=re.MULTILINE) if part.strip()]
    return statements


SCRIPT = upgrade_sql("mssql", schema=SCHEMA)
SCRIPT_STATEMENTS = script_statements(SCRIPT)


def _statement_id(sql: str) -> str:
    return re.sub(r"\s+", " ", sql)[:70]


def test_the_migration_script_is_split_into_every_statement():
    creates = [x for x in SCRIPT_STATEMENTS if x.startswith("CREATE TABLE")]
    indexes = [x for x in SCRIPT_STATEMENTS if re.match(r"CREATE (UNIQUE )?INDEX", x)]
    # The version table, every own table and every index of schema.py, one statement each.
    assert any(x.startswith(f"CREATE TABLE {SCHEMA}.[{VERSION_TABLE}] (") for x in creates)
    assert all(x.count("CREATE ") <= 1 for x in SCRIPT_STATEMENTS)
    for table in s.OWN_TABLES:
        assert any(f"[{table.name}] (" in x for x in creates), table.name
        for index in table.indexes:
            assert any(f"[{index.name}]" in x for x in indexes), index.name
    assert SCRIPT_STATEMENTS[0] == "BEGIN TRANSACTION" and SCRIPT_STATEMENTS[-1] == "COMMIT"


@pytest.mark.parametrize("sql", SCRIPT_STATEMENTS, ids=_statement_id)
def test_every_statement_of_the_migration_script_parses_as_tsql(sql):
    (tree,) = parse_tsql(sql)
    assert isinstance(
        tree, (exp.Create, exp.Alter, exp.Drop, exp.Insert, exp.Update, exp.Delete, exp.Transaction, exp.Commit)
    ), type(tree)


def test_the_migration_script_uses_the_modern_types():
    assert "NVARCHAR(max)" in SCRIPT
    assert "DATETIME2" in SCRIPT
    assert not re.search(r"\bNTEXT\b", SCRIPT, re.IGNORECASE)
    assert not re.search(r"\bDATETIME\b", SCRIPT, re.IGNORECASE)  # the coarse DATETIME (DATETIME2 is one word)
    assert not re.search(r"\bN?TEXT\b", SCRIPT, re.IGNORECASE)
    # Every long text column became NVARCHAR(max), every timestamp DATETIME2.
    long_text = sum(1 for t in s.OWN_TABLES for c in t.columns if isinstance(c.type, sa.UnicodeText))
    assert SCRIPT.count("NVARCHAR(max)") >= long_text > 0
    timestamps = sum(1 for t in s.OWN_TABLES for c in t.columns if isinstance(c.type, sa.DateTime))
    assert SCRIPT.count("DATETIME2") >= timestamps > 0


def _filtered_index(sql: str) -> exp.Where:
    (tree,) = parse_tsql(sql)
    assert isinstance(tree, exp.Create) and tree.args.get("unique"), sql
    index = tree.this
    assert isinstance(index, exp.Index) and index.name == "UX_MON_BatchProcessing_active_customer"
    where = index.args["params"].args.get("where")
    assert isinstance(where, exp.Where), f"no WHERE clause: {sql}"
    return where


def _where_states(where: exp.Where) -> set[str]:
    condition = where.this
    assert isinstance(condition, exp.In) and condition.this.name == "status"
    return {literal.name for literal in condition.expressions}


def test_the_one_active_batch_index_is_filtered_in_the_script():
    (sql,) = [x for x in SCRIPT_STATEMENTS if "UX_MON_BatchProcessing_active_customer" in x]
    assert _where_states(_filtered_index(sql)) == set(s.ACTIVE_BATCH_STATES)


# == DDL: the table definitions compiled directly =================================================


def compile_ddl(element) -> str:
    return str(element.compile(dialect=MSSQL, schema_translate_map={None: SCHEMA}, render_schema_translate=True))


@pytest.mark.parametrize("table", s.OWN_TABLES, ids=lambda t: t.name)
def test_create_table_and_its_indexes_parse_as_tsql(table):
    sql = compile_ddl(sa.schema.CreateTable(table))
    (tree,) = parse_tsql(sql)
    assert isinstance(tree, exp.Create) and tree.this.this.name == table.name
    assert f"{SCHEMA}.[{table.name}]" in sql
    assert "NVARCHAR(max)" in sql and "DATETIME2" in sql
    assert not re.search(r"\bN?TEXT\b|\bDATETIME\b", sql, re.IGNORECASE), sql
    assert table.indexes
    for index in table.indexes:
        index_sql = compile_ddl(sa.schema.CreateIndex(index))
        (tree,) = parse_tsql(index_sql)
        assert isinstance(tree, exp.Create) and tree.this.name == index.name
        if index.name == "UX_MON_BatchProcessing_active_customer":
            assert _where_states(_filtered_index(index_sql)) == set(s.ACTIVE_BATCH_STATES)


def test_the_migration_script_creates_every_table_in_the_configured_schema():
    script = upgrade_sql("mssql", schema="ordersync")
    for statement in script_statements(script):
        if statement.startswith("CREATE TABLE"):
            assert statement.startswith("CREATE TABLE ordersync."), statement.splitlines()[0]
        if statement.startswith(("CREATE INDEX", "CREATE UNIQUE INDEX")):
            assert " ON ordersync." in statement.splitlines()[0], statement.splitlines()[0]
        if "REFERENCES" in statement:
            assert all(" ordersync." in line for line in statement.splitlines() if "REFERENCES" in line)


# == DDL: migration 0002, the key columns' binary collation =======================================


def collation_of(column: sa.Column) -> str | None:
    """The collation ``column`` has on SQL Server (its mssql type), or None for the database default."""
    return getattr(column.type.dialect_impl(MSSQL), "collation", None)


# Every key column of every table, and those migration 0002 altered in place: the tables created after
# it (MON_AuditLog, by 0004; MON_Decisions, by 0006) are created with the collation.
ALL_COLLATED = {(t.name, c.name): c for t in s.OWN_TABLES for c in t.columns if collation_of(c)}
CREATED_COLLATED = ("MON_AuditLog", "MON_Decisions")
COLLATED = {key: c for key, c in ALL_COLLATED.items() if key[0] not in CREATED_COLLATED}


def revision_statements(script: str, revision: str) -> list[str]:
    """The statements an offline script runs for one revision (after its 'Running …' comment, up to the
    version-table update that ends it)."""
    (_, _, rest) = script.partition(f" -> {revision}\n")
    assert rest, f"revision {revision} is not in the script"
    statements = script_statements(rest)
    end = next(i for i, x in enumerate(statements) if VERSION_TABLE in x)
    return statements[:end]


def downgrade_sql(dialect_name: str, schema: str | None, revisions: str) -> str:
    """The offline SQL script of a downgrade (``revisions`` like "0002:0001")."""
    from alembic import command
    from alembic.config import Config

    from core.db.migrate import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes.update(dialect_name=dialect_name, schema=schema)
    config.output_buffer = io.StringIO()
    command.downgrade(config, revisions, sql=True)
    return config.output_buffer.getvalue()


def _altered_columns(statements: list[str]) -> dict[tuple[str, str], tuple[str, int, str | None, bool]]:
    """(table, column) -> (schema, length, collation, nullable) of every ALTER COLUMN, parsed as T-SQL."""
    altered = {}
    for sql in statements:
        (tree,) = parse_tsql(sql)
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.AlterColumn):
                dtype = action.args["dtype"]
                assert dtype.this == exp.DataType.Type.NVARCHAR, sql
                collate = action.args.get("collate")
                altered[(tree.this.name, action.this.name)] = (
                    tree.this.db,
                    int(dtype.expressions[0].this.this),
                    collate.name if collate else None,
                    bool(action.args.get("allow_null")),
                )
    return altered


def _key_indexes() -> dict[str, tuple[str, str, list[str]]]:
    """name -> (kind, table, columns) of every primary key and index that includes a collated column."""
    found = {}
    for table in s.OWN_TABLES:
        for kind, name, columns in [
            ("primary", table.primary_key.name, list(table.primary_key.columns)),
            *(("index", i.name, list(i.columns)) for i in table.indexes),
        ]:
            if any((table.name, c.name) in COLLATED for c in columns):
                found[name] = (kind, table.name, [c.name for c in columns])
    return found


def test_the_key_columns_are_the_ones_with_the_binary_collation():
    assert s.KEY_COLLATION == "Latin1_General_100_BIN2"
    assert set(ALL_COLLATED) - set(COLLATED) == {
        ("MON_AuditLog", "sync_key"),
        ("MON_AuditLog", "size_label"),
        ("MON_Decisions", "sync_key"),
    }
    assert set(COLLATED) == {
        ("MON_CustMasterSchedule", "sync_key"),
        ("STG_MON_CustMasterSchedule", "sync_key"),
        ("ERR_MON_CustMasterSchedule", "sync_key"),
        ("MON_CustMasterSchedule_Subitems", "parent_sync_key"),
        ("MON_CustMasterSchedule_Subitems", "size_label"),
        ("STG_MON_CustMasterSchedule_Subitems", "parent_sync_key"),
        ("STG_MON_CustMasterSchedule_Subitems", "size_label"),
        ("ERR_MON_CustMasterSchedule_Subitems", "parent_sync_key"),
        ("ERR_MON_CustMasterSchedule_Subitems", "size_label"),
    }
    assert {collation_of(c) for c in ALL_COLLATED.values()} == {s.KEY_COLLATION}
    # Only on SQL Server: SQLite and PostgreSQL keep their own (exact) comparison.
    for column in ALL_COLLATED.values():
        for dialect in (sa.dialects.sqlite.dialect(), sa.dialects.postgresql.dialect()):
            assert getattr(column.type.dialect_impl(dialect), "collation", None) is None
        sql = compile_ddl(sa.schema.CreateTable(column.table))
        assert re.search(rf"\b{column.name} NVARCHAR\({column.type.length}\) COLLATE {s.KEY_COLLATION}\b", sql), sql


def test_migration_0002_gives_every_key_column_the_collation_in_place():
    statements = revision_statements(SCRIPT, "0002")
    altered = _altered_columns(statements)
    assert altered == {
        key: (SCHEMA, column.type.length, s.KEY_COLLATION, column.nullable) for key, column in COLLATED.items()
    }
    # SQL Server cannot change the collation of a column a key or an index includes: each of them is
    # dropped before the first ALTER COLUMN and re-created, as it was, after the last.
    first_alter = next(i for i, x in enumerate(statements) if " ALTER COLUMN " in x)
    last_alter = max(i for i, x in enumerate(statements) if " ALTER COLUMN " in x)
    for name, (kind, table, columns) in _key_indexes().items():
        if kind == "primary":
            drop = f"ALTER TABLE {SCHEMA}.[{table}] DROP CONSTRAINT [{name}]"
            create = f"ALTER TABLE {SCHEMA}.[{table}] ADD CONSTRAINT [{name}] PRIMARY KEY ({', '.join(columns)})"
        else:
            drop = f"DROP INDEX [{name}] ON {SCHEMA}.[{table}]"
            create = f"CREATE INDEX [{name}] ON {SCHEMA}.[{table}] ({', '.join(columns)})"
        assert statements.index(drop) < first_alter, drop
        assert statements.index(create) > last_alter, create
    assert len(statements) == len(altered) + 2 * len(_key_indexes())  # and nothing else
    assert {name for name, (kind, _t, _c) in _key_indexes().items() if kind == "primary"} == {
        "PK_MON_CustMasterSchedule",
        "PK_MON_CustMasterSchedule_Subitems",
    }


def test_migration_0002_honours_the_configured_schema():
    statements = revision_statements(upgrade_sql("mssql", schema="ordersync"), "0002")
    assert statements and all(" ordersync.[" in x for x in statements)
    assert {schema for schema, *_ in _altered_columns(statements).values()} == {"ordersync"}


def test_migration_0002_downgrade_returns_the_columns_to_the_database_default():
    script = downgrade_sql("mssql", SCHEMA, "0002:0001")
    (_, _, body) = script.partition("-- Running downgrade 0002 -> 0001")
    statements = [x for x in script_statements(body) if VERSION_TABLE not in x and x != "COMMIT"]
    for sql in statements:
        parse_tsql(sql)
    altered = _altered_columns(statements)
    # No COLLATE: SQL Server gives an altered column the database's default collation.
    assert altered == {key: (SCHEMA, column.type.length, None, column.nullable) for key, column in COLLATED.items()}
    assert "COLLATE" not in script
    assert sum(x.startswith("CREATE INDEX") or " ADD CONSTRAINT " in x for x in statements) == len(_key_indexes())


def test_migration_0004_creates_the_audit_log_with_its_key_columns_collated():
    statements = revision_statements(SCRIPT, "0004")
    (create,) = [x for x in statements if x.startswith("CREATE TABLE")]
    assert f"{SCHEMA}.[MON_AuditLog] (" in create
    for name, length in (("sync_key", 400), ("size_label", 60)):
        assert re.search(rf"\b{name} NVARCHAR\({length}\) COLLATE {s.KEY_COLLATION}\b", create), create
    indexes = [x for x in statements if x.startswith("CREATE INDEX")]
    assert {re.search(r"\[(IX_[^\]]+)\]", x).group(1) for x in indexes} == {i.name for i in s.audit_log.indexes}


def test_migration_0008_swaps_the_audit_kind_check_by_its_name_and_adds_the_value_not_sent():
    kinds = "'CREATED', 'UPDATED', 'MOVED', 'ARCHIVED', 'DELETED', 'RECREATED', 'RESTORED'"
    table = f"ALTER TABLE {SCHEMA}.[MON_AuditLog]"
    statements = revision_statements(SCRIPT, "0008")
    assert statements == [
        f"{table} ADD value_not_sent NVARCHAR(max) NULL",
        f"{table} DROP CONSTRAINT [CK_MON_AuditLog_kind]",
        f"{table} ADD CONSTRAINT [CK_MON_AuditLog_kind] CHECK (kind IN ({kinds}, 'KEPT'))",
    ]
    script = downgrade_sql("mssql", SCHEMA, "0008:0007")
    (_, _, body) = script.partition("-- Running downgrade 0008 -> 0007")
    back = [x for x in script_statements(body) if VERSION_TABLE not in x and x != "COMMIT"]
    assert back == [
        f"DELETE FROM {SCHEMA}.[MON_AuditLog] WHERE {SCHEMA}.[MON_AuditLog].kind = 'KEPT'",
        f"{table} DROP CONSTRAINT [CK_MON_AuditLog_kind]",
        f"{table} ADD CONSTRAINT [CK_MON_AuditLog_kind] CHECK (kind IN ({kinds}))",
        f"{table} DROP COLUMN value_not_sent",
    ]
    for sql in statements + back:
        parse_tsql(sql)


def test_migration_0002_does_nothing_on_sqlite_and_postgresql():
    # SQLite's offline script can only go to 0002: 0003 rebuilds tables from the live database.
    for dialect, target in (("sqlite", "0002"), ("postgresql", "head")):
        script = upgrade_sql(dialect, target=target)
        assert revision_statements(script, "0002") == []
        assert "COLLATE" not in script


# == every statement the engine issues ===========================================================


def shape(sql: str) -> str:
    """A statement with its IN-lists and TOP n folded, so n-parameter variants count once."""
    return re.sub(r"TOP \d+", "TOP n", re.sub(r"IN \((?:\?, )*\?\)", "IN (?…)", sql))


@dataclass
class Issued:
    """One distinct statement (its SQL Server text) and where in the run it was issued."""

    sql: str
    element: sa.ClauseElement
    phases: set[str] = field(default_factory=set)
    executemany: bool = False

    @property
    def where(self) -> str:
        return f"[{', '.join(sorted(self.phases))}]"


_BULK_INSERT = re.compile(r'INSERT INTO "?(?P<table>\w+)"? \((?P<columns>[^)]*)\) VALUES \((?:\?, )*\?\)')


@dataclass
class Recording:
    """Records what ``Connection.execute`` compiles, for every engine (the CLI makes its own).

    SQLAlchemy 2 does not emit ``before_execute`` for ``exec_driver_sql``; ``core.db.bulk`` sends
    SQLite's bulk inserts that way (on SQL Server the same rows go through ``conn.execute(sa.insert(
    table), rows)``). Those are caught in ``before_cursor_execute`` (statements without a compiled
    Core statement behind them) and turned back into the Core insert SQL Server would get, after
    checking that this insert compiles, on SQLite, to exactly the text that was sent. Any other
    driver-level SQL except the SQLite dialect's own reflection (PRAGMA, sqlite_master) fails the test.
    """

    phase: str | None = None
    raw: list[tuple[str, sa.ClauseElement, list[str], bool, dict | None]] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    unrecognised_driver_sql: list[str] = field(default_factory=list)
    statements: dict[str, Issued] = field(default_factory=dict)
    compile_errors: list[str] = field(default_factory=list)

    def before_cursor_execute(self, conn, cursor, statement, parameters, context, executemany):
        if self.phase is None or context is None or context.compiled is not None:
            return  # Core statements are recorded in before_execute
        if re.match(r"\s*PRAGMA\b", statement) or re.match(
            r"SELECT sql FROM .*\bsqlite_master\b", statement, re.DOTALL
        ):
            self.skipped["SQLite reflection (PRAGMA, sqlite_master)"] += 1
            return
        match = _BULK_INSERT.fullmatch(statement.strip())
        table = s.metadata.tables.get(match["table"]) if match else None
        if table is None:
            self.unrecognised_driver_sql.append(statement)
            return
        keys = [c.strip().strip('"') for c in match["columns"].split(",")]
        insert = sa.insert(table)
        if str(insert.compile(dialect=conn.dialect, column_keys=keys)) != statement:
            self.unrecognised_driver_sql.append(statement)
            return
        self.skipped["bulk insert (as Core insert)"] += 1
        self.raw.append(
            (
                self.phase,
                insert,
                sorted(keys),
                executemany and len(parameters) > 1,
                context.execution_options.get("schema_translate_map", {None: SCHEMA}),
            )
        )

    def before_execute(self, conn, element, multiparams, params, execution_options):
        if self.phase is None:  # the test's own set-up and its edits of the source
            return
        if isinstance(element, sa.TextClause) and element.text.strip().upper() == "SELECT 1":
            self.skipped["SELECT 1 (check_connection)"] += 1
            return
        if any(t.name == VERSION_TABLE for t in sql_util.find_tables(element, include_crud=True)):
            self.skipped["Alembic's version table"] += 1
            return
        # What Connection._execute_clauseelement hands the compiler: the sorted keys of the first
        # parameter set, executemany when there are several, and the schema_translate_map. On SQL
        # Server create_engine always sets {None: schema}; a statement that sets its own map keeps it.
        distilled = multiparams or ([params] if params else [])
        translate = execution_options.get("schema_translate_map", {None: SCHEMA})
        self.raw.append((self.phase, element, sorted(distilled[0]) if distilled else [], len(distilled) > 1, translate))

    def compile_all(self) -> None:
        for phase, element, keys, many, translate in self.raw:
            try:
                sql = str(
                    element.compile(
                        dialect=MSSQL,
                        column_keys=keys,
                        for_executemany=many,
                        schema_translate_map=translate,
                        render_schema_translate=bool(translate),
                        compile_kwargs={"render_postcompile": True},
                    )
                )
            except sa.exc.SQLAlchemyError as exc:
                self.compile_errors.append(f"[{phase}] {type(element).__name__}: {type(exc).__name__}: {exc}")
                continue
            issued = self.statements.setdefault(sql, Issued(sql, element))
            issued.phases.add(phase)
            issued.executemany |= many

    @property
    def executions(self) -> int:
        return len(self.raw)

    @property
    def shapes(self) -> set[str]:
        return {shape(sql) for sql in self.statements}


@contextlib.contextmanager
def recording():
    rec = Recording()
    # On the Engine class, so the engines the CLI creates for itself are recorded too.
    sa.event.listen(sa.Engine, "before_execute", rec.before_execute)
    sa.event.listen(sa.Engine, "before_cursor_execute", rec.before_cursor_execute)
    try:
        yield rec
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", rec.before_cursor_execute)
        sa.event.remove(sa.Engine, "before_execute", rec.before_execute)
    rec.compile_all()


def _edit_source(engine: sa.Engine, orders: sa.Table, customer: str) -> dict[str, str]:
    """The test's own edits of ORDERS_UNIFIED: a changed quantity, a deleted line and a cancelled line
    of ``customer`` (all synced), a duplicated key that loses its twin, an N/A price line edited."""
    key = orders.c["AAG ORDER NUMBER"]
    uuid = orders.c["record_uuid"]
    key_of = ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION")
    sizes = [c for c in orders.columns if c.type._type_affinity is sa.Integer and c.name != "TOTAL QTY"]
    with engine.begin() as conn:
        rows = (
            conn.execute(
                sa.select(orders)
                .where(orders.c["CUSTOMER NAME"] == customer, key.is_not(None), orders.c["CUSTOMER PRICE"] != "N/A")
                .order_by(uuid)
            )
            .mappings()
            .all()
        )
        keys = Counter(tuple(r[k] for k in key_of) for r in rows)
        quantity, deleted, cancelled = [r for r in rows if keys[tuple(r[k] for k in key_of)] == 1][:3]
        size = next(c.name for c in sizes if (quantity[c.name] or 0) > 0)
        conn.execute(
            sa.update(orders)
            .where(uuid == quantity["record_uuid"])
            .values({size: quantity[size] + 7, "TOTAL QTY": (quantity["TOTAL QTY"] or 0) + 7})
        )
        conn.execute(sa.delete(orders).where(uuid == deleted["record_uuid"]))
        conn.execute(sa.update(orders).where(uuid == cancelled["record_uuid"]).values({"ORDER TYPE": "CANCELLED"}))
        touched = {
            "quantity": quantity["AAG ORDER NUMBER"],
            "deleted": deleted["AAG ORDER NUMBER"],
            "cancelled": cancelled["AAG ORDER NUMBER"],
        }
        na = conn.execute(sa.select(uuid, key).where(orders.c["CUSTOMER PRICE"] == "N/A")).first()
        if na is not None:  # still invalid, other content: its open VALIDATION error is updated
            conn.execute(sa.update(orders).where(uuid == na[0]).values({"DESTINATION": "ELSEWHERE"}))
            touched["na_price"] = na[1]
        dup = conn.execute(
            sa.select(key, sa.func.max(uuid)).group_by(*(orders.c[k] for k in key_of)).having(sa.func.count() > 1)
        ).first()
        if dup is not None:  # the twin left is valid now: the duplicate's errors are resolved
            conn.execute(sa.delete(orders).where(uuid == dup[1]))
            touched["duplicate"] = dup[0]
    return touched


def drive_a_full_run(engine: sa.Engine, tmp: Path, rec: Recording) -> dict:
    """Everything the engine does, through its own code paths. Returns facts for the checks."""
    facts: dict = {}
    world = make_world(engine, n_orders=300, seed=3, hostile=True)
    ops = world.staging

    rec.phase = "pending"
    pending = world.pending()
    customers = sorted(pending)
    rec.phase = "source"
    with engine.connect() as conn:
        world.source.key_census(conn)
        world.source.customer_names(conn)
    rec.phase = "detect"
    for customer in customers:
        world.detect(customer)

    # -- one customer by hand: claim, stage, the push's transitions with failures, promote, cleanup
    main_customer = max((c for c in customers if c), key=lambda c: pending[c].new)
    rec.phase = "claim"
    batch = ops.claim(main_customer, BOARD)
    rec.phase = "stage"
    ops.stage(batch.batch_id, world.detect(main_customer))
    rec.phase = "push"
    ops.set_status(batch.batch_id, s.PUSHING)
    ops.heartbeat(batch.batch_id, api_calls=1)
    items = ops.pending_rows(batch.batch_id, s.stg_items, limit=10_000)
    failed_item, *ok_items = items
    ops.set_group_ids(batch.batch_id, {ok_items[0]["group_name"]: "topics"})
    ops.mark_sending(batch.batch_id, s.stg_items, [r["stg_id"] for r in items])
    ops.record_item_ids(batch.batch_id, [(r["stg_id"], f"31{r['stg_id']:08d}") for r in ok_items])
    ops.record_failures(
        batch.batch_id, s.stg_items, [Failure(failed_item["stg_id"], "SERVER", "HTTP 500", True, None, 500)]
    )
    # The same item fails again: its open error is updated (retry_count + 1), not duplicated.
    ops.record_failures(batch.batch_id, s.stg_items, [Failure(failed_item["stg_id"], "TIMEOUT", "timed out", True)])
    subs = ops.pending_rows(batch.batch_id, s.stg_subitems)
    failed_sub, *ok_subs = subs
    ops.mark_sending(batch.batch_id, s.stg_subitems, [r["stg_sub_id"] for r in subs])
    ops.record_subitem_ids(batch.batch_id, [(r["stg_sub_id"], f"32{r['stg_sub_id']:08d}") for r in ok_subs])
    ops.record_failures(
        batch.batch_id,
        s.stg_subitems,
        [
            Failure(
                failed_sub["stg_sub_id"],
                "COLUMN_VALUE",
                "label is not on the board",
                False,
                "ColumnValueException",
                200,
            )
        ],
    )
    ops.heartbeat(batch.batch_id, sent_count=len(items) + len(subs))
    ops.row_counts(batch.batch_id)
    rec.phase = "promote"
    ops.set_status(batch.batch_id, s.PROMOTING)
    ops.promote(batch.batch_id, BOARD)
    rec.phase = "cleanup"
    ops.cleanup(batch.batch_id)
    ops.set_status(batch.batch_id, s.COMPLETED_WITH_ERRORS, message="1 item and 1 subitem failed")
    ops.batch(batch.batch_id)

    # -- a busy customer: another workstation cannot claim it; cancelled, it is resumed
    other_customer = next(c for c in customers if c and c != main_customer and pending[c].new)
    rec.phase = "claim"
    busy = ops.claim(other_customer, BOARD)
    rec.phase = "stage"
    ops.stage(busy.batch_id, world.detect(other_customer))
    rec.phase = "busy"
    with pytest.raises(CustomerBusy):
        StagingOperations(engine, Owner("WS-OTHER", "someone", 4242)).claim(other_customer, BOARD)
    facts["busy_raised"] = True
    ops.request_cancel(busy.batch_id)
    facts["cancel_seen"] = ops.heartbeat(busy.batch_id)
    ops.set_status(busy.batch_id, s.CANCELLED, message="cancelled by the test")
    rec.phase = "claim"
    resumed = ops.claim(other_customer, BOARD)  # the cancelled batch still has unfinished rows
    facts["resumed"] = resumed.resumed and resumed.batch_id == busy.batch_id
    rec.phase = "push"
    confirm_all(ops, resumed.batch_id)
    rec.phase = "promote"
    ops.promote(resumed.batch_id, BOARD)
    rec.phase = "cleanup"
    ops.cleanup(resumed.batch_id)
    ops.set_status(resumed.batch_id, s.COMPLETED)

    # -- everyone else, with the helper that plays monday's part
    rec.phase = "sync"
    for customer in customers:
        if customer not in (main_customer, other_customer):
            world.sync(customer)

    # -- the source changes: CHANGED and REMOVED lines, and the invalid-line bookkeeping
    rec.phase = None
    facts["touched"] = _edit_source(engine, world.orders(), main_customer)
    rec.phase = "resync"
    kinds: Counter = Counter()
    for customer in sorted(world.pending()):
        changes = world.detect(customer)
        kinds.update(c.kind for c in changes.changes)
        kinds.update(f"size {sz.kind}" for c in changes.changes for sz in c.sizes)
        world.sync(customer)
    facts["kinds"] = kinds

    # -- the monday push itself, against the sandbox with faults that force reconciliation
    rec.phase = None
    orders = world.orders()
    with engine.begin() as conn:
        conn.execute(
            orders.insert(),
            [order_row(orders, **{"AAG ORDER NUMBER": f"NEW-{n:05d}", "CUSTOMER NAME": "NEW CO"}) for n in range(12)],
        )
    server = start_sandbox(
        tmp / "sandbox.db", faults="after500=0.3,drop=0.2,locked=0.1", seed=5, idempotency=False, time_scale=3000.0
    )
    try:
        # A monday that does not replay Idempotency-Keys (the sandbox's idempotency=False), said to the
        # engine too: every unknown outcome is settled by looking the rows up on the board.
        ctx = engine_context(engine, **{"monday.idempotency_keys": False, "monday.late_apply_seconds": 1})
        rec.phase = "monday"
        client = monday_client(server, max_batch=5)
        results = BatchProcessor(ctx, client).run(["NEW CO"])
        facts["monday"] = [r.status for r in results]
        facts["reconciled"] = client.stats.requests > client.stats.mutation_requests + 3
        handler = ErrorHandler(ctx)
        handler.open_errors()
        handler.select(None)
        client.close()
    finally:
        server.stop()

    # -- the command line: its own engine, the status query, the dry run
    rec.phase = None
    settings = tmp / "settings.toml"
    settings.write_text(render_settings({"database.url": str(engine.url), "monday.board_id": BOARD}), encoding="utf-8")
    rec.phase = "cli"
    with contextlib.redirect_stdout(io.StringIO()):
        facts["cli_status"] = cli_main(["status", "--json", "--config", str(settings)])
        facts["cli_sync"] = cli_main(["sync", "--all", "--dry-run", "--json", "--config", str(settings)])
    rec.phase = None
    return facts


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The recorded run, once for the module. The engine is what conftest's ``sqlite_engine`` gives
    (core.db.engine.create_engine on a SQLite file), built here at module scope so the run happens once."""
    tmp = tmp_path_factory.mktemp("tsql")
    engine = create_engine(f"sqlite:///{(tmp / 'test.db').as_posix()}")
    try:
        with recording() as rec:
            facts = drive_a_full_run(engine, tmp, rec)
    finally:
        engine.dispose()
    return rec, facts


def test_the_run_went_through_every_path(run):
    rec, facts = run
    assert facts["busy_raised"] and facts["cancel_seen"] and facts["resumed"]
    assert facts["cli_status"] == 0 and facts["cli_sync"] in (0, 1)
    kinds = facts["kinds"]
    assert kinds[CHANGED] >= 2 and kinds[REMOVED] >= 1, kinds  # the quantity and the cancel; the deleted line
    assert kinds[f"size {CHANGED}"] >= 1, kinds
    assert {"na_price", "duplicate"} <= set(facts["touched"]), facts["touched"]
    phases = {p for issued in rec.statements.values() for p in issued.phases}
    assert phases == {
        "pending",
        "source",
        "detect",
        "claim",
        "stage",
        "push",
        "busy",
        "promote",
        "cleanup",
        "sync",
        "resync",
        "monday",
        "cli",
    }
    assert facts["monday"] == ["COMPLETED"] and facts["reconciled"]


def test_a_substantial_number_of_distinct_statements_was_captured(run):
    rec, _ = run
    assert rec.executions >= 300, rec.executions
    assert len(rec.shapes) >= 40, len(rec.shapes)
    assert sum(1 for i in rec.statements.values() if i.executemany) >= 8
    # The staging loads are executemany INSERTs (on SQLite sent by core.db.bulk below Core).
    bulk = {i.element.table.name for i in rec.statements.values() if isinstance(i.element, sa.Insert) and i.executemany}
    assert {s.stg_items.name, s.stg_subitems.name} <= bulk, bulk
    # So are the audit trail's rows, written with the outcomes of the monday phase.
    assert s.audit_log.name in bulk, bulk
    kinds = Counter(type(i.element).__name__ for i in rec.statements.values())
    assert {"Select", "Insert", "Update", "Delete"} <= set(kinds), kinds
    # Nothing went to the database unchecked: driver-level SQL was the SQLite dialect's reflection or
    # core.db.bulk's inserts (checked as the Core inserts SQL Server gets).
    assert not rec.unrecognised_driver_sql, rec.unrecognised_driver_sql
    assert rec.skipped["SELECT 1 (check_connection)"] >= 2 and rec.skipped["Alembic's version table"] >= 2


def _compared_columns(side) -> list[sa.Column]:
    """The table columns one side of a comparison stands for (a column, or what a subquery selects)."""
    while isinstance(side, (sa.sql.elements.Grouping, sa.sql.selectable.ScalarSelect)):
        side = side.element
    if isinstance(side, sa.Column) and isinstance(side.table, sa.Table):
        return [side]
    if isinstance(side, sa.Select):
        return [c for c in side.selected_columns if isinstance(c, sa.Column) and isinstance(c.table, sa.Table)]
    return []


def test_key_columns_are_only_compared_with_columns_of_the_same_collation(run):
    """SQL Server refuses to compare two columns of different collations (Msg 468): a key column
    (binary collation) may meet a parameter, or another key column, never a column of the default one."""
    rec, _ = run
    pairs = set()
    for issued in rec.statements.values():
        for node in sa.sql.visitors.iterate(issued.element):
            if isinstance(node, sa.sql.elements.BinaryExpression):
                for left in _compared_columns(node.left):
                    for right in _compared_columns(node.right):
                        pair = (f"{left.table.name}.{left.name}", f"{right.table.name}.{right.name}")
                        assert collation_of(left) == collation_of(right), f"{pair} in {issued.sql}"
                        if collation_of(left):
                            pairs.add(pair)
    # Not vacuous: promotion joins staging and production by key, and resolves errors by key.
    assert ("MON_CustMasterSchedule.sync_key", "STG_MON_CustMasterSchedule.sync_key") in pairs
    assert ("MON_CustMasterSchedule_Subitems.size_label", "STG_MON_CustMasterSchedule_Subitems.size_label") in pairs
    assert ("ERR_MON_CustMasterSchedule.sync_key", "STG_MON_CustMasterSchedule.sync_key") in pairs or (
        "STG_MON_CustMasterSchedule.sync_key",
        "ERR_MON_CustMasterSchedule.sync_key",
    ) in pairs


def test_every_statement_compiles_for_sql_server(run):
    rec, _ = run
    assert not rec.compile_errors, "\n".join(rec.compile_errors)


def test_every_statement_the_engine_issues_parses_as_tsql(run):
    rec, _ = run
    failures = []
    for issued in rec.statements.values():
        try:
            parse_tsql(issued.sql)
        except NotTSQL as exc:
            failures.append(f"{issued.where} {exc}")
    assert not failures, f"{len(failures)} of {len(rec.statements)} statements are not T-SQL:\n\n" + "\n\n".join(
        failures
    )


def _trees(rec: Recording, kind: type) -> list[tuple[Issued, exp.Expression]]:
    out = []
    for issued in rec.statements.values():
        if isinstance(issued.element, kind):
            (tree,) = parse_tsql(issued.sql)
            out.append((issued, tree))
    return out


def test_the_set_based_promotion_is_among_them(run):
    """UPDATE … FROM and INSERT … SELECT into both production tables, as T-SQL writes them."""
    rec, _ = run
    update_from = [(i, tree) for i, tree in _trees(rec, sa.Update) if _from_clause(tree) is not None]
    assert {tree.this.name for _, tree in update_from} == {s.items.name, s.subitems.name}
    for issued, tree in update_from:
        assert "promote" in issued.phases, issued.where
        target = f"{SCHEMA}.[{tree.this.name}]"
        assert issued.sql.startswith(f"UPDATE {target} SET ")
        # the target is in the FROM list too: T-SQL's form of a joined update
        assert re.search(rf"\bFROM {re.escape(target)}, {SCHEMA}\.\[STG_MON_", issued.sql), issued.sql
    insert_select = [(i, tree) for i, tree in _trees(rec, sa.Insert) if isinstance(tree.expression, exp.Select)]
    assert {tree.this.this.name for _, tree in insert_select} == {s.items.name, s.subitems.name}
    for issued, _tree in insert_select:
        assert "promote" in issued.phases and "NOT (EXISTS (SELECT" in issued.sql, issued.sql


def test_the_statements_of_the_one_active_batch_rule_are_among_them(run):
    """The filtered unique index decides the claim: its probe, its INSERT, the take-over, the cancel."""
    rec, _ = run
    table = f"{SCHEMA}.[{s.batches.name}]"
    batch_sql = [i.sql for i in rec.statements.values() if table in i.sql]
    t = re.escape(table)
    active = ", ".join("?" * len(s.ACTIVE_BATCH_STATES))
    ended = re.escape("?, ?")  # CANCELLED, FAILED: only those with unfinished rows or stored requests
    claim_probe = (
        rf"^SELECT .*\bWHERE\b.*{t}\.status IN \({re.escape(active)}\).*{t}\.status IN \({ended}\)"
        rf".*EXISTS \(SELECT .*\s+ORDER BY {t}\.batch_id DESC$"
    )
    probe = [x for x in batch_sql if re.search(claim_probe, x, re.DOTALL)]
    assert probe, "the claim's probe of active batches, and of ended ones with unfinished rows"
    insert = [x for x in batch_sql if x.startswith(f"INSERT INTO {table}")]
    assert insert and all(" OUTPUT inserted.batch_id VALUES " in x for x in insert), insert
    # The take-over is optimistic on the owner generation, which it bumps: two resumers cannot both win.
    assert any(
        x.startswith(f"UPDATE {table} SET status=?")
        and "owner_generation=?" in x
        and f"AND {table}.owner_generation = ?" in x
        for x in batch_sql
    ), "the optimistic take-over"
    # Every write for a batch is fenced on the generation its owner holds.
    assert any(
        x.startswith(f"UPDATE {table} SET heartbeat_at=") and f"{table}.owner_generation = ?" in x for x in batch_sql
    ), "the owner fence"
    assert any(
        x.startswith(f"UPDATE {table} SET cancel_requested=?") and f"status IN ({active})" in x for x in batch_sql
    ), "request_cancel"
    # TOP n, never LIMIT: the CLI's recent batches.
    assert any(x.startswith("SELECT TOP 10 ") for x in batch_sql)
    assert not any(re.search(r"\bLIMIT\b|\bOFFSET\b", x) for x in rec.statements)


SOURCE = r"(?:\w+\.)?\[ORDERS_UNIFIED\]"


def test_source_columns_are_bracket_quoted_as_reflected(run):
    rec, _ = run
    source = [i for i in rec.statements.values() if re.search(SOURCE, i.sql)]
    assert source
    # Only reads of the source table (test_source_readonly proves it on real databases).
    assert all(isinstance(i.element, sa.Select) and i.sql.startswith("SELECT") for i in source)
    full = max((i.sql for i in source), key=len)
    for name in (
        "AAG ORDER NUMBER",
        "CUSTOMER NAME",
        "CUSTOMER COLOUR DESCRIPTION",
        "UNIT OF MEASURE",
        "S/M",
        "L/XL",
        "2XL/3XL",
        "28/30",
        "S(6-8)",
        "0-3M",
        "ONE SIZE",
        "TOTAL QTY",
    ):
        assert re.search(rf"{SOURCE}\.\[{re.escape(name)}\]", full), name
    (tree,) = parse_tsql(full)
    assert {"AAG ORDER NUMBER", "S/M", "28/30", "ONE SIZE"} <= {c.name for c in tree.find_all(exp.Column)}
    # The customer filter (its IN list expanded), the customer list and the duplicate-key scan.
    assert any(re.search(rf"WHERE {SOURCE}\.\[CUSTOMER NAME\] IN \(\?", i.sql) for i in source)
    assert any(re.match(rf"SELECT DISTINCT {SOURCE}\.\[CUSTOMER NAME\]\s+FROM", i.sql) for i in source)
    assert any(
        re.match(
            rf"SELECT {SOURCE}\.\[AAG ORDER NUMBER\], {SOURCE}\.\[CUSTOMER STYLE\], "
            rf"{SOURCE}\.\[CUSTOMER COLOUR DESCRIPTION\]\s+FROM {SOURCE}$",
            i.sql,
        )
        for i in source
    )


def test_the_checker_itself_rejects_what_is_not_tsql():
    """Controls, so a permissive parser cannot make the tests above pass on anything."""
    for bad in (
        "UPDATE t SET a = 1 WHERE",  # sqlglot rejects these itself
        "CREATE TABLE t (a INTEGER NOT NULL,",
        "SELECT [a FROM t",
        "INSERT INTO t (a) VALUES (?",
        # ... and accepts these (it would transpile them); the lint rejects them
        "SELECT a FROM t LIMIT 10",
        "SELECT a FROM t ORDER BY a OFFSET 5",
        "SELECT a FROM t WHERE a IN ()",
        "SELECT a, FROM t",
        "UPDATE t SET a = TRUE",
        "INSERT INTO t (a) VALUES (?) RETURNING a",
        "SELECT a || b FROM t WHERE c ILIKE ?",
        "SELECT a::int FROM t",
        "SELECT a, (EXISTS (SELECT b FROM u WHERE u.b = t.a)) AS x FROM t",
        "SELECT a = ? AS x FROM t",
        "SELECT (a > 1) OR (a < 0) FROM t",
    ):
        with pytest.raises(NotTSQL):
            parse_tsql(bad)
    for good in (
        "SELECT TOP 1 [a b] FROM dbo.[t] WHERE [c/d] IN (?, ?)",
        "SELECT a FROM t ORDER BY a OFFSET 5 ROWS FETCH NEXT 3 ROWS ONLY",
        "INSERT INTO t (a) OUTPUT inserted.id VALUES (?)",
        "SELECT a FROM t WHERE b = 'TRUE, LIMIT ()'",
        "SELECT a, CASE WHEN EXISTS (SELECT b FROM u WHERE u.b = t.a) THEN 1 ELSE 0 END AS x FROM t",
    ):
        parse_tsql(good)
