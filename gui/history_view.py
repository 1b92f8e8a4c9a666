"""A line's history in the window: what OrderSync changed on the board for it, read from the audit trail.

``HistoryTable`` is a compact table (when, what, column, before → sent, who), one row per changed cell,
oldest first. ``load`` reads the audit trail by the line's sync key (or a batch) off the GUI thread,
through the bridge; a late answer for a line no longer shown is dropped. ``HistoryDialog`` shows a
batch's history (the batches' list: right click or the menu key, "Batch history…"). A cell whose
board value was kept ("kept the board's value") sent nothing: its change reads "before → the board's
value, kept", with the ERP's value not sent.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from core.db.schema import KEPT
from core.staging.audit import KIND_WORDS, HistoryFilter, history
from gui.bridge import EngineBridge
from gui.models.common import as_utc, format_local

NOTHING = "OrderSync has changed nothing on the board for this line yet."


def _value(text: Any) -> str:
    return "(empty)" if text in (None, "") else str(text)


def history_row(row: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """One audit row as the table shows it: when, what, column, before → sent, who."""
    what = KIND_WORDS.get(row.get("kind") or "", str(row.get("kind") or "").lower())
    if row.get("size_label"):
        what += f" (size {row['size_label']})"
    column = row.get("column_title") or row.get("column_id") or ""
    if row.get("kind") == KEPT:
        change = (
            f"{_value(row.get('value_before'))} → {_value(row.get('value_sent'))} kept on the board "
            f"(the ERP's {_value(row.get('value_not_sent'))} not sent)"
        )
    elif row.get("value_before") is None and row.get("value_sent") is None:
        change = ""  # an archive or a delete: the whole item, no cell
    else:
        change = f"{_value(row.get('value_before'))} → {_value(row.get('value_sent'))}"
    who = " on ".join(str(v) for v in (row.get("changed_by_user"), row.get("changed_by_host")) if v)
    when = format_local(as_utc(row.get("changed_at")))
    if row.get("batch_id") is not None:
        when += f" (batch {row['batch_id']})"
    return when, what, str(column), change, who


class HistoryTable(QTableWidget):
    """The audit rows of one line (or one batch), read off the GUI thread by ``load``."""

    COLUMNS = ("When", "What", "Column", "Before → sent", "Who")

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None):
        super().__init__(0, len(self.COLUMNS), parent)
        self.bridge = bridge
        self.setObjectName("history_table")
        self.setHorizontalHeaderLabels(list(self.COLUMNS))
        self.verticalHeader().hide()
        self.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.setTabKeyNavigation(False)
        self.setWordWrap(False)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        for column in (0, 1, 2, 4):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.verticalHeader().setDefaultSectionSize(22)
        self._wanted: HistoryFilter | None = None
        self.loaded = 0  # how many reads have landed (for tests: a read can land with no rows)
        self.setToolTip(NOTHING)

    def load(self, sync_key: str | None = None, batch_id: int | None = None, on_rows=None) -> None:
        """Read the history of ``sync_key`` (or of the batch ``batch_id``) and show it; None clears."""
        self.clear_rows()
        if sync_key is None and batch_id is None:
            self._wanted = None
            return
        wanted = self._wanted = HistoryFilter(sync_key=sync_key, batch_id=batch_id)

        async def fetch() -> None:
            rows = await self.bridge.call(history, self.bridge.ctx.engine, wanted)
            if self._wanted != wanted:
                return  # another line is shown now
            self.show_rows(rows)
            self.loaded += 1
            if on_rows is not None:
                on_rows(rows)

        # One read per table and line at a time (a second load of the same line lands with the first).
        self.bridge.tasks.start(f"history:{id(self)}:{sync_key}:{batch_id}", fetch)

    def show_rows(self, rows: list[dict[str, Any]]) -> None:
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, text in enumerate(history_row(row)):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.setItem(r, c, item)
        self.setToolTip("" if rows else NOTHING)

    def clear_rows(self) -> None:
        self.setRowCount(0)
        self.setToolTip(NOTHING)

    def rows(self) -> list[tuple[str, ...]]:
        """What the table shows, row by row (for tests and copying)."""
        return [
            tuple((self.item(r, c).text() if self.item(r, c) is not None else "") for c in range(self.columnCount()))  # type: ignore[union-attr]
            for r in range(self.rowCount())
        ]


class HistoryDialog(QDialog):
    """The history of one batch: every cell it changed on the board (from the batches' list)."""

    def __init__(self, bridge: EngineBridge, batch_id: int, what: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("history_dialog")
        self.setWindowTitle(f"History of batch {batch_id}")
        self.resize(900, 480)
        self.summary = QLabel(f"Reading what batch {batch_id} changed on the board…")
        self.summary.setWordWrap(True)
        self.table = HistoryTable(bridge)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        layout.addWidget(buttons)
        self.batch_id = batch_id
        self.what = what
        self.table.load(batch_id=batch_id, on_rows=self._read)

    def _read(self, rows: list[dict[str, Any]]) -> None:
        lines = len({row.get("sync_key") for row in rows})
        head = f"Batch {self.batch_id}" + (f" ({self.what})" if self.what else "")
        if not rows:
            self.summary.setText(f"{head} changed nothing on the board.")
            return
        cells = f"{len(rows):,} change" + ("" if len(rows) == 1 else "s")
        self.summary.setText(f"{head}: {cells} on the board, on {lines:,} line" + ("" if lines == 1 else "s") + ".")
