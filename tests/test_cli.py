"""The command line (DESIGN.md §4) driven as a planner or a scheduler would: real settings files,
real SQLite files under tmp_path and the real PostgreSQL server.

Exit codes: 0 ok; 1 some rows failed or are invalid; 2 usage, settings or schema error (the schema
message names ``db upgrade``); 3 the database could not be reached. A user error is exactly one
line on stderr and never a traceback, also when ``main.py`` runs as a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.cli import main
from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import VERSION_TABLE, head_revision
from core.demo.data import SIZE_COLUMNS, orders_table
from core.demo.setup import init_demo
from core.foundation.config import render_settings
from core.source.mapping import default_mapping_path, load_mapping
from core.staging.operations import StagingOperations
from tests.helpers import BOARD, World, empty_orders, make_world, order_row

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/test"
KEY = ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION")


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


def cli(capsys, *argv) -> Run:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return Run(code, out, err)


def assert_user_error(run: Run, code: int, *fragments: str) -> str:
    """Exit ``code``, exactly one line on stderr naming every fragment, no traceback, nothing on stdout."""
    assert run.code == code, (run.code, run.err)
    assert "Traceback" not in run.err
    lines = run.err.splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("ordersync: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert run.out == ""
    return lines[0]


def write_settings(folder: Path, values: dict, name: str = "settings.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(render_settings(values), encoding="utf-8")
    return path


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.as_posix()}"


def dump(database: Path) -> list[str]:
    """The whole SQLite database as SQL text: equal dumps mean nothing was written."""
    with closing(sqlite3.connect(database)) as conn:
        return list(conn.iterdump())


def own_table_counts(database: Path) -> dict[str, int]:
    with closing(sqlite3.connect(database)) as conn:
        return {
            t.name: conn.execute(f'SELECT COUNT(*) FROM "{t.name}"').fetchone()[0]
            for t in (*s.OWN_TABLES, sa.table(VERSION_TABLE))
        }


def source_rows(database: Path) -> list[dict]:
    with closing(sqlite3.connect(database)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute('SELECT * FROM "ORDERS_UNIFIED"')]


# --- the demo ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory) -> Path:
    """One demo (300 lines, seed 5) per module; tests copy it before touching it."""
    return init_demo(tmp_path_factory.mktemp("demo-template"), orders=300, seed=5).folder


@pytest.fixture
def demo(demo_template: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "demo"
    shutil.copytree(demo_template, folder)
    return folder


def expected_demo_lines(database: Path) -> tuple[int, dict]:
    """Independently of the engine: the number of valid lines, and the three invalid kinds' rows."""
    rows = source_rows(database)
    keys = Counter(tuple((r[c] or "").strip() for c in KEY) for r in rows if r["AAG ORDER NUMBER"] is not None)
    na_price = [r for r in rows if r["CUSTOMER PRICE"] == "N/A"]
    no_order = [r for r in rows if r["AAG ORDER NUMBER"] is None]
    duplicated = [
        r for r in rows if r["AAG ORDER NUMBER"] is not None and keys[tuple((r[c] or "").strip() for c in KEY)] > 1
    ]
    invalid = {id(r) for r in (*na_price, *no_order, *duplicated)}
    return len(rows) - len(invalid), {"na_price": na_price, "no_order": no_order, "duplicated": duplicated}


def test_demo_init_writes_settings_and_database(tmp_path, capsys):
    folder = tmp_path / "my demo"
    run = cli(capsys, "demo", "init", "--dir", folder, "--orders", 300, "--seed", 5)
    assert run.code == 0 and run.err == ""
    settings, database = folder / "settings.toml", folder / "demo.db"
    assert settings.is_file() and database.is_file()
    assert str(settings) in run.out and "300 order lines" in run.out
    assert len(source_rows(database)) == 300
    counts = own_table_counts(database)
    assert counts.pop(VERSION_TABLE) == 1  # the demo sets its tables up itself
    assert set(counts.values()) == {0}
    # The settings name the database relatively, so the folder can move as a whole.
    assert 'url = "sqlite:///demo.db"' in settings.read_text(encoding="utf-8")
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert cli(capsys, "status", "--config", moved / "settings.toml").code == 0


