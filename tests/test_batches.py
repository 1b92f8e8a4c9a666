"""Batches in MON_BatchProcessing (DESIGN.md §3): claim, resume, heartbeat, cancel, phase timestamps.

One active batch per customer, enforced by the database: a second workstation cannot claim a
customer whose batch has a fresh heartbeat, and can resume one whose heartbeat went stale. The
PostgreSQL race tests run real OS processes (spawn) that claim at the same instant.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing as mp
import os
import socket
import threading
import traceback
from collections import Counter
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.foundation.exceptions import BatchTakenOver, CustomerBusy
from core.staging.operations import Owner, StagingOperations, utcnow
from tests.helpers import BOARD, World, confirm_all, count, make_world

CUSTOMER = "MACK WELDON"
ALICE = Owner("ws-alice", "alice", 1111)
BOB = Owner("other-host", "bob", 4242)
STALE_AFTER = 120  # seconds, StagingOperations' default
SLACK = dt.timedelta(seconds=5)  # clock tolerance between Python and the database


# == helpers =========================================================================================


def ops(engine: sa.Engine, owner: Owner) -> StagingOperations:
    return StagingOperations(engine, owner, stale_after_seconds=STALE_AFTER)


def batch_rows(engine: sa.Engine, customer: str = CUSTOMER) -> list[dict]:
    b = s.batches
    with engine.connect() as conn:
        return [
            dict(r)
            for r in conn.execute(sa.select(b).where(b.c.customer == customer).order_by(b.c.batch_id)).mappings()
        ]


def active_rows(engine: sa.Engine, customer: str = CUSTOMER) -> list[dict]:
    return [r for r in batch_rows(engine, customer) if r["status"] in s.ACTIVE_BATCH_STATES]


def age_heartbeat(engine: sa.Engine, batch_id: int, seconds: float) -> dt.datetime:
    """Set the batch's heartbeat ``seconds`` into the past, directly in the table."""
    when = utcnow() - dt.timedelta(seconds=seconds)
    with engine.begin() as conn:
        conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == batch_id).values(heartbeat_at=when))
    return when


def owner_of(row: dict) -> Owner:
    return Owner(row["owner_host"], row["owner_user"], row["owner_pid"], row["owner_app"])


def unfinished_rows(engine: sa.Engine, batch_id: int) -> int:
    return sum(
        count(
            engine, t, t.c.batch_id == batch_id, t.c.state.in_((s.PENDING, s.WAITING_PARENT, s.SENDING, s.API_SUCCESS))
        )
        for t in (s.stg_items, s.stg_subitems)
    )


def world_of(engine: sa.Engine, owner: Owner) -> World:
    world = make_world(engine, n_orders=150, seed=7)
    world.staging = ops(engine, owner)
    return world


def after_first_batch_select(engine: sa.Engine, action: Callable[[], None]):
    """Run ``action`` once, right after the next SELECT on MON_BatchProcessing (a claim's look-up).

    That is the window a second workstation races into: the claim has decided what to do on what it
    read, and the database has not yet been asked to do it.
    """
    fired: list[bool] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if not fired and statement.lstrip().upper().startswith("SELECT") and "MON_BatchProcessing" in statement:
            fired.append(True)
            action()

    sa.event.listen(engine, "after_cursor_execute", listener)
    return fired, lambda: sa.event.remove(engine, "after_cursor_execute", listener)


# == claim =========================================================================================


def test_claim_creates_a_started_row_owned_by_this_process(engine):
    upgrade(engine)
    before = utcnow()
    batch = StagingOperations(engine).claim(CUSTOMER, BOARD)  # Owner.current()
    after = utcnow()

    assert (batch.customer, batch.status, batch.resumed) == (CUSTOMER, s.STARTED, False)
    (row,) = batch_rows(engine)
    me = Owner.current()
    assert row["batch_id"] == batch.batch_id
    assert (row["status"], row["customer"], row["board_id"]) == (s.STARTED, CUSTOMER, BOARD)
    assert (row["owner_host"], row["owner_user"], row["owner_pid"]) == (
        socket.gethostname()[:128],
        me.user,
        os.getpid(),
    )
    assert row["owner_app"] == me.app and row["owner_app"].startswith("OrderSync ")
    assert before - SLACK <= row["heartbeat_at"] <= after + SLACK
    assert row["started_at"] == row["heartbeat_at"]
    assert row["cancel_requested"] is False
    assert all(row[c] is None for c in ("staged_at", "push_started_at", "promoting_at", "finished_at", "message"))
    assert all(row[c] == 0 for c in ("total_items", "total_subitems", "invalid_count", "sent_count", "api_calls"))


