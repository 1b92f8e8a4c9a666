"""``drift`` on the command line, run as a subprocess the way a planner or a scheduler runs it: the
forecast first, plain lines per customer, ``--json``, and the exit codes of the other commands
(0 the board is as OrderSync left it, 1 something differs, 2 usage or settings, 3 out of reach); Ctrl+C
stops the reads after the one in flight and reports nothing, exit 1 as a cancelled sync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import BOARD, SANDBOX_TOKEN, make_world
from tests.test_exit_codes import ROOT, database_url, ordersync, settings


@pytest.fixture
def sandbox(tmp_path):
    from tests.helpers import start_sandbox

    server = start_sandbox(tmp_path / "sandbox.db", time_scale=3000.0)
    yield server
    server.stop()


def synced(engine, sandbox, tmp_path) -> str:
    make_world(engine, n_orders=30, seed=4, hostile=False)
    config = str(settings(tmp_path, database_url(engine), sandbox))
    assert ordersync(tmp_path, "sync", "--config", config, "--all").code == 0
    return config


def test_drift_of_an_untouched_board_then_of_an_edited_one(engine, sandbox, tmp_path):
    config = synced(engine, sandbox, tmp_path)

    clean = ordersync(tmp_path, "drift", "--config", config, "--all")
    assert clean.code == 0, clean.err[-1500:]
    lines = clean.out.splitlines()
    assert lines[0].startswith("Forecast: ") and "read requests" in lines[0] and "complexity points" in lines[0]
    assert any(line.endswith("checked)") and ": no drift (" in line for line in lines)
    assert "Nothing was changed." in clean.out

    item = sandbox.board_dump(BOARD)["items"][0]
    sandbox.set_value(item["id"], "DESTINATION", "SOMEWHERE ELSE")
    customer = item["column_values"]["CUSTOMER"]

    edited = ordersync(tmp_path, "drift", "--config", config, "--customer", customer)
    assert edited.code == 1, edited.err[-1500:]
    assert f"{customer}: 1 difference" in edited.out
    assert "DESTINATION is 'SOMEWHERE ELSE' on the board, OrderSync wrote" in edited.out

    as_json = ordersync(tmp_path, "--json", "drift", "--config", config, "--customer", customer, "--items-only")
    assert as_json.code == 1
    report = json.loads(as_json.out)
    assert report["exit_code"] == 1 and report["drift"] == 1 and report["subitems_checked"] is False
    assert set(report["forecast"]) >= {"reads", "points", "seconds", "budget", "window"}
    assert report["forecast"]["reads"] == report["reads"]["requests"]
    (only,) = report["customers"]
    assert only["customer"] == customer and only["subitems_checked"] == 0
    assert [(c["column"], c["board"]) for c in only["changed"]] == [("DESTINATION", "SOMEWHERE ELSE")]


def test_drift_usage_and_settings_errors(engine, sandbox, tmp_path):
    config = synced(engine, sandbox, tmp_path)
    nothing = ordersync(tmp_path, "drift", "--config", config)
    assert nothing.code == 2 and "--customer NAME" in nothing.err
    unknown = ordersync(tmp_path, "drift", "--config", config, "--customer", "NOBODY AT ALL")
    assert unknown.code == 2 and "NOBODY AT ALL" in unknown.err
    no_board = str(settings(tmp_path, database_url(engine), sandbox, "123"))
    missing = ordersync(tmp_path, "drift", "--config", no_board, "--all")
    assert missing.code == 2 and "board 123 does not exist" in missing.err
    unreachable = str(settings(tmp_path, database_url(engine), None))
    away = ordersync(tmp_path, "drift", "--config", unreachable, "--all")
    assert away.code == 3, away.err[-1500:]


def test_ctrl_c_stops_the_reads_after_the_one_in_flight_and_reports_nothing(engine, sandbox, tmp_path):
    config = synced(engine, sandbox, tmp_path)
    item = sandbox.board_dump(BOARD)["items"][0]
    sandbox.archive_item(item["id"])  # so the check looks it up by id after the groups' pages
    # That lookup is held in the sandbox (as a slow network would): Ctrl+C comes while it is in flight.
    sandbox.fail_next("hold", on="query", field="items", seconds=5)
    env = {**os.environ, "MONDAY_API_TOKEN": SANDBOX_TOKEN, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "main.py"), "drift", "--config", config, "--all"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while sandbox.stats["held"] == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sandbox.stats["held"] == 1, process.communicate(timeout=60)
        queries = sandbox.stats["queries"]
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert "Traceback" not in err, err
    assert process.returncode == 1, err[-1500:]
    # the held lookup, answered, was the last read: no page of sizes followed (queries count when answered)
    assert sandbox.stats["queries"] == queries + 1
    said = [line for line in err.splitlines() if line.startswith("ordersync:")]
    assert said[0] == "ordersync: stopping the check after the read in flight (Ctrl+C again to abort)"
    assert "the check of the board was stopped after 2 of about " in said[-1] and "nothing is reported" in said[-1]
    assert out.startswith("Forecast: ") and "no drift" not in out and "difference" not in out
