"""The exit-code table of the README, one test per row, each run as a subprocess the way a scheduler
runs OrderSync, on SQLite and on PostgreSQL:

0  every line of the run's customers is on the board, nothing held back, no error open for them
1  the run finished, and lines are held back (invalid) or failed; they are in the ERR tables
2  a usage or settings error: a board that does not exist, a mapped title or the subitems column
   missing on the board, a database that refuses OrderSync (read-only)
3  the database or monday could not be reached, or refused the login or the token
4  nothing was run for some customers because another workstation holds them
70 a bug in OrderSync (here: a table of OrderSync's dropped behind its back); the log has the traceback
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.db.migrate import upgrade
from core.foundation.config import render_settings
from core.staging.operations import Owner, StagingOperations
from tests.helpers import BOARD, SANDBOX_TOKEN, count, make_world, order_row, start_sandbox

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def said(self) -> list[str]:
        """What OrderSync itself said on stderr (its own lines, not the progress)."""
        return [line for line in self.err.splitlines() if line.startswith("ordersync:")]


def database_url(engine: sa.Engine, **options: str) -> str:
    """The engine's URL as a settings file holds it (PostgreSQL: its test schema as the search path)."""
    url = engine.url
    schema = getattr(engine, "test_schema", None)
    if schema is not None:
        extra = "".join(f" -c{k}={v}" for k, v in options.items())
        url = url.update_query_dict({"options": f"-csearch_path={schema}{extra}"})
    return url.render_as_string(hide_password=False)


def settings(tmp_path: Path, url: str, server, board: str = BOARD) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        render_settings(
            {
                "database.url": url,
                "monday.api_url": server.url if server else "http://127.0.0.1:9/v2",
                "monday.board_id": board,
            }
        ),
        encoding="utf-8",
    )
    return path


def ordersync(tmp_path: Path, *args: str, token: str = SANDBOX_TOKEN) -> Run:
    # No OS keyring: a token comes only from the environment here, never from the user's own keyring.
    env = {**os.environ, "MONDAY_API_TOKEN": token, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    done = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert "Traceback" not in done.stderr, done.stderr  # never, whatever the code
    return Run(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", time_scale=3000.0)
    yield server
    server.stop()


def add_invalid_lines(engine: sa.Engine, customer: str = "TITLE NINE") -> None:
    """Two lines a loader must reject: a price of 'N/A', and no order number at all."""
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                order_row(
                    table, **{"AAG ORDER NUMBER": "BAD-00001", "CUSTOMER NAME": customer, "CUSTOMER PRICE": "N/A"}
                ),
                order_row(table, **{"AAG ORDER NUMBER": None, "CUSTOMER NAME": customer}),
            ],
        )


def open_errors(engine: sa.Engine, *where) -> int:
    return sum(count(engine, t, t.c.resolved_at.is_(None), *where) for t in (s.err_items, s.err_subitems))


# == 0 and 1: the run finished ======================================================================


def test_0_every_line_is_on_the_board(engine, sandbox, tmp_path):
    make_world(engine, n_orders=30, seed=4, hostile=False)
    config = settings(tmp_path, database_url(engine), sandbox)
    first = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    assert first.code == 0, first.err[-1500:]
    assert open_errors(engine) == 0 and sandbox.board_dump(BOARD)["items"]
    again = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    assert again.code == 0 and again.said == [], again.err[-1500:]


def test_1_invalid_lines_are_held_back_on_every_run_until_fixed(engine, sandbox, tmp_path):
    make_world(engine, n_orders=30, seed=5, hostile=False)
    add_invalid_lines(engine)
    config = settings(tmp_path, database_url(engine), sandbox)
    first = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    invalid = count(engine, s.err_items, s.err_items.c.error_type == "VALIDATION", s.err_items.c.resolved_at.is_(None))
    assert first.code == 1 and invalid > 0, first.err[-1500:]
    # Nothing changed since: nothing is sent, and the lines are still held back, so still 1.
    again = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    assert again.code == 1, again.err[-1500:]
    assert any("fix them in ORDERS_UNIFIED" in line for line in again.said), again.said
    assert (
        count(engine, s.err_items, s.err_items.c.error_type == "VALIDATION", s.err_items.c.resolved_at.is_(None))
        == invalid
        == 2
    )


def test_1_retry_all_with_only_invalid_lines_open_leaves_them_open_and_says_so(engine, sandbox, tmp_path):
    make_world(engine, n_orders=30, seed=5, hostile=False)
    add_invalid_lines(engine)
    config = settings(tmp_path, database_url(engine), sandbox)
    assert ordersync(tmp_path, "sync", "--config", str(config), "--all").code == 1
    with engine.connect() as conn:
        types = set(
            conn.execute(sa.select(s.err_items.c.error_type).where(s.err_items.c.resolved_at.is_(None))).scalars()
        ) | set(
            conn.execute(sa.select(s.err_subitems.c.error_type).where(s.err_subitems.c.resolved_at.is_(None))).scalars()
        )
    assert types == {"VALIDATION"}, types  # the precondition: only invalid lines are open
    before = open_errors(engine)
    retry = ordersync(tmp_path, "retry", "--config", str(config), "--all")
    assert retry.code == 1, retry.err[-1500:]
    assert any("fix them in ORDERS_UNIFIED" in line for line in retry.said), retry.said
    assert open_errors(engine) == before  # none marked resolved while the source still holds them
    # Fixed in the ERP: the price is a number, and the line without an order number is gone.
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)
    with engine.begin() as conn:
        conn.execute(
            table.update().where(table.c["AAG ORDER NUMBER"] == "BAD-00001").values({"CUSTOMER PRICE": "12.5"})
        )
        conn.execute(table.delete().where(table.c["AAG ORDER NUMBER"].is_(None)))
    fixed = ordersync(tmp_path, "retry", "--config", str(config), "--all")
    assert fixed.code == 0 and open_errors(engine) == 0, fixed.err[-1500:]
    assert any("BAD-00001" in json.dumps(item) for item in sandbox.board_dump(BOARD)["items"])


