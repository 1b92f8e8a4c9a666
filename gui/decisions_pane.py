"""The "Needs a decision" list of the window: cells a person changed on the board in a column whose
policy is ``ask`` while the ERP changed them too (core/staging/decisions.py).

The box is hidden while nothing waits, so it is never in the way; when cells wait its title counts
them. Each row shows the customer, the order, the column, what the board says, what the ERP says and
since when; "Keep the board's value" and "Send the ERP's value to the board" apply to the selected
rows, off the GUI thread, with ``decide`` (the same as the ``decide`` command), then the list is read
again and a plain result is shown under it. While a sync of a chosen cell's customer runs (or was left
unfinished) the choice is refused, none of the cells changes, and the refusal is shown there instead.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QStandardItem, QStandardItemModel
from PySide6.QtWidgets import (
    QAbstractItemView,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.decide import waiting_entries
from core.foundation.exceptions import OrderSyncError
from core.staging.decisions import KEEP_BOARD, USE_ERP, customers_of, decide, refuse_while_syncing
from gui.bridge import EngineBridge
from gui.look import MUTED, pane_layout
from gui.mnemonics import TEXT

HEADERS = ("Customer", "Order", "Column", "The board says", "The ERP says", "Waiting since")
INTRO = (
    "A person changed these cells on the board and the ERP changed them too. "
    "Nothing is sent to these cells until you choose."
)
CELL_ROLE = Qt.ItemDataRole.UserRole + 1  # (sync key, column) of the row, on its first cell


def shown(value: str | None) -> str:
    return value if value else "(blank)"


def title_of(count: int) -> str:
    return f"Needs a decision ({count})"


def result_text(choice: str, decided: list[dict[str, Any]]) -> str:
    """The plain sentence shown after a choice."""
    if len(decided) == 1:
        row = decided[0]
        line = f"{row['order_number'] or row['sync_key']}, {row['column_label']}"
        if choice == KEEP_BOARD:
            return f"{line}: the board's value {shown(row['board_value'])} is kept."
        return f"{line}: the ERP's value {shown(row['erp_value'])} will be sent on the next sync."
    if choice == KEEP_BOARD:
        return f"{len(decided)} cells: the board's values are kept."
    return f"{len(decided)} cells: the ERP's values will be sent on the next sync."


def decide_cells(engine: Any, board_id: str, cells: list[tuple[str, str]], choice: str) -> list[dict[str, Any]]:
    """Every chosen cell, one ``decide`` each (each in its own transaction, as on the command line).

    Refused before any cell changes while a sync of one of their customers runs or is unfinished.
    """
    with engine.connect() as conn:
        refuse_while_syncing(conn, board_id, customers_of(engine, board_id, cells))
    return [decide(engine, board_id, key, column, choice) for key, column in cells]


class DecisionsPane(QGroupBox):
    """The decision list and its two actions; ``refresh`` reads it off the GUI thread."""

    message = Signal(str)  # a result for the status bar
    decided = Signal()  # a choice was applied: the other lists may change

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None):
        super().__init__(title_of(0), parent)
        self.setObjectName("decisions_pane")
        self.bridge = bridge
        self._again = False
        self.model = QStandardItemModel(0, len(HEADERS), self)
        self.model.setHorizontalHeaderLabels(list(HEADERS))
        view = self.view = QTableView()
        view.setObjectName("decisions_view")
        view.setModel(self.model)
        view.setAlternatingRowColors(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.verticalHeader().hide()
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        view.horizontalHeader().setStretchLastSection(True)
        view.setWordWrap(False)
        view.setTabKeyNavigation(False)
        view.verticalHeader().setDefaultSectionSize(24)  # as the window's other tables
        view.setAccessibleName("Cells that need a decision")
        self.intro = QLabel(INTRO)
        self.intro.setWordWrap(True)
        self.intro.setStyleSheet(f"color: {MUTED}")
        self.keep_button = QPushButton(TEXT["keep_board"])
        self.keep_button.setToolTip("Keep what the person typed on the board; OrderSync will not ask again")
        self.erp_button = QPushButton(TEXT["use_erp"])
        self.erp_button.setToolTip("Send the ERP's value to these cells on the next sync")
        self.result_label = QLabel("")
        self.result_label.setObjectName("decisions_result")
        self.result_label.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.keep_button)
        buttons.addWidget(self.erp_button)
        buttons.addWidget(self.result_label, 1)
        layout = pane_layout(QVBoxLayout(self))
        layout.addWidget(self.intro)
        layout.addWidget(view, 1)
        layout.addLayout(buttons)
        self.keep_button.clicked.connect(lambda: self.choose(KEEP_BOARD))
        self.erp_button.clicked.connect(lambda: self.choose(USE_ERP))
        view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        view.selectionModel().currentChanged.connect(lambda *_: self._update_buttons())  # Tab into the list
        self._update_buttons()
        self.setVisible(False)  # shown as soon as a cell waits

    # -- reading ----------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the waiting cells off the GUI thread, then show them (the box hides when none wait)."""
        if self.bridge.tasks.running("refresh:decisions"):
            self._again = True
            return
        self._again = False
        ctx = self.bridge.ctx

        async def run() -> None:
            try:
                entries = await self.bridge.call(waiting_entries, ctx.engine, ctx.board_id)
                self.set_entries(entries)
            finally:
                if self._again:
                    QTimer.singleShot(0, self.refresh)

        self.bridge.tasks.start("refresh:decisions", run)

    def set_entries(self, entries: list[dict[str, Any]]) -> None:
        chosen = set(self.selected_cells())
        self.model.removeRows(0, self.model.rowCount())
        for entry in entries:
            values = (
                entry["customer"],
                entry["order_number"] or entry["sync_key"],
                entry["column"],
                shown(entry["board"]),
                shown(entry["erp"]),
                entry["since"],
            )
            items = [QStandardItem(str(v)) for v in values]
            items[0].setData((entry["sync_key"], entry["column"]), CELL_ROLE)
            items[0].setToolTip(f"Sync key: {entry['sync_key']}")
            self.model.appendRow(items)
        for row in range(self.model.rowCount()):
            if self.model.item(row, 0).data(CELL_ROLE) in chosen:
                self.view.selectRow(row)
        self.setTitle(title_of(len(entries)))
        self.view.resizeColumnsToContents()
        if entries:
            self.intro.setText(INTRO)
            self.setVisible(True)
        elif not self.result_label.text():
            self.setVisible(False)  # a result just shown stays until the next read with nothing left
        else:
            self.intro.setText("Nothing needs a decision.")
        self._update_buttons()

    # -- choosing ---------------------------------------------------------------------------------

    def selected_cells(self) -> list[tuple[str, str]]:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        if not rows and self.view.currentIndex().isValid():
            rows = [self.view.currentIndex().row()]
        return [tuple(self.model.item(r, 0).data(CELL_ROLE)) for r in rows]  # type: ignore[misc]

    def _update_buttons(self) -> None:
        enabled = bool(self.model.rowCount()) and bool(self.selected_cells())
        self.keep_button.setEnabled(enabled)
        self.erp_button.setEnabled(enabled)

    def choose(self, choice: str) -> None:
        """Apply ``choice`` to the selected cells off the GUI thread, then read the list again."""
        cells = self.selected_cells()
        if not cells:
            return
        ctx = self.bridge.ctx
        self.keep_button.setEnabled(False)
        self.erp_button.setEnabled(False)

        async def run() -> None:
            try:
                try:
                    decided = await self.bridge.call(decide_cells, ctx.engine, ctx.board_id, cells, choice)
                except OrderSyncError as exc:  # refused (a sync of the customer runs): nothing changed
                    self.result_label.setText(str(exc))
                    self.message.emit(str(exc))
                    return
                text = result_text(choice, decided)
                self.result_label.setText(text)
                self.message.emit(text)
                self.decided.emit()
            finally:
                self.refresh()

        self.bridge.tasks.start("decide", run)

    def focus_chain(self) -> list[QWidget]:
        return [self.view, self.keep_button, self.erp_button]
