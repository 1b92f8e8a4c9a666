"""Rate limits on a scaled clock: the complexity budget, the minute limit, concurrency, 429 storms.

All durations here are *real* seconds: a nominal 60 s window lasts ``60 / time_scale`` real seconds.
Both windows work the way the reference describes monday's: a window opens with the first call
after the previous one expired and resets a (scaled) minute later.
"""

from __future__ import annotations

import threading
import time
from collections import deque


class Limits:
    """Thread-safe counters for one account (all tokens share them, as monday's do)."""

    def __init__(
        self,
        *,
        time_scale: float,
        complexity_budget: int,
        minute_limit: int,
        concurrency_limit: int,
        max_windows: int = 10_000,
    ) -> None:
        self.time_scale = time_scale
        self.window = 60.0 / time_scale
        self.complexity_budget = complexity_budget
        self.minute_limit = minute_limit
        self.concurrency_limit = concurrency_limit
        self._lock = threading.Lock()
        self._budget_start: float | None = None
        self._budget_used = 0
        self._minute_start: float | None = None
        self._minute_count = 0
        self._in_flight = 0
        self._storm_until = 0.0
        self._current: dict | None = None
        self.windows: deque[dict] = deque(maxlen=max_windows)

    def real(self, nominal_seconds: float) -> float:
        return nominal_seconds / self.time_scale

    # --- concurrency ---------------------------------------------------------------------------

    def enter(self) -> bool:
        with self._lock:
            if self._in_flight >= self.concurrency_limit:
                return False
            self._in_flight += 1
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    # --- minute limit --------------------------------------------------------------------------

    def count_request(self, now: float | None = None) -> float | None:
        """Count one request; ``None`` when allowed, else the real seconds until the minute resets."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._minute_start is None or now >= self._minute_start + self.window:
                self._minute_start, self._minute_count = now, 0
            if self._minute_count >= self.minute_limit:
                return max(0.0, self._minute_start + self.window - now)
            self._minute_count += 1
            return None

    # --- storms --------------------------------------------------------------------------------

    def start_storm(self, real_seconds: float, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._storm_until = max(self._storm_until, now + real_seconds)

    def storm_left(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(0.0, self._storm_until - now)

    # --- complexity ----------------------------------------------------------------------------

    def _roll(self, now: float) -> None:
        if self._budget_start is None or now >= self._budget_start + self.window:
            self._budget_start, self._budget_used = now, 0
            self._current = {"start": now, "mutations": 0, "complexity": 0}
            self.windows.append(self._current)

    def charge(self, cost: int, now: float | None = None) -> tuple[bool, int, float]:
        """Take ``cost`` points: (taken, points left before the charge, real seconds to the reset)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            self._roll(now)
            assert self._budget_start is not None and self._current is not None
            before = self.complexity_budget - self._budget_used
            reset_in = max(0.0, self._budget_start + self.window - now)
            if cost > before:
                return False, before, reset_in
            self._budget_used += cost
            self._current["complexity"] += cost
            return True, before, reset_in

    def refund(self, points: int) -> None:
        if points <= 0:
            return
        with self._lock:
            self._budget_used = max(0, self._budget_used - points)
            if self._current is not None:
                self._current["complexity"] = max(0, self._current["complexity"] - points)

    def record_mutations(self, count: int) -> None:
        if count <= 0:
            return
        with self._lock:
            if self._current is not None:
                self._current["mutations"] += count

    # --- reporting -----------------------------------------------------------------------------

    def snapshot(self, now: float | None = None) -> dict:
        """What is left: minute requests, concurrency slots, complexity points, real seconds to reset."""
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._minute_start is None or now >= self._minute_start + self.window:
                minute_left = self.minute_limit
            else:
                minute_left = max(0, self.minute_limit - self._minute_count)
            if self._budget_start is None or now >= self._budget_start + self.window:
                budget_left, reset_in = self.complexity_budget, 0.0
            else:
                budget_left = self.complexity_budget - self._budget_used
                reset_in = self._budget_start + self.window - now
            return {
                "minute_left": minute_left,
                "concurrency_left": max(0, self.concurrency_limit - self._in_flight),
                "complexity_left": budget_left,
                "reset_in": reset_in,
            }

    def windows_copy(self) -> list[dict]:
        with self._lock:
            return [dict(w) for w in self.windows]