def test_explicit_owner_is_recorded(engine):
    upgrade(engine)
    batch = ops(engine, ALICE).claim(CUSTOMER, BOARD)
    (row,) = batch_rows(engine)
    assert row["batch_id"] == batch.batch_id
    assert owner_of(row) == ALICE


def test_second_owner_cannot_claim_a_customer_with_a_fresh_heartbeat(engine):
    upgrade(engine)
    batch = ops(engine, ALICE).claim(CUSTOMER, BOARD)
    with pytest.raises(CustomerBusy) as busy:
        ops(engine, BOB).claim(CUSTOMER, BOARD)
    assert "alice@ws-alice" in str(busy.value)
    assert f"batch {batch.batch_id}" in str(busy.value) and CUSTOMER in str(busy.value)
    assert busy.value.exit_code == 1

    # Nearly stale is still fresh.
    age_heartbeat(engine, batch.batch_id, STALE_AFTER - 15)
    with pytest.raises(CustomerBusy, match="alice@ws-alice"):
        ops(engine, BOB).claim(CUSTOMER, BOARD)
    (row,) = batch_rows(engine)
    assert (row["batch_id"], row["status"], owner_of(row)) == (batch.batch_id, s.STARTED, ALICE)


def test_same_owner_claiming_again_resumes_its_own_batch(engine):
    upgrade(engine)
    first = ops(engine, ALICE).claim(CUSTOMER, BOARD)
    again = ops(engine, ALICE).claim(CUSTOMER, BOARD)
    assert (again.batch_id, again.resumed) == (first.batch_id, True)
    assert len(batch_rows(engine)) == 1


def test_stale_heartbeat_lets_another_owner_resume_the_same_batch(engine):
    upgrade(engine)
    alice = ops(engine, ALICE)
    batch = alice.claim(CUSTOMER, BOARD)
    alice.set_status(batch.batch_id, s.PUSHING)
    stale = age_heartbeat(engine, batch.batch_id, STALE_AFTER + 1)

    resumed = ops(engine, BOB).claim(CUSTOMER, BOARD)

    assert (resumed.batch_id, resumed.resumed, resumed.status) == (batch.batch_id, True, s.PUSHING)
    (row,) = batch_rows(engine)
    assert owner_of(row) == BOB
    assert row["status"] == s.PUSHING
    assert row["heartbeat_at"] > stale + dt.timedelta(seconds=STALE_AFTER)
    # Bob's heartbeat is fresh now: Alice is the one refused, and told who took it.
    with pytest.raises(CustomerBusy, match="bob@other-host"):
        alice.claim(CUSTOMER, BOARD)


def test_a_stale_batch_is_resumed_by_only_one_of_two_racing_workstations(engine):
    """Both read the stale row; Bob takes it over first; Alice's optimistic take-over must fail."""
    upgrade(engine)
    batch = ops(engine, Owner("dead-host", "carol", 7)).claim(CUSTOMER, BOARD)
    age_heartbeat(engine, batch.batch_id, STALE_AFTER + 1)
    won: list = []
    fired, remove = after_first_batch_select(engine, lambda: won.append(ops(engine, BOB).claim(CUSTOMER, BOARD)))
    try:
        with pytest.raises(CustomerBusy, match="taken over by another process"):
            ops(engine, ALICE).claim(CUSTOMER, BOARD)
    finally:
        remove()
    assert fired and won[0].batch_id == batch.batch_id and won[0].resumed
    (row,) = batch_rows(engine)
    assert owner_of(row) == BOB


def test_the_database_settles_two_workstations_claiming_at_once(engine):
    """Both see no batch; Bob inserts first; Alice's insert hits the unique index: CustomerBusy, one row."""
    upgrade(engine)
    won: list = []
    fired, remove = after_first_batch_select(engine, lambda: won.append(ops(engine, BOB).claim(CUSTOMER, BOARD)))
    try:
        with pytest.raises(CustomerBusy, match="claimed by another process a moment ago"):
            ops(engine, ALICE).claim(CUSTOMER, BOARD)
    finally:
        remove()
    assert fired and not won[0].resumed
    (row,) = batch_rows(engine)
    assert (row["batch_id"], owner_of(row)) == (won[0].batch_id, BOB)