def test_demo_init_without_flags_takes_the_demo_resource(tmp_path, capsys):
    from core.demo.setup import DEMO
    from core.foundation.config import load_settings
    from core.foundation.resources import resource_path

    resource = tomllib.loads(resource_path("demo.toml").read_text(encoding="utf-8"))
    run = cli(capsys, "demo", "init", "--dir", tmp_path / "d")
    assert run.code == 0 and f"({resource['data']['orders']} order lines)" in run.out
    assert len(source_rows(tmp_path / "d" / "demo.db")) == resource["data"]["orders"] == DEMO.orders
    settings = load_settings(tmp_path / "d" / "settings.toml")
    for section, body in resource["settings"].items():
        for key, value in body.items():
            assert settings[f"{section}.{key}"] == value, f"{section}.{key}"


def test_demo_init_is_deterministic(tmp_path, capsys):
    for name in ("a", "b"):
        assert cli(capsys, "demo", "init", "--dir", tmp_path / name, "--orders", 50, "--seed", 9).code == 0
    assert source_rows(tmp_path / "a" / "demo.db") == source_rows(tmp_path / "b" / "demo.db")


def test_demo_init_refuses_zero_orders(tmp_path, capsys):
    assert_user_error(cli(capsys, "demo", "init", "--dir", tmp_path / "d", "--orders", 0), 2, "--orders")


def test_status_lists_customers_with_their_new_counts(demo, capsys):
    config = demo / "settings.toml"
    report = cli(capsys, "status", "--config", config, "--json")
    assert report.code == 0 and report.err == ""
    data = report.json()
    valid, bad = expected_demo_lines(demo / "demo.db")
    customers = {c["customer"]: c for c in data["customers"]}
    assert sum(c["new"] for c in customers.values()) == valid
    assert (
        sum(c["invalid"] for c in customers.values())
        == 300 - valid
        == (len(bad["na_price"]) + len(bad["no_order"]) + len(bad["duplicated"]))
    )
    assert {"MACK WELDON", "GREYSON CLOTHIERS", "JOHNNIE O", "O'NEILL", "CAFÉ CRÈME ÖSTERREICH"} <= set(customers)
    # aliases are folded into their canonical customer
    assert "LORNA JANE (NZ)" not in customers and customers["LORNA JANE"]["new"] > 0
    assert all(c["changed"] == c["removed"] == 0 and c["last_sync"] is None for c in customers.values())
    assert data["board_id"] == BOARD and data["batches"] == [] and data["open_errors"] == 0
    assert data["size_columns"] == len(SIZE_COLUMNS)  # the demo's table, discovered, not assumed
    assert str((demo / "demo.db").resolve().as_posix()) in data["database"]

    text = cli(capsys, "status", "--config", config)
    assert text.code == 0 and text.err == ""
    lines = text.out.splitlines()
    header = next(line for line in lines if line.startswith("CUSTOMER "))
    assert header.split()[:2] == ["CUSTOMER", "NEW"]
    for name, counts in customers.items():
        (row,) = [line for line in lines if line.startswith(name + " ")]
        assert row[len(name) :].split()[:4] == [str(counts["new"]), "0", "0", str(counts["invalid"])]
    assert f"Source:   {len(SIZE_COLUMNS)} size columns" in text.out
    assert "No batches yet." in text.out


def test_sync_dry_run_resolves_a_customer_alias(demo, capsys):
    config = demo / "settings.toml"
    run = cli(capsys, "sync", "--config", config, "--customer", "TITLE 9", "--dry-run", "--json")
    assert run.code == 0 and run.err == ""
    data = run.json()
    assert data["dry_run"] is True
    (report,) = data["customers"]
    assert report["customer"] == "TITLE NINE" and not report["unknown_customer"]
    expected = [r for r in source_rows(demo / "demo.db") if r["CUSTOMER NAME"] in ("TITLE 9", "TITLE NINE")]
    assert report["new"] == len(report["lines"]) == len(expected) > 0
    assert {line["order_number"] for line in report["lines"]} == {r["AAG ORDER NUMBER"] for r in expected}
    assert all(
        line["kind"] == "NEW" and line["fields"]["CUSTOMER"] == {"old": None, "new": "TITLE NINE"}
        for line in report["lines"]
    )
    assert report["mutations"] == len(expected) + sum(len(line["sizes"]) for line in report["lines"])
    # The alias, the canonical name and any case name one customer, once.
    again = cli(
        capsys, "sync", "--config", config, "--customer", "title 9", "--customer", "TITLE NINE", "--dry-run", "--json"
    )
    assert [c["customer"] for c in again.json()["customers"]] == ["TITLE NINE"]


