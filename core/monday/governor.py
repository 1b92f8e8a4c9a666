"""Pacing to monday's complexity budget instead of running into 429s.

Every mutation request also asks for ``complexity { query before after reset_in_x_seconds }``,
so after each answer the governor knows the budget left in the current window and when the
window resets; it calibrates the cost of one mutation from what monday charged. Before a request
it says how many mutations fit now (``allowance``), or waits for the reset when none does. The
``RateLimit`` header is the fallback when the field is missing.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

REQUEST_OVERHEAD = 2_000  # the complexity field and ids; calibrated away by the per-mutation figure
_COMPLEXITY_HEADER = re.compile(r'"complexityMinute"\s*;\s*r=(\d+)(?:\s*;\s*t=(\d+(?:\.\d+)?))?')
_COMPLEXITY_POLICY = re.compile(r'"complexityMinute"\s*;\s*q=(\d+)')


class RateGovernor:
    """Budget left, window reset and cost per mutation, shared by every request of a client."""

    def __init__(self, cost_per_mutation: float = 30_000, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, margin: float = 0.05):
        self.cost_per_mutation = float(cost_per_mutation)
        self.budget_left: float | None = None
        self.budget_limit: float | None = None
        self.reset_at: float | None = None
        self.clock = clock
        self.sleep = sleep
        self.margin = margin
        self.waited = 0.0
        self._lock = threading.Lock()

    # -- before a request ---------------------------------------------------------------------------

    def allowance(self, wanted: int) -> int:
        """How many mutations (at most ``wanted``, at least 1) to send now; waits for the window if none fits."""
        while True:
            with self._lock:
                now = self.clock()
                if self.reset_at is not None and now >= self.reset_at:
                    # A new window: the full budget again (monday resets 60 s after the window's first call).
                    self.budget_left = self.budget_limit
                    self.reset_at = None
                if self.budget_left is None:
                    return wanted
                fits = int((self.budget_left - REQUEST_OVERHEAD) // max(self.cost_per_mutation, 1))
                if fits >= 1:
                    return max(1, min(wanted, fits))
                delay = (self.reset_at - now + self.margin) if self.reset_at is not None else 1.0
            self._wait(delay, "complexity budget used up for this window")

    def reserve(self, count: int) -> None:
        """Wait until a request of exactly ``count`` mutations fits the budget (a stored request is resent whole)."""
        while self.allowance(count) < count:
            with self._lock:
                now = self.clock()
                delay = (self.reset_at - now + self.margin) if self.reset_at is not None else 1.0
            self._wait(delay, f"complexity budget too small for a stored request of {count} mutations")

    def _wait(self, seconds: float, why: str) -> None:
        seconds = max(seconds, 0.0)
        log.info("waiting %.2f s: %s", seconds, why)
        self.waited += seconds
        self.sleep(seconds)

    # -- after a response ---------------------------------------------------------------------------

    def observe(self, complexity: dict | None, headers: dict | None, mutations: int) -> None:
        """Learn from an answer: the complexity field first, the RateLimit headers otherwise."""
        with self._lock:
            now = self.clock()
            if complexity and complexity.get("after") is not None:
                self.budget_left = float(complexity["after"])
                before = complexity.get("before")
                if before is not None and (self.budget_limit is None or before > self.budget_limit):
                    self.budget_limit = float(before)
                reset = complexity.get("reset_in_x_seconds")
                if reset is not None:
                    self.reset_at = now + float(reset)
                cost = complexity.get("query")
                if cost and mutations:
                    measured = max((float(cost) - REQUEST_OVERHEAD) / mutations, 1.0)
                    # Smooth, but follow a real change of price quickly.
                    self.cost_per_mutation = 0.5 * self.cost_per_mutation + 0.5 * measured
                return
            if headers:
                self._observe_headers(headers, now)

    def _observe_headers(self, headers: dict, now: float) -> None:
        policy = headers.get("RateLimit-Policy") or headers.get("ratelimit-policy") or ""
        limit = _COMPLEXITY_POLICY.search(policy)
        if limit:
            self.budget_limit = float(limit.group(1))
        state = headers.get("RateLimit") or headers.get("ratelimit") or ""
        match = _COMPLEXITY_HEADER.search(state)
        if match:
            self.budget_left = float(match.group(1))
            if match.group(2) is not None:
                self.reset_at = now + float(match.group(2))

    def rate_limited(self, retry_after: float | None) -> None:
        """A 429 on the budget: nothing is left until monday's stated time."""
        with self._lock:
            self.budget_left = 0.0
            # Without a stated time, try again in a second rather than never.
            self.reset_at = self.clock() + (float(retry_after) if retry_after is not None else 1.0)