@pytest.mark.parametrize("ended", [s.CANCELLED, s.FAILED])
def test_an_ended_batch_with_unfinished_rows_is_resumed_not_restarted(engine, ended):
    world = world_of(engine, ALICE)
    batch, result = world.stage(CUSTOMER)
    assert result.items > 0
    unfinished = unfinished_rows(engine, batch.batch_id)
    assert unfinished > 0
    world.staging.request_cancel(batch.batch_id)
    assert world.staging.heartbeat(batch.batch_id) is True
    world.staging.set_status(batch.batch_id, ended, "stopped by the user")
    (row,) = batch_rows(engine)
    assert row["status"] == ended and row["finished_at"] is not None and row["cancel_requested"]

    bob = ops(engine, BOB)
    resumed = bob.claim(CUSTOMER, BOARD)

    assert (resumed.batch_id, resumed.resumed, resumed.status) == (batch.batch_id, True, s.STAGED)
    (row,) = batch_rows(engine)  # no new batch
    assert (row["status"], row["finished_at"], row["cancel_requested"]) == (s.STAGED, None, False)
    assert owner_of(row) == BOB
    assert unfinished_rows(engine, batch.batch_id) == unfinished  # its staged rows are still there to send
    assert bob.heartbeat(batch.batch_id) is False  # the old cancel does not stop the resumer


def test_two_workstations_resuming_one_cancelled_batch_only_one_wins(engine):
    world = world_of(engine, ALICE)
    batch, _ = world.stage(CUSTOMER)
    world.staging.set_status(batch.batch_id, s.CANCELLED)
    won: list = []
    fired, remove = after_first_batch_select(engine, lambda: won.append(ops(engine, BOB).claim(CUSTOMER, BOARD)))
    try:
        with pytest.raises(CustomerBusy):
            ops(engine, Owner("third", "dave", 3)).claim(CUSTOMER, BOARD)
    finally:
        remove()
    assert fired and (won[0].batch_id, won[0].resumed) == (batch.batch_id, True)
    (row,) = batch_rows(engine)
    assert (row["status"], owner_of(row)) == (s.STAGED, BOB)


def test_a_completed_batch_is_not_resumed(engine):
    world = world_of(engine, ALICE)
    batch, _ = world.sync(CUSTOMER)
    assert batch_rows(engine)[0]["status"] == s.COMPLETED

    fresh = ops(engine, BOB).claim(CUSTOMER, BOARD)

    assert fresh.batch_id != batch.batch_id
    assert (fresh.resumed, fresh.status) == (False, s.STARTED)
    rows = batch_rows(engine)
    assert [(r["batch_id"], r["status"]) for r in rows] == [(batch.batch_id, s.COMPLETED), (fresh.batch_id, s.STARTED)]
    assert owner_of(rows[0]) == ALICE and owner_of(rows[1]) == BOB


@pytest.mark.parametrize("ended", [s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES])
def test_a_finished_batch_is_never_resumed_even_with_rows_left(engine, ended):
    world = world_of(engine, ALICE)
    batch, _ = world.stage(CUSTOMER)
    world.staging.set_status(batch.batch_id, ended)
    assert unfinished_rows(engine, batch.batch_id) > 0
    fresh = ops(engine, BOB).claim(CUSTOMER, BOARD)
    assert fresh.batch_id != batch.batch_id and not fresh.resumed
    assert [r["status"] for r in batch_rows(engine)] == [ended, s.STARTED]


def test_a_cancelled_batch_with_nothing_left_is_not_resumed(engine):
    world = world_of(engine, ALICE)
    batch, _ = world.stage(CUSTOMER)
    confirm_all(world.staging, batch.batch_id)
    world.staging.promote(batch.batch_id, BOARD)
    world.staging.cleanup(batch.batch_id)
    world.staging.set_status(batch.batch_id, s.CANCELLED)
    assert unfinished_rows(engine, batch.batch_id) == 0
    fresh = ops(engine, BOB).claim(CUSTOMER, BOARD)
    assert fresh.batch_id != batch.batch_id and not fresh.resumed


# == heartbeat, cancel, status =====================================================================