def test_sync_all_dry_run_reports_every_invalid_line_and_exits_1(demo, capsys):
    database = demo / "demo.db"
    before_dump, before_counts = dump(database), own_table_counts(database)
    run = cli(capsys, "sync", "--config", demo / "settings.toml", "--all", "--dry-run", "--json")
    assert run.code == 1, "invalid lines exist"
    assert run.err == ""
    data = run.json()
    valid, bad = expected_demo_lines(database)
    assert sum(c["new"] for c in data["customers"]) == valid
    invalid = [(c["customer"], line) for c in data["customers"] for line in c["invalid_lines"]]
    assert len(invalid) == 300 - valid

    (na,) = bad["na_price"]
    ((customer, line),) = [
        (c, line)
        for c, line in invalid
        if line["order_number"] == na["AAG ORDER NUMBER"] and any("CUSTOMER PRICE" in e for e in line["errors"])
    ]
    assert any("CUSTOMER PRICE" in e and "'N/A'" in e for e in line["errors"])
    assert customer == load_mapping().customers.get(na["CUSTOMER NAME"].strip().upper(), na["CUSTOMER NAME"])

    (missing,) = bad["no_order"]
    no_number = [line for _, line in invalid if line["order_number"] is None]
    assert len(no_number) == 1
    assert no_number[0]["sync_key"] is None
    assert any("AAG ORDER NUMBER" in e and "empty" in e for e in no_number[0]["errors"])
    assert missing["CUSTOMER STYLE"].strip() in no_number[0]["item_name"]

    assert len(bad["duplicated"]) == 2
    dup_number = bad["duplicated"][0]["AAG ORDER NUMBER"]
    dups = [
        line
        for _, line in invalid
        if line["order_number"] == dup_number and any("more than once" in e for e in line["errors"])
    ]
    assert len(dups) == 2
    assert all(line["sync_key"] in e for line in dups for e in line["errors"] if "more than once" in e)

    # Nothing was written: no batch, no staging row, no error row, the source untouched.
    assert own_table_counts(database) == before_counts
    assert dump(database) == before_dump

    text = cli(capsys, "sync", "--config", demo / "settings.toml", "--all", "--dry-run")
    assert text.code == 1
    assert text.out.startswith("Dry run: nothing is sent to monday and nothing is written.")
    assert any(
        row.strip().startswith(f"INVALID  order {na['AAG ORDER NUMBER']}: ") and "'N/A'" in row
        for row in text.out.splitlines()
    )
    assert any(row.strip().startswith("INVALID  order (none): ") for row in text.out.splitlines())
    assert dump(database) == before_dump


def test_sync_all_honours_the_customer_limit_of_the_settings(demo, capsys):
    config = write_settings(
        demo,
        {"database.url": "sqlite:///demo.db", "monday.board_id": BOARD, "sync.customers": ["TRACKSMITH", "WHITE FOX"]},
        "limited.toml",
    )
    run = cli(capsys, "sync", "--config", config, "--all", "--dry-run", "--json")
    assert run.code == 0
    assert [c["customer"] for c in run.json()["customers"]] == ["TRACKSMITH", "WHITE FOX"]


# --- field-level diffs after a sync --------------------------------------------------------------


@pytest.fixture
def synced(tmp_path):
    """Two MACK WELDON lines on a SQLite file, synced as monday would confirm them, and a settings file."""
    database = tmp_path / "orders.db"
    engine = create_engine(sqlite_url(database))
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00024"}),
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00025"}),
            ],
        )
    world = World(engine, load_mapping(), StagingOperations(engine))
    world.sync("MACK WELDON")
    config = write_settings(tmp_path, {"database.url": "sqlite:///orders.db", "monday.board_id": BOARD})
    try:
        yield world, config, database
    finally:
        engine.dispose()


