"""A run you can follow at a glance: the header over the batches, and the forecast under the Sync button.

- ``RunPanel`` shows what ``RunTracker`` (gui/run_tracker.py) follows of one sync run: "Customer 2
  of 3: JOHNNIE O", lines and sizes sent of the total, one bar that never goes back, and the time
  left for the whole run. Idle, it says when the last run ended and how, and keeps saying it until
  the next run; before this window's first run, how the newest batch in the database ended.
- ``ForecastLabel``: "Ticked: about 980 changes, about 3 minutes at your monday budget", counted by
  the engine's detection of the ticked customers whenever the ticks change.
- ``arrange_batches_view``: the per-customer rows' key columns first (customer, status, progress,
  time left), sized so they stay visible at 1024×700.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QHeaderView, QLabel, QProgressBar, QTableView, QVBoxLayout, QWidget

from core.db import schema as s
from core.push.forecast import Pace, describe_forecast
from gui.models.batches import status_text
from gui.models.common import _DT_MIN, as_utc, format_local
from gui.run_tracker import RunTracker

BAR_STEPS = 1000


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
        self._bridge = bridge
        bridge.syncStarted.connect(self.run_started)
        bridge.syncFinished.connect(self.run_finished)
        bridge.failed.connect(self.task_failed)
        progress.runPlanned.connect(self.run_planned)
        progress.batchStarted.connect(self.batch_started)
        progress.batchProgressed.connect(self.batch_progressed)
        progress.batchFinished.connect(self.batch_finished)

    # -- the run -----------------------------------------------------------------------------------

    def run_started(self) -> None:
        self.tracker.start(time.monotonic(), getattr(getattr(self, "_bridge", None), "undoing", None))
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
            self.bar.setValue(0)  # nothing running: an empty bar, not a full one that looks like work
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
            self._generation += 1  # a count in flight is for the ticks before: it must not land
            self.setText("The ticked customers are counted again when this sync ends.")
            self.setToolTip("")
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
            changes, reads, pace = await self.bridge.forecast(chosen)
            if generation != self._generation:  # the ticks moved meanwhile: their own count follows
                return
            self._shown = generation
            self.setText(f"Ticked: {describe_forecast(changes, pace, reads)}")
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
    # About 320 px for the four: what the batches pane keeps at 1024 px beside the customers pane, with
    # its scroll bar. The states' words are short enough for their column ("21 lines failed",
    # "Cancelled"), their tooltips say the rest. A wider pane gives the customer's name the room.
    metrics = view.fontMetrics()
    status = max(map(metrics.horizontalAdvance, ("999 lines failed", "Done, 99 retried", "Ready to send"))) + 12
    widths = {M.COL_CUSTOMER: 88, M.COL_STATUS: status, M.COL_PROGRESS: 62, M.COL_ETA: 60}
    for column in range(header.count()):
        view.setColumnWidth(column, widths.get(column, 80))
    view.viewport().installEventFilter(_CustomerWidth(view, widths))


class _CustomerWidth(QObject):
    """The customer column takes what the pane has beyond the four key columns (88 to 150 px)."""

    def __init__(self, view: QTableView, widths: dict[int, int]):
        super().__init__(view)
        self.view, self.widths = view, widths

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            from gui.models import BatchesModel as M

            others = sum(w for column, w in self.widths.items() if column != M.COL_CUSTOMER)
            room = self.view.viewport().width() - others - 4
            self.view.setColumnWidth(M.COL_CUSTOMER, max(self.widths[M.COL_CUSTOMER], min(room, 150)))
        return False
