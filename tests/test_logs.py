"""The log file: where it is, what a batch's lines carry, what never reaches it, and what a crash leaves.

Every test logs into its own folder (the ``log_folder`` fixture sets ORDERSYNC_LOG_DIR, which the
processes a test starts inherit).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import cli
from core.db import schema as s
from core.foundation.config import render_settings
from core.foundation.exceptions import EXIT_INTERNAL
from core.foundation.logs import (
    LOG_FILE_NAME,
    REDACTED,
    SharedRotatingFileHandler,
    batch_context,
    log_file,
    redact,
    register_secret,
    setup_logging,
)
from core.staging.batches import STATUS_WORDS
from tests.helpers import BOARD, SANDBOX_TOKEN, make_world, start_sandbox

ROOT = Path(__file__).resolve().parent.parent


def read_log(folder: Path) -> str:
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (folder / LOG_FILE_NAME).read_text(encoding="utf-8")


# --- redaction ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, secret_part",
    [
        ("mssql+pyodbc://planner:Winter2026!@ERP-SQL01/ORDERS?driver=x", "Winter2026!"),
        ("postgresql+psycopg://app:s3cr3t@db:5432/test", "s3cr3t"),
        ("headers {'Authorization': 'abcDEF123456', 'API-Version': '2026-07'}", "abcDEF123456"),
        ("Authorization: Bearer abcDEF123456", "abcDEF123456"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJ0aWQiOjEyMzQ1Njc4OX0.c2lnbmF0dXJlLXZhbHVl in a message",
            "eyJhbGciOiJIUzI1NiJ9",
        ),
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=x;UID=sa;PWD=P@ss;word", "P@ss"),
        ("odbc_connect=...;Password={brace;d};", "brace;d"),
        ("mssql+pyodbc:///?odbc_connect=DRIVER%3D%7Bx%7D%3BUID%3Dsa%3BPWD%3DP4ssw0rd%3BEncrypt%3Dyes", "P4ssw0rd"),
    ],
)
def test_secret_shaped_values_are_redacted(text, secret_part):
    cleaned = redact(text)
    assert secret_part not in cleaned
    assert REDACTED in cleaned


def test_a_registered_secret_is_redacted_whatever_its_shape():
    secret = "plain-token-" + os.urandom(6).hex()
    assert redact(f"x {secret} y") == f"x {secret} y"  # nothing tells it apart from ordinary text …
    register_secret(secret)
    assert redact(f"x {secret} y") == f"x {REDACTED} y"  # … until it is registered


def test_ordinary_text_is_left_alone():
    text = "batch 12: staged 4 items, 17 subitems; http://127.0.0.1:8765/v2 answered 200 in 0.05 s"
    assert redact(text) == text


# --- the file ----------------------------------------------------------------------------------------


def test_the_file_gets_batch_ids_and_redacted_records_and_tracebacks(log_folder):
    secret = "tok-" + os.urandom(8).hex()
    register_secret(secret)
    path = setup_logging(console_level=None)
    assert path == log_folder / LOG_FILE_NAME == log_file()
    logger = logging.getLogger("ordersync.test")
    logger.info("outside any batch")
    with batch_context(41):
        logger.warning("sending with token %s", secret)
        try:
            raise RuntimeError(f"request failed, headers={{'Authorization': '{secret}'}}")
        except RuntimeError:
            logger.exception("request failed")
    logger.info("after the batch")
    text = read_log(log_folder)
    assert secret not in text
    lines = text.splitlines()
    assert re.search(r"INFO .* ordersync\.test: outside any batch$", lines[0]) and "[batch" not in lines[0]
    assert "[batch 41] ordersync.test: sending with token ***" in lines[1]
    assert "[batch 41] ordersync.test: request failed" in lines[2]
    assert "Traceback (most recent call last)" in text and "RuntimeError: request failed" in text
    assert "[batch" not in lines[-1] and lines[-1].endswith("after the batch")


def test_setting_up_twice_writes_each_line_once(log_folder):
    setup_logging(console_level=None)
    setup_logging(console_level=None)
    logging.getLogger("ordersync.test").info("once")
    assert read_log(log_folder).count("once") == 1


def test_the_file_rolls_over_at_its_size_and_keeps_its_backups(tmp_path):
    handler = SharedRotatingFileHandler(tmp_path / "x.log", maxBytes=300, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("ordersync.rotation")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(40):
            logger.warning("line %02d %s", i, "x" * 40)  # 49 bytes a line: about 7 lines a file
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["x.log", "x.log.1", "x.log.2"]  # two backups kept, older ones dropped
    assert all((tmp_path / name).stat().st_size <= 300 + 49 for name in files)
    assert (tmp_path / "x.log").read_text(encoding="utf-8").rstrip().endswith("line 39 " + "x" * 40)


def test_a_rollover_blocked_by_another_process_keeps_logging(tmp_path, monkeypatch):
    """On Windows a file another process holds open cannot be renamed: the lines keep coming."""
    handler = SharedRotatingFileHandler(tmp_path / "x.log", maxBytes=200, backupCount=2, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))

    def locked(src, dst):
        raise PermissionError(32, "The process cannot access the file because it is being used by another process")

    monkeypatch.setattr(os, "rename", locked)
    errors = []
    monkeypatch.setattr(handler, "handleError", lambda record: errors.append(record))
    logger = logging.getLogger("ordersync.rollover")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for i in range(20):
            logger.warning("line %02d %s", i, "x" * 40)
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
        handler.close()
    assert errors == []
    text = (tmp_path / "x.log").read_text(encoding="utf-8")
    assert "line 00" in text and "line 19" in text


def test_a_background_thread_crash_is_logged(log_folder, monkeypatch):
    from core.foundation.logs import log_uncaught_thread_exceptions

    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    setup_logging(console_level=None)
    log_uncaught_thread_exceptions()

    def work():
        raise ValueError("worker broke")

    thread = threading.Thread(target=work, name="engine-worker")
    thread.start()
    thread.join()
    text = read_log(log_folder)
    assert "unexpected error in thread engine-worker" in text and "ValueError: worker broke" in text


# --- the command line --------------------------------------------------------------------------------


@pytest.fixture
def synced(tmp_path, sqlite_engine):
    make_world(sqlite_engine, n_orders=60, seed=5)
    server = start_sandbox(tmp_path / "sandbox.db")
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
    yield settings, server
    server.stop()


def test_a_headless_run_logs_every_batch_with_its_id(synced, sqlite_engine, log_folder):
    settings, _ = synced
    env = {**os.environ, "MONDAY_API_TOKEN": SANDBOX_TOKEN}
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "sync", "--config", str(settings), "--all"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    text = (log_folder / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert re.search(r"OrderSync \S+: sync --config \S+ --all, by \S+ on \S+", text)
    with sqlite_engine.connect() as conn:
        batches = conn.execute(sa.select(s.batches.c.batch_id, s.batches.c.status)).all()
    assert len(batches) > 1
    for batch_id, status in batches:
        tagged = [line for line in text.splitlines() if f"[batch {batch_id}] " in line]
        # Staging and the orchestrator both log inside the batch; the last tagged line is its status, in
        # the plain words the window's log pane shows (the code stays in MON_BatchProcessing).
        assert {"core.staging.operations", "core.push.run"} <= {
            m.group(1) for line in tagged if (m := re.search(r"\] (core\.[\w.]+):", line))
        }, tagged
        assert tagged[-1].endswith(f"batch {batch_id}: {STATUS_WORDS[status]}")
    assert text.rstrip().splitlines()[-1].endswith(f"exit code {result.returncode}")


def test_status_names_the_log_file(synced, capsys, log_folder, monkeypatch):
    settings, _ = synced
    assert cli.main(["status", "--config", str(settings), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["log_file"] == str(log_folder / LOG_FILE_NAME)
    assert cli.main(["status", "--config", str(settings)]) == 0
    assert f"Log:      {log_folder / LOG_FILE_NAME}" in capsys.readouterr().out.splitlines()


def test_a_user_error_is_one_line_on_stderr_and_in_the_log(tmp_path, capsys, log_folder):
    code = cli.main(["status", "--config", str(tmp_path / "missing.toml")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("ordersync: error: settings file not found")
    text = read_log(log_folder)
    assert "ERROR" in text and "settings file not found" in text and text.rstrip().endswith("exit code 2")


def test_a_bug_is_one_line_for_the_user_and_a_traceback_in_the_log(synced, capsys, log_folder, monkeypatch):
    """Injected fault: the only way to meet a bug on purpose is to plant one."""
    settings, _ = synced

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(cli, "cmd_status", broken)
    code = cli.main(["status", "--config", str(settings)])
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL == 70
    assert len(err.splitlines()) == 1 and "unexpected error: KeyError" in err and str(log_file()) in err
    assert "Traceback" not in err
    text = read_log(log_folder)
    assert "CRITICAL" in text and "Traceback (most recent call last)" in text and "KeyError: 'a bug'" in text


# --- waits for monday on the console -----------------------------------------------------------------


def console_lines(handler_options: dict, events: list[tuple[float, str, dict]]) -> list[str]:
    """What a ConsoleHandler prints for ``events`` (time, message, extra), on a clock the test sets."""
    import io

    from core.foundation.logs import ConsoleHandler, formatter

    now = [0.0]
    stream = io.StringIO()
    handler = ConsoleHandler(stream, clock=lambda: now[0], **handler_options)
    handler.setFormatter(formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("test.console")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for at, message, extra in events:
            now[0] = at
            logger.warning("%s", message, extra=extra)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue().splitlines()


def test_waits_for_monday_are_one_short_line_at_most_every_ten_seconds():
    from core.foundation.logs import SHOWN, waiting

    events = [
        (t, f"monday query: a long line with every detail; retry at {t}", waiting(f"refused at {t}"))
        for t in (0.0, 3.0, 9.9, 10.0, 15.0, 25.0, 26.0)
    ]
    events.insert(2, (5.0, "something else went wrong", {}))  # other warnings are never held back …
    events.insert(3, (6.0, "the user saw this one already", SHOWN))  # … and what was shown is never repeated
    assert console_lines({"waiting_every": 10.0, "prefix": "ordersync: waiting for monday: "}, events) == [
        "ordersync: waiting for monday: refused at 0.0",
        "WARNING something else went wrong",
        "ordersync: waiting for monday: refused at 10.0",
        "ordersync: waiting for monday: refused at 25.0",
    ]
    # With --verbose every wait is a full line, as in the log file.
    verbose = console_lines({}, events)
    assert len(verbose) == 8 and all(line.startswith("WARNING ") for line in verbose)
    assert "WARNING monday query: a long line with every detail; retry at 9.9" in verbose
