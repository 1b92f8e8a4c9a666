"""Exactly once, each failure path set up exactly: crashes at a chosen statement, takeovers while
the owner waits, cancels from another workstation, rows that are never confirmed.

Every test runs on SQLite and PostgreSQL over real HTTP against the sandbox, and asserts the
board itself and the production tables.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.foundation.exceptions import CustomerBusy
from core.push.run import TAKEN_OVER, BatchProcessor
from core.staging.operations import Owner, StagingOperations
from tests.helpers import BOARD, count, empty_orders, engine_context, monday_client, order_row, start_sandbox

CUSTOMER = "MACK WELDON"


class Crash(BaseException):
    """A simulated kill -9: nothing after it runs; what was committed stays, the open transaction is lost."""


class crash_at:
    """Raise Crash before the ``nth`` SQL statement that contains ``text`` (and every statement after it)."""

    def __init__(self, engine: sa.Engine, text: str, nth: int = 1):
        self.engine, self.text, self.nth, self.seen = engine, text, nth, 0
        self.fired = False

    def _listener(self, conn, cursor, statement, parameters, context, executemany):
        if self.fired:
            raise Crash()
        if self.text in statement:
            self.seen += 1
            if self.seen >= self.nth:
                self.fired = True
                raise Crash(statement)

    def __enter__(self):
        sa.event.listen(self.engine, "before_cursor_execute", self._listener)
        return self

    def __exit__(self, *exc):
        sa.event.remove(self.engine, "before_cursor_execute", self._listener)
        return exc[0] is Crash


def lines(n: int, customer: str = CUSTOMER, start: int = 1) -> list[dict]:
    return [{"AAG ORDER NUMBER": f"MWE-{i:05d}", "CUSTOMER NAME": customer} for i in range(start, start + n)]


def source(engine, rows) -> sa.Table:
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return table


def board_by_key(server) -> dict[str, dict]:
    items = server.board_dump(BOARD)["items"]
    keys = Counter(item["column_values"]["SYNC KEY"] for item in items)
    assert not [k for k, n in keys.items() if n > 1], f"items on the board twice: {keys}"
    for item in items:
        names = Counter(sub["name"] for sub in item["subitems"])
        assert not [n for n, c in names.items() if c > 1], f"a subitem of {item['name']} is there twice"
    return {item["column_values"]["SYNC KEY"]: item for item in items}


def assert_nothing_pending(ctx):
    assert all(p.new == p.changed == p.removed == 0 for p in ctx.pending()), ctx.pending()
    assert count(ctx.engine, s.stg_items) == count(ctx.engine, s.stg_items, s.stg_items.c.state == s.INVALID)
    assert count(ctx.engine, s.requests) == 0


def successor(pid: int) -> Owner:
    """The next process on this workstation after a kill: the dead one's batch is resumed at once."""
    me = Owner.current()
    return Owner(me.host, me.user, pid)


def processor(ctx, server, owner: Owner | None = None, **client_options) -> BatchProcessor:
    if owner is not None:
        ctx.staging = StagingOperations(ctx.engine, owner, ctx.settings["sync.heartbeat_stale_seconds"])
    return BatchProcessor(ctx, monday_client(server, **client_options))


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


# == a crash, then a run that finishes the batch and what changed since ==========================


def test_a_resumed_batch_is_finished_and_the_same_run_sends_what_changed_since(engine, sandbox):
    table = source(engine, lines(6))
    ctx = engine_context(engine)
    # Killed while storing its third request (after its groups and two items): two items are on the board.
    with crash_at(engine, 'INSERT INTO "MON_Requests"', nth=3):
        processor(ctx, sandbox, successor(3_000_001), max_batch=2).run([CUSTOMER])
    assert len(board_by_key(sandbox)) == 2
    with engine.begin() as conn:  # meanwhile the ERP changes a line already on the board and adds one
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == "MWE-00001").values({"S": 99}))
        conn.execute(table.insert(), [order_row(table, **lines(1, start=7)[0])])

    results = processor(ctx, sandbox, successor(3_999_001)).run([CUSTOMER])

    assert [r.status for r in results] == [s.COMPLETED, s.COMPLETED]  # the resumed batch, then the new one
    assert results[0].batch_id != results[1].batch_id
    on_board = board_by_key(sandbox)
    assert len(on_board) == 7
    first = next(item for key, item in on_board.items() if key.startswith("MWE-00001"))
    assert {sub["name"]: sub["column_values"]["Order Qty"] for sub in first["subitems"]}["Size S"] == "99"
    assert_nothing_pending(ctx)


