"""The monday token never leaves the environment or the OS keyring.

A real headless life on a real database against the sandbox over HTTP: a sync that meets invalid
lines, a board that rejects values, 5xx faults and dropped connections (retries, reconciliation),
a retry, status, a dry run, then the token revoked. Afterwards every file OrderSync wrote (the
settings file, the database with its batch, staging, production and ERR rows, the log folder),
everything it printed and every exception message is searched for the token.

The token is not shaped like a monday JWT, so only OrderSync registering it as a secret keeps it
out of the logs, not the JWT pattern.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import traceback
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.config import render_settings
from core.monday.client import MondayApiClient
from core.monday.errors import AuthError, MondayError
from tests.helpers import BOARD, count, make_world, start_sandbox

ROOT = Path(__file__).resolve().parent.parent


def run(settings: Path, token: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MONDAY_API_TOKEN": token}
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args, "--config", str(settings), "-v"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def every_value(engine: sa.Engine) -> list[str]:
    """Every value of every row of every table in the database, as text."""
    metadata = sa.MetaData()
    metadata.reflect(engine)
    values = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)):
                values.extend(str(v) for v in row if v is not None)
    return values


@pytest.mark.slow
def test_the_token_reaches_no_file_table_log_output_or_message(tmp_path, sqlite_engine, log_folder):
    token = "mon-" + secrets.token_hex(20)
    make_world(sqlite_engine, n_orders=200, seed=11)  # a few deliberately invalid lines: VALIDATION rows
    server = start_sandbox(tmp_path / "sandbox.db", token=token)
    settings = tmp_path / "settings.toml"
    settings.write_text(
        render_settings(
            {
                "database.url": f"sqlite:///{Path(sqlite_engine.url.database).as_posix()}",
                "monday.api_url": server.url,
                "monday.board_id": BOARD,
            }
        ),
        encoding="utf-8",
    )
    outputs: list[str] = []
    try:
        # The board cannot take RECEIVED yet (COLUMN_VALUE rows with their payloads), and the line is bad.
        server.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
        server.set_faults("500=0.15,after500=0.1,drop=0.1")
        first = run(settings, token, "sync", "--all")
        outputs += [first.stdout, first.stderr]
        assert first.returncode == 1, first.stderr
        server.add_label(BOARD, "ORDER TYPE", "RECEIVED")
        retried = run(settings, token, "retry", "--all")
        outputs += [retried.stdout, retried.stderr]
        assert retried.returncode in (0, 1), retried.stderr
        server.set_faults(None)
        for args in (("status",), ("sync", "--all", "--dry-run")):
            result = run(settings, token, *args)
            outputs += [result.stdout, result.stderr]
            assert result.returncode in (0, 1), result.stderr

        # The token is revoked on monday's side: the next run fails with a readable line.
        orders = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=sqlite_engine)
        with sqlite_engine.begin() as conn:
            conn.execute(sa.update(orders).where(orders.c["ORDER TYPE"] == "ACTIVE").values({"DESTINATION": "UTAH"}))
        server.token = "rotated-" + secrets.token_hex(8)
        revoked = run(settings, token, "sync", "--all")
        outputs += [revoked.stdout, revoked.stderr]
        assert revoked.returncode == 3 and "refused the API token" in revoked.stderr

        # In this process too: the client's exceptions, as a user or a log would see them.
        client = MondayApiClient(server.url, token, max_attempts=1)
        try:
            with pytest.raises(AuthError) as refused:
                client.board(BOARD)
        finally:
            client.close()
        unreachable = MondayApiClient("http://127.0.0.1:9/v2", token, max_attempts=1, timeout=(0.5, 0.5))
        try:
            with pytest.raises(MondayError) as lost:
                unreachable.board(BOARD)
        finally:
            unreachable.close()
        for exc in (refused.value, lost.value):
            outputs += [str(exc), repr(exc), exc.describe(), "".join(traceback.format_exception(exc))]

        # It was really used and really exercised: the board took it, errors and retries happened.
        assert len(server.board_dump(BOARD)["items"]) > 20
        assert count(sqlite_engine, s.err_items, s.err_items.c.error_type == "VALIDATION") > 0
        assert count(sqlite_engine, s.err_items, s.err_items.c.error_type == "COLUMN_VALUE") > 0
        with sqlite_engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.sum(s.batches.c.retries))).scalar() > 0
        log_text = "".join(p.read_text(encoding="utf-8") for p in sorted(log_folder.iterdir()))
        assert "[batch " in log_text and "retry" in log_text

        # Nowhere: not in what was printed, not in a message, not in a table, not in a file.
        assert not [o for o in outputs if token in o]
        assert not [v for v in every_value(sqlite_engine) if token in v]
        ours = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.startswith("sandbox.db")]
        assert settings in ours and any(p.parent == log_folder for p in ours)
        assert not [p for p in ours if token.encode() in p.read_bytes()]
    finally:
        server.stop()


# == a token with a line break (or any whitespace or control character inside) ======================

BROKEN_PARTS = ("PARTONE7f3c1a2b9e", "PARTTWO5d8e0c4a1f")


@pytest.mark.parametrize("dialect_engine", ["sqlite_engine", pytest.param("pg_engine", marks=pytest.mark.postgres)])
def test_a_token_with_a_line_break_is_refused_and_never_shown(tmp_path, dialect_engine, request, log_folder):
    engine = request.getfixturevalue(dialect_engine)
    make_world(engine, n_orders=10, seed=6, hostile=False)
    server = start_sandbox(tmp_path / "sandbox.db")
    try:
        url = engine.url
        if getattr(engine, "test_schema", None):
            url = url.update_query_dict({"options": f"-csearch_path={engine.test_schema}"})
        settings = tmp_path / "settings.toml"
        settings.write_text(
            render_settings(
                {
                    "database.url": url.render_as_string(hide_password=False),
                    "monday.api_url": server.url,
                    "monday.board_id": BOARD,
                }
            ),
            encoding="utf-8",
        )
        token = "\n".join(BROKEN_PARTS)
        done = [run(settings, token, "sync", "--all"), run(settings, token, "status")]
        assert [d.returncode for d in done] == [2, 0], [d.stderr for d in done]
        assert "contains a line break" in done[0].stderr and "Traceback" not in done[0].stderr
        assert server.stats["requests"] == 0 or server.board_dump(BOARD)["items"] == []  # nothing was sent with it
        shown = "".join(d.stdout + d.stderr for d in done)
        logged = "".join(p.read_text(encoding="utf-8") for p in log_folder.rglob("*") if p.is_file())
        stored = "\n".join(every_value(engine))
        for part in BROKEN_PARTS:
            for where, text in (("output", shown), ("log", logged), ("tables", stored)):
                assert part not in text, f"a part of the token is in the {where}"
    finally:
        server.stop()


def test_every_escaped_form_of_a_registered_secret_is_redacted():
    from urllib.parse import quote

    from core.foundation.logs import redact, register_secret

    secret = 'tok3n"with\\odd\tchars\u00e9and\nbreaks-7f3c1a2b'
    register_secret(secret)
    for form in (
        secret,
        repr(secret),
        json.dumps(secret),
        json.dumps(secret, ensure_ascii=False),
        quote(secret),
        f"'{secret}'",
        secret.encode("unicode_escape").decode("ascii"),
    ):
        shown = redact(f"monday said: {form} (end)")
        assert "7f3c1a2b" not in shown and "tok3n" not in shown, shown
