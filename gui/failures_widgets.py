"""The parts of the grouped failures view: a card per cause (``GroupCard``) and the table of one
group's order lines (``LinesModel``)."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from core.foundation.error_types import RETRY_NEVER
from gui.failure_groups import Group, Line
from gui.models.common import KeyRole, RetryableRole, RowRole, SortRole, as_utc, format_local

_DISPLAY = Qt.ItemDataRole.DisplayRole
_TOOLTIP = Qt.ItemDataRole.ToolTipRole


class LinesModel(QAbstractTableModel):
    """One row per order line of the chosen group (after the filters): never one row per size."""

    COL_ACTION, COL_CUSTOMER, COL_PO, COL_ORDER, COL_STYLE, COL_COLOUR, COL_SIZES, COL_LAST, COL_TODO = range(9)
    HEADERS = ("", "Customer", "PO", "Order", "Style", "Colour", "Sizes affected", "Last attempt", "What to do")

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.lines: list[Line] = []
        self.busy = False  # a sync or retry runs: no Retry can start
        self._sort: tuple[int, Qt.SortOrder] | None = None

    def set_lines(self, lines: list[Line]) -> None:
        self.beginResetModel()
        self.lines = list(lines)
        if self._sort is not None:
            self._order(*self._sort)
        self.endResetModel()

    def set_busy(self, busy: bool) -> None:
        if busy != self.busy:
            self.busy = busy
            if self.lines:
                self.dataChanged.emit(self.index(0, 0), self.index(len(self.lines) - 1, 0))

    def line_at(self, row: int) -> Line | None:
        return self.lines[row] if 0 <= row < len(self.lines) else None

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.lines)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section, orientation, role=_DISPLAY):
        if orientation == Qt.Orientation.Horizontal and role == _DISPLAY and 0 <= section < len(self.HEADERS):
            return self.HEADERS[section]
        return super().headerData(section, orientation, role)

    def data(self, index, role=_DISPLAY) -> Any:
        if not index.isValid():
            return None
        line = self.lines[index.row()]
        column = index.column()
        if role == _DISPLAY:
            return self._text(line, column)
        if role == KeyRole:
            return line.key
        if role == RetryableRole:
            return line.can_retry and not self.busy
        if role == RowRole:
            return line.first
        if role == SortRole:
            return self._key(line, column)
        if role == _TOOLTIP:
            if column == self.COL_ACTION:
                return self._why_not(line) or f"Retry this line ({len(line.rows)} failed rows)"
            text = self._text(line, column)
            return text or None
        return None

    def _why_not(self, line: Line) -> str:
        if line.cause.retry == RETRY_NEVER:
            return "No retry: fix the value in the ERP; the next sync sends the line"
        if not line.can_retry:
            return "No retry: already resolved"
        if self.busy:
            return "A sync is running; retry when it has finished"
        return ""

    def _text(self, line: Line, column: int) -> str | None:
        if column == self.COL_ACTION:
            return None
        if column == self.COL_CUSTOMER:
            return line.customer
        if column == self.COL_PO:
            return line.po
        if column == self.COL_ORDER:
            return line.order
        if column == self.COL_STYLE:
            return line.style_colour()[0]
        if column == self.COL_COLOUR:
            return line.style_colour()[1]
        if column == self.COL_SIZES:
            return line.sizes_text()
        if column == self.COL_TODO:
            return f"{line.retried} · {line.todo()}" if line.retried else line.todo()
        if column == self.COL_LAST:
            return format_local(as_utc(line.last)) if line.last.year > 1 else ""
        return None

    def _key(self, line: Line, column: int) -> Any:
        if column == self.COL_ACTION:
            return int(line.can_retry)
        if column == self.COL_SIZES:
            return len(line.sizes)
        if column == self.COL_LAST:
            return line.last
        return (self._text(line, column) or "").lower()

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        self._sort = (column, Qt.SortOrder(order))
        self.layoutAboutToBeChanged.emit()
        self._order(column, Qt.SortOrder(order))
        self.layoutChanged.emit()

    def _order(self, column: int, order: Qt.SortOrder) -> None:
        key = _SORT_KEYS.get(column) or (lambda line: self._key(line, column))
        self.lines.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)


# Sort keys of the common columns, one attribute read each (the rest go through LinesModel._key).
_SORT_KEYS = {
    LinesModel.COL_ACTION: lambda line: line.can_retry,
    LinesModel.COL_CUSTOMER: lambda line: line.customer.lower(),
    LinesModel.COL_PO: lambda line: line.po.lower(),
    LinesModel.COL_ORDER: lambda line: line.order.lower(),
    LinesModel.COL_STYLE: lambda line: line.style_colour()[0].lower(),
    LinesModel.COL_COLOUR: lambda line: line.style_colour()[1].lower(),
    LinesModel.COL_SIZES: lambda line: len(line.sizes),
    LinesModel.COL_LAST: lambda line: line.last,
}


class GroupCard(QFrame):
    """One cause: the sentence, the fix, "Show these lines" and one action for the whole group."""

    chosen = Signal(tuple)  # the group's cause key
    retryRequested = Signal(tuple)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("group_card")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.key: tuple[str, ...] = ()
        self.title = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.kind = QLabel(wordWrap=True)
        self.kind.setStyleSheet("color: palette(mid)")
        self.fix = QLabel(wordWrap=True)
        self.show_button = QPushButton("Show these lines")
        self.show_button.setCheckable(True)
        self.retry_button = QPushButton("Retry")
        self.show_button.clicked.connect(lambda: self.chosen.emit(self.key))
        self.retry_button.clicked.connect(lambda: self.retryRequested.emit(self.key))
        text = QVBoxLayout()
        text.setSpacing(2)
        text.addWidget(self.title)
        text.addWidget(self.kind)
        text.addWidget(self.fix)
        buttons = QVBoxLayout()
        buttons.addWidget(self.retry_button)
        buttons.addWidget(self.show_button)
        buttons.addStretch(1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.addLayout(text, 1)
        layout.addLayout(buttons)

    def show_group(self, group: Group, lines: list[Line], busy: bool, current: bool) -> None:
        """Fill the card for ``group``, of which ``lines`` pass the filters."""
        self.key = group.key
        n = len(lines)
        total = len(group.lines)
        hidden = f" ({total - n} more hidden by the filter)" if n < total else ""
        head, _, rest = group.sentence(n).partition(": ")
        self.title.setText(f"<b>{_html(head)}:</b> {_html(rest)}{_html(hidden)}")
        kind = group.cause.kind
        self.kind.setText(f"{kind.name}: {kind.explanation}")
        retryable = sum(1 for line in lines if line.can_retry)
        self.show_button.setChecked(current)
        self.show_button.setText(f"Show these {n} line{'s' * (n != 1)}" if n else "No line matches the filter")
        self.show_button.setEnabled(bool(n))
        if group.cause.retry == RETRY_NEVER:
            self.fix.setText(f"{group.cause.fix} No retry: each line below says which value to fix.")
            self.retry_button.setText("No retry: fix in the ERP")
            self.retry_button.setEnabled(False)
        elif not retryable:
            self.fix.setText(group.cause.fix)
            self.retry_button.setText("Nothing to retry")
            self.retry_button.setEnabled(False)
        else:
            self.fix.setText(group.cause.fix + (" A sync is running: retry when it has finished." if busy else ""))
            self.retry_button.setText(f"Retry these {retryable} line{'s' * (retryable != 1)}")
            self.retry_button.setEnabled(not busy)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