def test_a_crash_between_storing_a_request_and_sending_it_sends_it_once(engine, sandbox):
    source(engine, lines(3))
    ctx = engine_context(engine)
    # The request and its SENDING rows are committed; the process dies before a single byte leaves.
    with crash_at(engine, 'sends=("MON_Requests".sends'):
        processor(ctx, sandbox, successor(3_000_002)).run([CUSTOMER])
    assert board_by_key(sandbox) == {} and count(engine, s.requests) == 1
    results = processor(ctx, sandbox, successor(3_999_002)).run([CUSTOMER])
    assert [r.status for r in results] == [s.COMPLETED]
    assert len(board_by_key(sandbox)) == 3
    assert sandbox.stats["idempotent_replays"] == 0  # it had never arrived: applied by the resend, once
    assert_nothing_pending(ctx)


def test_a_crash_after_monday_applied_a_request_is_settled_by_its_replay(engine, sandbox):
    source(engine, lines(3))
    ctx = engine_context(engine)
    # monday applied the request; the process dies before it records the answer.
    with crash_at(engine, "monday_item_id=coalesce("):
        processor(ctx, sandbox, successor(3_000_003)).run([CUSTOMER])
    assert len(board_by_key(sandbox)) == 3
    client_stats_before = sandbox.stats["mutations"]
    results = processor(ctx, sandbox, successor(3_999_003)).run([CUSTOMER])
    assert [r.status for r in results] == [s.COMPLETED]
    assert sandbox.stats["idempotent_replays"] == 1  # the same key: monday's cache answered, nothing applied twice
    assert len(board_by_key(sandbox)) == 3
    assert sandbox.stats["mutations"] - client_stats_before == len(lines(3)) * 3  # only the sizes were new
    assert_nothing_pending(ctx)


# == rows that are never confirmed ===============================================================


def test_a_row_that_exhausts_its_attempts_fails_with_its_reason_and_the_rest_goes_on(engine, sandbox):
    source(engine, lines(3))
    ctx = engine_context(engine)
    staging = ctx.staging
    batch = staging.claim(CUSTOMER, BOARD)
    staging.stage(batch.batch_id, ctx.detect([CUSTOMER])[0])
    first = staging.pending_rows(batch.batch_id, s.stg_items, limit=1)[0]
    with engine.begin() as conn:  # six requests of it went out and none was ever confirmed
        conn.execute(sa.update(s.stg_items).where(s.stg_items.c.stg_id == first["stg_id"]).values(attempts=6))

    results = BatchProcessor(ctx, monday_client(sandbox)).run([CUSTOMER])

    assert [r.status for r in results] == [s.COMPLETED_WITH_ERRORS]
    assert len(board_by_key(sandbox)) == 2
    with engine.connect() as conn:
        error = conn.execute(sa.select(s.err_items).where(s.err_items.c.sync_key == first["sync_key"])).mappings().one()
    assert error["error_type"] == "UNKNOWN" and "after 6 attempts" in error["message"]
    assert error["retryable"] is True
    # Its sizes were never sent: each is recorded as waiting for its item.
    assert (
        count(
            engine,
            s.err_subitems,
            s.err_subitems.c.parent_sync_key == first["sync_key"],
            s.err_subitems.c.error_type == "PARENT_FAILED",
        )
        == 3
    )


# == cancel from anywhere ========================================================================


def test_another_workstation_cancels_a_running_batch_through_the_database(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", base_latency=0.05)
    try:
        source(engine, lines(30))
        ctx = engine_context(engine)
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(processor(ctx, server, max_batch=2).run([CUSTOMER])))
        runner.start()
        deadline = time.monotonic() + 30
        while not server.board_dump(BOARD)["items"] and time.monotonic() < deadline:
            time.sleep(0.05)
        with engine.connect() as conn:
            batch_id = conn.execute(sa.select(s.batches.c.batch_id)).scalar_one()
        # Another workstation (or `ordersync cancel --batch N`) sets the flag; the owner stops.
        assert StagingOperations(engine, Owner("ws-planner", "dana", 4321)).request_cancel(batch_id) is True
        runner.join(60)
        assert [r.status for r in results] == [s.CANCELLED]
        partial = len(board_by_key(server))
        assert 0 < partial < 30
        assert count(engine, s.requests) == 0  # the request in flight finished and was recorded

        again = processor(ctx, server).run([CUSTOMER])
        assert [(r.batch_id, r.status) for r in again] == [(batch_id, s.COMPLETED)]
        assert len(board_by_key(server)) == 30
        assert_nothing_pending(ctx)
    finally:
        server.stop()


