"""RateGovernor: where the complexity budget goes at a window's edges, set up exactly on a known clock.

The reset time (the tightest bound the answers give), the price of a request (never below what monday
charges), and the last request of a window (not kept in transit past the reset when that costs the
next window more than it brings). One test runs over HTTP against a sandbox: requests of one
mutation among requests of 25, every window spent to its end, and no request may meet a 429.
"""

from __future__ import annotations

import pytest

from core.monday.client import Mutation
from core.monday.governor import REQUEST_OVERHEAD, RateGovernor
from tests.helpers import BOARD, monday_client, start_sandbox
from tests.test_monday_client import FakeClock

POLICY_3M_10S = {"RateLimit-Policy": '"complexityMinute";q=3000000;w=10'}


def charged(count: int, before: float, reset: float, per_mutation: int = 30_001, fixed: int = 14) -> dict:
    """The complexity field monday answers for a request of ``count`` mutations."""
    cost = fixed + count * per_mutation
    return {"query": cost, "before": before, "after": before - cost, "reset_in_x_seconds": reset}


def test_the_header_reset_time_is_used_when_it_is_tighter_than_the_whole_seconds_of_the_field():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    # The field rounds 3.2 s up to 4; the header says 3.2 s as the answer left.
    governor.observe(charged(99, 3_000_000, 4), {"RateLimit": '"complexityMinute";r=29887;t=3.2'}, 99)
    assert governor.allowance(25) == 25
    assert clock.slept == [pytest.approx(3.2)]


def test_later_answers_of_the_same_window_tighten_its_reset_time_never_loosen_it():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.observe(charged(25, 3_000_000, 10), None, 25)  # at 1000: reset by 1010
    assert governor.reset_at == pytest.approx(1010.0)
    clock.now += 1.5
    left = governor.budget_left
    governor.observe(charged(25, left, 9), None, 25)  # at 1001.5: by 1010.5, a looser bound
    assert governor.reset_at == pytest.approx(1010.0)
    clock.now += 1.0
    left = governor.budget_left
    governor.observe(charged(25, left, 7), None, 25)  # at 1002.5: by 1009.5
    assert governor.reset_at == pytest.approx(1009.5)


def test_an_answer_from_a_newer_window_replaces_the_reset_time_and_budget_of_the_old_one():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.observe(charged(25, 3_000_000, 5), None, 25)  # the old window: reset by 1005
    clock.now += 4.0
    # Charged after the old window really reset (earlier than its bound): "before" is the full budget again.
    governor.observe(charged(25, 3_000_000, 60), None, 25)
    assert governor.reset_at == pytest.approx(1064.0)
    clock.now += 1.5  # past the old bound: the budget of the new window must not come back
    assert governor.allowance(25) == 25
    assert governor.budget_left == 3_000_000 - (14 + 25 * 30_001)
    assert governor.reset_at == pytest.approx(1064.0)


def test_the_price_of_a_small_request_does_not_make_a_large_one_look_cheaper():
    # A request creating one group, then one of 25 items: 269,797 points are left, and 9 mutations
    # cost 270,023. Fitting 9 here was a 429.
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.observe(charged(25, 3_000_000, 9), None, 25)
    governor.observe(charged(1, 2_249_961, 9), None, 1)
    governor.budget_left = 269_797
    assert governor.cost(9) >= 14 + 9 * 30_001
    assert governor.allowance(25) == 8
    assert clock.slept == []


@pytest.mark.parametrize("fixed", [0, 14, 2_000])
def test_the_estimated_price_is_never_below_the_charge_whatever_the_fixed_part_of_a_request(fixed):
    governor = RateGovernor()
    for count in (25, 3, 25, 1, 17):
        governor.observe(charged(count, 10_000_000, 30, fixed=fixed), None, count)
    for count in range(1, 40):
        assert governor.cost(count) >= fixed + count * 30_001
        if fixed <= 14:  # monday's complexity field and ids: the estimate is within REQUEST_OVERHEAD
            assert governor.cost(count) <= fixed + count * 30_001 + REQUEST_OVERHEAD


def slow_sandbox_governor(clock: FakeClock, per_mutation_seconds: float) -> RateGovernor:
    """A governor that has seen a 3,000,000-point, 10 s window and round trips of
    0.3 s + ``per_mutation_seconds`` per mutation."""
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    for count in (25, 10):
        governor.observe(
            charged(count, 3_000_000, 10),
            POLICY_3M_10S,
            count,
            sent_at=clock.now - (0.3 + per_mutation_seconds * count),
        )
    assert governor.round_trip(4) == pytest.approx(0.3 + 4 * per_mutation_seconds)
    return governor


