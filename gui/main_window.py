"""The operator window: customers with pending work, live batches, failed rows with per-row retry.

Everything the window shows is read off the GUI thread through the bridge; the models receive
plain rows and emit targeted changes. Batches are read from MON_BatchProcessing on a timer, so
batches of other workstations and of scheduled headless runs show up too.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer, Signal, QObject
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QDockWidget, QFileDialog, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QMainWindow, QMenu, QMessageBox,
                               QPlainTextEdit, QProgressBar, QPushButton, QSplitter, QTableView, QToolBar,
                               QVBoxLayout, QWidget)

from core import __version__
from core.db.engine import redact_url
from core.logs import formatter, log_file
from gui.bridge import EngineBridge
from gui.delegates import ProgressBarDelegate, RetryButtonDelegate
from gui.diagnostics import exec_with_log_folder, open_log_folder
from gui.models import (COL_ACTION, COL_PROGRESS, BatchesModel, CustomersFilterProxy, CustomersModel,
                        ErrorsFilterProxy, ErrorsModel, RowRole)
from gui.preview import PreviewDialog

log = logging.getLogger(__name__)

BATCH_REFRESH_MS = 1000
LIST_REFRESH_MS = 30_000
COALESCE_MS = 250


class LogSignal(QObject):
    line = Signal(str)


class QtLogHandler(logging.Handler):
    """Engine log lines into the log pane; emitted from any thread, shown on the GUI thread."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.signal = LogSignal()
        self.setFormatter(formatter("%(asctime)s %(levelname)s %(batch_tag)s%(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.signal.line.emit(self.format(record))
        except RuntimeError:  # the window is gone
            pass


class MainWindow(QMainWindow):
    def __init__(self, bridge: EngineBridge, settings_path: Path | None = None):
        super().__init__()
        self.bridge = bridge
        self.settings_path = settings_path
        ctx = bridge.ctx
        self.setWindowTitle(f"OrderSync — {redact_url(str(ctx.engine.url))} → board {ctx.board_id or '(not set)'}")
        self.customers = CustomersModel(self)
        self.customers_proxy = CustomersFilterProxy(self)
        self.customers_proxy.setSourceModel(self.customers)
        self.batches = BatchesModel(self)
        self.errors = ErrorsModel(self)
        self.errors_proxy = ErrorsFilterProxy(self)
        self.errors_proxy.setSourceModel(self.errors)
        self._batches_dirty = False
        self._refreshing: set[str] = set()
        self._build()
        self._connect()
        self._restore_state()
        self.log_handler = QtLogHandler()
        self.log_handler.signal.line.connect(self.log_view.appendPlainText)
        logging.getLogger().addHandler(self.log_handler)
        self.refresh_all()

    # == layout =====================================================================================

    def _build(self) -> None:
        toolbar = QToolBar("Actions", self)
        toolbar.setObjectName("actions")
        self.addToolBar(toolbar)
        self.sync_action = QAction("Sync Selected Customers", self, shortcut=QKeySequence("Ctrl+Return"))
        self.sync_action.setToolTip("Sync the checked customers (Ctrl+Enter)")
        self.preview_action = QAction("Preview…", self, shortcut=QKeySequence("Ctrl+P"))
        self.refresh_action = QAction("Refresh", self, shortcut=QKeySequence("F5"))
        self.cancel_action = QAction("Cancel Sync", self, shortcut=QKeySequence("Ctrl+."))
        self.settings_action = QAction("Settings…", self, shortcut=QKeySequence("Ctrl+,"))
        for action in (self.sync_action, self.preview_action, self.refresh_action, self.cancel_action,
                       self.settings_action):
            toolbar.addAction(action)
        self.cancel_action.setEnabled(False)

        # -- customers
        self.customer_filter = QLineEdit(placeholderText="Filter customers…", clearButtonEnabled=True)
        self.select_all_button = QPushButton("&All")
        self.select_none_button = QPushButton("&None")
        self.customers_view = self._table(self.customers_proxy)
        self.customers_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.sync_button = QPushButton("&Sync Selected Customers")
        self.sync_button.setDefault(True)
        self.preview_button = QPushButton("&Preview…")
        customers_box = self.customers_box = QGroupBox("Customers with pending work")
        row = QHBoxLayout()
        row.addWidget(self.customer_filter, 1)
        row.addWidget(self.select_all_button)
        row.addWidget(self.select_none_button)
        buttons = QHBoxLayout()
        buttons.addWidget(self.preview_button)
        buttons.addStretch(1)
        buttons.addWidget(self.sync_button)
        layout = QVBoxLayout(customers_box)
        layout.addLayout(row)
        layout.addWidget(self.customers_view, 1)
        layout.addLayout(buttons)

        # -- batches
        self.overall = QProgressBar()
        self.overall.setFormat("No batch running")
        self.overall.setRange(0, 1)
        self.overall.setValue(0)
        self.batches_view = self._table(self.batches)
        self.batches_view.setItemDelegateForColumn(COL_PROGRESS, ProgressBarDelegate(self.batches_view))
        self.cancel_button = QPushButton("&Cancel")
        self.cancel_button.setEnabled(False)
        batches_box = QGroupBox("Batches")
        layout = QVBoxLayout(batches_box)
        top = QHBoxLayout()
        top.addWidget(self.overall, 1)
        top.addWidget(self.cancel_button)
        layout.addLayout(top)
        layout.addWidget(self.batches_view, 1)

        # -- failed rows
        self.error_customer = QComboBox()
        self.error_customer.addItem("All customers", None)
        self.error_type = QComboBox()
        self.error_type.addItem("All types", None)
        self.retryable_only = QCheckBox("Retryable only")
        self.show_resolved = QCheckBox("Show resolved")
        self.error_search = QLineEdit(placeholderText="Search messages, orders, POs…", clearButtonEnabled=True)
        self.retry_selected_button = QPushButton("Retry &Selected")
        self.retry_all_button = QPushButton("Retry All &Retryable")
        self.export_button = QPushButton("&Export CSV…")
        self.errors_view = self._table(self.errors_proxy)
        self.errors_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.retry_delegate = RetryButtonDelegate(self.errors_view)
        self.errors_view.setItemDelegateForColumn(COL_ACTION, self.retry_delegate)
        self.errors_view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.details = QPlainTextEdit(readOnly=True, placeholderText="Select a failed row to see its details.")
        errors_box = QGroupBox("Failed rows")
        layout = QVBoxLayout(errors_box)
        filters = QHBoxLayout()
        for widget in (self.error_customer, self.error_type, self.retryable_only, self.show_resolved):
            filters.addWidget(widget)
        filters.addWidget(self.error_search, 1)
        actions = QHBoxLayout()
        actions.addWidget(self.retry_selected_button)
        actions.addWidget(self.retry_all_button)
        actions.addStretch(1)
        actions.addWidget(self.export_button)
        self.errors_split = QSplitter(Qt.Orientation.Horizontal)
        self.errors_split.setObjectName("errors_split")
        self.errors_split.addWidget(self.errors_view)
        self.errors_split.addWidget(self.details)
        self.errors_split.setStretchFactor(0, 3)
        self.errors_split.setStretchFactor(1, 1)
        layout.addLayout(filters)
        layout.addWidget(self.errors_split, 1)
        layout.addLayout(actions)

        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.setObjectName("top_split")
        self.top_split.addWidget(customers_box)
        self.top_split.addWidget(batches_box)
        self.top_split.setStretchFactor(1, 2)
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.setObjectName("main_split")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(errors_box)
        self.setCentralWidget(self.main_split)

        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_file_label = QLabel(f"Log file: {log_file()}")
        self.log_file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_log_button = QPushButton("Open Log &Folder")
        log_pane = QWidget()
        layout = QVBoxLayout(log_pane)
        layout.setContentsMargins(4, 4, 4, 4)
        header = QHBoxLayout()
        header.addWidget(self.log_file_label, 1)
        header.addWidget(self.open_log_button)
        layout.addLayout(header)
        layout.addWidget(self.log_view, 1)
        dock = QDockWidget("Log", self)
        dock.setObjectName("log_dock")
        dock.setWidget(log_pane)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        dock.hide()
        toolbar.addAction(dock.toggleViewAction())
        self.about_action = QAction("About…", self, shortcut=QKeySequence("F1"))
        self.about_action.setToolTip("Version, settings file, database and log file (F1)")
        toolbar.addAction(self.about_action)

        status = self.statusBar()
        self.db_label = QLabel("Database: …")
        self.monday_label = QLabel("monday: not contacted yet")
        self.budget_label = QLabel("")
        self.error_label = QLabel("")
        self.error_label.setStyleSheet("color: #b00020")
        # Permanent widgets stay visible while a message is shown; they must leave it room.
        for widget in (self.db_label, self.monday_label, self.budget_label):
            status.addPermanentWidget(widget)
        self.error_label.setMaximumWidth(520)
        status.addPermanentWidget(self.error_label)

        self._size_columns()
        # Sorted by name from the start: ticking a box must not move the row under the mouse.
        self.customers_view.sortByColumn(CustomersModel.COL_CUSTOMER, Qt.SortOrder.AscendingOrder)
        self.errors_view.sortByColumn(ErrorsModel.COL_LAST, Qt.SortOrder.DescendingOrder)
        self.setTabOrder(self.customer_filter, self.customers_view)
        self.setTabOrder(self.customers_view, self.preview_button)
        self.setTabOrder(self.preview_button, self.sync_button)
        self.setTabOrder(self.sync_button, self.batches_view)
        self.setTabOrder(self.batches_view, self.error_search)
        self.setTabOrder(self.error_search, self.errors_view)

        self.batch_timer = QTimer(self, interval=BATCH_REFRESH_MS)
        self.list_timer = QTimer(self, interval=LIST_REFRESH_MS)
        self.coalesce_timer = QTimer(self, interval=COALESCE_MS)

    def _size_columns(self) -> None:
        """Readable first layout: names get the room, counts fit their figures, the message stretches."""
        header = self.customers_view.horizontalHeader()
        header.setSectionResizeMode(CustomersModel.COL_CHECK, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CustomersModel.COL_CUSTOMER, QHeaderView.ResizeMode.ResizeToContents)
        for column in (CustomersModel.COL_NEW, CustomersModel.COL_CHANGED, CustomersModel.COL_REMOVED,
                       CustomersModel.COL_INVALID):
            self.customers_view.setColumnWidth(column, 66)
        self.customers_view.setColumnWidth(CustomersModel.COL_ERRORS, 84)
        header.setStretchLastSection(True)
        header = self.batches_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(BatchesModel.COL_PROGRESS, QHeaderView.ResizeMode.Interactive)
        self.batches_view.setColumnWidth(BatchesModel.COL_PROGRESS, 160)
        # The error grid may hold 100,000 rows: fixed widths, never measured from the contents. The
        # Retry button comes first, so it is never scrolled out of sight; the message takes the rest.
        widths = {ErrorsModel.COL_ACTION: 64, ErrorsModel.COL_CUSTOMER: 130, ErrorsModel.COL_PO: 70,
                  ErrorsModel.COL_ORDER: 90, ErrorsModel.COL_SIZE: 50, ErrorsModel.COL_TYPE: 110,
                  ErrorsModel.COL_CODE: 150, ErrorsModel.COL_RETRYABLE: 75, ErrorsModel.COL_RETRIES: 55,
                  ErrorsModel.COL_LAST: 130, ErrorsModel.COL_MESSAGE: 300}
        for column, width in widths.items():
            self.errors_view.setColumnWidth(column, width)
        header = self.errors_view.horizontalHeader()
        header.moveSection(header.visualIndex(ErrorsModel.COL_ACTION), 0)
        header.moveSection(header.visualIndex(ErrorsModel.COL_MESSAGE), header.count() - 1)
        header.setStretchLastSection(True)
        self.customers_box.setMinimumWidth(520)
        self.top_split.setSizes([700, 700])
        self.main_split.setSizes([430, 430])
        self.errors_split.setSizes([1080, 300])

    @staticmethod
    def _table(model) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.setSortingEnabled(True)
        view.setAlternatingRowColors(True)
        view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        view.verticalHeader().hide()
        view.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        view.horizontalHeader().setStretchLastSection(True)
        view.setWordWrap(False)
        view.verticalHeader().setDefaultSectionSize(24)
        return view

    # == wiring =====================================================================================

    def _connect(self) -> None:
        self.sync_action.triggered.connect(self.sync_selected)
        self.sync_button.clicked.connect(self.sync_selected)
        self.preview_action.triggered.connect(self.preview_selected)
        self.preview_button.clicked.connect(self.preview_selected)
        self.refresh_action.triggered.connect(self.refresh_all)
        self.cancel_action.triggered.connect(self.cancel_sync)
        self.cancel_button.clicked.connect(self.cancel_sync)
        self.settings_action.triggered.connect(self.open_settings)
        self.about_action.triggered.connect(self.show_about)
        self.open_log_button.clicked.connect(open_log_folder)
        self.customer_filter.textChanged.connect(self.customers_proxy.set_search)
        self.select_all_button.clicked.connect(lambda: self.customers.set_all_checked(True))
        self.select_none_button.clicked.connect(lambda: self.customers.set_all_checked(False))
        self.customers.checkedChanged.connect(self._update_actions)
        self.error_customer.currentIndexChanged.connect(
            lambda: self.errors_proxy.set_customer(self.error_customer.currentData()))
        self.error_type.currentIndexChanged.connect(lambda: self.errors_proxy.set_error_type(self.error_type.currentData()))
        self.retryable_only.toggled.connect(self.errors_proxy.set_retryable_only)
        self.show_resolved.toggled.connect(self._toggle_resolved)
        self.error_search.textChanged.connect(self.errors_proxy.set_search)
        self.retry_delegate.retryRequested.connect(lambda ref: self.retry([ref]))
        self.retry_selected_button.clicked.connect(self.retry_selected)
        self.retry_all_button.clicked.connect(self.retry_all_retryable)
        self.export_button.clicked.connect(self.export_csv)
        self.errors_view.customContextMenuRequested.connect(self._errors_menu)
        self.errors_view.selectionModel().currentRowChanged.connect(self._show_details)
        self.batch_timer.timeout.connect(self.refresh_batches)
        self.list_timer.timeout.connect(self.refresh_lists)
        self.coalesce_timer.timeout.connect(self._coalesced)
        progress = self.bridge.progress
        progress.batchProgressed.connect(self._mark_batches_dirty)
        progress.batchStarted.connect(self._mark_batches_dirty)
        progress.batchFinished.connect(self._batch_finished)
        self.bridge.syncStarted.connect(self._sync_started)
        self.bridge.syncFinished.connect(self._sync_finished)
        self.bridge.failed.connect(self._task_failed)
        self.bridge.budgetChanged.connect(self._budget)
        self.batch_timer.start()
        self.list_timer.start()
        self.coalesce_timer.start()

    # == refresh ====================================================================================

    def refresh_all(self) -> None:
        self.refresh_lists()
        self.refresh_batches()

    def refresh_lists(self) -> None:
        self._refresh("customers", self.bridge.pending, self._set_customers)
        self._refresh("errors", lambda: self.bridge.errors(self.show_resolved.isChecked()), self._set_errors)

    def refresh_batches(self) -> None:
        self._refresh("batches", self.bridge.batches, self._set_batches)

    def _refresh(self, name: str, fetch, apply) -> None:
        """At most one read of each kind in flight; its result lands in the model on the GUI thread."""
        if name in self._refreshing:
            return
        self._refreshing.add(name)

        async def run():
            try:
                apply(await fetch())
                self.db_label.setText("Database: connected")
            finally:
                self._refreshing.discard(name)

        self.bridge.tasks.start(f"refresh:{name}", run)

    def _set_customers(self, rows: list[dict]) -> None:
        pending = [r for r in rows if r["new"] or r["changed"] or r["removed"] or r["invalid"] or r["open_errors"]]
        self.customers.set_rows(pending)
        self._update_actions()

    def _set_errors(self, rows: list[dict]) -> None:
        self.errors.set_rows(rows)
        self._fill_combo(self.error_customer, "All customers", sorted({r["customer"] for r in rows}))
        self._fill_combo(self.error_type, "All types", sorted({r["error_type"] for r in rows}))
        self._update_actions()

    @staticmethod
    def _fill_combo(combo: QComboBox, everything: str, values: list[str]) -> None:
        current = combo.currentData()
        existing = [combo.itemData(i) for i in range(1, combo.count())]
        if existing == values:
            return
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(everything, None)
        for value in values:
            combo.addItem(value or "(blank)", value)
        index = combo.findData(current)
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def _set_batches(self, rows: list[dict]) -> None:
        self.batches.set_rows(rows)
        done, total = self.batches.overall()
        self.overall.setRange(0, max(total, 1))
        self.overall.setValue(done if total else 0)
        self.overall.setFormat("Running batches: %p%  (%v of %m rows)" if total else "No batch running")
        # Any active batch can be cancelled: this window's, another workstation's or a scheduled run's.
        self.cancel_button.setEnabled(self.bridge.syncing or bool(self.batches.active()))
        self.cancel_action.setEnabled(self.cancel_button.isEnabled())

    def _mark_batches_dirty(self, *args) -> None:
        self._batches_dirty = True

    def _coalesced(self) -> None:
        """Progress signals arrive per request; the screen follows at most four times a second."""
        if self._batches_dirty:
            self._batches_dirty = False
            self.refresh_batches()

    # == actions ====================================================================================

    def _update_actions(self) -> None:
        chosen = bool(self.customers.checked())
        busy = self.bridge.syncing
        for widget in (self.sync_button, self.sync_action, self.preview_button, self.preview_action):
            widget.setEnabled(chosen and not busy)
        self.retry_all_button.setEnabled(not busy and self.errors.rowCount() > 0)
        self.retry_selected_button.setEnabled(not busy)

    def sync_selected(self) -> None:
        customers = self.customers.checked()
        if not customers or self.bridge.syncing:
            return
        self.bridge.sync(customers)

    def preview_selected(self) -> None:
        customers = self.customers.checked()
        if not customers:
            return
        dialog = PreviewDialog(self.bridge, customers, self)
        dialog.syncRequested.connect(self.bridge.sync)
        dialog.open()
        self.preview_dialog = dialog

    def cancel_sync(self) -> None:
        """Stop this window's sync, and the selected active batches (all active ones when none is selected).

        Another workstation's or a scheduled run's batch is asked through the database: its owner
        stops after the request in flight, and the batch resumes on the next sync of the customer.
        """
        selected = [index.row() for index in self.batches_view.selectionModel().selectedRows()]
        targets = self.batches.active(selected or None)
        others = [batch_id for batch_id, mine in targets if not mine]
        if self.bridge.syncing:
            self.bridge.cancel()
        if others:
            self.bridge.tasks.start("cancel:" + ",".join(map(str, others)),
                                    lambda: self.bridge.request_cancel(others))
        what = f"batches {', '.join(map(str, others))}" if others else "the sync"
        self.statusBar().showMessage(f"Cancelling {what} after the request in flight…", 5000)

    def retry(self, refs: list[str]) -> None:
        if not refs:
            return
        if self.bridge.syncing:  # one run at a time: a second would share the client and the cancel
            self.statusBar().showMessage("A sync is running; retry when it has finished.", 5000)
            return
        self.bridge.retry(refs)

    def selected_refs(self) -> list[str]:
        """Refs of the selected rows, read through the proxy's key role — never by view row."""
        rows = self.errors_view.selectionModel().selectedRows()
        return [self.errors_proxy.ref_at(index) for index in rows]

    def retry_selected(self) -> None:
        self.retry(self.selected_refs())

    def retry_all_retryable(self) -> None:
        from gui.models import RetryableRole

        model = self.errors
        refs = [self.errors_proxy.ref_at(self.errors_proxy.mapFromSource(model.index(row, 0)))
                for row in range(model.rowCount()) if model.index(row, 0).data(RetryableRole)]
        self.retry([r for r in refs if r])

    def _errors_menu(self, pos) -> None:
        index = self.errors_view.indexAt(pos)
        if not index.isValid():
            return
        ref = self.errors_proxy.ref_at(index)
        menu = QMenu(self)
        action = menu.addAction(f"Retry {ref}")
        action.triggered.connect(lambda: self.retry([ref]))
        menu.addAction("Copy message").triggered.connect(
            lambda: self._copy(index.siblingAtColumn(0).data(RowRole)["message"]))
        menu.popup(self.errors_view.viewport().mapToGlobal(pos))

    @staticmethod
    def _copy(text: str) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(text)

    def _show_details(self, current, _previous) -> None:
        if not current.isValid():
            self.details.clear()
            return
        row = current.siblingAtColumn(0).data(RowRole) or {}
        lines = [f"{row.get('ref')} · {row.get('level')} · {row.get('error_type')}"
                 f"{' · ' + row['error_code'] if row.get('error_code') else ''}",
                 f"Customer: {row.get('customer')}   Order: {row.get('order_number') or '—'}   "
                 f"PO: {row.get('po_number') or '—'}   Size: {row.get('size_label') or '—'}",
                 f"Line: {row.get('sync_key') or row.get('parent_sync_key') or '—'}",
                 f"Retryable: {'yes' if row.get('retryable') else 'no'}   Retries: {row.get('retry_count')}   "
                 f"Last attempt: {row.get('last_failed_at')}",
                 "", "Message:", row.get("message") or "", "", "Payload sent:", _pretty(row.get("payload_json")),
                 "", "Source values:", _pretty(row.get("source_json"))]
        if row.get("resolved_at"):
            lines[1:1] = [f"Resolved {row['resolved_at']} by {row.get('resolved_by')}: {row.get('resolution')}"]
        self.details.setPlainText("\n".join(lines))
        key = row.get("sync_key") or row.get("parent_sync_key")
        if not row.get("source_json") and key:
            # The line as ORDERS_UNIFIED holds it now, read off the GUI thread.
            ref = row.get("ref")

            async def fetch_source():
                values = await self.bridge.source_values(key, row.get("customer"))
                current = self.errors_view.currentIndex()
                if current.isValid() and (current.siblingAtColumn(0).data(RowRole) or {}).get("ref") == ref:
                    text = self.details.toPlainText().replace(
                        "Source values:\n—", "Source values (now, in ORDERS_UNIFIED):\n"
                        + (json.dumps(values, indent=2, ensure_ascii=False, default=str) if values
                           else "the line is no longer in ORDERS_UNIFIED"))
                    self.details.setPlainText(text)

            self.bridge.tasks.start(f"source:{ref}", fetch_source)

    def _toggle_resolved(self, show: bool) -> None:
        self.errors_proxy.set_show_resolved(show)
        self.refresh_lists()

    def export_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export failed rows", "failed-rows.csv", "CSV files (*.csv)")
        if path:
            self.write_csv(Path(path))

    def write_csv(self, path: Path) -> int:
        """The rows as the grid shows them (sorted and filtered), all columns."""
        proxy = self.errors_proxy
        columns = [c for c in range(proxy.columnCount()) if c != COL_ACTION]
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["ID"] + [proxy.headerData(c, Qt.Orientation.Horizontal) for c in columns])
            for row in range(proxy.rowCount()):
                writer.writerow([proxy.ref_at(proxy.index(row, 0))]
                                + [proxy.index(row, c).data() for c in columns])
        return proxy.rowCount()

    def open_settings(self) -> None:
        from gui.settings_dialog import SettingsDialog

        if self.settings_path is None:
            QMessageBox.information(self, "Settings", "This window runs on the demo; its settings are built in.")
            return
        dialog = SettingsDialog(self.settings_path, self)
        dialog.saved.connect(lambda _path: self.statusBar().showMessage(
            "Settings saved; restart OrderSync to use the new database or board.", 10_000))
        dialog.open()
        self.settings_dialog = dialog

    # == events from the engine =====================================================================

    def _sync_started(self) -> None:
        self.cancel_button.setEnabled(True)
        self.cancel_action.setEnabled(True)
        self.error_label.clear()
        self.monday_label.setText("monday: syncing…")
        self._update_actions()

    def _batch_finished(self, result) -> None:
        self._batches_dirty = True
        self.statusBar().showMessage(f"{result.customer}: {result.status.replace('_', ' ').lower()} — "
                                     f"{result.summary()}", 10_000)

    def _sync_finished(self, results: list) -> None:
        self.monday_label.setText("monday: connected" if results else self.monday_label.text())
        self.refresh_all()
        self._update_actions()

    def _task_failed(self, name: str, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setToolTip(message)
        if name.startswith(("sync", "retry")):
            self.monday_label.setText("monday: last sync failed")
        if name.startswith("refresh"):
            self.db_label.setText("Database: unreachable")
        self._update_actions()

    def _budget(self, left, limit) -> None:
        if left is None:
            self.budget_label.setText("")
        else:
            limit_text = f" of {limit / 1e6:.1f}M" if limit else ""
            self.budget_label.setText(f"Complexity budget left: {left / 1e6:.2f}M{limit_text}")

    # == state ======================================================================================

    def _restore_state(self) -> None:
        settings = QSettings("OrderSync", "OrderSync")
        geometry = settings.value("window/geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1400, 860)
        state = settings.value("window/state")
        if state is not None:
            self.restoreState(state)
        for splitter in (self.top_split, self.main_split, self.errors_split):
            value = settings.value(f"splitters/{splitter.objectName()}")
            if value is not None:
                splitter.restoreState(value)

    def show_about(self) -> None:
        """Version and every place OrderSync reads or writes: what a support call asks first."""
        ctx = self.bridge.ctx
        settings = ctx.settings
        box = QMessageBox(QMessageBox.Icon.Information, "About OrderSync", f"OrderSync {__version__}", parent=self)
        box.setObjectName("about_dialog")
        box.setInformativeText(
            f"Settings file: {settings.path or '(none: built-in defaults)'}\n"
            f"Database: {redact_url(str(ctx.engine.url))}\n"
            f"monday: {settings['monday.api_url']}, board {ctx.board_id or '(not set)'}\n"
            f"Log file: {log_file()}")
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        exec_with_log_folder(box)

    def closeEvent(self, event) -> None:
        if self.bridge.syncing:
            answer = QMessageBox.question(
                self, "Sync running", "A sync is running. Cancel it after the request in flight and quit?")
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.bridge.cancel()
        settings = QSettings("OrderSync", "OrderSync")
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        for splitter in (self.top_split, self.main_split, self.errors_split):
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        for timer in (self.batch_timer, self.list_timer, self.coalesce_timer):
            timer.stop()
        logging.getLogger().removeHandler(self.log_handler)
        super().closeEvent(event)


def _pretty(text: str | None) -> str:
    if not text:
        return "—"
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text