def test_request_cancel_is_reported_by_the_next_heartbeat(engine):
    upgrade(engine)
    alice = ops(engine, ALICE)
    batch = alice.claim(CUSTOMER, BOARD)
    old = age_heartbeat(engine, batch.batch_id, 60)

    assert alice.heartbeat(batch.batch_id, sent_count=3, api_calls=2) is False
    row = alice.batch(batch.batch_id)
    assert row["heartbeat_at"] > old + dt.timedelta(seconds=30)
    assert (row["sent_count"], row["api_calls"], row["cancel_requested"]) == (3, 2, False)

    ops(engine, BOB).request_cancel(batch.batch_id)  # from another workstation, e.g. the GUI
    assert alice.batch(batch.batch_id)["cancel_requested"] is True
    assert alice.heartbeat(batch.batch_id) is True
    assert alice.heartbeat(batch.batch_id, sent_count=4) is True  # stays requested until the batch ends
    assert alice.batch(batch.batch_id)["sent_count"] == 4


def test_request_cancel_leaves_a_finished_batch_alone(engine):
    upgrade(engine)
    alice = ops(engine, ALICE)
    batch = alice.claim(CUSTOMER, BOARD)
    alice.set_status(batch.batch_id, s.COMPLETED)
    alice.request_cancel(batch.batch_id)
    assert alice.batch(batch.batch_id)["cancel_requested"] is False
    assert alice.heartbeat(batch.batch_id) is False


def test_set_status_fills_the_phase_timestamps(engine):
    upgrade(engine)
    alice = ops(engine, ALICE)
    batch = alice.claim(CUSTOMER, BOARD)
    phases = ("staged_at", "push_started_at", "promoting_at", "finished_at")

    alice.set_status(batch.batch_id, s.STAGED)
    row = alice.batch(batch.batch_id)
    assert row["status"] == s.STAGED and row["staged_at"] is not None
    assert [row[p] is None for p in phases] == [False, True, True, True]

    age_heartbeat(engine, batch.batch_id, 60)
    alice.set_status(batch.batch_id, s.PUSHING)
    row = alice.batch(batch.batch_id)
    assert row["status"] == s.PUSHING and row["push_started_at"] is not None
    assert row["heartbeat_at"] >= row["push_started_at"] - SLACK  # set_status is a heartbeat too
    assert [row[p] is None for p in phases] == [False, False, True, True]

    alice.set_status(batch.batch_id, s.PROMOTING)
    row = alice.batch(batch.batch_id)
    assert [row[p] is None for p in phases] == [False, False, False, True]

    alice.set_status(batch.batch_id, s.COMPLETED, "12 items sent", succeeded_count=12)
    row = alice.batch(batch.batch_id)
    assert (row["status"], row["message"], row["succeeded_count"]) == (s.COMPLETED, "12 items sent", 12)
    stamps = [row[p] for p in phases]
    assert all(stamps) and stamps == sorted(stamps)
    assert row["started_at"] <= stamps[0]
    assert active_rows(engine) == []


@pytest.mark.parametrize("final", s.FINAL_BATCH_STATES)
def test_every_final_state_sets_finished_at(engine, final):
    upgrade(engine)
    alice = ops(engine, ALICE)
    batch = alice.claim(CUSTOMER, BOARD)
    alice.set_status(batch.batch_id, final)
    row = alice.batch(batch.batch_id)
    assert row["status"] == final and row["finished_at"] is not None
    assert row["staged_at"] is None  # only the phase that was entered is stamped


def test_stage_records_the_counts_on_the_batch(engine):
    world = make_world(engine, n_orders=400, seed=11)
    world.staging = ops(engine, ALICE)
    customer = "GREYSON CLOTHIERS"  # has invalid lines in this world
    changes = world.detect(customer)
    items, subitems, invalid = len(changes.changes), sum(len(c.sizes) for c in changes.changes), len(changes.invalid)
    assert items > 0 and subitems > 0 and invalid > 0

    batch, result = world.stage(customer)

    assert (result.items, result.subitems, result.invalid) == (items, subitems, invalid)
    row = world.staging.batch(batch.batch_id)
    assert (row["total_items"], row["total_subitems"], row["invalid_count"]) == (items, subitems, invalid)
    assert row["status"] == s.STAGED and row["staged_at"] is not None
    t, st = s.stg_items, s.stg_subitems
    assert count(engine, t, t.c.batch_id == batch.batch_id, t.c.state != s.INVALID) == items
    assert count(engine, t, t.c.batch_id == batch.batch_id, t.c.state == s.INVALID) == invalid
    assert count(engine, st, st.c.batch_id == batch.batch_id) == subitems