def test_a_partial_request_goes_while_its_answer_comes_before_the_reset():
    clock = FakeClock()
    governor = slow_sandbox_governor(clock, 0.05)
    governor.budget_left, governor.reset_at = 65_000, clock.now + 5.0
    assert governor.allowance(25) == 2
    assert clock.slept == []


def test_a_partial_request_that_would_hold_back_the_next_window_waits_for_the_reset_instead():
    # Two mutations still fit, but their answer would come 0.3 s after the reset: 90,000 points of
    # the next window for 60,000 of this one. Waiting 0.1 s and sending 25 is worth more.
    clock = FakeClock()
    governor = slow_sandbox_governor(clock, 0.05)
    governor.budget_left, governor.reset_at = 65_000, clock.now + 0.1
    assert governor.allowance(25) == 25
    assert clock.slept == [pytest.approx(0.1)]
    assert governor.budget_left == 3_000_000


def test_the_last_request_of_a_window_is_cut_to_what_is_answered_by_the_reset_when_that_is_worth_most():
    # 8 mutations fit; 0.3 s + 0.2 s each; the reset is 1.1 s away: 4 are answered by then.
    clock = FakeClock()
    governor = slow_sandbox_governor(clock, 0.2)
    governor.budget_left, governor.reset_at = 8 * 30_001 + REQUEST_OVERHEAD, clock.now + 1.1
    assert governor.fits(governor.budget_left, 25) == 8
    assert governor.allowance(25) == 4
    assert clock.slept == []


def test_a_budget_that_never_holds_a_full_request_is_spent_whole_each_window():
    # 200,000 points hold 6 mutations: a fresh window's partial request is all there is, it goes.
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.observe(
        charged(6, 200_000, 1), {"RateLimit-Policy": '"complexityMinute";q=200000;w=1'}, 6, sent_at=clock.now - 3.0
    )
    clock.now += 0.5
    assert governor.allowance(25) == 6
    assert clock.slept == [pytest.approx(0.5)]


def test_windows_ending_on_partial_requests_after_one_mutation_requests_meet_no_429(tmp_path):
    # 3,000,000 points a window: a request of 1 mutation (a group, say) every fourth, else 25. Each window
    # ends on a partial request sized from the price the answers taught; no request may meet a 429.
    server = start_sandbox(tmp_path / "edges.db", complexity_budget=3_000_000, mutation_cost=30_000, time_scale=120.0)
    try:
        client = monday_client(server)
        group = next(iter(client.board(BOARD).groups.values()))
        made = 0
        for n in range(40):
            room = client.governor.allowance(1 if n % 4 == 0 else 25)
            outcomes = client.mutate(
                BOARD,
                [
                    Mutation(i, "create_item", {"board_id": BOARD, "item_name": f"edge {n}-{i}", "group_id": group})
                    for i in range(room)
                ],
            )
            made += sum(o.ok for o in outcomes)
        assert client.stats.rate_limited == 0
        assert server.stats["rejected_429"]["complexity"] == 0
        assert len(server.board_dump(BOARD)["items"]) == made
        assert len(server.stats["windows"]) > 2  # the budget was spent to its end more than once
    finally:
        server.stop()


def test_a_replayed_answer_teaches_the_governor_nothing_about_the_budget_now(tmp_path):
    # monday answers a repeated Idempotency-Key with its cached first answer: the budget and reset in
    # it are of that first send. After a later request spent more, the replay must not give it back.
    server = start_sandbox(tmp_path / "replay.db", complexity_budget=3_000_000, mutation_cost=30_000, time_scale=1.0)
    try:
        client = monday_client(server)
        group = next(iter(client.board(BOARD).groups.values()))

        def create(name: str) -> list[Mutation]:
            return [Mutation(0, "create_item", {"board_id": BOARD, "item_name": name, "group_id": group})]

        client.mutate(BOARD, create("first"), idempotency_key="key-first")
        left_after_first = client.governor.budget_left
        client.mutate(BOARD, create("second"), idempotency_key="key-second")
        left, reset_at = client.governor.budget_left, client.governor.reset_at
        assert left < left_after_first
        client.mutate(BOARD, create("first"), idempotency_key="key-first")
        assert client.stats.replays == 1
        assert (client.governor.budget_left, client.governor.reset_at) == (left, reset_at)
        assert len(server.board_dump(BOARD)["items"]) == 2
    finally:
        server.stop()
