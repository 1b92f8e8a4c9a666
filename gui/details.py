"""The details pane of the failed lines: what failed in plain words, the line's values as a field table
with the line's history beside it (a tab: what OrderSync changed on the board for the line, from the
audit trail), and (last) monday's code and the technical message.

The field table has one row per field: before (as last promoted to the board), sent (or "would send"
for a row that was never sent: nothing is called "sent" that was not) and now in the ERP. The
"before" and "now" values are read by the line's key off the GUI thread.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QFrame,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from core.foundation.error_types import ErrorType, cause_of
from core.staging.errors import ErrorHandler
from gui.bridge import EngineBridge
from gui.history_view import HistoryTable
from gui.models.common import as_utc, format_local

PLACEHOLDER = "Select a failed line to see its details."


def was_sent(row: dict) -> bool:
    """Whether the failed row's request reached monday (a held-back or waiting row never did)."""
    if row.get("error_type") in (ErrorType.VALIDATION, ErrorType.PARENT_FAILED) or not row.get("payload_json"):
        return False
    return cause_of(row.get("error_type"), row.get("message")).key[0] != "missing_label"  # checked before sending


#: The payload's own keys in the words of the board (the mapped columns already carry their titles).
FIELD_WORDS = {"name": "Item name", "group": "Group"}


class ErrorDetails(QWidget):
    """The row given to ``show_row`` (the current row of the failures pane); None clears it."""

    COLUMNS = ("Field", "Before", "Sent", "Now in the ERP")

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.bridge = bridge
        self._ref: str | None = None  # the error shown; a late read for another one is dropped
        self.summary = QLabel(PLACEHOLDER, wordWrap=True)
        self.summary.setObjectName("details_summary")
        self.fields = QTableWidget(0, 4)
        self.fields.setObjectName("details_fields")
        self.fields.setHorizontalHeaderLabels(list(self.COLUMNS))
        before = QTableWidgetItem(self.COLUMNS[1])
        before.setToolTip("Before: the line as last sent to the board successfully (empty: never sent)")
        self.fields.setHorizontalHeaderItem(1, before)
        self.fields.verticalHeader().hide()
        self.fields.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.fields.setTabKeyNavigation(False)
        self.fields.setWordWrap(False)
        header = self.fields.horizontalHeader()
        # A narrow pane elides a heading at its end ("Would s…"), never clips it on both sides.
        header.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)
        self.fields.verticalHeader().setDefaultSectionSize(22)
        self.technical = QPlainTextEdit(readOnly=True)
        self.technical.setObjectName("details_technical")
        self.technical.setMaximumHeight(64)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        # In a small window the summary scrolls instead of being cut off at its bottom.
        self.summary_area = QScrollArea(widgetResizable=True)
        self.summary_area.setFrameShape(QFrame.Shape.NoFrame)
        self.summary_area.setObjectName("details_summary_area")
        self.summary_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.summary_area.setWidget(self.summary)
        self.summary_area.setMinimumHeight(3 * self.summary.fontMetrics().lineSpacing())
        layout.addWidget(self.summary_area)
        self.history = HistoryTable(bridge)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("details_tabs")
        self.tabs.addTab(self.fields, "Fields")
        self.tabs.addTab(self.history, "History")
        self.tabs.setTabToolTip(1, "What OrderSync changed on the board for this line, oldest first")
        layout.addWidget(self.tabs, 1)
        layout.addWidget(QLabel("Technical details"))
        layout.addWidget(self.technical)
        self._values: dict[str, list[Any]] = {}
        self._clear()

    @property
    def shown_ref(self) -> str | None:
        return self._ref

    def show_row(self, row: dict | None) -> None:
        if row is None or not row:
            self._ref = None
            self._clear()
            return
        ref = self._ref = row.get("ref")
        cause = cause_of(row.get("error_type"), row.get("message"))
        kind = cause.kind
        sent = was_sent(row)
        where = " · ".join(
            str(v)
            for v in (row.get("customer"), row.get("order_number"), row.get("po_number"), row.get("size_label"))
            if v
        )
        state = "Resolved" if row.get("resolved_at") else "Open"
        if row.get("resolved_at"):
            state += f" {format_local(as_utc(row['resolved_at']))} ({row.get('resolution') or 'retried'})"
        self.summary.setText(
            f"<b>{kind.name}</b>: {cause.headline}.<br>{where}<br>"
            f"What to do: {cause.fix}<br>"
            f"{state} · {'sent to monday' if sent else 'not sent to monday'} · retries: {row.get('retry_count') or 0}"
            f" · last attempt {format_local(as_utc(row.get('last_failed_at')))}"
        )
        header = QTableWidgetItem("Sent" if sent else "Would send")
        header.setToolTip("What was sent to monday" if sent else "This line was not sent to monday: what would be sent")
        self.fields.setHorizontalHeaderItem(2, header)
        self._values = {}
        self._fill("sent", _load(row.get("payload_json")))
        self._fill("now", _load(row.get("source_json")))
        self._render()
        code = row.get("error_code")
        self.technical.setPlainText(
            "\n".join(
                (
                    (f"monday's code: {code}" if code else "No code from monday")
                    + (f" (HTTP {row['http_status']})" if row.get("http_status") else "")
                    + f" · reference for support: {ref}",
                    f"Line key: {row.get('sync_key') or row.get('parent_sync_key') or '—'}",
                    str(row.get("message") or ""),
                )
            )
        )
        key = row.get("sync_key") or row.get("parent_sync_key")
        self.tabs.setTabText(1, "History")
        self.history.load(key, on_rows=self._history_read)
        if key:

            async def fetch():
                handler = ErrorHandler(self.bridge.ctx)
                snapshot = await self.bridge.call(handler.line_snapshot, key, row.get("customer"))
                if self._ref != ref:
                    return
                self._fill("before", snapshot["before"])
                if snapshot["now"] is not None:
                    self._fill("now", snapshot["now"])
                elif not row.get("source_json"):
                    self._values.setdefault("(the line)", ["", "", ""])[2] = "no longer in the ERP"
                self._render()

            self.bridge.tasks.start(f"details:{ref}", fetch)

    def _history_read(self, rows: list[dict]) -> None:
        self.tabs.setTabText(1, f"History ({len(rows)})")

    def history_rows(self) -> list[tuple[str, ...]]:
        """What the history tab shows, row by row (for tests and copying)."""
        return self.history.rows()

    def field_rows(self) -> list[tuple[str, str, str, str]]:
        """What the field table shows, row by row (for tests and copying)."""
        out = []
        for r in range(self.fields.rowCount()):
            cells = [self.fields.item(r, c) for c in range(4)]
            out.append(tuple(c.text() if c is not None else "" for c in cells))
        return out  # type: ignore[return-value]

    def _fill(self, which: str, values: dict | None) -> None:
        if not values:
            return
        slot = {"before": 0, "sent": 1, "now": 2}[which]
        for name, value in values.items():
            self._values.setdefault(str(name), ["", "", ""])[slot] = "" if value is None else str(value)

    def _render(self) -> None:
        self.fields.setRowCount(len(self._values))
        for r, (name, cells) in enumerate(self._values.items()):
            self.fields.setItem(r, 0, QTableWidgetItem(FIELD_WORDS.get(name, name)))
            for c, text in enumerate(cells, start=1):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.fields.setItem(r, c, item)

    def _clear(self) -> None:
        self.summary.setText(PLACEHOLDER)
        self.history.load(None)
        self.tabs.setTabText(1, "History")
        self._values = {}
        self.fields.setRowCount(0)
        self.technical.clear()


def _load(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
