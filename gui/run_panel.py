"""A run you can follow at a glance: the header over the batches, and the forecast under the Sync button.

- ``RunTracker`` (no Qt) follows one sync run of this window: the run's plan (what each customer
  will send, counted by the engine before the first batch), then each batch's start, progress and
  end. Its ``fraction`` never goes backwards: a customer counts its planned lines and sizes until its
  batch starts, then the larger of the plan and its batches' own totals, and once finished only what
  was done; should a total still grow, the shown value holds until the run catches up.
- ``RunPanel`` shows it: "Customer 2 of 3: JOHNNIE O", lines and sizes sent of the total, one bar,
  and the time left for the whole run (the forecast of ``core.push.forecast`` for what is left,
  corrected by the rate observed during the run). Idle, it says when the last run ended and how, and
  keeps saying it until the next run.
- ``ForecastLabel``: "Ticked: about 980 changes, about 3 minutes at your monday budget", counted by
  the engine's detection of the ticked customers whenever the ticks change.
- ``arrange_batches_view``: the per-customer rows' key columns first (customer, status, progress,
  time left), sized so they stay visible at 1024×700.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QProgressBar, QTableView, QVBoxLayout, QWidget

from core.db import schema as s
from core.push.forecast import Pace, PlannedCustomer, describe_duration, describe_forecast, forecast_seconds
from gui.models.batches import status_text
from gui.models.common import _DT_MIN, as_utc, format_local

BAR_STEPS = 1000


class RunTracker:
    """One run of this window, from its plan and the engine's progress reports."""

    def __init__(self) -> None:
        self.ended_at: float | None = None  # when this window's last run ended (None: no run yet)
        self.results: list = []
        self._reset()

    def _reset(self) -> None:
        self.running = False
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

    def start(self, now: float) -> None:
        self._reset()
        self.running = True
        self.started_at = now

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
            text += f", {failed_lines:,} line{'' if failed_lines == 1 else 's'} could not be sent (see Failed rows)"
        else:
            text += ", everything sent"
        return text + "."


class RunPanel(QWidget):
    """The header of the batches pane: the whole run while it goes, its outcome after."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("run_panel")
        self.tracker = RunTracker()
        self.headline = QLabel("No sync from this window yet.")
        self.headline.setObjectName("run_headline")
        self.headline.setWordWrap(True)  # a long outcome wraps rather than widening the pane
        font = self.headline.font()
        font.setBold(True)
        self.headline.setFont(font)
        self.detail = QLabel("")
        self.detail.setObjectName("run_detail")
        self.detail.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setObjectName("run_bar")
        self.bar.setRange(0, BAR_STEPS)
        self.bar.setValue(0)
        self.bar.setTextVisible(True)
        self.bar.setFormat("")
        self.values: list[int] = []  # every value the bar took during runs (what the tests read)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.headline)
        layout.addWidget(self.bar)
        layout.addWidget(self.detail)

    def follow(self, bridge) -> None:
        """Listen to the bridge's run: its start and end, the plan and every batch's progress."""
        progress = bridge.progress
        bridge.syncStarted.connect(self.run_started)
        bridge.syncFinished.connect(self.run_finished)
        bridge.failed.connect(self.task_failed)
        progress.runPlanned.connect(self.run_planned)
        progress.batchStarted.connect(self.batch_started)
        progress.batchProgressed.connect(self.batch_progressed)
        progress.batchFinished.connect(self.batch_finished)

    # -- the run -----------------------------------------------------------------------------------

    def run_started(self) -> None:
        self.tracker.start(time.monotonic())
        self.values.clear()
        self._show()

    def run_planned(self, plan: list, pace: Pace) -> None:
        self.tracker.plan(plan, pace)
        self._show()

    def batch_started(self, batch_id: int, customer: str, items: int, subitems: int) -> None:
        self.tracker.batch_started(batch_id, customer, items, subitems)
        self._show()

    def batch_progressed(self, batch_id: int, done: int, total: int, _succeeded: int, _failed: int) -> None:
        self.tracker.progress(batch_id, done, total, time.monotonic())
        self._show()

    def batch_finished(self, result) -> None:
        self.tracker.batch_finished(result.customer, result.batch_id, result.status)
        self._show()

    def run_finished(self, results: list) -> None:
        self.tracker.finish(results, time.time())
        self.headline.setText(self.tracker.outcome())
        self.headline.setToolTip(self.tracker.outcome())
        self.detail.setText("")
        self.bar.setFormat("")

    def task_failed(self, name: str, message: str) -> None:
        """A run that stopped before any customer's result (no token, the board unset): said as its outcome."""
        if not name.startswith(("sync", "retry")) or self.tracker.running or self.tracker.results:
            return  # while it runs, or with results, the customers' own outcomes say it
        ended = time.strftime("%H:%M", time.localtime(self.tracker.ended_at or time.time()))
        self.headline.setText(f"The last sync stopped at {ended}: {message}")
        self.headline.setToolTip(self.headline.text())

    def _show(self) -> None:
        tracker = self.tracker
        if not tracker.running:
            return
        value = round(tracker.fraction() * BAR_STEPS)
        self.values.append(value)
        self.bar.setValue(value)
        self.bar.setFormat("%p%")
        self.headline.setText(tracker.headline())
        self.headline.setToolTip(tracker.headline())
        self.detail.setText(tracker.detail(time.monotonic()))

    # -- what the batch list says --------------------------------------------------------------------

    def batches_read(self, rows: list[dict]) -> None:
        """The batch list as read (every second): batches running elsewhere while this window runs none,
        and, before this window's first run, how the newest batch in the database ended."""
        if self.tracker.running:
            return
        active = [r for r in rows if r.get("status") in s.ACTIVE_BATCH_STATES]
        done = sum(min(r.get("done") or 0, r.get("total") or 0) for r in active)
        total = sum(r.get("total") or 0 for r in active)
        if total:
            self.bar.setValue(round(BAR_STEPS * min(done / total, 1.0)))
            self.bar.setFormat("%p%")
            self.detail.setText(f"Batches running elsewhere: {done:,} of {total:,} lines and sizes sent")
        elif self.detail.text().startswith("Batches running elsewhere"):
            self.detail.setText("")
            self.bar.setFormat("")
        if self.tracker.ended_at is None:
            ended = [r for r in rows if r.get("finished_at") is not None]
            if ended:
                last = max(ended, key=lambda r: as_utc(r["finished_at"]) or _DT_MIN)
                status = status_text(last.get("status"), last.get("failed"), last.get("errors_open"))
                when = format_local(as_utc(last["finished_at"]))
                self.headline.setText(
                    f"The last batch ended at {when}: {last.get('customer')}, {status[:1].lower()}{status[1:]}."
                )
                self.headline.setToolTip(self.headline.text())