def test_dry_run_shows_field_level_diffs_and_removals(synced, capsys):
    world, config, database = synced
    nothing = cli(capsys, "sync", "--config", config, "--customer", "MACK WELDON", "--dry-run", "--json")
    assert nothing.code == 0
    (report,) = nothing.json()["customers"]
    assert (report["new"], report["changed"], report["removed"], report["unchanged"], report["lines"]) == (
        0,
        0,
        0,
        2,
        [],
    )

    table = world.orders()
    world.execute(
        sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00024").values({"CUSTOMER PRICE": "31.50", "M": 30})
    )
    world.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00025"))
    before = dump(database)

    run = cli(capsys, "sync", "--config", config, "--customer", "MACK WELDON", "--dry-run", "--json")
    assert run.code == 0 and run.err == ""
    (report,) = run.json()["customers"]
    assert (report["new"], report["changed"], report["removed"], report["invalid"]) == (0, 1, 1, 0)
    lines = {line["kind"]: line for line in report["lines"]}
    changed, removed = lines["CHANGED"], lines["REMOVED"]
    assert changed["sync_key"] == "MWE-00024 | M01Y09 | DEAN BLUE/WHITE"
    assert changed["fields"] == {"CUSTOMER PRICE": {"old": "28.86", "new": "31.5"}}
    assert changed["sizes"] == [{"size": "M", "kind": "CHANGED", "old": 24, "new": 30}]
    assert removed["order_number"] == "MWE-00025"
    assert removed["fields"] == {"ORDER TYPE": {"old": "RECEIVED", "new": "CANCELLED"}}
    assert report["mutations"] == 3  # one item update, one subitem update, one removal mark
    assert dump(database) == before

    text = cli(capsys, "sync", "--config", config, "--customer", "MACK WELDON", "--dry-run")
    assert text.code == 0
    out = text.out
    assert "MACK WELDON: 0 new, 1 changed, 1 removed, 0 invalid, 0 unchanged" in out
    assert "CUSTOMER PRICE: '28.86' -> '31.5'" in out
    assert "size M (changed): 24 -> 30" in out
    assert "ORDER TYPE: 'RECEIVED' -> 'CANCELLED'" in out
    assert dump(database) == before

    status = cli(capsys, "status", "--config", config, "--json").json()
    (mack,) = status["customers"]
    assert (mack["new"], mack["changed"], mack["removed"]) == (0, 1, 1)
    assert mack["last_sync"] is not None
    assert [b["status"] for b in status["batches"]] == [s.COMPLETED]


def test_a_size_that_drops_to_zero_shows_as_removed(synced, capsys):
    world, config, _ = synced
    table = world.orders()
    world.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00024").values({"L": 0}))
    (report,) = cli(capsys, "sync", "--config", config, "--all", "--dry-run", "--json").json()["customers"]
    (line,) = report["lines"]
    assert line["kind"] == "CHANGED" and line["fields"] == {}
    assert line["sizes"] == [{"size": "L", "kind": "REMOVED", "old": 24, "new": 0}]
    assert report["mutations"] == 1  # only the subitem, the item itself is unchanged
    text = cli(capsys, "sync", "--config", config, "--all", "--dry-run").out
    assert "size L (removed): 24 -> 0" in text


# --- errors --------------------------------------------------------------------------------------


def test_missing_settings_file_is_exit_2(tmp_path, capsys):
    missing = tmp_path / "nowhere" / "settings.toml"
    for argv in (["status"], ["sync", "--all", "--dry-run"], ["db", "upgrade"]):
        assert_user_error(cli(capsys, *argv, "--config", missing), 2, "settings file not found", str(missing))


def test_invalid_toml_is_exit_2_naming_the_file(tmp_path, capsys):
    config = tmp_path / "settings.toml"
    config.write_text('[database]\nurl = "sqlite:///x.db\n', encoding="utf-8")
    assert_user_error(cli(capsys, "status", "--config", config), 2, str(config), "not valid TOML")


def test_unknown_setting_is_exit_2_naming_it(tmp_path, capsys):
    config = tmp_path / "settings.toml"
    config.write_text('[database]\nurll = "sqlite:///x.db"\n', encoding="utf-8")
    assert_user_error(cli(capsys, "status", "--config", config), 2, "database.urll", "url")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ('[database]\necho = "yes"\n', "database.echo"),
        ('[sync]\nheartbeat_stale_seconds = "soon"\n', "sync.heartbeat_stale_seconds"),
        ('[sync]\ncustomers = "MACK WELDON"\n', "sync.customers"),
        ("[database]\nurl = true\n", "database.url"),
    ],
)
def test_wrong_type_is_exit_2_naming_the_setting(tmp_path, capsys, body, named):
    config = tmp_path / "settings.toml"
    config.write_text(body, encoding="utf-8")
    assert_user_error(cli(capsys, "sync", "--config", config, "--all", "--dry-run"), 2, named)


