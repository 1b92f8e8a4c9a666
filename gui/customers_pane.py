"""The customers pane: the customers with pending work (or all of them), ticked for Preview and Sync.

What a planner reads here without asking:

- which customers have work, and, with "Show all customers", the others with their last sync;
- how many are ticked, and how many of those the filter hides ("3 ticked, 2 hidden by the filter"):
  Preview and Sync act on every ticked customer, and their buttons say how many;
- why the list is empty ("Nothing pending. Last sync 14:02." / "No customer matches "xyz".").

Keyboard: Tab and Shift+Tab leave the list (the table does not trap Tab), the arrows move the current
row, which is always the selected (highlighted) row; Space ticks the current customer whatever its
current cell; Ctrl+A ticks every customer shown. Down in the filter goes to the list.
"""

from __future__ import annotations

import datetime as dt

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QSize, Qt
from PySide6.QtGui import QKeyEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from gui.look import SPACE_M, SPACE_S, TYPE_HEADING, TYPE_SMALL, font, icon, make_primary, pane_layout
from gui.mnemonics import SHORTCUT, TEXT, strip
from gui.models import KeyRole
from gui.models.customers import CustomersFilterProxy, CustomersModel


def short_time(value: dt.datetime | None, now: dt.datetime | None = None) -> str:
    """A naive-UTC time as a planner says it, in local time: "14:02" today, else "3 Dec 14:02"."""
    if value is None:
        return ""
    local = value.replace(tzinfo=dt.UTC).astimezone()
    today = (now or dt.datetime.now().astimezone()).date()
    if local.date() == today:
        return local.strftime("%H:%M")
    if local.year == today.year:
        return f"{local.day} {local.strftime('%b %H:%M')}"
    return local.strftime("%Y-%m-%d %H:%M")


def _plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else (many or one + 's')}"


class CustomersView(QTableView):
    """The customers table, keyboard first (see the module docstring)."""

    def __init__(self, proxy: CustomersFilterProxy, model: CustomersModel, parent: QWidget | None = None):
        super().__init__(parent)
        self.customers = model
        self.setObjectName("customers_view")
        self.setModel(proxy)
        self.setSortingEnabled(True)
        self.setAlternatingRowColors(True)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        # Ticks are the choice; the selection is only the current row, always highlighted.
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setTabKeyNavigation(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(24)
        self.selectionModel().currentRowChanged.connect(self._select_current_row)
        self.empty_label = QLabel(self.viewport())
        self.empty_label.setObjectName("customers_empty")
        self.empty_label.setProperty("role", "empty")
        self.empty_label.setFont(font(TYPE_HEADING))
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        tick_all = QShortcut(QKeySequence(SHORTCUT["tick_shown"]), self, context=Qt.ShortcutContext.WidgetShortcut)
        tick_all.activated.connect(self.tick_shown)

    # -- keyboard -------------------------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() == Qt.Key.Key_Space and not (
            event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier & ~Qt.KeyboardModifier.ShiftModifier
        ):
            self.toggle_current()
            event.accept()
            return
        super().keyPressEvent(event)

    def focusInEvent(self, event) -> None:
        super().focusInEvent(event)
        current = self.currentIndex()
        if not current.isValid() and self.model().rowCount():
            current = self.model().index(0, CustomersModel.COL_CUSTOMER)
            self.setCurrentIndex(current)
        self._select_current_row(current)

    def toggle_current(self) -> None:
        """Tick the current customer (untick it when ticked), whatever cell of its row is current."""
        current = self.currentIndex()
        if not current.isValid():
            return
        customer = current.siblingAtColumn(0).data(KeyRole)
        self.customers.set_checked(customer, customer not in self.customers.checked())

    def tick_shown(self) -> None:
        proxy = self.model()
        assert isinstance(proxy, CustomersFilterProxy)
        self.customers.set_many_checked(proxy.shown_customers(), True)

    def _select_current_row(self, current: QModelIndex, _previous: QModelIndex | None = None) -> None:
        """The current row is the selected row: visible even when it was reached by Tab alone."""
        if current.isValid() and not self.selectionModel().isRowSelected(current.row(), QModelIndex()):
            self.selectionModel().select(
                current, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows
            )

    # -- the empty state ------------------------------------------------------------------------------

    def show_empty(self, text: str) -> None:
        self.empty_label.setText(text)
        self.empty_label.setVisible(bool(text))
        self._place_empty()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._place_empty()

    def _place_empty(self) -> None:
        area = self.viewport().rect().adjusted(SPACE_M, SPACE_M, -SPACE_M, -SPACE_M)
        self.empty_label.setGeometry(area)


