"""``undo`` on the command line, run as a subprocess: the preview changes nothing, the undo archives what
its batch created, a second undo of the same batch is refused, and an undo killed with SIGKILL mid-way
and run again ends exact (each item archived once, production without the lines it took back)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from core.db import schema as s
from tests.helpers import BOARD, SANDBOX_TOKEN, make_world, start_sandbox
from tests.test_exit_codes import ROOT, database_url, ordersync, settings


def first_batch(engine) -> tuple[int, str, set[str]]:
    """The first batch of the sync, its customer and the items it created."""
    b, a = s.batches, s.audit_log
    with engine.connect() as conn:
        batch_id, customer = conn.execute(sa.select(b.c.batch_id, b.c.customer).order_by(b.c.batch_id)).first()
        items = set(
            conn.execute(sa.select(a.c.monday_item_id).where(a.c.batch_id == batch_id, a.c.kind == s.CREATED)).scalars()
        )
    return batch_id, customer, items


def on_board(server) -> set[str]:
    return {item["id"] for item in server.board_dump(BOARD)["items"]}


def production_of(engine, customer: str) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(s.items).where(s.items.c.customer == customer))


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", time_scale=3000.0)
    yield server
    server.stop()


def test_undo_preview_then_undo_then_undo_again(engine, sandbox, tmp_path):
    make_world(engine, n_orders=30, seed=4, hostile=False)
    config = str(settings(tmp_path, database_url(engine), sandbox))
    assert ordersync(tmp_path, "sync", "--config", config, "--all").code == 0
    batch_id, customer, created = first_batch(engine)
    before = on_board(sandbox)
    assert created and created <= before

    preview = ordersync(tmp_path, "undo", "--config", config, "--batch", str(batch_id), "--dry-run")
    assert preview.code == 0, preview.err[-1500:]
    assert f"Undo of batch {batch_id} ({customer}):" in preview.out
    assert f"items to archive: {len(created)}" in preview.out
    assert "Nothing was changed" in preview.out
    assert on_board(sandbox) == before  # the preview changed nothing
    as_json = ordersync(tmp_path, "--json", "undo", "--config", config, "--batch", str(batch_id), "--dry-run")
    assert as_json.code == 0 and len(json.loads(as_json.out)["archive"]) == len(created)

    done = ordersync(tmp_path, "undo", "--config", config, "--batch", str(batch_id))
    assert done.code == 0, done.err[-1500:]
    assert "COMPLETED" in done.out
    assert on_board(sandbox) == before - created
    assert production_of(engine, customer) == 0

    again = ordersync(tmp_path, "undo", "--config", config, "--batch", str(batch_id))
    assert again.code == 2 and "undone already" in again.err, again.err[-1500:]
    missing = ordersync(tmp_path, "undo", "--config", config, "--batch", "9999")
    assert missing.code == 2 and "no batch 9999" in missing.err, missing.err[-1500:]

    # The next sync knows the board: the lines whose creation was undone are created again.
    resync = ordersync(tmp_path, "sync", "--config", config, "--customer", customer)
    assert resync.code == 0, resync.err[-1500:]
    assert production_of(engine, customer) == len(created)


def _undo_process(tmp_path, config: str, batch_id: int) -> subprocess.Popen:
    env = {**os.environ, "MONDAY_API_TOKEN": SANDBOX_TOKEN, "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring"}
    command = [sys.executable, str(ROOT / "main.py"), "undo", "--config", config, "--batch", str(batch_id)]
    return subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _audited(engine, batch_id: int) -> tuple[int | None, int]:
    """The undo batch of ``batch_id`` (None before it exists) and how many audit rows it has."""
    b, a = s.batches, s.audit_log
    with engine.connect() as conn:
        undo_batch = conn.scalar(sa.select(b.c.batch_id).where(b.c.undo_of_batch == batch_id))
        if undo_batch is None:
            return None, 0
        return undo_batch, conn.scalar(sa.select(sa.func.count()).select_from(a).where(a.c.batch_id == undo_batch))


def _resumed_exact(tmp_path, config, server, engine, batch_id, customer, created, before) -> None:
    a = s.audit_log
    undo_batch, _ = _audited(engine, batch_id)
    resumed = ordersync(tmp_path, "undo", "--config", config, "--batch", str(batch_id))
    assert resumed.code == 0, resumed.err[-1500:]
    assert "resumed" in resumed.out
    assert on_board(server) == before - created
    assert production_of(engine, customer) == 0
    with engine.connect() as conn:
        archived_ids = list(
            conn.execute(
                sa.select(a.c.monday_item_id).where(a.c.batch_id == undo_batch, a.c.kind == s.ARCHIVED)
            ).scalars()
        )
        assert conn.scalar(sa.select(sa.func.count()).select_from(s.requests)) == 0
    assert sorted(archived_ids) == sorted(created)  # each item archived once, audited once


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_an_undo_killed_with_sigkill_mid_way_and_run_again_ends_exact(tmp_path, sqlite_engine):
    """One by one (``monday.bulk_archive = false``): killed once some archive_item requests were recorded."""
    make_world(sqlite_engine, n_orders=120, seed=7, hostile=False)
    server = start_sandbox(tmp_path / "sandbox.db", base_latency=0.03, mutation_latency=0.01)
    try:
        config = settings(tmp_path, database_url(sqlite_engine), server)
        assert ordersync(tmp_path, "sync", "--config", str(config), "--all").code == 0
        config.write_text(config.read_text().replace("[monday]\n", "[monday]\nbulk_archive = false\n"))
        batch_id, customer, created = first_batch(sqlite_engine)
        before = on_board(server)
        process = _undo_process(tmp_path, str(config), batch_id)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline:  # the chosen point: some items archived
            if _audited(sqlite_engine, batch_id)[1]:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the undo ended before it could be killed: make it longer"
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        assert 0 < len(created - on_board(server)) < len(created)  # killed mid-way

        _resumed_exact(tmp_path, str(config), server, sqlite_engine, batch_id, customer, created, before)
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_an_undo_killed_after_its_bulk_archive_and_before_recording_it_ends_exact(tmp_path, sqlite_engine):
    """In bulk: killed while monday's job is polled, with every item archived on the board and nothing
    recorded yet (its rows SENDING without a stored request). The run again settles them from the board's
    states: each archived once, audited once, no archive sent one by one."""
    make_world(sqlite_engine, n_orders=120, seed=7, hostile=False)
    server = start_sandbox(tmp_path / "sandbox.db", base_latency=0.03, mutation_latency=0.01, journal=True)
    try:
        config = str(settings(tmp_path, database_url(sqlite_engine), server))
        assert ordersync(tmp_path, "sync", "--config", config, "--all").code == 0
        batch_id, customer, created = first_batch(sqlite_engine)
        assert len(created) >= 5  # enough to go in bulk
        before = on_board(server)
        server.fail_next("hold", 1, field="job_status", on="query", seconds=30)  # the poll hangs: the chosen point
        server.clear_journal()
        process = _undo_process(tmp_path, config, batch_id)
        deadline = time.monotonic() + 120
        while process.poll() is None and time.monotonic() < deadline and created & on_board(server):
            time.sleep(0.01)
        assert process.poll() is None, process.stderr.read().decode()[-1500:] if process.stderr else ""
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        assert not created & on_board(server)  # monday archived them all, in one mutation
        undo_batch, audited = _audited(sqlite_engine, batch_id)
        assert undo_batch is not None and audited == 0
        with sqlite_engine.connect() as conn:
            t = s.stg_items
            sending = conn.execute(
                sa.select(t.c.request_id).where(t.c.batch_id == undo_batch, t.c.state == s.SENDING)
            ).all()
        assert len(sending) == len(created) and {r.request_id for r in sending} == {None}

        server.clear_journal()
        _resumed_exact(tmp_path, config, server, sqlite_engine, batch_id, customer, created, before)
        sent = " ".join(request["query"] for request in server.journal)
        assert not re.search(r"\b(bulk_)?archive_items?\(", sent)  # nothing archived again
    finally:
        server.stop()