def test_unreachable_database_is_exit_3(tmp_path, capsys):
    config = write_settings(tmp_path, {"database.url": UNREACHABLE_PG})
    for argv in (["status"], ["sync", "--all", "--dry-run"], ["db", "upgrade"]):
        assert_user_error(cli(capsys, *argv, "--config", config), 3, "cannot reach the database", "127.0.0.1:1")


def test_sqlite_file_in_a_missing_folder_is_exit_3(tmp_path, capsys):
    config = write_settings(tmp_path, {"database.url": "sqlite:///no/such/folder/orders.db"})
    line = assert_user_error(cli(capsys, "status", "--config", config), 3, "cannot reach the database")
    assert (tmp_path / "no" / "such" / "folder" / "orders.db").as_posix() in line
    assert not (tmp_path / "no").exists()


def test_password_is_not_shown_in_errors(tmp_path, capsys):
    config = write_settings(tmp_path, {"database.url": "postgresql+psycopg://planner:s3cr3t@127.0.0.1:1/erp"})
    line = assert_user_error(cli(capsys, "status", "--config", config), 3)
    assert "s3cr3t" not in line and "***" in line


@pytest.fixture
def source_only(tmp_path):
    """A SQLite file holding ORDERS_UNIFIED (two lines) and none of OrderSync's tables."""
    database = tmp_path / "erp.db"
    engine = sa.create_engine(sqlite_url(database))
    table = orders_table(sa.MetaData(), ["S", "M", "L"])
    with engine.begin() as conn:
        table.create(conn)
        conn.execute(
            table.insert(),
            [
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00024"}),
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00025"}),
            ],
        )
    engine.dispose()
    config = write_settings(tmp_path, {"database.url": "sqlite:///erp.db", "monday.board_id": BOARD})
    return config, database


def test_missing_tables_are_exit_2_until_db_upgrade(source_only, capsys):
    config, database = source_only
    for argv in (["status"], ["sync", "--all", "--dry-run"], ["sync", "--customer", "MACK WELDON", "--dry-run"]):
        assert_user_error(cli(capsys, *argv, "--config", config), 2, "db upgrade")
    with closing(sqlite3.connect(database)) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == [
            "ORDERS_UNIFIED"
        ], "a refused command creates nothing"

    first = cli(capsys, "db", "upgrade", "--config", config)
    assert first.code == 0 and first.err == ""
    assert "upgraded from nothing" in first.out and head_revision() in first.out
    second = cli(capsys, "db", "upgrade", "--config", config)
    assert second.code == 0 and second.err == ""
    assert "up to date" in second.out and head_revision() in second.out

    status = cli(capsys, "status", "--config", config, "--json")
    assert status.code == 0
    assert [(c["customer"], c["new"]) for c in status.json()["customers"]] == [("MACK WELDON", 2)]
    assert len(source_rows(database)) == 2  # db upgrade never touches ORDERS_UNIFIED


def test_an_outdated_schema_is_exit_2(source_only, capsys):
    config, database = source_only
    assert cli(capsys, "db", "upgrade", "--config", config).code == 0
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(f'UPDATE "{VERSION_TABLE}" SET version_num = ?', ("9999",))
        conn.commit()
    assert_user_error(cli(capsys, "status", "--config", config), 2, "9999")


def test_missing_source_table_is_exit_2_naming_it(demo, capsys):
    config = write_settings(
        demo, {"database.url": "sqlite:///demo.db", "source.table": "ORDERS_ARCHIVE"}, "archive.toml"
    )
    for argv in (["status"], ["sync", "--all", "--dry-run"]):
        assert_user_error(cli(capsys, *argv, "--config", config), 2, "ORDERS_ARCHIVE")