# == the database itself ===========================================================================


def _insert_batch(engine: sa.Engine, customer: str, status: str) -> int:
    now = utcnow()
    with engine.begin() as conn:
        return conn.execute(
            sa.insert(s.batches).values(
                customer=customer,
                board_id=BOARD,
                status=status,
                started_at=now,
                heartbeat_at=now,
                owner_host="h",
                owner_user="u",
                owner_pid=1,
                owner_app="raw SQL",
            )
        ).inserted_primary_key[0]


def test_the_database_refuses_a_second_active_batch_for_a_customer(engine):
    """No OrderSync code involved: the filtered unique index alone refuses it."""
    upgrade(engine)
    index = {ix["name"]: ix for ix in sa.inspect(engine).get_indexes("MON_BatchProcessing")}
    assert index["UX_MON_BatchProcessing_active_customer"]["unique"]

    first = _insert_batch(engine, CUSTOMER, s.STARTED)
    for status in s.ACTIVE_BATCH_STATES:
        with pytest.raises(sa.exc.IntegrityError) as refused:
            _insert_batch(engine, CUSTOMER, status)
        if engine.dialect.name == "postgresql":
            assert refused.value.orig.diag.constraint_name == "UX_MON_BatchProcessing_active_customer"
        else:
            assert "UNIQUE constraint failed: MON_BatchProcessing.board_id, MON_BatchProcessing.customer" in str(
                refused.value.orig
            )

    # Ended batches do not count; another customer is independent.
    for status in s.FINAL_BATCH_STATES:
        _insert_batch(engine, CUSTOMER, status)
        _insert_batch(engine, CUSTOMER, status)
    _insert_batch(engine, "JOHNNIE O", s.PUSHING)
    assert [r["batch_id"] for r in active_rows(engine)] == [first]

    # Moving an ended batch back to active is refused the same way.
    ended = _insert_batch(engine, CUSTOMER, s.CANCELLED)
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
        conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == ended).values(status=s.STAGED))
    # Once the active one ends, a new one may start.
    with engine.begin() as conn:
        conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == first).values(status=s.COMPLETED))
    second = _insert_batch(engine, CUSTOMER, s.STARTED)
    assert [r["batch_id"] for r in active_rows(engine)] == [second]


# == real processes racing on PostgreSQL ===========================================================

RACE_TIMEOUT = 60  # seconds, for process start-up, each barrier and each result
WON, BUSY, ERROR = "won", "busy", "error"


def claim_worker(
    url: str, schema: str, index: int, customer: str, rounds: int, barrier, results, timeout: float
) -> None:
    """One workstation: its own engine, its own Owner; claims ``customer`` once per round.

    Top level in the module so the spawn start method can pickle it by reference.
    Reports (round, index, customer, outcome, detail, resumed, pid) through ``results``.
    """
    engine = sa.create_engine(create_engine(url).url, connect_args={"options": f"-csearch_path={schema}"})
    pid = os.getpid()
    try:
        with engine.connect() as conn:  # connected before the start line, so the claims really overlap
            conn.execute(sa.text("SELECT 1"))
        staging = StagingOperations(engine, Owner(f"host{index}", "u", pid))
        for rnd in range(rounds):
            barrier.wait(timeout)
            try:
                batch = staging.claim(customer, BOARD)
            except CustomerBusy as exc:
                results.put((rnd, index, customer, BUSY, str(exc), False, pid))
            except Exception:  # noqa: BLE001 - any failure of a racing claim is reported to the parent as one
                results.put((rnd, index, customer, ERROR, traceback.format_exc(), False, pid))
            else:
                results.put((rnd, index, customer, WON, batch.batch_id, batch.resumed, pid))
    except threading.BrokenBarrierError:
        pass  # the parent gave up (a failed assertion) and aborted the barrier
    finally:
        engine.dispose()


