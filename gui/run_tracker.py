"""One sync run of the window, followed from the engine's reports (no Qt): what the run header shows.

The run's plan (what each customer will send, counted by the engine before the first batch), then
each batch's start, progress and end. ``fraction`` never goes backwards: a customer counts its
planned lines and sizes until its batch starts, then the larger of the plan and its batches' own
totals, and once finished only what was done; should a total still grow, the shown value holds
until the run catches up. ``seconds_left`` is the forecast of ``core.push.forecast`` for what is
left, corrected by the rate observed during the run.
"""

from __future__ import annotations

import time
from typing import Any

from core.db import schema as s
from core.push.forecast import Pace, PlannedCustomer, describe_duration, forecast_seconds


class RunTracker:
    """One run of this window, from its plan and the engine's progress reports."""

    def __init__(self) -> None:
        self.ended_at: float | None = None  # when this window's last run ended (None: no run yet)
        self.results: list = []
        self._reset()

    def _reset(self) -> None:
        self.running = False
        self.undo_of: int | None = None  # the batch this run undoes (gui/undo_dialog.py), None for a sync
        self.order: list[str] = []
        self.planned: dict[str, PlannedCustomer] = {}
        self.batches: dict[int, list[Any]] = {}  # batch id -> [customer, total rows, done rows]
        self.finished: set[str] = set()
        self.current: str | None = None
        self.shown = 0.0
        self.pace = Pace()
        self.started_at = 0.0
        self.first_progress: tuple[float, int] | None = None  # (when, rows done then)

    # -- events --------------------------------------------------------------------------------------

    def start(self, now: float, undo_of: int | None = None) -> None:
        self._reset()
        self.running = True
        self.started_at = now
        self.undo_of = undo_of

    def plan(self, plan: list[PlannedCustomer], pace: Pace) -> None:
        self.order = [p.customer for p in plan]
        self.planned = {p.customer: p for p in plan}
        self.pace = pace

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None:
        if customer not in self.order:
            self.order.append(customer)
        self.batches[batch_id] = [customer, items + subitems, 0]
        self.finished.discard(customer)
        self.current = customer

    def progress(self, batch_id: int, done: int, total: int, now: float) -> None:
        batch = self.batches.get(batch_id)
        if batch is None:
            return
        batch[1], batch[2] = max(total, 0), max(min(done, total), 0)
        if self.first_progress is None:
            self.first_progress = (now, self.rows_done())

    def batch_finished(self, customer: str, batch_id: int | None, status: str) -> None:
        batch = self.batches.get(batch_id) if batch_id is not None else None
        if batch is not None and status in (s.COMPLETED, s.COMPLETED_WITH_ERRORS):
            batch[2] = batch[1]  # every row settled: sent, or failed and recorded
        if customer not in self.order:
            self.order.append(customer)
        self.finished.add(customer)

    def finish(self, results: list, now: float) -> None:
        self.running = False
        self.results = results
        self.ended_at = now
        for result in results:
            self.finished.add(result.customer)

    # -- what is shown --------------------------------------------------------------------------------

    def _customer_rows(self, customer: str) -> tuple[int, int]:
        """(done, total) rows of a customer as the bar counts them."""
        mine = [b for b in self.batches.values() if b[0] == customer]
        done = sum(b[2] for b in mine)
        if customer in self.finished:
            return done, done
        planned = self.planned[customer].rows if customer in self.planned else 0
        return done, max(planned, sum(b[1] for b in mine))

    def rows_done(self) -> int:
        return sum(self._customer_rows(c)[0] for c in self.order)

    def rows_total(self) -> int:
        return sum(self._customer_rows(c)[1] for c in self.order)

    def fraction(self) -> float:
        """The bar's value, 0 … 1: never lower than any value shown before in this run."""
        total = self.rows_total()
        if total:
            value = self.rows_done() / total
        else:
            value = len(self.finished & set(self.order)) / len(self.order) if self.order else 0.0
        self.shown = max(self.shown, min(value, 1.0))
        return self.shown

    def seconds_left(self, now: float) -> float | None:
        """The forecast for the rows left, blended into the rate observed once a quarter of the run is done."""
        total, done = self.rows_total(), self.rows_done()
        left = max(total - done, 0)
        if not left:
            return 0.0
        planned_rows = sum(p.rows for p in self.planned.values())
        per_row = sum(p.changes for p in self.planned.values()) / planned_rows if planned_rows else 1.0
        model = forecast_seconds(round(left * per_row), self.pace)
        if self.first_progress is None:
            return model
        since, done_then = self.first_progress
        moved, elapsed = done - done_then, now - since
        if moved <= 0 or elapsed <= 0:
            return model
        observed = left / (moved / elapsed)
        weight = min(moved / max(total * 0.25, 1.0), 1.0)
        return (1 - weight) * model + weight * observed

    def headline(self) -> str:
        count = len(self.order)
        if not self.current:
            return f"Starting the sync of {count} customer{'' if count == 1 else 's'}…" if count else "Starting…"
        position = self.order.index(self.current) + 1
        return f"Customer {position} of {count}: {self.current}"

    def detail(self, now: float) -> str:
        total = self.rows_total()
        parts = [f"{self.rows_done():,} of {total:,} lines and sizes sent"]
        lines = sum(p.lines for p in self.planned.values())
        sizes = sum(p.sizes for p in self.planned.values())
        if self.planned:
            parts[0] += f" ({lines:,} lines, {sizes:,} sizes planned)"
        done = len(self.finished & set(self.order))
        parts.append(f"{done} of {len(self.order)} customers done")
        seconds = self.seconds_left(now)
        if seconds is not None:
            parts.append(f"{describe_duration(seconds)} left" if seconds >= 45 else "less than a minute left")
        return " · ".join(parts)

    def outcome(self) -> str:
        """The last run in plain words, for the idle header."""
        ended = time.strftime("%H:%M", time.localtime(self.ended_at)) if self.ended_at else ""
        results = self.results
        undo_of = self.undo_of
        if undo_of is not None:
            status = results[0].status if results else None
            if status in (s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES):
                return f"The undo of batch {undo_of} ended at {ended}."
            return f"The undo of batch {undo_of} stopped at {ended}; undo the batch again to finish it."
        if not results:
            return f"The last sync ended at {ended} with nothing to send."
        customers = len({r.customer for r in results})
        noun = "customer" if customers == 1 else "customers"
        failed_lines = sum(r.failed for r in results)
        stopped = [r for r in results if r.error is not None]
        cancelled = [r for r in results if r.status in (s.CANCELLED, "NOT_RUN") and r.error is None]
        if stopped:
            first = stopped[0]
            return (
                f"The last sync stopped at {ended}: {first.customer}: {first.message or 'failed'}. "
                "What was not sent resumes on the next sync."
            )
        if cancelled:
            return f"The last sync was cancelled at {ended}; the rest is sent on the next sync."
        text = f"The last sync ended at {ended}: {customers} {noun} done"
        if failed_lines:
            text += f", {failed_lines:,} line{'' if failed_lines == 1 else 's'} could not be sent (see Failed lines)"
        else:
            text += ", everything sent"
        return text + "."