# == waits, heartbeats and takeovers =============================================================


def _storm_while(server, action):
    """Start a 429 storm on the next request and run ``action`` while the owner waits it out."""
    server.set_faults("storm=1,storm_seconds=12")
    deadline = time.monotonic() + 20
    while not server.stats["rejected_429"]["storm"] and time.monotonic() < deadline:
        time.sleep(0.02)
    server.set_faults(None)  # the storm runs its 12 s; no new one starts
    action()


def test_the_owner_keeps_its_heartbeat_through_a_429_wait_so_no_one_takes_the_batch(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", time_scale=1.0)
    try:
        source(engine, lines(3))
        ctx = engine_context(engine)
        results: list = []
        runner = threading.Thread(target=lambda: results.extend(processor(ctx, server).run([CUSTOMER])))
        seen: dict = {}

        def while_waiting():
            with engine.connect() as conn:
                seen["start"] = conn.execute(sa.select(s.batches.c.heartbeat_at)).scalar_one()
            time.sleep(7)  # past a heartbeat slice of the wait
            with engine.connect() as conn:
                seen["later"] = conn.execute(sa.select(s.batches.c.heartbeat_at)).scalar_one()
            with pytest.raises(CustomerBusy):
                StagingOperations(engine, Owner("ws-other", "erin", 777), 120).claim(CUSTOMER, BOARD)

        runner.start()
        _storm_while(server, while_waiting)
        runner.join(60)
        assert seen["later"] > seen["start"]
        assert [r.status for r in results] == [s.COMPLETED]
        assert len(board_by_key(server)) == 3
    finally:
        server.stop()


def test_a_process_whose_batch_was_taken_over_during_a_wait_never_sends_again(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", time_scale=1.0)
    try:
        source(engine, lines(3))
        ctx_a = engine_context(engine)
        ctx_b = engine_context(engine)
        first: list = []
        owner_a = processor(ctx_a, server)
        runner = threading.Thread(target=lambda: first.extend(owner_a.run([CUSTOMER])))
        second: list = []

        def take_over():
            # The other workstation decides A is gone (a stale heartbeat, a clock, a frozen VM: here
            # a zero staleness), takes the batch over and sends everything itself.
            ctx_b.staging = StagingOperations(engine, Owner("ws-b", "bob", 4242), stale_after_seconds=0)
            second.extend(BatchProcessor(ctx_b, monday_client(server)).run([CUSTOMER]))

        runner.start()
        _storm_while(server, take_over)
        runner.join(60)
        assert [r.status for r in second] == [s.COMPLETED]
        assert [r.status for r in first] == [TAKEN_OVER]
        assert owner_a.client.stats.mutation_requests == 0  # A woke up, found the batch gone, sent nothing
        assert len(board_by_key(server)) == 3
        assert_nothing_pending(ctx_b)
    finally:
        server.stop()


# == when the key cannot be replayed: look the rows up on the board ==============================


def _no_keys(**more):
    return {"monday.idempotency_keys": False, "monday.late_apply_seconds": 1, **more}


def test_without_keys_a_sending_row_found_on_the_board_is_adopted(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", idempotency=False)
    try:
        source(engine, lines(3))
        ctx = engine_context(engine, **_no_keys())
        with crash_at(engine, "monday_item_id=coalesce("):  # monday created the items; the answer was lost
            processor(ctx, server, successor(3_200_001)).run([CUSTOMER])
        created = {key: item["id"] for key, item in board_by_key(server).items()}
        assert len(created) == 3
        before = server.stats["mutations"]
        results = processor(ctx, server, successor(3_200_002)).run([CUSTOMER])
        assert [r.status for r in results] == [s.COMPLETED]
        assert {key: item["id"] for key, item in board_by_key(server).items()} == created  # adopted, not re-created
        assert server.stats["mutations"] - before == 9  # only the nine sizes
        assert_nothing_pending(ctx)
    finally:
        server.stop()


def test_without_keys_a_sending_row_not_on_the_board_is_sent_once_after_the_late_bound(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", idempotency=False)
    try:
        source(engine, lines(3))
        ctx = engine_context(engine, **_no_keys())
        server.fail_next("500", field="create_item")  # a 5xx: applied or not, the client cannot tell
        started = time.monotonic()
        results = processor(ctx, server).run([CUSTOMER])
        assert [r.status for r in results] == [s.COMPLETED]
        assert time.monotonic() - started >= 1.0  # it waited out monday.late_apply_seconds before looking
        assert server.stats["mutations"] == 1 + 3 + 9  # its group, then each item and size once
        assert len(board_by_key(server)) == 3
        assert_nothing_pending(ctx)
    finally:
        server.stop()


def test_without_keys_a_stored_request_that_never_left_is_sent_without_waiting(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", idempotency=False)
    try:
        source(engine, lines(3))
        ctx = engine_context(engine, **_no_keys(**{"monday.late_apply_seconds": 60}))
        with crash_at(engine, 'sends=("MON_Requests".sends'):  # stored as SENDING, killed before the send
            processor(ctx, server, successor(3_200_003)).run([CUSTOMER])
        started = time.monotonic()
        results = processor(ctx, server, successor(3_200_004)).run([CUSTOMER])
        assert [r.status for r in results] == [s.COMPLETED]
        assert time.monotonic() - started < 30  # nothing of it could still be applied: no wait
        assert server.stats["mutations"] == 1 + 3 + 9
        assert_nothing_pending(ctx)
    finally:
        server.stop()


def test_a_key_older_than_mondays_replay_window_is_settled_by_a_look_up(engine, sandbox):
    source(engine, lines(3))
    ctx = engine_context(engine)
    with crash_at(engine, "monday_item_id=coalesce("):
        processor(ctx, sandbox, successor(3_200_005)).run([CUSTOMER])
    with engine.begin() as conn:  # the crashed run was 40 minutes ago: monday no longer replays its key
        (sent,) = conn.execute(sa.select(s.requests.c.last_sent_at)).one()
        conn.execute(
            sa.update(s.requests).values(
                first_sent_at=sent - dt.timedelta(minutes=40), last_sent_at=sent - dt.timedelta(minutes=40)
            )
        )
    created = {key: item["id"] for key, item in board_by_key(sandbox).items()}
    results = processor(ctx, sandbox, successor(3_200_006)).run([CUSTOMER])
    assert [r.status for r in results] == [s.COMPLETED]
    assert sandbox.stats["idempotent_replays"] == 0  # not resent under the old key: looked up, adopted
    assert {key: item["id"] for key, item in board_by_key(sandbox).items()} == created
    assert_nothing_pending(ctx)


def test_subitems_of_more_than_25_parents_are_found_again(engine, tmp_path):
    server = start_sandbox(tmp_path / "sb.db", idempotency=False)
    try:
        source(engine, lines(30))
        ctx = engine_context(engine, **_no_keys())
        # One request of 90 sizes under 30 items is applied; the answer is lost.
        with crash_at(engine, "monday_subitem_id=coalesce("):
            processor(ctx, server, successor(3_200_007), max_batch=100).run([CUSTOMER])
        on_board = board_by_key(server)
        assert len(on_board) == 30 and sum(len(i["subitems"]) for i in on_board.values()) == 90
        before = server.stats["mutations"]
        results = processor(ctx, server, successor(3_200_008), max_batch=100).run([CUSTOMER])
        assert [r.status for r in results] == [s.COMPLETED]
        assert server.stats["mutations"] == before  # all 90 found under their 30 parents, none sent again
        assert sum(len(i["subitems"]) for i in board_by_key(server).values()) == 90
        assert_nothing_pending(ctx)
    finally:
        server.stop()


# == a request monday applies after the client gave up ===========================================


@pytest.mark.parametrize("fault", ["hold", "late"])
@pytest.mark.parametrize("keys", [True, False], ids=["keys", "no-keys"])
def test_a_request_applied_after_the_client_gave_up_is_applied_once(engine, tmp_path, fault, keys):
    server = start_sandbox(tmp_path / "sb.db", idempotency=keys)
    try:
        source(engine, lines(4))
        # hold: monday gets the request 3 s late, after the client's 1 s read timeout; late: monday
        # answers 504 at once and applies it 2 s later.
        ctx = engine_context(engine, **({} if keys else _no_keys(**{"monday.late_apply_seconds": 5})))
        server.fail_next(fault, field="create_item", seconds=3 if fault == "hold" else 2)
        results = processor(ctx, server, timeout=(2.0, 1.0)).run([CUSTOMER])
        assert server.wait_for_late(10)
        time.sleep(3.5 if fault == "hold" else 0.1)  # the held request has been processed by now
        assert [r.status for r in results] == [s.COMPLETED]
        on_board = board_by_key(server)  # each item once, whichever of the two sends monday applied
        assert len(on_board) == 4 and all(len(item["subitems"]) == 3 for item in on_board.values())
        if keys:
            assert server.stats["idempotent_replays"] + server.stats["idempotency_conflicts"] >= 1
        assert_nothing_pending(ctx)
    finally:
        server.stop()