def race(
    pg_engine: sa.Engine, customers: list[str], rounds: int, between: Callable[[int, list[tuple]], None]
) -> list[list[tuple]]:
    """Start one process per entry of ``customers``; each round they claim at once, then ``between`` runs."""
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(len(customers) + 1)  # the workers and this process: it starts each round
    results = ctx.Queue()
    url = pg_engine.url.render_as_string(hide_password=False)
    procs = [
        ctx.Process(
            target=claim_worker,
            name=f"claim-{i}",
            daemon=True,
            args=(url, pg_engine.test_schema, i, customer, rounds, barrier, results, RACE_TIMEOUT),
        )
        for i, customer in enumerate(customers)
    ]
    outcomes: list[list[tuple]] = []
    try:
        for p in procs:
            p.start()
        for rnd in range(rounds):
            barrier.wait(RACE_TIMEOUT)
            got = sorted((results.get(timeout=RACE_TIMEOUT) for _ in procs), key=lambda r: r[1])
            errors = [r[4] for r in got if r[3] == ERROR]
            assert not errors, "\n".join(errors)
            assert [r[0] for r in got] == [rnd] * len(procs)
            assert [r[6] for r in got] == [p.pid for p in procs]
            outcomes.append(got)
            between(rnd, got)
        for p in procs:
            p.join(RACE_TIMEOUT)
        assert [p.exitcode for p in procs] == [0] * len(procs)
    finally:
        barrier.abort()
        for p in procs:
            if p.is_alive():
                p.join(5)
            if p.is_alive():
                p.terminate()
                p.join(5)
        results.close()
        results.join_thread()
    return outcomes


def check_one_winner_per_customer(pg_engine: sa.Engine, got: list[tuple]) -> dict[str, tuple]:
    """Exactly one process won each customer, the rest got CustomerBusy; the table agrees."""
    winners: dict[str, tuple] = {}
    for customer in sorted({r[2] for r in got}):
        mine = [r for r in got if r[2] == customer]
        won = [r for r in mine if r[3] == WON]
        assert len(won) == 1, mine
        assert all(r[3] == BUSY and customer in r[4] for r in mine if r is not won[0]), mine
        (active,) = active_rows(pg_engine, customer)
        (_, index, _, _, batch_id, _, pid) = won[0]
        assert (active["batch_id"], active["owner_host"], active["owner_pid"]) == (batch_id, f"host{index}", pid)
        winners[customer] = won[0]
    return winners


def busy_kinds(outcomes: list[list[tuple]]) -> Counter:
    """How each loser lost: at the unique index, at the optimistic take-over, or on reading a fresh batch."""
    kinds: Counter = Counter()
    for got in outcomes:
        for r in got:
            if r[3] == BUSY:
                kinds[
                    "index"
                    if "a moment ago" in r[4] or "already has an active batch" in r[4]
                    else "takeover"
                    if "taken over" in r[4]
                    else "fresh"
                ] += 1
    return kinds


@pytest.mark.postgres
def test_processes_racing_for_one_customer_only_one_wins(pg_engine):
    make_world(pg_engine, n_orders=60)

    def closer_set_status(batch_id, status):
        # The winner's process has exited; finish its batch as it would have (set_status is owner-only).
        with pg_engine.begin() as conn:
            conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == batch_id).values(status=status))

    batch_ids: list[int] = []

    def complete_the_winner(rnd: int, got: list[tuple]) -> None:
        (winner,) = check_one_winner_per_customer(pg_engine, got).values()
        assert winner[5] is False  # a new batch every round: the previous one was completed
        assert winner[4] not in batch_ids
        batch_ids.append(winner[4])
        closer_set_status(winner[4], s.COMPLETED)
        assert active_rows(pg_engine) == []

    outcomes = race(pg_engine, [CUSTOMER] * 4, rounds=5, between=complete_the_winner)

    assert len(outcomes) == 5
    rows = batch_rows(pg_engine)
    assert [(r["batch_id"], r["status"]) for r in rows] == [(b, s.COMPLETED) for b in batch_ids]
    print(f"\nlosers by path over 5 rounds: {dict(busy_kinds(outcomes))}")


