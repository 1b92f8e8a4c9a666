"""Check the board: the drift check of every customer on the board, from the window, in plain words.

The dialog first reads the board's columns and groups and what OrderSync wrote, and shows the
forecast (read requests, complexity points, time at the board's budget) with Check and Cancel.
Check reads the board off the GUI thread (``EngineBridge.drift_run``); the dialog stays responsive.
While it reads, **Stop checking** (the default button then; Esc too) stops the reads after the
request in flight and says how far the check got, showing nothing of a half-read board as a result;
closing the dialog stops the reads the same way. The result is a list grouped by customer and by kind; selecting a
finding shows its line (order, sync key, monday item id; copyable) and the line's history from the
audit trail.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QProgressBar,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.drift.results import DriftCancelled, DriftReport, Forecast
from gui.bridge import EngineBridge, describe
from gui.history_view import HistoryTable
from gui.look import make_primary

CLEAN = "The board is as OrderSync left it"
FindingRole = Qt.ItemDataRole.UserRole + 1

KINDS = (
    ("changed", "Changed by a person on the board"),
    ("gone", "Deleted or archived on the board"),
    ("unknown", "On the board, not put there by OrderSync"),
    ("duplicates", "One sync key on several items"),
)


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}" + ("" if n == 1 else "s")


def _time(seconds: float) -> str:
    return "under a second" if seconds < 1 else f"about {seconds:,.0f} s"


def forecast_text(forecast: Forecast) -> str:
    what = f"{_count(forecast.items, 'item')} in {_count(forecast.groups, 'group')}"
    if forecast.subitems:
        what += f" and {_count(forecast.subitems, 'size')}"
    return (
        f"The check reads the board and changes nothing. It will read {what}: "
        f"{_count(forecast.reads, 'read request')}, about {forecast.points:,} complexity points, "
        f"{_time(forecast.seconds)} at the board's budget ({forecast.budget:,} points every {forecast.window:g} s)."
    )


def finding_text(kind: str, entry: dict[str, Any]) -> str:
    """One finding in plain words."""
    size = entry.get("size")
    if kind == "changed":
        text = (
            f"a person changed {entry['column']} on the board: board says {entry['board']}, "
            f"OrderSync wrote {entry['ordersync']}"
        )
        return f"size {size}: {text}" if size else text
    if kind == "gone":
        text = f"size {size} {entry['state']} on the board" if size else f"item {entry['state']} on the board"
        return text + (" (OrderSync had noticed it already)" if entry.get("noticed") else "")
    if kind == "unknown":
        name = f'"{entry.get("name") or ""}"'
        if "size" in entry:  # a size under one of OrderSync's items
            return f"a size OrderSync did not create: {name}"
        if entry.get("known_as"):
            return f"an item OrderSync did not put there, with the key of its item {entry['known_as']}: {name}"
        if entry.get("sync_key"):
            return f"an item with a key OrderSync does not know: {name}"
        return f"an item without a sync key: {name}"
    ids = entry.get("item_ids") or []
    many = "two" if len(ids) == 2 else str(len(ids))
    if size:
        return f"size {size} {many} times under one item"
    return f"{many} items with the same key" + (
        f" (OrderSync's is {entry['known_item_id']})" if entry.get("known_item_id") else ""
    )


def _item_ids(entry: dict[str, Any]) -> str:
    return str(entry.get("item_id") or ", ".join(entry.get("item_ids") or []))


class DriftDialog(QDialog):
    """The forecast, then the check, then its findings; each finding links to its line."""

    COLUMNS = ("What", "Order", "Sync key", "monday item")

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("drift_dialog")
        self.bridge = bridge
        self.setWindowTitle("Check the board")
        self.resize(1000, 640)
        self.summary = QLabel("Reading the board's columns and groups, and what OrderSync wrote there…")
        self.summary.setObjectName("drift_summary")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)  # busy: the reads' count is not known while they run
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setMaximumHeight(8)
        self.tree = QTreeWidget()
        self.tree.setObjectName("drift_findings")
        self.tree.setHeaderLabels(list(self.COLUMNS))
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.currentItemChanged.connect(self._finding_selected)
        self.line_label = QLabel("Select a finding to see its line and the line's history.")
        self.line_label.setObjectName("drift_line")
        self.line_label.setWordWrap(True)
        self.line_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.history = HistoryTable(bridge)
        below = QWidget()
        below_layout = QVBoxLayout(below)
        below_layout.setContentsMargins(0, 0, 0, 0)
        below_layout.addWidget(self.line_label)
        below_layout.addWidget(self.history, 1)
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tree)
        split.addWidget(below)
        split.setSizes([400, 200])
        self.buttons = QDialogButtonBox()
        self.check_button = self.buttons.addButton("Check", QDialogButtonBox.ButtonRole.AcceptRole)
        self.check_button.setToolTip("Read the board now (changes nothing)")
        make_primary(self.check_button)
        self.check_button.setEnabled(False)
        self.stop_button = self.buttons.addButton("Stop checking", QDialogButtonBox.ButtonRole.ActionRole)
        self.stop_button.setObjectName("drift_stop")
        self.stop_button.setToolTip("Stop reading the board after the request in flight (Esc); nothing is changed")
        self.stop_button.hide()
        self.stop_button.clicked.connect(self.stop_check)
        self.copy_button = self.buttons.addButton("Copy line", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.setToolTip("Copy the selected finding: what, order, sync key and item (Ctrl+C)")
        self.copy_button.setEnabled(False)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.start_check)
        self.buttons.rejected.connect(self.reject)
        self.copy_button.clicked.connect(self.copy_finding)
        QShortcut(QKeySequence.StandardKey.Copy, self.tree, self.copy_finding)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.busy_bar)
        layout.addWidget(split, 1)
        layout.addWidget(self.buttons)
        self.check: Any = None
        self.forecast: Forecast | None = None
        self.report: DriftReport | None = None
        self._rows: list[QTreeWidgetItem] = []
        self.error: str | None = None
        self.stopped: DriftCancelled | None = None  # the check was stopped: how far it got
        self.cancel = threading.Event()  # the check's: set by Stop checking, Esc, or closing the dialog
        self.running = False  # the check's reads are going on
        self._closed = False
        self.finished.connect(self._dialog_closed)
        try:
            task = bridge.drift_forecast(self.cancel)
        except Exception as exc:  # noqa: BLE001 - a sync runs: said here
            self._failed(describe(exc))
            return
        task.add_done_callback(self._forecast_read)

    # == the steps ==================================================================================

    def _forecast_read(self, task: asyncio.Task) -> None:
        if self._closed or task.cancelled():
            return
        if task.exception() is not None:
            self._failed(describe(task.exception()))  # type: ignore[arg-type]
            return
        self.check, self.forecast = task.result()
        self.busy_bar.hide()
        self.summary.setText(forecast_text(self.forecast) + " Press Check to read the board.")
        self.check_button.setEnabled(True)
        self.check_button.setDefault(True)
        self.check_button.setFocus()

    def start_check(self) -> None:
        if self.check is None or self.report is not None:
            return
        try:
            task = self.bridge.drift_run(self.check)
        except Exception as exc:  # noqa: BLE001 - a sync started meanwhile: said here
            self._failed(describe(exc))
            return
        self.running = True
        self.check_button.setEnabled(False)
        self.check_button.hide()
        self.stop_button.show()
        self.stop_button.setEnabled(True)
        self.stop_button.setDefault(True)
        self.stop_button.setFocus()
        self.busy_bar.show()
        self.summary.setText("Reading the board… Nothing is changed. Stop checking (Esc) stops the reads.")
        self.close_button.setText("Close")
        task.add_done_callback(self._checked)

    def stop_check(self) -> None:
        """Stop the reads after the request in flight; the dialog then says how far the check got."""
        if not self.running or self.cancel.is_set():
            return
        self.cancel.set()
        self.stop_button.setEnabled(False)
        self.close_button.setFocus()
        self.summary.setText("Stopping the check after the read in flight… Nothing is changed.")

    def reject(self) -> None:
        """Esc, Close or the window's close button: a check that is reading stops, then the dialog closes."""
        self.cancel.set()  # the reads of a check still running stop after the request in flight
        super().reject()

    def _checked(self, task: asyncio.Task) -> None:
        self.running = False
        if self._closed or task.cancelled():
            return
        self.stop_button.hide()
        exc = task.exception()
        if isinstance(exc, DriftCancelled):
            self._stopped(exc)
            return
        if exc is not None:
            self._failed(describe(exc))
            return
        self.show_report(task.result())

    def _stopped(self, stopped: DriftCancelled) -> None:
        self.stopped = stopped
        self.busy_bar.hide()
        self.tree.clear()
        self._rows = []
        of = f" of about {stopped.planned}" if stopped.planned else ""
        self.summary.setText(
            f"The check was stopped after {stopped.requests}{of} read requests. Nothing is shown: the board was "
            "not read in full, and a half-read board would look different from what it is. Nothing was changed."
        )
        self.close_button.setFocus()

    def _failed(self, message: str) -> None:
        self.error = message
        self.busy_bar.hide()
        self.summary.setText(f"The board could not be checked: {message}")
        self.check_button.setEnabled(False)
        self.close_button.setText("Close")

    def _dialog_closed(self, _result: int) -> None:
        self._closed = True  # a late answer is dropped; the check changed nothing
        self.cancel.set()  # and its reads stop after the request in flight

    # == the result =================================================================================

    def show_report(self, report: DriftReport) -> None:
        self.report = report
        self.busy_bar.hide()
        self.check_button.hide()  # done: a new check is a new press of Check the board
        self.close_button.setText("Close")
        self.tree.clear()
        self._rows = []
        items = sum(c.items_checked for c in report.customers)
        sizes = sum(c.subitems_checked for c in report.customers)
        checked = _count(items, "item") + (f" and {_count(sizes, 'size')}" if sizes else "")
        reads = report.reads
        cost = (
            f"Read {_count(reads['requests'], 'request')}, {reads['points']:,} complexity points, "
            f"in {reads['seconds']:.1f} s. Nothing was changed."
        )
        if not report.found:
            self.summary.setText(f"{CLEAN}: {checked} checked, no difference. {cost}")
            return
        differences = _count(report.found, "difference")
        self.summary.setText(f"{differences} on the board ({checked} checked). {cost}")
        for drift in report.customers:
            if not drift.found:
                continue
            top = QTreeWidgetItem([f"{drift.customer or '(blank)'}: {_count(drift.found, 'difference')}", "", "", ""])
            self.tree.addTopLevelItem(top)
            for kind, title in KINDS:
                entries = getattr(drift, kind)
                if not entries:
                    continue
                group = QTreeWidgetItem([f"{title} ({len(entries)})", "", "", ""])
                top.addChild(group)
                for entry in entries:
                    row = QTreeWidgetItem(
                        [
                            finding_text(kind, entry),
                            str(entry.get("order_number") or ""),
                            str(entry.get("sync_key") or ""),
                            _item_ids(entry),
                        ]
                    )
                    row.setToolTip(0, row.text(0))
                    row.setData(0, FindingRole, {"kind": kind, "customer": drift.customer, **entry})
                    group.addChild(row)
                    self._rows.append(row)
                group.setExpanded(True)
            top.setExpanded(True)
        self.tree.resizeColumnToContents(0)
        if self._rows:
            self.tree.setCurrentItem(self._rows[0])
        self.tree.setFocus()

    def findings(self) -> list[tuple[str, str, str, str, str]]:
        """Every finding shown: (customer, what, order, sync key, item) (for tests and copying)."""
        return [
            (row.data(0, FindingRole)["customer"], row.text(0), row.text(1), row.text(2), row.text(3))
            for row in self._rows
        ]

    def select_finding(self, index: int) -> None:
        """Make the ``index``-th finding (in the order of ``findings``) the current one."""
        self.tree.setCurrentItem(self._rows[index])

    def current_finding(self) -> dict[str, Any] | None:
        item = self.tree.currentItem()
        return item.data(0, FindingRole) if item is not None else None

    def _finding_selected(self, current: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        finding = current.data(0, FindingRole) if current is not None else None
        self.copy_button.setEnabled(finding is not None)
        if finding is None:
            self.line_label.setText("Select a finding to see its line and the line's history.")
            self.history.load(None)
            return
        self.line_label.setText(self._line_text(finding))
        self.history.load(finding.get("sync_key"))

    @staticmethod
    def _line_text(finding: dict[str, Any]) -> str:
        parts = [f"Customer {finding['customer'] or '(blank)'}"]
        if finding.get("order_number"):
            parts.append(f"order {finding['order_number']}")
        if finding.get("size"):
            parts.append(f"size {finding['size']}")
        parts.append(f"sync key {finding['sync_key']}" if finding.get("sync_key") else "no sync key")
        parts.append(f"monday item {_item_ids(finding)}")
        return " · ".join(parts)

    def copy_finding(self) -> None:
        item = self.tree.currentItem()
        if item is None or item.data(0, FindingRole) is None:
            return
        finding = item.data(0, FindingRole)
        QGuiApplication.clipboard().setText(f"{item.text(0)}\n{self._line_text(finding)}")
