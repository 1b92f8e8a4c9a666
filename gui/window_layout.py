"""The layout of the operator window: its toolbar, the customers, batches and failed-lines panes, the log
dock and the status bar, with the first column widths.

``WindowLayout`` is a part of ``MainWindow`` (which inherits it and creates the models it shows); what it
shares with the other part is declared on ``WindowBase`` (gui/window_base.py).
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTableView,
    QToolBar,
    QVBoxLayout,
)

from gui.delegates import ProgressBarDelegate
from gui.failures_pane import FailuresPane
from gui.log_pane import LogPane
from gui.models import COL_PROGRESS, BatchesModel, CustomersModel
from gui.window_base import WindowBase

BATCH_REFRESH_MS = 1000
LIST_REFRESH_MS = 30_000
COALESCE_MS = 250


class WindowLayout(WindowBase):
    """The widgets of ``MainWindow`` (a QMainWindow), built once by ``_build``."""

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
        for action in (
            self.sync_action,
            self.preview_action,
            self.refresh_action,
            self.cancel_action,
            self.settings_action,
        ):
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

        # -- failed lines: a pane of its own (gui/failures_pane.py)
        self.failures = FailuresPane(self.bridge)

        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.setObjectName("top_split")
        self.top_split.addWidget(customers_box)
        self.top_split.addWidget(batches_box)
        self.top_split.setStretchFactor(1, 2)
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.setObjectName("main_split")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.failures)
        self.setCentralWidget(self.main_split)

        log_pane = LogPane()
        self.log_view = log_pane.log_view
        self.log_file_label = log_pane.log_file_label
        self.open_log_button = log_pane.open_log_button
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
        for label in (self.db_label, self.monday_label, self.budget_label):
            status.addPermanentWidget(label)
        self.error_label.setMaximumWidth(520)
        status.addPermanentWidget(self.error_label)

        self._size_columns()
        # Sorted by name from the start: ticking a box must not move the row under the mouse.
        self.customers_view.sortByColumn(CustomersModel.COL_CUSTOMER, Qt.SortOrder.AscendingOrder)
        self.setTabOrder(self.customer_filter, self.customers_view)
        self.setTabOrder(self.customers_view, self.preview_button)
        self.setTabOrder(self.preview_button, self.sync_button)
        self.setTabOrder(self.sync_button, self.batches_view)
        self.setTabOrder(self.batches_view, self.failures.error_search)

        self.batch_timer = QTimer(self, interval=BATCH_REFRESH_MS)
        self.list_timer = QTimer(self, interval=LIST_REFRESH_MS)
        self.coalesce_timer = QTimer(self, interval=COALESCE_MS)

    def _size_columns(self) -> None:
        """Readable first layout: names get the room, counts fit their figures, the message stretches."""
        header = self.customers_view.horizontalHeader()
        header.setSectionResizeMode(CustomersModel.COL_CHECK, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(CustomersModel.COL_CUSTOMER, QHeaderView.ResizeMode.ResizeToContents)
        for column in (
            CustomersModel.COL_NEW,
            CustomersModel.COL_CHANGED,
            CustomersModel.COL_REMOVED,
            CustomersModel.COL_INVALID,
        ):
            self.customers_view.setColumnWidth(column, 66)
        self.customers_view.setColumnWidth(CustomersModel.COL_ERRORS, 84)
        header.setStretchLastSection(True)
        header = self.batches_view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(BatchesModel.COL_PROGRESS, QHeaderView.ResizeMode.Interactive)
        self.batches_view.setColumnWidth(BatchesModel.COL_PROGRESS, 160)
        self.customers_box.setMinimumWidth(520)
        self.top_split.setSizes([700, 700])
        self.main_split.setSizes([430, 430])

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
