"""The command line's real sync and retry, against the sandbox over HTTP (and the embedded one)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.cli import main
from core.db import schema as s
from core.foundation.config import render_settings
from tests.helpers import BOARD, SANDBOX_TOKEN, empty_orders, make_world, order_row, start_sandbox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def settings_for(tmp_path: Path, engine: sa.Engine, server) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(
        render_settings(
            {
                "database.url": str(engine.url.render_as_string(hide_password=False)),
                "monday.api_url": server.url,
                "monday.board_id": BOARD,
            }
        ),
        encoding="utf-8",
    )
    return path


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sync_all_puts_the_orders_on_the_board_and_reports(sqlite_engine, sandbox, tmp_path, capsys, monkeypatch):
    make_world(sqlite_engine, n_orders=200, seed=2)
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    code, out, err = run(capsys, "sync", "--config", str(config), "--all", "--json")
    report = json.loads(out)
    assert code == 1  # the demo data holds invalid lines: they are in ERR, the rest is synced
    statuses = {b["customer"]: b["status"] for b in report["batches"]}
    assert set(statuses.values()) <= {"COMPLETED", "COMPLETED_WITH_ERRORS"}
    created = sum(b["items_created"] for b in report["batches"])
    assert created == len(sandbox.board_dump(BOARD)["items"]) > 100
    with sqlite_engine.connect() as conn:
        invalid = conn.execute(sa.select(sa.func.count()).select_from(s.err_items)).scalar()
    assert invalid == sum(b["invalid_count"] for b in report["batches"]) > 0
    # Again: nothing to send, and exit 1 still: the invalid lines are held back until fixed.
    code, out, err = run(capsys, "sync", "--config", str(config), "--all", "--json")
    assert code == 1, err
    assert json.loads(out)["open_errors"] == {"VALIDATION": invalid}
    assert sum(b["api_calls"] for b in json.loads(out)["batches"]) <= len(json.loads(out)["batches"])


def test_retry_of_a_fixed_row_resolves_its_error(sqlite_engine, sandbox, tmp_path, capsys, monkeypatch):
    table = empty_orders(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00024", "ORDER TYPE": "ON HOLD"}),
                order_row(table, **{"AAG ORDER NUMBER": "MWE-00025"}),
            ],
        )
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    code, _out, err = run(capsys, "sync", "--config", str(config), "--customer", "MACK WELDON")
    assert code == 1
    with sqlite_engine.connect() as conn:
        err_id = conn.execute(
            sa.select(s.err_items.c.err_id).where(s.err_items.c.error_type == "COLUMN_VALUE")
        ).scalar()
    assert err_id is not None
    # status names it as the window does, with the fix, and keeps monday's spelling beside it.
    code, out, err = run(capsys, "status", "--config", str(config), "--json")
    (entry,) = [e for e in json.loads(out)["errors"] if e["id"] == f"I{err_id}"]
    assert (entry["type"], entry["kind"]) == ("COLUMN_VALUE", "Value the board refused")
    assert entry["fix"].startswith('Add the label "ON HOLD" to the ORDER TYPE column on the board')
    # Unfixed, a retry fails again and says so; the error's retry count goes up.
    code, _out, err = run(capsys, "retry", "--config", str(config), "--error", f"I{err_id}")
    assert code == 1
    with sqlite_engine.begin() as conn:
        row = conn.execute(sa.select(s.err_items).where(s.err_items.c.err_id == err_id)).mappings().one()
        assert row["resolved_at"] is None and row["retry_count"] == 1
        conn.execute(
            sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00024").values({"ORDER TYPE": "ACTIVE"})
        )
    code, _out, err = run(capsys, "retry", "--config", str(config), "--error", f"I{err_id}")
    assert code == 0, err
    with sqlite_engine.connect() as conn:
        row = conn.execute(sa.select(s.err_items).where(s.err_items.c.err_id == err_id)).mappings().one()
    assert row["resolved_at"] is not None and row["resolved_by"]
    assert len(sandbox.board_dump(BOARD)["items"]) == 2


def test_unknown_error_id_is_a_usage_error(sqlite_engine, sandbox, tmp_path, capsys, monkeypatch):
    make_world(sqlite_engine, n_orders=20, seed=1)
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    code, _out, err = run(capsys, "retry", "--config", str(config), "--error", "I999")
    assert code == 2 and "I999" in err and len(err.strip().splitlines()) == 1


def test_revoked_token_is_exit_3_with_one_readable_line(sqlite_engine, sandbox, tmp_path):
    make_world(sqlite_engine, n_orders=20, seed=1)
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    env = {**os.environ, "MONDAY_API_TOKEN": "revoked-token"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "sync", "--config", str(config), "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 3
    lines = [line for line in result.stderr.strip().splitlines() if line.startswith("ordersync:")]
    assert lines and "refused the API token" in lines[-1]
    assert "Traceback" not in result.stderr
    assert sandbox.board_dump(BOARD)["items"] == []


def test_missing_token_is_a_settings_error(sqlite_engine, sandbox, tmp_path, capsys, monkeypatch):
    make_world(sqlite_engine, n_orders=20, seed=1)
    monkeypatch.delenv("MONDAY_API_TOKEN", raising=False)
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")  # a keyring with nothing in it
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    code, _out, err = run(capsys, "sync", "--config", str(config), "--all")
    assert code == 2 and "MONDAY_API_TOKEN" in err


def test_demo_syncs_against_the_embedded_sandbox(tmp_path, capsys):
    from sandbox import SandboxServer

    code, out, err = run(capsys, "demo", "init", "--dir", str(tmp_path / "demo"), "--orders", "40", "--seed", "3")
    assert code == 0
    config = tmp_path / "demo" / "settings.toml"
    code, out, err = run(capsys, "sync", "--config", str(config), "--customer", "MACK WELDON", "--json")
    assert code in (0, 1), err
    (batch,) = json.loads(out)["batches"]
    assert batch["items_created"] > 0
    server = SandboxServer(tmp_path / "demo" / "sandbox.db")
    try:
        items = server.board_dump(BOARD)["items"]
    finally:
        server.stop()
    assert len(items) == batch["items_created"]
    assert {i["column_values"]["CUSTOMER"] for i in items} == {"MACK WELDON"}


def test_a_request_monday_refuses_as_invalid_is_a_bug_exit_70_not_an_outage(
    sqlite_engine, sandbox, tmp_path, capsys, monkeypatch, log_folder
):
    from core.monday import client as client_module

    make_world(sqlite_engine, n_orders=20, seed=1)
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    config = settings_for(tmp_path, sqlite_engine, sandbox)
    # a bug planted in the client: create_item's group_id declared with a type monday refuses there
    declared = client_module.MUTATION_ARGS["create_item"]["group_id"]
    monkeypatch.setitem(client_module.MUTATION_ARGS["create_item"], "group_id", "Int")
    code, _out, err = run(capsys, "sync", "--config", str(config), "--all")
    assert code == 70
    lines = [line for line in err.splitlines() if line.startswith("ordersync:")]
    assert len(lines) == 1 and "OrderSync built a request monday refused as invalid" in lines[0]
    assert "variableMismatch" in lines[0] and "could not be reached" not in err and "Traceback" not in err
    logged = "".join(path.read_text(encoding="utf-8") for path in log_folder.rglob("*.log"))
    assert "create_item(" in logged and "Traceback" in logged  # the document and the traceback are in the log
    assert sandbox.board_dump(BOARD)["items"] == []
    with sqlite_engine.connect() as conn:  # nothing was applied: no row is failed or left SENDING
        states = set(conn.execute(sa.select(s.stg_items.c.state)).scalars())
        assert s.SENDING not in states and s.API_FAILED not in states
    # the bug fixed, the next run sends everything
    monkeypatch.setitem(client_module.MUTATION_ARGS["create_item"], "group_id", declared)
    code, _out, err = run(capsys, "sync", "--config", str(config), "--all")
    assert code in (0, 1), err
    assert len(sandbox.board_dump(BOARD)["items"]) > 0


# --- monday out of reach ---------------------------------------------------------------------------


def closed_port() -> int:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WAITING = re.compile(r"^ordersync: waiting for monday: connection refused; try ([2-4]) of 4 in \d+(\.\d)? s$")


def test_monday_out_of_reach_is_a_few_whole_lines_then_exit_3(sqlite_engine, tmp_path, log_folder):
    make_world(sqlite_engine, n_orders=20, seed=1)
    config = tmp_path / "settings.toml"
    config.write_text(
        render_settings(
            {
                "database.url": str(sqlite_engine.url),
                "monday.api_url": f"http://127.0.0.1:{closed_port()}/v2",
                "monday.board_id": BOARD,
                "monday.max_attempts": 4,  # 3 retries: 3.5 s of waiting at most
            }
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "MONDAY_API_TOKEN": SANDBOX_TOKEN}

    def sync(*options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(ROOT / "main.py"), *options, "sync", "--config", str(config), "--all"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=120,
        )

    quiet = sync()
    assert quiet.returncode == 3, quiet.stderr
    assert "Traceback" not in quiet.stderr and "…" not in quiet.stderr and quiet.stdout == ""
    *waits, last = quiet.stderr.splitlines()
    # Without -v: the first retry said at once, the next ones within 10 s not again; nothing else.
    assert waits and all(WAITING.match(line) for line in waits), waits
    retried = [
        line
        for line in (log_folder / "ordersync.log").read_text(encoding="utf-8").splitlines()
        if "WARNING" in line and "connection refused; retry" in line
    ]
    assert [re.search(r"retry (\d) of 3", line).group(1) for line in retried] == ["1", "2", "3"]  # all in the file
    assert len(waits) < len(retried)
    assert last.startswith("ordersync: error: monday could not be reached: connection to monday at http://127.0.0.1:")
    assert "failed: connection refused (4 tries). Batch 1 (" in last and "is kept and resumes on the next run." in last
    # With -v: every retry in full, as the log file has them.
    verbose = sync("-v")
    assert verbose.returncode == 3
    assert len([line for line in verbose.stderr.splitlines() if "connection refused; retry" in line]) == 3
    (error,) = [line for line in verbose.stderr.splitlines() if line.startswith("ordersync: error: ")]
    assert error == last