@pytest.mark.postgres
def test_processes_racing_to_resume_a_stale_batch_only_one_wins(pg_engine):
    make_world(pg_engine, n_orders=60)
    first: list[int] = []

    def make_it_stale(rnd: int, got: list[tuple]) -> None:
        (winner,) = check_one_winner_per_customer(pg_engine, got).values()
        if rnd == 0:
            assert winner[5] is False
            first.append(winner[4])
        else:  # the same batch, taken over by whoever won
            assert (winner[4], winner[5]) == (first[0], True)
        age_heartbeat(pg_engine, first[0], STALE_AFTER + 60)

    outcomes = race(pg_engine, [CUSTOMER] * 4, rounds=5, between=make_it_stale)

    assert len(batch_rows(pg_engine)) == 1
    print(f"\nlosers by path over 5 rounds: {dict(busy_kinds(outcomes))}")


@pytest.mark.postgres
@pytest.mark.parametrize(
    "customers",
    [
        pytest.param(["MACK WELDON", "JOHNNIE O"], id="one-each"),
        pytest.param(["MACK WELDON", "JOHNNIE O"] * 2, id="two-each"),
    ],
)
def test_processes_claiming_different_customers_all_get_one(pg_engine, customers):
    make_world(pg_engine, n_orders=60)

    def closer_set_status(batch_id, status):
        # The winner's process has exited; finish its batch as it would have (set_status is owner-only).
        with pg_engine.begin() as conn:
            conn.execute(sa.update(s.batches).where(s.batches.c.batch_id == batch_id).values(status=status))

    def both_won(rnd: int, got: list[tuple]) -> None:
        winners = check_one_winner_per_customer(pg_engine, got)
        assert sorted(winners) == sorted(set(customers))
        assert len({w[4] for w in winners.values()}) == 2
        for w in winners.values():
            closer_set_status(w[4], s.COMPLETED)

    race(pg_engine, customers, rounds=3, between=both_won)


# == ownership after a take-over ====================================================================


def test_an_owner_whose_batch_was_taken_over_is_stopped(engine):
    make_world(engine, n_orders=200, seed=4)
    alice = StagingOperations(engine, Owner("ws-alice", "alice", 1))
    bob = StagingOperations(engine, Owner("ws-bob", "bob", 2))
    batch = alice.claim("JOHNNIE O", BOARD)
    with engine.begin() as conn:
        conn.execute(sa.update(s.batches).values(heartbeat_at=utcnow() - dt.timedelta(minutes=5)))
    assert bob.claim("JOHNNIE O", BOARD).resumed
    with pytest.raises(BatchTakenOver, match="no longer ours"):
        alice.heartbeat(batch.batch_id, sent_count=7)
    with pytest.raises(BatchTakenOver):
        alice.set_status(batch.batch_id, s.COMPLETED)
    row = bob.batch(batch.batch_id)
    assert (row["status"], row["sent_count"], row["owner_user"]) == (s.STARTED, 0, "bob")


def test_a_stale_batch_on_another_board_does_not_block_this_board(engine):
    make_world(engine, n_orders=200, seed=4)
    alice = StagingOperations(engine, Owner("ws-alice", "alice", 1))
    bob = StagingOperations(engine, Owner("ws-bob", "bob", 2))
    old = alice.claim("MACK WELDON", "111")
    with engine.begin() as conn:
        conn.execute(sa.update(s.batches).values(heartbeat_at=utcnow() - dt.timedelta(days=2)))
    new = bob.claim("MACK WELDON", "222")
    assert new.batch_id != old.batch_id and not new.resumed


def test_a_batch_whose_process_on_this_workstation_has_exited_is_taken_over_at_once(engine, caplog):
    """Same workstation, fresh heartbeat: while the owner's process runs the batch stays its own; once the
    process has exited, the batch is taken over without waiting for the heartbeat to go stale (psutil,
    so on Windows as on POSIX)."""
    import logging
    import subprocess
    import sys

    upgrade(engine)
    host = socket.gethostname()[:128]
    me = Owner(host, "alice", os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        batch = ops(engine, Owner(host, "carol", child.pid)).claim(CUSTOMER, BOARD)
        with pytest.raises(CustomerBusy, match=f"carol@{host}"):
            ops(engine, me).claim(CUSTOMER, BOARD)
    finally:
        child.stdin.close()
        child.wait()
    with caplog.at_level(logging.INFO, logger="core.staging.operations"):
        resumed = ops(engine, me).claim(CUSTOMER, BOARD)
    assert (resumed.batch_id, resumed.resumed) == (batch.batch_id, True)
    assert "its process is gone" in caplog.text
    (row,) = batch_rows(engine)
    assert owner_of(row) == me
