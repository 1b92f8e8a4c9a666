"""monday misbehaving: mixed faults, idempotency replay off, cancellation. Every row lands exactly once."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from core.db import schema as s
from core.monday.errors import MondayError
from core.push.run import BatchProcessor, NullProgress
from tests.helpers import BOARD, count, engine_context, make_world, monday_client, start_sandbox

MIXED = "500=0.05,502=0.025,504=0.025,after500=0.05,drop=0.05,storm=0.01,locked=0.03"


def expected_lines(ctx):
    return {c.sync_key: c for change in ctx.detect(ctx.customers()) for c in change.changes}


def assert_board_matches(server, expected):
    items = server.board_dump(BOARD)["items"]
    keys = Counter(item["column_values"]["SYNC KEY"] for item in items)
    assert not [k for k, n in keys.items() if n > 1], "an item is on the board twice"
    assert set(keys) == set(expected)
    for item in items:
        names = Counter(sub["name"] for sub in item["subitems"])
        assert not [n for n, c in names.items() if c > 1], f"a subitem of {item['name']} is there twice"
        change = expected[item["column_values"]["SYNC KEY"]]
        assert sorted(names) == sorted(sz.name for sz in change.sizes)
    return items


@pytest.mark.parametrize("keys", [True, False], ids=["replayed-by-key", "board-ignores-keys"])
def test_mixed_faults_end_with_every_row_exactly_once(engine, tmp_path, keys):
    make_world(engine, n_orders=80, seed=31)
    server = start_sandbox(tmp_path / "sb.db", faults=MIXED, seed=7, idempotency=keys, time_scale=3000.0)
    try:
        # Without keys, OrderSync waits until monday can no longer apply a request before looking its
        # rows up; the sandbox applies a request before it answers, so one second is that bound here.
        ctx = engine_context(engine, **{"monday.idempotency_keys": keys, "monday.late_apply_seconds": 1})
        expected = expected_lines(ctx)
        client = monday_client(server, max_batch=10, timeout=(2.0, 5.0))
        rounds = 0
        while True:  # a run may give up after its retries; the next run resumes the batch
            rounds += 1
            try:
                results = BatchProcessor(ctx, client).run(ctx.customers())
                if all(r.status in ("COMPLETED", "NO_CHANGES") for r in results):
                    break
            except MondayError:
                pass
            assert rounds < 8, "faults should not stop the sync for good"
        injected = server.stats["faults_injected"]
        assert sum(injected.values()) >= 10, injected  # the faults really happened
        assert injected.get("after500", 0) + injected.get("drop", 0) >= 2, injected
        assert_board_matches(server, expected)
        assert count(engine, s.err_items) == count(engine, s.err_items, s.err_items.c.error_type == "VALIDATION")
        assert client.stats.retries > 0
        if keys:  # unknown outcomes were settled by monday's replay of the same key, not by look-ups
            assert client.stats.replays > 0
            assert server.stats["idempotency_key_mismatches"] == 0
    finally:
        server.stop()


def test_cancel_finishes_the_request_in_flight_and_resumes_later(engine, tmp_path):
    make_world(engine, n_orders=60, seed=12)
    server = start_sandbox(tmp_path / "sb.db", base_latency=0.02)
    try:
        ctx = engine_context(engine)
        expected = expected_lines(ctx)
        cancel = threading.Event()

        class PlannerCancels(NullProgress):
            """A planner pressing Cancel once the first rows are on the board."""

            def progress(self, batch_id, done, total, succeeded, failed):
                if 0 < done < total:
                    cancel.set()

        client = monday_client(server, max_batch=10)
        customer = max(ctx.pending(), key=lambda p: p.new).customer
        (result,) = BatchProcessor(ctx, client, PlannerCancels(), cancel).run([customer])
        assert result.status == s.CANCELLED
        assert 0 < result.counts["succeeded_count"]
        on_board = len(server.board_dump(BOARD)["items"])
        assert on_board > 0
        with engine.connect() as conn:
            import sqlalchemy as sa

            left = conn.execute(
                sa.select(sa.func.count())
                .select_from(s.stg_items)
                .where(s.stg_items.c.batch_id == result.batch_id, s.stg_items.c.state == s.SENDING)
            ).scalar()
        assert left == 0  # the request in flight was finished and recorded
        results = BatchProcessor(ctx, client).run(ctx.customers())
        resumed = [r for r in results if r.customer == customer]
        assert resumed[0].batch_id == result.batch_id  # resumed, not restarted
        assert_board_matches(server, expected)
    finally:
        server.stop()


@pytest.mark.parametrize("legacy", [False, True])
def test_rate_limit_storms_and_legacy_error_shapes_are_survived(engine, tmp_path, legacy):
    make_world(engine, n_orders=30, seed=4)
    server = start_sandbox(
        tmp_path / "sb.db", faults="storm=0.2,locked=0.1", seed=3, legacy_errors=legacy, time_scale=3000.0
    )
    try:
        ctx = engine_context(engine)
        expected = expected_lines(ctx)
        client = monday_client(server, max_batch=10)
        results = BatchProcessor(ctx, client).run(ctx.customers())
        assert {r.status for r in results} <= {"COMPLETED", "COMPLETED_WITH_ERRORS"}
        assert client.stats.rate_limited > 0
        assert_board_matches(server, expected)
    finally:
        server.stop()
