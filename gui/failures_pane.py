"""The failed lines of the window, grouped by what to do: the pane the window places below its runs.

About 590 lines on purpose: one widget that owns its two views (grouped by cause, and the flat sortable
list), the filters they share, the retry and its result, the empty states and the details pane's
selection; split, the invariant "every view, count, button and the details pane show the same
current rows" would be spread over files.

Default view: one card per cause (``GroupCard``) with a sentence, the fix and one action, and below
it the chosen group's order lines (``LinesModel``), one row per line with its sizes summarised. One
click away: the flat list of every failed row (``ErrorsModel`` through ``ErrorsFilterProxy``), with
the CSV export. The rows are read off the GUI thread, and grouped there too (``prepare``).

The window creates the pane (``FailuresPane(bridge)``), places it, calls ``refresh()`` on its own
refreshes and ``set_busy()`` when a run starts or ends; the pane does the rest.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import itertools
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from core.foundation.error_types import error_kind
from gui.bridge import EngineBridge
from gui.delegates import RetryButtonDelegate
from gui.details import ErrorDetails
from gui.failure_groups import Group, Grouping, Line, prepare
from gui.failures_widgets import GroupCard, LinesModel
from gui.mnemonics import TEXT
from gui.models import COL_ACTION, ErrorsFilterProxy, ErrorsModel, KeyRole, RetryableRole, RowRole

PAGE_GROUPS, PAGE_FLAT, PAGE_EMPTY = range(3)
MAX_CARDS = 40  # causes shown as cards; the rest are counted (the flat list has them all)


class FailuresPane(QGroupBox):
    """Failed lines grouped by cause (default) or as a flat list; retry, export and details."""

    #: A retry ended and its result is shown: (lines sent, lines failed again).
    retried = Signal(int, int)
    #: Something the window may show briefly in its status bar.
    message = Signal(str)

    def __init__(self, bridge: EngineBridge, parent: QWidget | None = None) -> None:
        super().__init__("Failed lines", parent)
        self.bridge = bridge
        self.errors = ErrorsModel(self)
        self.errors_proxy = ErrorsFilterProxy(self)
        self.errors_proxy.setSourceModel(self.errors)
        self.lines = LinesModel(self)
        self.groups: list[Group] = []
        self._shown: dict[tuple, list[Line]] = {}  # group key -> its lines that pass the filters
        self._current: tuple | None = None  # the group whose lines are listed
        self._open_rows = 0
        self._search: dict[str, str] = {}
        self.rows: list[dict] = []  # the failed rows as last read (open, and resolved ones while shown)
        self._flat_stale = False  # the flat list has not been given the last rows (it is not on screen)
        self._proxy_stale = False  # the flat list's filters lag the filter widgets
        self._busy = False
        self._retrying: dict[str, Line] | None = None  # sync key -> line, while a retry of ours runs
        self._marks: dict[str, str] = {}  # sync key -> what the last retry did (shown on the row)
        self._synced_at: dt.datetime | None = None
        self._loaded = False
        self._again = False
        self._reads = 0  # reads started
        self._finished_at = 0  # reads started when the last run ended
        self._build()
        self._connect()

    # == building ===================================================================================

    def _build(self) -> None:
        self.flat_toggle = QPushButton(TEXT["flat_list"])
        self.flat_toggle.setCheckable(True)
        self.error_customer = QComboBox()
        self.error_customer.addItem("All customers", None)
        self.error_type = QComboBox()
        self.error_type.addItem("All kinds of failure", None)
        self.error_type.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.retryable_only = QCheckBox("Can be retried only")
        self.show_resolved = QCheckBox(TEXT["show_resolved"])
        self.show_resolved.setVisible(False)  # the flat list's: resolved rows are not grouped
        self.error_search = QLineEdit(placeholderText="Search customers, orders, POs, styles…", clearButtonEnabled=True)
        self.count_label = QLabel("")
        self.count_label.setObjectName("failures_count")

        self.result_panel = QFrame()
        self.result_panel.setObjectName("retry_result")
        self.result_panel.setFrameShape(QFrame.Shape.StyledPanel)
        self.result_label = QLabel(wordWrap=True)
        self.dismiss_button = QPushButton(TEXT["dismiss"])
        row = QHBoxLayout(self.result_panel)
        row.addWidget(self.result_label, 1)
        row.addWidget(self.dismiss_button)
        self.result_panel.hide()

        # -- grouped: the cards, then the chosen group's lines
        self.cards_host = QWidget()
        self.cards_layout = QVBoxLayout(self.cards_host)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards: list[GroupCard] = []
        self.more_label = QLabel("")
        self.cards_layout.addWidget(self.more_label)
        self.cards_layout.addStretch(1)
        self.cards_scroll = QScrollArea(widgetResizable=True)
        self.cards_scroll.setWidget(self.cards_host)
        self.lines_view = _table(self.lines)
        self.lines_delegate = RetryButtonDelegate(self.lines_view)
        self.lines_view.setItemDelegateForColumn(LinesModel.COL_ACTION, self.lines_delegate)
        for column, width in enumerate((64, 110, 60, 90, 85, 110, 170, 115, 360)):
            self.lines_view.setColumnWidth(column, width)
        self.groups_split = QSplitter(Qt.Orientation.Vertical)
        self.groups_split.setObjectName("groups_split")
        self.groups_split.addWidget(self.cards_scroll)
        self.groups_split.addWidget(self.lines_view)
        self.groups_split.setSizes([160, 240])
        self._cards_sized = False  # the planner moved the handle: the cards keep the height given
        self.groups_split.splitterMoved.connect(self._cards_moved)

        # -- flat: every failed row
        self.errors_view = _table(self.errors_proxy)
        self.retry_delegate = RetryButtonDelegate(self.errors_view)
        self.errors_view.setItemDelegateForColumn(COL_ACTION, self.retry_delegate)
        widths = {
            ErrorsModel.COL_ACTION: 64,
            ErrorsModel.COL_CUSTOMER: 130,
            ErrorsModel.COL_PO: 70,
            ErrorsModel.COL_ORDER: 90,
            ErrorsModel.COL_SIZE: 60,
            ErrorsModel.COL_TYPE: 170,
            ErrorsModel.COL_CODE: 150,
            ErrorsModel.COL_RETRYABLE: 130,
            ErrorsModel.COL_RETRIES: 55,
            ErrorsModel.COL_LAST: 130,
            ErrorsModel.COL_MESSAGE: 300,
        }
        for column, width in widths.items():
            self.errors_view.setColumnWidth(column, width)
        header = self.errors_view.horizontalHeader()
        header.moveSection(header.visualIndex(ErrorsModel.COL_ACTION), 0)
        header.moveSection(header.visualIndex(ErrorsModel.COL_MESSAGE), header.count() - 1)
        self.errors_view.setColumnHidden(ErrorsModel.COL_CODE, True)  # monday's codes: in the details
        self.errors_view.sortByColumn(ErrorsModel.COL_LAST, Qt.SortOrder.DescendingOrder)

        self.empty_label = QLabel("", alignment=Qt.AlignmentFlag.AlignCenter, wordWrap=True)
        self.empty_label.setObjectName("failures_empty")
        self.stack = QStackedWidget()
        self.stack.addWidget(self.groups_split)
        self.stack.addWidget(self.errors_view)
        self.stack.addWidget(self.empty_label)

        self.details = ErrorDetails(self.bridge)
        self.errors_split = QSplitter(Qt.Orientation.Horizontal)
        self.errors_split.setObjectName("errors_split")
        self.errors_split.addWidget(self.stack)
        self.errors_split.addWidget(self.details)
        self.errors_split.setStretchFactor(0, 3)
        self.errors_split.setStretchFactor(1, 1)
        self.errors_split.setSizes([880, 500])

        self.retry_selected_button = QPushButton(TEXT["retry_selected"])
        self.export_button = QPushButton(TEXT["export"])
        filters = QHBoxLayout()
        for widget in (self.error_customer, self.error_type, self.retryable_only, self.show_resolved):
            filters.addWidget(widget)
        filters.addWidget(self.error_search, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.flat_toggle)
        actions.addWidget(self.count_label, 1)
        actions.addWidget(self.retry_selected_button)
        actions.addWidget(self.export_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addWidget(self.result_panel)
        layout.addWidget(self.errors_split, 1)
        layout.addLayout(actions)
        self._tab_order()

    def _connect(self) -> None:
        self._filter_timer = QTimer(self)
        self._filter_timer.setSingleShot(True)
        self._filter_timer.setInterval(0)
        self._filter_timer.timeout.connect(self._filters_now)
        self.flat_toggle.toggled.connect(self._toggle_flat)
        self.error_customer.currentIndexChanged.connect(self._filters_changed)
        self.error_type.currentIndexChanged.connect(self._filters_changed)
        self.retryable_only.toggled.connect(self._filters_changed)
        self.error_search.textChanged.connect(self._filters_changed)
        self.show_resolved.toggled.connect(self._toggle_resolved)
        self.dismiss_button.clicked.connect(self.result_panel.hide)
        self.lines_delegate.retryRequested.connect(self._retry_line)
        self.retry_delegate.retryRequested.connect(lambda ref: self.retry([ref]))
        self.retry_selected_button.clicked.connect(self.retry_selected)
        self.export_button.clicked.connect(self.export_csv)
        self.lines_view.selectionModel().currentRowChanged.connect(lambda *_: self._follow_selection())
        self.lines_view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.errors_view.selectionModel().currentRowChanged.connect(lambda *_: self._follow_selection())
        self.errors_view.selectionModel().selectionChanged.connect(lambda *_: self._update_buttons())
        self.errors_proxy.layoutChanged.connect(self._follow_selection)
        self.errors_proxy.modelReset.connect(self._follow_selection)
        self.errors_proxy.rowsRemoved.connect(lambda *_: self._follow_selection())
        self.bridge.syncFinished.connect(self._run_finished)

    # == data =======================================================================================

    def refresh(self) -> None:
        """Read the failed rows off the GUI thread, group them there, then show them."""
        if self.bridge.tasks.running("refresh:errors"):
            self._again = True  # read once more when this read lands: it may predate what changed
            return
        self._again = False
        resolved = self.show_resolved.isChecked()
        self._reads += 1
        seq = self._reads

        async def run():
            try:
                rows = await self.bridge.errors(resolved)
                grouping = await self.bridge.call(prepare, rows)
                self.set_rows(rows, grouping, fresh=seq > self._finished_at)
            finally:
                if self._again:
                    QTimer.singleShot(0, self._refresh_again)  # after this task has left the registry

        self.bridge.tasks.start("refresh:errors", run)

    def _refresh_again(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the event loop has stopped (the window is closing)
            return
        self.refresh()

    def set_rows(self, rows: list[dict], grouping: Grouping | None = None, fresh: bool = True) -> None:
        """Show ``rows`` (open errors, and resolved ones while those are shown) and their groups.

        ``grouping``: ``prepare(rows)``, made off the GUI thread (made here when not given).
        ``fresh``: the rows were read after the last run ended (a retry's result is judged on them)."""
        facts = prepare(rows) if grouping is None else grouping
        self.rows = rows
        self._search = facts.search
        self._open_rows = facts.open_rows
        self._loaded = True
        # The flat list (100,000 rows cost it a few hundred ms) takes the rows only while it is shown.
        self._flat_stale = True
        if self.flat_toggle.isChecked():
            self._sync_flat()
        _fill_combo(self.error_customer, "All customers", facts.customers)
        _fill_combo(self.error_type, "All kinds of failure", facts.kinds, lambda t: error_kind(t).name)
        self.set_groups(facts.groups)
        if self._retrying is not None and fresh and not self.bridge.syncing:
            self._show_result()
        self.set_busy(self.bridge.busy)

    def set_groups(self, groups: list[Group]) -> None:
        for group in groups if self._marks else ():
            for line in group.lines:
                if line.sync_key in self._marks:
                    line.retried = self._marks[line.sync_key]
        self.groups = groups
        self._apply_filters()

    def set_busy(self, busy: bool) -> None:
        """A sync or a retry runs (busy) or has ended: Retry buttons follow."""
        self._busy = busy
        self.lines.set_busy(busy)
        self.retry_delegate.enabled = not busy
        self._update_cards()
        self._update_page()
        self.errors_view.viewport().update()

    # == filters ====================================================================================

    def _filters_changed(self, *_args) -> None:
        """A filter widget changed: applied once when control returns to the event loop, so changes
        made together (clearing every filter) cost one pass."""
        self._proxy_stale = True
        if not self._filter_timer.isActive():
            self._filter_timer.start()

    def _filters_now(self) -> None:
        self._filter_timer.stop()
        if self.flat_toggle.isChecked():
            self._sync_flat()
        self._apply_filters()

    def _sync_flat(self) -> None:
        """Bring the flat list up to date with the last rows and the filter widgets (when it is shown)."""
        if self._flat_stale:
            self._flat_stale = False
            self.errors.set_rows(self.rows)
            self.errors.seed_search(self._search)
        if self._proxy_stale:
            self._proxy_stale = False
            self.errors_proxy.set_filters(
                self.error_customer.currentData(),
                self.error_type.currentData(),
                self.retryable_only.isChecked(),
                self.error_search.text(),
            )

    def _apply_filters(self) -> None:
        """The lines of every group that pass the filters (one cheap pass over the lines), then the view."""
        customer = self.error_customer.currentData()
        kind = self.error_type.currentData()
        retryable = self.retryable_only.isChecked()
        needles = self.error_search.text().lower().split()
        shown: dict[tuple, list[Line]] = {}
        for group in self.groups:
            lines = group.lines
            if customer is not None:
                lines = [line for line in lines if line.customer == (customer or "(blank)")]
            if kind is not None:
                lines = [line for line in lines if any(r.get("error_type") == kind for r in line.rows)]
            if retryable:
                lines = [line for line in lines if line.can_retry]
            for needle in needles:
                lines = [line for line in lines if needle in line.haystack()]
            shown[group.key] = lines
        self._shown = shown
        if self._current not in shown or not shown[self._current]:
            self._current = next((g.key for g in self.groups if shown[g.key]), None)
        self._set_lines(shown.get(self._current, []) if self._current is not None else [])
        self._update_cards()
        self._update_page()
        self._follow_selection()

    def _toggle_resolved(self, show: bool) -> None:
        self.errors_proxy.set_show_resolved(show)
        self.refresh()

    def _toggle_flat(self, flat: bool) -> None:
        self.flat_toggle.setText(TEXT["group_by_cause"] if flat else TEXT["flat_list"])
        self.show_resolved.setVisible(flat)
        if flat:
            self._sync_flat()
        self._update_page()
        self._follow_selection()

    # == what is shown ==============================================================================

    def _update_cards(self) -> None:
        groups = self.groups[:MAX_CARDS]
        while len(self.cards) < len(groups):
            card = GroupCard()
            card.chosen.connect(self._choose)
            card.retryRequested.connect(self._retry_group)
            self.cards_layout.insertWidget(len(self.cards), card)
            self.cards.append(card)
            self._tab_order()
        for card, group in zip(self.cards, groups, strict=False):
            card.show_group(group, self._shown.get(group.key, []), self._busy, group.key == self._current)
            card.show()
        for card in self.cards[len(groups) :]:
            card.hide()
        more = len(self.groups) - len(groups)
        self.more_label.setText(f"…and {more} more causes: see the flat list" if more > 0 else "")
        QTimer.singleShot(0, self._fit_cards)

    def _fit_cards(self) -> None:
        """The cards get the height they need (up to three fifths of the pane), the lines the rest."""
        total = sum(self.groups_split.sizes())
        if self._cards_sized or total <= 0:
            return
        need = self.cards_host.sizeHint().height() + 2 * self.cards_scroll.frameWidth()
        cards = min(need, total * 3 // 5)
        self.groups_split.setSizes([cards, total - cards])

    def _cards_moved(self, *_args) -> None:
        self._cards_sized = True

    def _tab_order(self) -> None:
        """Tab goes through the filters, each group's Retry and Show, the lines, then the pane's buttons."""
        chain: list[QWidget] = [
            self.error_customer,
            self.error_type,
            self.retryable_only,
            self.show_resolved,
            self.error_search,
        ]
        for card in self.cards:
            chain += [card.retry_button, card.show_button]
        chain += [self.lines_view, self.errors_view, self.details.fields, self.details.technical]
        chain += [self.dismiss_button, self.flat_toggle, self.retry_selected_button, self.export_button]
        for first, second in itertools.pairwise(chain):
            QWidget.setTabOrder(first, second)

    def _update_page(self) -> None:
        total_lines = sum(len(g.lines) for g in self.groups)
        shown_lines = sum(len(v) for v in self._shown.values())
        open_rows = self._open_rows
        flat = self.flat_toggle.isChecked()
        if not self.rows or (not flat and not total_lines):
            when = f" Everything synced at {self._synced_at:%H:%M}." if self._synced_at else ""
            self.empty_label.setText(f"No failed lines.{when}" if self._loaded else "Reading the failed lines…")
            self.stack.setCurrentIndex(PAGE_EMPTY)
        elif flat:
            self.stack.setCurrentIndex(PAGE_FLAT)
        else:
            self.stack.setCurrentIndex(PAGE_GROUPS)
        if flat:
            n = self.errors_proxy.rowCount()
            self.count_label.setText(f"{n:,} of {len(self.rows):,} failed rows shown")
        else:
            groups = sum(1 for v in self._shown.values() if v)
            filtered = f" (of {total_lines:,})" if shown_lines != total_lines else ""
            self.count_label.setText(
                f"{shown_lines:,} line{'s' * (shown_lines != 1)}{filtered} in {groups} "
                f"group{'s' * (groups != 1)} · {open_rows:,} failed rows"
            )
        if not self.rows:  # the empty state says it; no "0 lines in 0 groups"
            self.count_label.setText("")
        if self._busy and self.rows:
            self.count_label.setText(self.count_label.text() + " · a sync is running: retry when it has finished")
        self._update_buttons()

    def _choose(self, key: tuple) -> None:
        self._current = key
        self._set_lines(self._shown.get(key, []))
        self._update_cards()
        self._follow_selection()

    def _set_lines(self, lines: list[Line]) -> None:
        """The lines table shows ``lines``; the current and selected lines stay so if they are still there."""
        view = self.lines_view
        current = view.currentIndex()
        current_key = current.data(KeyRole) if current.isValid() else None
        selected = {index.data(KeyRole) for index in view.selectionModel().selectedRows()}
        self.lines.set_lines(lines)
        # No current row unless one is restored below: otherwise Qt makes the first row current when
        # the table next gets focus, and the details pane would show a line nobody chose.
        view.setCurrentIndex(QModelIndex())
        if current_key is None and not selected:
            return
        model = self.lines
        rows = [row for row, line in enumerate(model.lines) if line.key in selected or line.key == current_key]
        if not rows:
            return
        flags = QItemSelectionModel.SelectionFlag
        selection = view.selectionModel()
        for row in rows:
            line = model.lines[row]
            if line.key == current_key:
                selection.setCurrentIndex(model.index(row, current.column()), flags.NoUpdate)
            if line.key in selected:
                selection.select(model.index(row, 0), flags.Select | flags.Rows)

    def _update_buttons(self) -> None:
        view = self.errors_view if self.flat_toggle.isChecked() else self.lines_view
        selected = view.selectionModel().selectedRows()
        can = any(index.data(RetryableRole) for index in selected)
        self.retry_selected_button.setEnabled(can and not self._busy)
        shown = self.errors_proxy.rowCount() if self.flat_toggle.isChecked() else self.lines.rowCount()
        self.export_button.setEnabled(bool(shown))

    def _follow_selection(self, *_args) -> None:
        """The details pane shows the current row of the view on screen, and clears when it goes."""
        page = self.stack.currentIndex()
        view = self.errors_view if page == PAGE_FLAT else self.lines_view if page == PAGE_GROUPS else None
        index = view.currentIndex() if view is not None else QModelIndex()
        row = index.siblingAtColumn(0).data(RowRole) if index.isValid() else None
        if row is None:
            self.details.show_row(None)
        elif row.get("ref") != self.details.shown_ref:
            self.details.show_row(row)
        self._update_buttons()

    # == retry ======================================================================================

    def retry(self, refs: list[str], lines: list[Line] | None = None) -> bool:
        """Retry the errors ``refs``; the result shows on the rows and in the result panel."""
        if not refs:
            return False
        if self.bridge.busy:
            self.message.emit("A sync or a check of the board is running; retry when it has finished.")
            return False
        if lines is None:
            wanted = set(refs)
            keys = {r.get("sync_key") or r.get("parent_sync_key") for r in self.rows if r["ref"] in wanted}
            lines = [line for g in self.groups for line in g.lines if line.sync_key in keys]
        self._retrying = {line.sync_key or line.key: line for line in lines}
        self._marks = {}  # what an earlier retry said is replaced by this one's result
        self.result_panel.hide()
        self.bridge.retry(refs)
        return True

    def _retry_group(self, key: tuple) -> None:
        lines = [line for line in self._shown.get(key, []) if line.can_retry]
        self.retry([ref for line in lines for ref in line.refs], lines)

    def _retry_line(self, line_key: str) -> None:
        line = next((line for line in self.lines.lines if line.key == line_key), None)
        if line is not None and line.can_retry:
            self.retry(line.refs, [line])

    def retry_selected(self) -> None:
        if self.flat_toggle.isChecked():
            refs = [self.errors_proxy.ref_at(i) for i in self.errors_view.selectionModel().selectedRows()]
            self.retry([r for r in refs if r])
            return
        rows = [index.row() for index in self.lines_view.selectionModel().selectedRows()]
        lines = [line for line in map(self.lines.line_at, rows) if line is not None and line.can_retry]
        self.retry([ref for line in lines for ref in line.refs], lines)

    def retry_all_retryable(self) -> None:
        lines = [line for g in self.groups for line in self._shown.get(g.key, []) if line.can_retry]
        self.retry([ref for line in lines for ref in line.refs], lines)

    def _run_finished(self, _results: list) -> None:
        self._synced_at = dt.datetime.now()
        self._finished_at = self._reads
        # The run's task ends just after this signal: the buttons follow once it has.
        QTimer.singleShot(0, lambda: self.set_busy(self.bridge.busy))
        self.refresh()  # the result is shown when the rows after the retry have landed

    def _show_result(self) -> None:
        retried, self._retrying = self._retrying or {}, None
        still = {r.get("sync_key") or r.get("parent_sync_key") for r in self.rows if r.get("resolved_at") is None}
        failed = [key for key in retried if key in still]
        sent = len(retried) - len(failed)
        stamp = dt.datetime.now().strftime("%H:%M")
        for key in failed:
            self._marks[key] = f"Retried at {stamp}: failed again"
        for group in self.groups:
            for line in group.lines:
                if line.sync_key in self._marks:
                    line.retried = self._marks[line.sync_key]
        if self.lines.lines:
            self.lines.dataChanged.emit(
                self.lines.index(0, LinesModel.COL_TODO),
                self.lines.index(len(self.lines.lines) - 1, LinesModel.COL_TODO),
            )
        self.result_label.setText(
            f"Retry at {stamp}: {sent} line{'s' * (sent != 1)} sent, {len(failed)} failed"
            + (" again; their rows say so." if failed else ".")
        )
        self.result_panel.show()
        self.retried.emit(sent, len(failed))

    # == export =====================================================================================

    def export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export failed rows", "failed-rows.csv", "CSV files (*.csv)")
        if path:
            self.write_csv(Path(path))

    def write_csv(self, path: Path) -> int:
        """The flat list's rows as it shows them (sorted and filtered), every column and the ID."""
        self._sync_flat()
        proxy = self.errors_proxy
        columns = [c for c in range(proxy.columnCount()) if c != COL_ACTION]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["ID"] + [proxy.headerData(c, Qt.Orientation.Horizontal) for c in columns])
            for row in range(proxy.rowCount()):
                writer.writerow([proxy.ref_at(proxy.index(row, 0))] + [proxy.index(row, c).data() for c in columns])
        return proxy.rowCount()


def _table(model) -> QTableView:
    view = QTableView()
    view.setModel(model)
    view.setSortingEnabled(True)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setTabKeyNavigation(False)
    view.verticalHeader().hide()
    view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    view.horizontalHeader().setStretchLastSection(True)
    view.setWordWrap(False)
    view.verticalHeader().setDefaultSectionSize(24)
    return view


def _fill_combo(combo: QComboBox, everything: str, values: list[str], name=None) -> None:
    current = combo.currentData()
    existing = [combo.itemData(i) for i in range(1, combo.count())]
    if existing == values:
        return
    combo.blockSignals(True)
    combo.clear()
    combo.addItem(everything, None)
    for value in values:
        combo.addItem(name(value) if name else value or "(blank)", value)
    combo.setCurrentIndex(max(combo.findData(current), 0))
    combo.blockSignals(False)