class ForecastLabel(QLabel):
    """Under the Sync button: what a sync of the ticked customers sends, and about how long it takes."""

    NOTHING_TICKED = "Tick customers to see how many changes a sync sends."

    def __init__(self, parent: QWidget | None = None):
        super().__init__(self.NOTHING_TICKED, parent)
        self.setObjectName("sync_forecast")
        self.setWordWrap(True)
        self._debounce = QTimer(self, singleShot=True, interval=300)
        self._debounce.timeout.connect(self._count)
        self._generation = 0  # counts asked for (each change of the ticks, each run's end)
        self._shown = 0  # the count the label shows
        self.bridge: Any = None
        self.customers: Any = None

    def follow(self, bridge, customers) -> None:
        """Count again whenever the ticks change and after every run (what is pending changed)."""
        self.bridge, self.customers = bridge, customers
        customers.checkedChanged.connect(self._debounce.start)
        bridge.syncFinished.connect(self._debounce.start)

    def _count(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the window's event loop has stopped (it is closing): nothing to count for
            return
        if self.bridge.syncing:  # counted when the run ends (what is pending changes meanwhile)
            return
        chosen = sorted(self.customers.checked())
        self._generation += 1
        generation = self._generation
        if not chosen:
            self._shown = generation
            self.setText(self.NOTHING_TICKED)
            self.setToolTip("")
            return
        self.setText(f"Counting the changes of {len(chosen)} ticked customer{'' if len(chosen) == 1 else 's'}…")

        async def run() -> None:
            changes, pace = await self.bridge.forecast(chosen)
            if generation != self._generation:  # the ticks moved meanwhile: their own count follows
                return
            self._shown = generation
            self.setText(f"Ticked: {describe_forecast(changes, pace)}")
            basis = "as monday charged this session" if pace.measured else "at monday's published prices"
            self.setToolTip(
                f"{changes:,} changes (items and sizes to create, update or mark removed), {basis}: "
                f"{pace.cost_per_mutation:,.0f} points a change, {pace.budget:,.0f} points every {pace.window:.0f} s"
            )

        # A count already running for earlier ticks is not restarted: when it ends, the latest one follows.
        task = self.bridge.tasks.start("forecast", run)
        task.add_done_callback(lambda _task: self._behind(generation))

    def _behind(self, generation: int) -> None:
        if self._generation == generation and self._shown != generation:
            self._debounce.start()


def budget_text(left: float | None, limit: float | None) -> str:
    """The status bar's budget: "monday budget: 87% left this minute" (points only when the limit is unknown)."""
    if left is None:
        return ""
    if not limit:
        return f"monday budget: {left:,.0f} points left this minute"
    return f"monday budget: {max(min(left / limit, 1.0), 0.0):.0%} left this minute"


def arrange_batches_view(view: QTableView) -> None:
    """The key columns first and always in sight: customer, status, progress, time left; the rest after."""
    from gui.models import BatchesModel as M

    header = view.horizontalHeader()
    order = [
        M.COL_CUSTOMER,
        M.COL_STATUS,
        M.COL_PROGRESS,
        M.COL_ETA,
        M.COL_SENT,
        M.COL_FAILED,
        M.COL_SUCCEEDED,
        M.COL_ITEMS,
        M.COL_SUBITEMS,
        M.COL_THROUGHPUT,
        M.COL_STARTED,
        M.COL_OWNER,
        M.COL_BATCH,
    ]
    for position, column in enumerate(order):
        header.moveSection(header.visualIndex(column), position)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setStretchLastSection(False)
    # About 350 px for the four: what the batches pane keeps at 1024 px beside the customers pane.
    # Longer names and states are elided; their tooltips hold them whole.
    widths = {M.COL_CUSTOMER: 104, M.COL_STATUS: 118, M.COL_PROGRESS: 68, M.COL_ETA: 60}
    for column in range(header.count()):
        view.setColumnWidth(column, widths.get(column, 80))