# == 2: what a person must fix ======================================================================


def test_2_a_board_that_does_not_exist(engine, sandbox, tmp_path):
    make_world(engine, n_orders=10, seed=6, hostile=False)
    run = ordersync(
        tmp_path, "sync", "--config", str(settings(tmp_path, database_url(engine), sandbox, "123")), "--all"
    )
    assert run.code == 2, run.err[-1500:]
    assert len(run.said) == 1 and "board 123 does not exist" in run.said[0] and "reached" not in run.err
    assert "Not run:" in run.said[0]  # every other customer, for the same reason, in the same line


@pytest.mark.parametrize("column", ["PO NUMBER", "Subitems"])
def test_2_a_column_the_mapping_needs_is_missing_on_the_board(engine, sandbox, tmp_path, column):
    make_world(engine, n_orders=10, seed=6, hostile=False)
    sandbox.delete_column(BOARD, column)
    run = ordersync(tmp_path, "sync", "--config", str(settings(tmp_path, database_url(engine), sandbox)), "--all")
    assert run.code == 2, run.err[-1500:]
    assert len(run.said) == 1 and (column if column != "Subitems" else "no subitems column") in run.said[0]
    assert sandbox.board_dump(BOARD)["items"] == []


def test_2_a_database_that_refuses_writes(engine, sandbox, tmp_path):
    make_world(engine, n_orders=10, seed=6, hostile=False)
    upgrade(engine)
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///file:{Path(engine.url.database).as_posix()}?mode=ro&uri=true"
    else:
        url = database_url(engine, default_transaction_read_only="on")
    run = ordersync(tmp_path, "sync", "--config", str(settings(tmp_path, url, sandbox)), "--all")
    assert run.code == 2, run.err[-1500:]
    assert any("refused OrderSync" in line for line in run.said), run.said
    assert sandbox.board_dump(BOARD)["items"] == []


# == 3: what time fixes =============================================================================


def test_3_the_database_cannot_be_reached(engine, sandbox, tmp_path):
    if engine.dialect.name == "sqlite":
        url = f"sqlite:///{(tmp_path / 'no such folder' / 'orders.db').as_posix()}"
    else:
        url = engine.url.set(port=9).render_as_string(hide_password=False)  # nothing listens there
    run = ordersync(tmp_path, "sync", "--config", str(settings(tmp_path, url, sandbox)), "--all")
    assert run.code == 3, run.err[-1500:]
    assert len(run.said) == 1 and "database" in run.said[0]


def test_3_monday_refuses_the_token(engine, sandbox, tmp_path):
    make_world(engine, n_orders=10, seed=6, hostile=False)
    config = settings(tmp_path, database_url(engine), sandbox)
    run = ordersync(tmp_path, "sync", "--config", str(config), "--all", token="revoked-token")
    assert run.code == 3, run.err[-1500:]
    assert len(run.said) == 1 and "refused the API token" in run.said[0] and "revoked-token" not in run.err


# == 4: another workstation =========================================================================


def test_4_a_customer_another_workstation_holds_is_not_run(engine, sandbox, tmp_path):
    make_world(engine, n_orders=30, seed=4, hostile=False)
    upgrade(engine)
    config = settings(tmp_path, database_url(engine), sandbox)
    with engine.connect() as conn:
        customers = sorted(set(conn.execute(sa.text('SELECT "CUSTOMER NAME" FROM "ORDERS_UNIFIED"')).scalars()))
    held = customers[0]
    StagingOperations(engine, Owner("other-workstation", "planner2", 4242)).claim(held, BOARD)  # alive, fresh
    run = ordersync(tmp_path, "sync", "--config", str(config), "--all")
    assert run.code == 4, run.err[-1500:]
    assert any(held in line and "planner2@other-workstation" in line for line in run.said), run.said
    on_board = {i["column_values"]["CUSTOMER"] for i in sandbox.board_dump(BOARD)["items"]}
    assert held not in on_board and on_board  # the others were synced


# == 70: a bug ======================================================================================


def test_70_a_bug_is_one_line_and_the_traceback_is_in_the_log(engine, sandbox, tmp_path, log_folder):
    make_world(engine, n_orders=10, seed=6, hostile=False)
    upgrade(engine)
    with engine.begin() as conn:  # OrderSync's own table dropped behind its back: its SQL is now wrong
        conn.execute(sa.text(f'DROP TABLE "{s.requests.name}"'))
    run = ordersync(tmp_path, "sync", "--config", str(settings(tmp_path, database_url(engine), sandbox)), "--all")
    assert run.code == 70, run.err[-1500:]
    assert run.said and "bug in OrderSync" in run.said[-1] and "could not be reached" not in run.err
    logged = "".join(path.read_text(encoding="utf-8") for path in log_folder.rglob("*.log"))
    assert "Traceback" in logged and s.requests.name in logged


# == the table itself ===============================================================================


def test_the_readme_and_help_give_the_table_the_program_uses(tmp_path):
    from core.foundation.exceptions import EXIT_CODES

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| code | means |") :]
    rows = [line for line in table.splitlines()[2:] if line.startswith("|")]
    assert rows == [f"| {code} | {meaning} |" for code, meaning in EXIT_CODES]
    shown = " ".join(ordersync(tmp_path, "--help").out.split())
    for code, meaning in EXIT_CODES:
        assert f"{code} {meaning}" in shown, code
