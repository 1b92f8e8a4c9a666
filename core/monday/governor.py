"""Pacing to monday's complexity budget instead of running into 429s.

Every mutation request also asks for ``complexity { query before after reset_in_x_seconds }``,
so after each answer the governor knows the budget left in the current window and when the
window resets. The ``RateLimit`` headers are read too: alone when the field is missing, and
alongside it for a more precise reset time. Before a request it says how many mutations to send
now (``allowance``), or waits for the reset when none fits; ``reserve`` waits until a request of a
given size fits. Where the budget goes otherwise, and what the governor does about it:

- The reset time. Every answer gives an upper bound of the moment the window resets: the time the
  answer arrived plus ``reset_in_x_seconds`` (counted when monday charged the request, before the
  answer travelled, and rounded up to a whole second) or plus the header's ``t`` (counted when the
  answer left; monday sends ``t`` once ``r`` reaches 0, the sandbox always). The governor keeps the
  smallest bound of the window: never before the reset, so never a 429, and as close to it as the
  answers tell. With whole seconds only, a window opens up to a second plus an answer's transit late.
- The price. A request costs a fixed part (the complexity field, ids) plus a price per mutation.
  The fixed part is at most ``REQUEST_OVERHEAD`` and at least 0, so each answer seen puts the price
  of a request of ``n`` mutations under two lines through its point; the highest of those lines over
  the recent answers is the estimate: never below what monday will charge, within
  ``REQUEST_OVERHEAD`` of it.
- The end of a window. A window opens with the first call after the previous one expired, and one
  mutation request is in flight per board at a time: a request still in transit at the reset holds
  back the next window's first request, and every later window with it. When the budget left
  holds only part of a request, the governor weighs what a smaller request gains now against the
  time it would keep the next window waiting, using the round trips it measured, and sends the
  size worth most (or none, and waits for the reset).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

REQUEST_OVERHEAD = 2_000  # the most the complexity field and ids of one request may cost
HISTORY = 16  # answers the price and the round-trip time are estimated from
DEFAULT_WINDOW = 60.0  # monday's budget window, when the RateLimit-Policy header does not say
_COMPLEXITY_HEADER = re.compile(r'"complexityMinute"\s*;\s*r=(\d+)(?:\s*;\s*t=(\d+(?:\.\d+)?))?')
_COMPLEXITY_POLICY = re.compile(r'"complexityMinute"\s*;\s*q=(\d+)(?:\s*;\s*w=(\d+(?:\.\d+)?))?')


class RateGovernor:
    """Budget left, window reset, price per mutation and round-trip time, shared by every request of a client."""

    def __init__(
        self,
        cost_per_mutation: float = 30_000,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        margin: float = 0.01,
    ):
        self.prior_cost = float(cost_per_mutation)  # the price per mutation until monday has charged one
        self.budget_left: float | None = None
        self.budget_limit: float | None = None
        self.reset_at: float | None = None  # the earliest moment the window has certainly reset
        self.window: float | None = None  # the window's length (RateLimit-Policy ``w``)
        self.clock = clock
        self.sleep = sleep
        self.margin = margin
        self.waited = 0.0
        self._costs: deque[tuple[int, float]] = deque(maxlen=HISTORY)  # (mutations, points charged)
        self._trips: deque[tuple[int, float]] = deque(maxlen=HISTORY)  # (mutations, seconds send → answer)
        self._gap = 0.0  # seconds from an allowance to the request's send (planning, storing it)
        self._granted_at: float | None = None
        self._longest_reset = 0.0
        self._lock = threading.Lock()

    # -- estimates ----------------------------------------------------------------------------------

    @property
    def calibrated(self) -> bool:
        """Whether monday has charged a mutation request yet (else the price is the prior)."""
        return bool(self._costs)

    @property
    def cost_per_mutation(self) -> float:
        """The price of one mutation, as the recent answers tell (the fixed part of a request taken off)."""
        if not self._costs:
            return self.prior_cost
        return max(max((points - REQUEST_OVERHEAD) / count, 1.0) for count, points in self._costs)

    def cost(self, count: int) -> float:
        """What a request of ``count`` mutations costs at most."""
        if not self._costs:
            return REQUEST_OVERHEAD + count * self.prior_cost
        # The fixed part f of a request is 0 ≤ f ≤ REQUEST_OVERHEAD, so through each answer's point the
        # price line is under the steeper of its two extreme lines on either side of that point.
        return max(
            max(REQUEST_OVERHEAD + count * (points - REQUEST_OVERHEAD) / seen, count * points / seen)
            for seen, points in self._costs
        )

    def fits(self, budget: float, wanted: int) -> int:
        """The most mutations (0 … ``wanted``) one request may carry within ``budget`` points."""
        count = 0
        while count < wanted and self.cost(count + 1) <= budget:
            count += 1
        return count

    def round_trip(self, count: int) -> float:
        """Seconds from sending a request of ``count`` mutations to its answer, from the trips measured."""
        if not self._trips:
            return 0.0
        n = len(self._trips)
        mean_count = sum(c for c, _ in self._trips) / n
        mean_seconds = sum(s for _, s in self._trips) / n
        spread = sum((c - mean_count) ** 2 for c, _ in self._trips)
        if spread == 0:
            return mean_seconds  # one size seen: no telling what a mutation adds
        slope = max(sum((c - mean_count) * (s - mean_seconds) for c, s in self._trips) / spread, 0.0)
        return max(mean_seconds + slope * (count - mean_count), 0.0)

    def _window_length(self) -> float:
        if self.window:
            return self.window
        return max(self._longest_reset, 1.0) if self._longest_reset else DEFAULT_WINDOW

    # -- before a request ---------------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        if self.reset_at is not None and now >= self.reset_at:
            # A new window: the full budget again (monday resets 60 s after the window's first call).
            self.budget_left = self.budget_limit
            self.reset_at = None

    def allowance(self, wanted: int) -> int:
        """How many mutations (at most ``wanted``, at least 1) to send now; waits for the reset when none should go."""
        while True:
            with self._lock:
                now = self.clock()
                self._roll(now)
                if self.budget_left is None:
                    return self._grant(wanted, now)
                fits = self.fits(self.budget_left, wanted)
                if fits >= wanted:
                    return self._grant(wanted, now)
                full = self.fits(self.budget_limit, wanted) if self.budget_limit is not None else wanted
                if fits >= 1:
                    if fits >= full or self.reset_at is None or self.budget_limit is None:
                        return self._grant(fits, now)
                    best = self._worth_sending(fits, now)
                    if best:
                        return self._grant(best, now)
                    why = (
                        f"for the monday budget: the {fits} changes this minute's budget still holds would hold "
                        "back the next minute longer than they are worth"
                    )
                else:
                    why = "for the monday budget: this minute's is used up"
                delay = (self.reset_at - now + self.margin) if self.reset_at is not None else 1.0
            self._wait(delay, why)

    def _grant(self, count: int, now: float) -> int:
        self._granted_at = now
        return max(1, count)

    def _worth_sending(self, fits: int, now: float) -> int:
        """The size of the request worth most before the reset: its points, less the budget the next
        window loses while its answer is still in transit after the reset (0: wait for the reset)."""
        assert self.reset_at is not None and self.budget_limit is not None
        opens = self.reset_at + self.margin
        per_second = self.budget_limit / self._window_length()
        best, best_worth = 0, 0.0
        for count in range(1, fits + 1):
            answered = now + self._gap + self.round_trip(count)
            worth = self.cost(count) - max(0.0, answered - opens) * per_second
            if worth > best_worth:
                best, best_worth = count, worth
        return best

    def reserve(self, count: int) -> None:
        """Wait until a request of exactly ``count`` mutations fits the budget (a stored request is resent whole)."""
        while True:
            with self._lock:
                now = self.clock()
                self._roll(now)
                needed = self.cost(count)
                if self.budget_left is None or needed <= self.budget_left:
                    return
                if self.reset_at is None:
                    if self.budget_limit is not None and self.budget_left >= self.budget_limit:
                        return  # a fresh window and still too small: monday decides
                    delay = 1.0
                else:
                    delay = self.reset_at - now + self.margin
            self._wait(delay, f"for the monday budget: too little is left this minute for a request of {count} changes")

    def reserve_points(self, points: float) -> None:
        """Wait until a read of about ``points`` complexity points fits what the window has left."""
        while True:
            with self._lock:
                now = self.clock()
                self._roll(now)
                if self.budget_left is None or points <= self.budget_left:
                    return
                if self.reset_at is None:
                    if self.budget_limit is not None and self.budget_left >= self.budget_limit:
                        return  # a fresh window and still too small: monday decides
                    delay = 1.0
                else:
                    delay = self.reset_at - now + self.margin
            self._wait(delay, f"complexity budget too small for a read of about {points:,.0f} points")

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(seconds, 0.0)
        log.info("waiting %.2f s %s", seconds, why)  # in plain words: the window's log pane shows it
        self.waited += seconds
        self.sleep(seconds)

    # -- after a response ---------------------------------------------------------------------------

    def observe(
        self,
        complexity: dict[str, Any] | None,
        headers: dict[str, str] | None,
        mutations: int,
        sent_at: float | None = None,
    ) -> None:
        """Learn from an answer: the complexity field and the RateLimit headers.

        ``sent_at`` (the governor's clock when the request went out) times the round trip.
        """
        with self._lock:
            now = self.clock()
            left: list[float] = []
            resets: list[float] = []
            before = None
            headers = headers or {}
            policy = headers.get("RateLimit-Policy") or headers.get("ratelimit-policy") or ""
            limit = _COMPLEXITY_POLICY.search(policy)
            if limit:
                self.budget_limit = float(limit.group(1))
                if limit.group(2) is not None:
                    self.window = float(limit.group(2))
            state = _COMPLEXITY_HEADER.search(headers.get("RateLimit") or headers.get("ratelimit") or "")
            if state:
                left.append(float(state.group(1)))
                if state.group(2) is not None:
                    resets.append(float(state.group(2)))
            if complexity and complexity.get("after") is not None:
                left.append(float(complexity["after"]))
                before = complexity.get("before")
                if before is not None:
                    before = float(before)
                    if self.budget_limit is None or before > self.budget_limit:
                        self.budget_limit = before
                reset = complexity.get("reset_in_x_seconds")
                if reset is not None:
                    resets.append(float(reset))
                    self._longest_reset = max(self._longest_reset, float(reset))
                cost = complexity.get("query")
                if cost and mutations:
                    self._costs.append((mutations, float(cost)))
            if sent_at is not None and mutations:
                self._trips.append((mutations, max(now - sent_at, 0.0)))
                if self._granted_at is not None and 0 <= sent_at - self._granted_at < 5.0:
                    self._gap = 0.5 * self._gap + 0.5 * (sent_at - self._granted_at)
            self._granted_at = None
            if not left:
                return
            budget = min(left)
            bound = now + min(resets) if resets else None
            if self.reset_at is None or now >= self.reset_at:
                self.reset_at = bound
            elif self._new_window(before, budget):
                self.reset_at = bound  # the window reset earlier than the bound we held
            elif bound is not None:
                self.reset_at = min(self.reset_at, bound)
            self.budget_left = budget

    def _new_window(self, before: float | None, budget: float) -> bool:
        """Whether an answer was charged in a newer window than the one the governor follows: the
        budget only shrinks within a window, so more than was left means it reset."""
        if self.budget_left is None:
            return True
        seen = before if before is not None else budget
        return seen > self.budget_left + 0.5

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 on the budget: nothing is left until monday's stated time."""
        with self._lock:
            self.budget_left = 0.0
            # Without a stated time, try again in a second rather than never.
            self.reset_at = self.clock() + (float(retry_after) if retry_after is not None else 1.0)