class CustomersPane(QGroupBox):
    """The customers pane. ``MainWindow`` creates it with the model and proxy it owns, places it, and
    connects ``sync_button`` and ``preview_button``; ``refresh_state`` keeps the labels, the empty
    state and the buttons current (the window calls it when the list, the ticks or a run change)."""

    def __init__(self, model: CustomersModel, proxy: CustomersFilterProxy, parent: QWidget | None = None):
        super().__init__("Customers with pending work", parent)
        self.setObjectName("customers_pane")
        self.customers = model
        self.proxy = proxy
        self.loaded = False
        self.busy = False
        self._pending_before: set[str] = set()

        self.customer_filter = QLineEdit(placeholderText="Part of a name…", clearButtonEnabled=True)
        self.customer_filter.setObjectName("customer_filter")
        self.customer_filter.setToolTip(f"Show the customers whose name holds this text ({SHORTCUT['find']})")
        self.filter_label = QLabel(TEXT["customer_filter"])
        self.filter_label.setBuddy(self.customer_filter)
        self.show_all = QCheckBox(TEXT["show_all"])
        self.show_all.setObjectName("show_all_customers")
        self.show_all.setToolTip("Also list the customers with nothing to send, with their last sync")
        self.tick_shown_button = QPushButton(TEXT["tick_shown"])
        self.tick_shown_button.setToolTip(f"Tick every customer the list shows ({SHORTCUT['tick_shown']} in the list)")
        self.untick_button = QPushButton(TEXT["untick_all"])
        self.untick_button.setToolTip("Untick every customer, the hidden ones too")
        self.view = CustomersView(proxy, model)
        self.ticked_label = QLabel()
        self.ticked_label.setObjectName("ticked_label")
        self.ticked_label.setFont(font(TYPE_SMALL))
        self.ticked_label.setProperty("role", "note")
        self.preview_button = QPushButton(icon("preview"), TEXT["preview"])
        self.preview_button.setObjectName("preview_button")
        self.sync_button = QPushButton(icon("sync"), TEXT["sync"])
        self.sync_button.setObjectName("sync_button")
        self.sync_button.setDefault(True)
        make_primary(self.sync_button)

        layout = self.column = pane_layout(QVBoxLayout(self))
        top = QHBoxLayout()
        top.setSpacing(SPACE_S)
        top.addWidget(self.filter_label)
        top.addWidget(self.customer_filter, 1)
        top.addWidget(self.show_all)
        ticks = QHBoxLayout()
        ticks.setSpacing(SPACE_S)
        ticks.addWidget(self.tick_shown_button)
        ticks.addWidget(self.untick_button)
        ticks.addWidget(self.ticked_label, 1)
        #: The row of Preview and Sync; ``place_under_sync`` puts a widget (the forecast) under it.
        self.sync_row = QHBoxLayout()
        self.sync_row.setSpacing(SPACE_M)
        self.sync_row.addWidget(self.preview_button)
        self.sync_row.addStretch(1)
        self.sync_row.addWidget(self.sync_button)
        layout.addLayout(top)
        layout.addWidget(self.view, 1)
        layout.addLayout(ticks)
        layout.addLayout(self.sync_row)

        self._size_columns()
        # Sorted by name from the start: ticking a box must not move the row under the mouse.
        self.view.sortByColumn(CustomersModel.COL_CUSTOMER, Qt.SortOrder.AscendingOrder)
        self._connect()
        self.refresh_state()

    def _connect(self) -> None:
        find = QShortcut(QKeySequence(SHORTCUT["find"]), self, context=Qt.ShortcutContext.WindowShortcut)
        find.activated.connect(lambda: self.customer_filter.setFocus(Qt.FocusReason.ShortcutFocusReason))
        self.customer_filter.textChanged.connect(self.proxy.set_search)
        self.customer_filter.textChanged.connect(self.refresh_state)  # the empty state names the search
        self.customer_filter.installEventFilter(self)
        self.show_all.toggled.connect(self._show_all_toggled)
        self.tick_shown_button.clicked.connect(self.view.tick_shown)
        self.untick_button.clicked.connect(lambda: self.customers.set_all_checked(False))
        self.customers.checkedChanged.connect(self.refresh_state)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.layoutChanged):
            signal.connect(self.refresh_state)
        self.proxy.modelReset.connect(self.refresh_state)

    # -- hooks for the window -------------------------------------------------------------------------

    def place_under_sync(self, widget: QWidget) -> None:
        """Put ``widget`` (the run panel's forecast, a sentence) under the row of Preview and Sync."""
        self.column.addWidget(widget)

    def focus_chain(self) -> list[QWidget]:
        """The pane's widgets in Tab order."""
        return [
            self.customer_filter,
            self.show_all,
            self.view,
            self.tick_shown_button,
            self.untick_button,
            self.preview_button,
            self.sync_button,
        ]

    def set_rows(self, rows: list[dict]) -> None:
        """Every customer, as the bridge reads them; a customer whose work was all sent is unticked."""
        self.customers.set_rows(rows)
        self.loaded = True
        pending = self.customers.pending_customers()
        done = self._pending_before - pending
        self._pending_before = pending
        if done:
            self.customers.set_many_checked(done, False)
        self.refresh_state()

    def set_busy(self, busy: bool) -> None:
        self.busy = busy
        self.refresh_state()

    # -- state ----------------------------------------------------------------------------------------

    def refresh_state(self, *_args) -> None:
        ticked = self.customers.checked()
        hidden = sorted(set(ticked) - self.proxy.shown_customers())
        self.setTitle("All customers" if self.proxy.show_all else "Customers with pending work")
        self.ticked_label.setText(self._ticked_text(len(ticked), len(hidden)))
        self.ticked_label.setToolTip(
            ("Hidden by the filter: " + ", ".join(c or "(blank)" for c in hidden)) if hidden else ""
        )
        role = "warning" if hidden else "note"
        if self.ticked_label.property("role") != role:  # hidden ticks stand out: Sync sends them too
            self.ticked_label.setProperty("role", role)
            self.ticked_label.style().unpolish(self.ticked_label)
            self.ticked_label.style().polish(self.ticked_label)
        can_act = bool(ticked) and not self.busy
        self.sync_button.setEnabled(can_act)
        self.preview_button.setEnabled(can_act)
        count = len(ticked)
        self.sync_button.setText(f"{TEXT['sync']} {_plural(count, 'customer')}" if count else TEXT["sync"])
        names = ", ".join(c or "(blank)" for c in ticked)
        if not ticked:
            tip = "Tick the customers to sync first (Space ticks the current one)"
            self.sync_button.setToolTip(tip)
            self.preview_button.setToolTip(tip)
        else:
            also = f" ({_plural(len(hidden), 'of them', 'of them')} hidden by the filter)" if hidden else ""
            self.sync_button.setToolTip(
                f"Send the changes of the {_plural(count, 'ticked customer')}{also}: {names} ({SHORTCUT['sync']})"
            )
            self.preview_button.setToolTip(
                f"Show what a sync of the {_plural(count, 'ticked customer')}{also} would send, sending nothing: "
                f"{names} ({SHORTCUT['preview']})"
            )
        self.view.show_empty(self.empty_text())

    @staticmethod
    def _ticked_text(ticked: int, hidden: int) -> str:
        if not ticked:
            return "Nothing ticked"
        if hidden:
            return f"{ticked} ticked, {hidden} hidden by the filter"
        return f"{ticked} ticked"

    def empty_text(self) -> str:
        """What the list says when it shows no customer; empty when it shows some."""
        if self.proxy.rowCount():
            return ""
        if not self.loaded:
            return "Reading the customers…"
        model = self.customers
        if not model.rowCount():
            return "No customers in ORDERS_UNIFIED yet."
        needle = self.customer_filter.text().strip()
        if needle:
            others = sum(1 for row in range(model.rowCount()) if self.proxy.matches(row) and not model.has_pending(row))
            if others and not self.proxy.show_all:
                return (
                    f'No customer with pending work matches "{needle}". '
                    f"{_plural(others, 'customer')} with nothing pending "
                    f"{'matches' if others == 1 else 'match'}: {strip(TEXT['show_all'])} to see "
                    f"{'it' if others == 1 else 'them'}."
                )
            return f'No customer matches "{needle}".'
        last = short_time(model.last_sync())
        return f"Nothing pending. Last sync {last}." if last else "Nothing pending."

    def _show_all_toggled(self, show: bool) -> None:
        self.proxy.set_show_all(show)
        self.refresh_state()

    # -- columns --------------------------------------------------------------------------------------

    NAME_MIN_WIDTH = 120  # the customer's name never shrinks below about twelve characters

    def minimumSizeHint(self) -> QSize:
        """Wide enough for every column but the name at its content's width, and the name at
        ``NAME_MIN_WIDTH``: a splitter never squeezes the list into a horizontal scroll bar."""
        hint = super().minimumSizeHint()
        header = self.view.horizontalHeader()
        columns = sum(
            header.sectionSize(c)
            for c in range(header.count())
            if c != CustomersModel.COL_CUSTOMER and not header.isSectionHidden(c)
        )
        margins = self.column.contentsMargins()
        chrome = (
            margins.left()
            + margins.right()
            + 2 * self.view.frameWidth()
            + self.view.verticalScrollBar().sizeHint().width()
        )
        return QSize(max(hint.width(), columns + self.NAME_MIN_WIDTH + chrome), hint.height())

    def _size_columns(self) -> None:
        """Counts and the last sync fit their contents; the name takes the room left, elided when short
        of it (its tooltip holds it whole): no horizontal scrolling at 1024 pixels wide."""
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CustomersModel.COL_CUSTOMER, QHeaderView.ResizeMode.Stretch)
        header.setStretchLastSection(False)
        header.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.sectionResized.connect(lambda *_: self.updateGeometry())  # the minimum follows the contents

    # -- Down in the filter goes to the list ----------------------------------------------------------

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if (
            watched is self.customer_filter
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
        ):
            self.view.setFocus(Qt.FocusReason.TabFocusReason)
            return True
        return super().eventFilter(watched, event)