def test_mapping_naming_a_missing_column_is_exit_2_naming_it(demo, capsys):
    text = default_mapping_path().read_text(encoding="utf-8")
    assert text.count('source = "DESTINATION"') == 1
    (demo / "my_mapping.toml").write_text(
        text.replace('source = "DESTINATION"', 'source = "FINAL DESTINATION"'), encoding="utf-8"
    )
    config = write_settings(
        demo, {"database.url": "sqlite:///demo.db", "mapping.file": "my_mapping.toml"}, "custom.toml"
    )
    for argv in (["status"], ["sync", "--all", "--dry-run"]):
        assert_user_error(cli(capsys, *argv, "--config", config), 2, "FINAL DESTINATION")


def test_missing_mapping_file_is_exit_2(demo, capsys):
    config = write_settings(demo, {"database.url": "sqlite:///demo.db", "mapping.file": "gone.toml"}, "gone.toml.s")
    assert_user_error(cli(capsys, "status", "--config", config), 2, "mapping file not found", str(demo / "gone.toml"))


def test_invalid_mapping_file_is_exit_2_naming_the_key(demo, capsys):
    text = default_mapping_path().read_text(encoding="utf-8").replace('policy = "mark"', 'policy = "purge"')
    (demo / "m.toml").write_text(text, encoding="utf-8")
    config = write_settings(demo, {"database.url": "sqlite:///demo.db", "mapping.file": "m.toml"}, "m.settings")
    assert_user_error(cli(capsys, "status", "--config", config), 2, "removal.policy", "purge")


@pytest.mark.parametrize("kind", ["directory", "not utf-8"])
def test_unreadable_mapping_file_is_exit_2(demo, capsys, kind):
    target = demo / "mapping.toml"
    if kind == "directory":
        target.mkdir()
    else:
        target.write_bytes(b"\xff\xfe[source]\n")
    config = write_settings(demo, {"database.url": "sqlite:///demo.db", "mapping.file": "mapping.toml"}, "u.toml")
    assert_user_error(cli(capsys, "status", "--config", config), 2, "mapping")


def test_sync_without_customer_or_all_is_exit_2(demo, capsys):
    assert_user_error(cli(capsys, "sync", "--config", demo / "settings.toml", "--dry-run"), 2, "--customer", "--all")


def test_sync_of_an_unknown_customer_is_exit_2_listing_the_customers(demo, capsys):
    line = assert_user_error(
        cli(capsys, "sync", "--config", demo / "settings.toml", "--customer", "NOBODY", "--dry-run"), 2, "NOBODY"
    )
    listed = line.split("customers are: ", 1)[1].split(", ")
    assert {"MACK WELDON", "TITLE NINE", "LORNA JANE", "O'NEILL", "CAFÉ CRÈME ÖSTERREICH"} <= set(listed)
    assert "LORNA JANE (NZ)" not in listed  # canonical names, not raw aliases
    # never guessed by substring
    assert_user_error(
        cli(capsys, "sync", "--config", demo / "settings.toml", "--customer", "MACK", "--dry-run"), 2, "'MACK'"
    )


