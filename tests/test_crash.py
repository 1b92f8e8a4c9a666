"""Crashes: the sync process is killed with SIGKILL at random moments, then restarted.

The sandbox runs in the test process, so the board survives every kill exactly as monday would.
After every kill and at the end: no item or subitem is on the board twice, and in the end every
valid line is there with all its sizes. The kill moments come from a fixed seed, printed, which
ORDERSYNC_CRASH_SEED changes.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.config import render_settings
from tests.helpers import BOARD, SANDBOX_TOKEN, engine_context, make_world, start_sandbox

ROOT = Path(__file__).resolve().parent.parent
TRIALS = int(os.environ.get("ORDERSYNC_CRASH_TRIALS", "20"))


def assert_no_duplicates(server) -> list[dict]:
    items = server.board_dump(BOARD)["items"]
    keys = Counter(item["column_values"]["SYNC KEY"] for item in items)
    assert not [k for k, n in keys.items() if n > 1], f"duplicate items: {[k for k, n in keys.items() if n > 1]}"
    for item in items:
        names = Counter(sub["name"] for sub in item["subitems"])
        assert not [n for n, c in names.items() if c > 1], f"duplicate subitems under {item['name']}"
    return items


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_never_duplicates_or_loses_a_row(tmp_path, sqlite_engine):
    # A fixed seed, never the clock: the same kill moments every run (set the variable to try others).
    seed = int(os.environ.get("ORDERSYNC_CRASH_SEED", "20261203"))
    print(f"crash seed {seed} (ORDERSYNC_CRASH_SEED={seed} replays it)")
    rng = random.Random(seed)
    world = make_world(sqlite_engine, n_orders=300, seed=seed % 1000 + 1)
    server = start_sandbox(tmp_path / "sandbox.db", base_latency=0.03, mutation_latency=0.003)
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
    env = {**os.environ, "MONDAY_API_TOKEN": SANDBOX_TOKEN, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(ROOT / "main.py"), "sync", "--config", str(settings), "--all"]
    ctx = engine_context(sqlite_engine)
    try:
        expected = {c.sync_key: c for change in ctx.detect(ctx.customers()) for c in change.changes}
        killed = 0
        for _trial in range(TRIALS):
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            time.sleep(rng.uniform(0.3, 2.0))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                killed += 1
            _, stderr = process.communicate(timeout=60)
            assert "Traceback" not in stderr, stderr
            assert_no_duplicates(server)
        final = subprocess.run([*command, "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        assert "Traceback" not in final.stderr, final.stderr
        answer = json.loads(final.stdout)
        batches = answer["batches"]
        # Nothing failed on the way to monday. The world holds a few invalid lines on purpose, met by the
        # final run or by a killed one before it: they stay open as VALIDATION errors until the ERP fixes
        # them, and only they, so the run exits 1 and says so, whichever run met them first.
        assert all(b["failed_count"] == 0 for b in batches), batches
        assert all(b["status"] in ("COMPLETED", "COMPLETED_WITH_ERRORS", "NO_CHANGES") for b in batches), batches
        still_open = answer["open_errors"]
        assert still_open and set(still_open) == {"VALIDATION"}, still_open
        open_in_tables = sum(
            world.scalar(sa.select(sa.func.count()).select_from(t).where(t.c.resolved_at.is_(None)))
            for t in (s.err_items, s.err_subitems)
        )
        assert sum(still_open.values()) == open_in_tables, (still_open, open_in_tables)
        assert final.returncode == 1, final.stderr
        assert "fix them in ORDERS_UNIFIED" in final.stderr, final.stderr
        print(f"{killed} of {TRIALS} runs were killed mid-way")
        assert killed >= TRIALS // 2, f"only {killed} of {TRIALS} runs were killed mid-way: make the sync longer"
        items = assert_no_duplicates(server)
        on_board = {item["column_values"]["SYNC KEY"]: item for item in items}
        assert set(on_board) == set(expected)
        for key, change in expected.items():
            assert sorted(sub["name"] for sub in on_board[key]["subitems"]) == sorted(sz.name for sz in change.sizes)
        # Nothing is pending any more, and nothing is left in staging.
        assert all(p.new == p.changed == p.removed == 0 for p in ctx.pending())
    finally:
        server.stop()