def test_argparse_usage_error_is_exit_2_without_traceback(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["sync", "--bogus"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines()[-1] == "ordersync: error: unrecognized arguments: --bogus"


# --- PostgreSQL ----------------------------------------------------------------------------------


def pg_url(pg_engine, search_path: str) -> str:
    """pg_engine's server with its search_path carried in the URL, as a settings file can hold it."""
    return pg_engine.url.update_query_dict({"options": f"-csearch_path={search_path}"}).render_as_string(
        hide_password=False
    )


@pytest.mark.postgres
def test_status_and_dry_run_on_postgresql(pg_engine, tmp_path, capsys):
    world = make_world(pg_engine, n_orders=300, seed=5)
    expected = {name: p.as_dict() for name, p in world.pending().items()}
    config = write_settings(
        tmp_path, {"database.url": pg_url(pg_engine, pg_engine.test_schema), "monday.board_id": BOARD}
    )
    status = cli(capsys, "status", "--config", config, "--json")
    assert status.code == 0 and status.err == ""
    assert {c["customer"]: c for c in status.json()["customers"]} == expected
    run = cli(capsys, "sync", "--config", config, "--all", "--dry-run", "--json")
    assert run.code == 1
    got = {c["customer"]: (c["new"], c["invalid"]) for c in run.json()["customers"]}
    assert got == {name: (p["new"], p["invalid"]) for name, p in expected.items()}
    assert sum(n for n, _ in got.values()) + sum(i for _, i in got.values()) == 300


@pytest.fixture
def pg_own_schema(pg_engine):
    own = f"{pg_engine.test_schema}_own"
    with pg_engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{own}"'))
    try:
        yield own
    finally:
        with pg_engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{own}" CASCADE'))


@pytest.mark.postgres
def test_db_upgrade_puts_the_tables_in_the_configured_schema(pg_engine, pg_own_schema, tmp_path, capsys):
    config = write_settings(
        tmp_path, {"database.url": pg_url(pg_engine, pg_engine.test_schema), "database.schema": pg_own_schema}
    )
    assert cli(capsys, "db", "upgrade", "--config", config).code == 0
    tables = set(sa.inspect(pg_engine).get_table_names(schema=pg_own_schema))
    assert tables == {t.name for t in s.OWN_TABLES} | {VERSION_TABLE}
    assert sa.inspect(pg_engine).get_table_names(schema=pg_engine.test_schema) == []
    assert "up to date" in cli(capsys, "db", "upgrade", "--config", config).out


@pytest.mark.postgres
def test_own_schema_leaves_the_source_table_in_the_default_schema(pg_engine, pg_own_schema, tmp_path, capsys):
    with pg_engine.begin() as conn:
        table = orders_table(sa.MetaData(), ["S", "M", "L"])
        table.create(conn)
        conn.execute(table.insert(), [order_row(table)])
    config = write_settings(
        tmp_path, {"database.url": pg_url(pg_engine, pg_engine.test_schema), "database.schema": pg_own_schema}
    )
    assert cli(capsys, "db", "upgrade", "--config", config).code == 0
    run = cli(capsys, "status", "--config", config, "--json")
    assert run.code == 0, run.err
    assert [(c["customer"], c["new"]) for c in run.json()["customers"]] == [("MACK WELDON", 1)]


# --- as a real process ---------------------------------------------------------------------------


def run_main(*argv) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ORDERSYNC_CONFIG"}
    return subprocess.run(
        [sys.executable, "main.py", *map(str, argv)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )


@pytest.mark.parametrize(
    ("case", "code", "fragment"),
    [
        ("unreachable", 3, "cannot reach the database"),
        ("no tables", 2, "db upgrade"),
        ("bad toml", 2, "not valid TOML"),
    ],
)
def test_errors_as_a_real_process_are_one_line_without_traceback(tmp_path, case, code, fragment):
    if case == "unreachable":
        config = write_settings(tmp_path, {"database.url": UNREACHABLE_PG})
    elif case == "no tables":
        config = write_settings(tmp_path, {"database.url": "sqlite:///empty.db"})
    else:
        config = tmp_path / "settings.toml"
        config.write_text("[database\n", encoding="utf-8")
    proc = run_main("sync", "--config", config, "--all", "--dry-run")
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.splitlines()
    assert line.startswith("ordersync: error: ") and fragment in line
    assert proc.stdout == ""


def test_demo_and_dry_run_as_a_real_process(tmp_path):
    init = run_main("demo", "init", "--dir", tmp_path / "demo", "--orders", 300, "--seed", 5)
    assert init.returncode == 0 and init.stderr == ""
    config = tmp_path / "demo" / "settings.toml"
    proc = run_main("sync", "--config", config, "--all", "--dry-run", "--json")
    assert proc.returncode == 1 and proc.stderr == ""
    data = json.loads(proc.stdout)
    valid, _ = expected_demo_lines(tmp_path / "demo" / "demo.db")
    assert sum(c["new"] for c in data["customers"]) == valid
    assert sum(c["invalid"] for c in data["customers"]) == 300 - valid > 0
    status = run_main("status", "--config", config)
    assert status.returncode == 0 and status.stderr == "" and "MACK WELDON" in status.stdout


def test_hints_name_the_program_as_the_user_runs_it(monkeypatch, tmp_path, capsys):
    from core.foundation.resources import program_command

    assert program_command("db upgrade") == "python main.py db upgrade"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(
        sys,
        "executable",
        r"C:\Program Files\OrderSync\OrderSync.exe" if os.name == "nt" else "/opt/OrderSync/OrderSync",
    )
    expected = "OrderSync.exe db upgrade" if os.name == "nt" else "OrderSync db upgrade"
    assert program_command("db upgrade") == expected
    # … and the schema check's message, as the built program would print it.
    database = tmp_path / "empty.db"
    config = tmp_path / "settings.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database.as_posix()}"\n', encoding="utf-8")
    run = cli(capsys, "status", "--config", config)
    assert run.code == 2 and f"`{expected}`" in run.err


# --- options anywhere, as a real process -----------------------------------------------------------


def test_global_options_work_before_the_command_as_a_real_process(demo, log_folder):
    config = demo / "settings.toml"
    verbose = run_main("-v", "--config", config, "status")
    assert verbose.returncode == 0, verbose.stderr
    assert "MACK WELDON" in verbose.stdout and "INFO ordersync: OrderSync" in verbose.stderr  # -v took effect
    quiet = run_main("--config", config, "status")
    assert quiet.returncode == 0 and quiet.stderr == "" and quiet.stdout == verbose.stdout
    after = run_main("status", "--config", config, "-v")
    assert after.returncode == 0 and after.stdout == quiet.stdout and "INFO ordersync: OrderSync" in after.stderr
    as_json = run_main("--json", "status", "--config", config)
    assert as_json.returncode == 0 and as_json.stderr == ""
    assert {c["customer"] for c in json.loads(as_json.stdout)["customers"]} >= {"MACK WELDON", "TITLE NINE"}
    dry = run_main("--json", "--config", config, "-v", "sync", "--customer", "TITLE 9", "--dry-run")
    assert dry.returncode in (0, 1), dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and [c["customer"] for c in report["customers"]] == ["TITLE NINE"]
    assert "INFO ordersync: OrderSync" in dry.stderr


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--json", "cancel", "--batch", "1"], "--json does not apply to `cancel`"),
        (["--config", "settings.toml", "demo", "init"], "--config does not apply to `demo`"),
        (["--config", "settings.toml", "sandbox"], "`sandbox` takes no --config or --json"),
    ],
)
def test_a_global_option_the_command_does_not_take_is_a_usage_error(argv, named):
    proc = run_main(*argv)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.splitlines()[-1] == f"ordersync: error: {named}"


def test_the_config_option_alone_still_opens_the_window(demo, log_folder):
    proc = run_main("--config", demo / "settings.toml", "--quit-after", 100)
    assert proc.returncode == 0, proc.stderr
    logged = (log_folder / "ordersync.log").read_text(encoding="utf-8")
    assert "the window starts" in logged and proc.stdout == ""


def test_sandbox_and_token_take_the_verbose_flag_in_front():
    sandbox = run_main("-v", "sandbox", "--help")
    assert sandbox.returncode == 0 and "--time-scale" in sandbox.stdout
    token = run_main("-v", "token", "--help")
    assert token.returncode == 0 and "token {set,delete}" in token.stdout


# --- no silent defaults --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["status"],
        ["db", "upgrade"],
        ["sync", "--all"],
        ["retry", "--all"],
        ["cancel", "--batch", "1"],
        ["-v", "status"],
    ],
)
def test_without_any_settings_every_command_stops_naming_where_it_looked(tmp_path, argv):
    from core.foundation.config import default_config_path

    user_file = default_config_path()  # the test's own user folder (tests/conftest.py), where no file is
    assert not user_file.exists()
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *argv],
        cwd=workdir,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    (line,) = [line for line in proc.stderr.splitlines() if not line[:4].isdigit()]  # -v adds log lines
    assert line.startswith("ordersync: error: no settings file: ")
    for named in ("ORDERSYNC_CONFIG is not set", str(user_file), "--config", "demo init"):
        assert named in line, (named, line)
    assert list(workdir.iterdir()) == []  # no orders.db, nothing at all where it was started


def test_a_missing_file_named_by_the_environment_is_named(tmp_path, monkeypatch):
    named = tmp_path / "shared" / "settings.toml"
    monkeypatch.setenv("ORDERSYNC_CONFIG", str(named))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "status"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert f"ORDERSYNC_CONFIG names {named}, which does not exist" in line and "demo init" in line
    assert not (tmp_path / "orders.db").exists()


def test_the_demo_needs_no_settings(tmp_path, capsys):
    from core.foundation.config import default_config_path

    assert not default_config_path().exists()
    run = cli(capsys, "demo", "init", "--dir", tmp_path / "d", "--orders", 20, "--seed", 1)
    assert run.code == 0 and run.err == ""
    assert cli(capsys, "status", "--config", tmp_path / "d" / "settings.toml").code == 0
