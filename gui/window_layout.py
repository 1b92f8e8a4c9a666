"""The layout of the operator window: its toolbar, the customers, batches and failed-lines panes, the log
dock and the status bar, with the first column widths.

``WindowLayout`` is a part of ``MainWindow`` (which inherits it and creates the models it shows); what it
shares with the other part is declared on ``WindowBase`` (gui/window_base.py).
"""

from __future__ import annotations

from itertools import pairwise

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDockWidget,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QTableView,
    QToolBar,
    QVBoxLayout,
)

from gui.customers_pane import CustomersPane
from gui.decisions_pane import DecisionsPane
from gui.delegates import ProgressBarDelegate
from gui.failures_pane import FailuresPane
from gui.log_pane import LogPane
from gui.look import STUCK, EmptyState, icon
from gui.mnemonics import SHORTCUT, TEXT
from gui.models import COL_PROGRESS
from gui.run_panel import ForecastLabel, RunPanel, arrange_batches_view
from gui.window_base import WindowBase

BATCH_REFRESH_MS = 1000
LIST_REFRESH_MS = 30_000
COALESCE_MS = 250


class WindowLayout(WindowBase):
    """The widgets of ``MainWindow`` (a QMainWindow), built once by ``_build``."""

    def _build(self) -> None:
        toolbar = QToolBar("Actions", self)
        toolbar.setObjectName("actions")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.addToolBar(toolbar)
        # Sync and Preview are the customers pane's buttons; their actions carry the shortcuts.
        self.sync_action = self._action("Sync Ticked Customers", "sync", "Sync the ticked customers")
        self.preview_action = self._action("Preview…", "preview", "What a sync of the ticked customers would send")
        self.refresh_action = self._action("Refresh", "refresh", "Read the customers, batches and failed lines again")
        self.cancel_action = self._action("Cancel Sync", "cancel", "Stop the sync after the request in flight")
        self.check_action = self._action(
            TEXT["check_board"], "check_board", "Read the board and list what people changed there; changes nothing"
        )
        self.settings_action = self._action("Settings…", "settings", "Database, monday board, API token and mapping")
        self.addActions([self.sync_action, self.preview_action])
        for action in (self.refresh_action, self.cancel_action, self.check_action, self.settings_action):
            toolbar.addAction(action)
        self.cancel_action.setEnabled(False)

        # -- customers: gui/customers_pane.py (the names below are kept for the tests and the benchmark)
        pane = self.customers_pane = CustomersPane(self.customers, self.customers_proxy)
        self.customer_filter, self.customers_view = pane.customer_filter, pane.view
        self.select_all_button, self.select_none_button = pane.tick_shown_button, pane.untick_button
        self.sync_button, self.preview_button = pane.sync_button, pane.preview_button
        self.forecast_label = ForecastLabel()  # the forecast of the ticked customers (gui/run_panel.py)
        pane.place_under_sync(self.forecast_label)

        # -- batches
        self.run_panel = RunPanel()  # the whole run at a glance (gui/run_panel.py)
        self.batches_view = self._table(self.batches)
        self.batches_view.setItemDelegateForColumn(COL_PROGRESS, ProgressBarDelegate(self.batches_view))
        self.batches_empty = EmptyState(self.batches_view, "No batches yet. Tick customers and press Sync.")
        # Right click or the menu key on a batch: what it changed on the board (gui/history_view.py).
        self.batch_history_action = QAction(TEXT["batch_history"], self.batches_view)
        self.batch_history_action.setToolTip("What the selected batch changed on the board, cell by cell")
        self.batches_view.addAction(self.batch_history_action)
        self.undo_batch_action = QAction(TEXT["undo_batch"], self.batches_view)  # gui/undo_dialog.py
        self.undo_batch_action.setToolTip("Take back what the selected batch changed on the board, after a preview")
        self.batches_view.addAction(self.undo_batch_action)
        self.batches_view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        self.cancel_button = QPushButton(icon("cancel"), TEXT["cancel"])
        self.cancel_button.setEnabled(False)
        batches_box = QGroupBox("Batches")
        layout = QVBoxLayout(batches_box)
        top = QHBoxLayout()
        top.addWidget(self.run_panel, 1)
        top.addWidget(self.cancel_button)
        layout.addLayout(top)
        layout.addWidget(self.batches_view, 1)

        # -- failed lines: a pane of its own (gui/failures_pane.py)
        self.failures = FailuresPane(self.bridge)
        self.decisions = DecisionsPane(self.bridge)  # hidden until a cell waits (gui/decisions_pane.py)

        self.top_split = QSplitter(Qt.Orientation.Horizontal)
        self.top_split.setObjectName("top_split")
        self.top_split.addWidget(self.customers_pane)
        self.top_split.addWidget(batches_box)
        # A smaller window shrinks both panes alike: the batches keep their key columns in sight.
        self.top_split.setStretchFactor(0, 1)
        self.top_split.setStretchFactor(1, 1)
        self.main_split = QSplitter(Qt.Orientation.Vertical)
        self.main_split.setObjectName("main_split")
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.decisions)
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
        log_action = dock.toggleViewAction()
        log_action.setIcon(icon("log"))
        log_action.setToolTip("Show the log lines of this window")
        toolbar.addAction(log_action)
        self.about_action = self._action("About…", "about", "Version, settings file, database and log file")
        toolbar.addAction(self.about_action)

        status = self.statusBar()
        self.db_label = QLabel("Database: …")
        self.monday_label = QLabel("monday: not contacted yet")
        self.budget_label = QLabel("")
        self.error_label = QLabel("")
        self.error_label.setStyleSheet(f"color: {STUCK}")  # monday's red
        # Permanent widgets stay visible while a message is shown; they must leave it room.
        for label in (self.db_label, self.monday_label, self.budget_label):
            status.addPermanentWidget(label)
        self.error_label.setMaximumWidth(520)
        status.addPermanentWidget(self.error_label)

        self._size_columns()
        self._tab_order()

        self.batch_timer = QTimer(self, interval=BATCH_REFRESH_MS)
        self.list_timer = QTimer(self, interval=LIST_REFRESH_MS)
        self.coalesce_timer = QTimer(self, interval=COALESCE_MS)

    def _action(self, text: str, name: str, tip: str) -> QAction:
        """A window action with its icon, its shortcut (gui/mnemonics.py) and a tooltip naming it."""
        shortcut = SHORTCUT.get(name)
        action = QAction(icon(name), text, self)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            tip = f"{tip} ({QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)})"
        action.setToolTip(tip)
        return action

    def _tab_order(self) -> None:
        """Tab and Shift+Tab go from pane to pane: the customers pane, the batches, the failed lines.
        Tables never trap Tab (``setTabKeyNavigation(False)``); the arrows move within them."""
        chain = [
            *self.customers_pane.focus_chain(),
            self.cancel_button,
            self.batches_view,
            *self.decisions.focus_chain(),
            self.failures.error_customer,  # the failures pane orders its own widgets from there
        ]
        for first, second in pairwise(chain):
            self.setTabOrder(first, second)

    def _size_columns(self) -> None:
        """Readable first layout: counts fit their figures, the message stretches."""
        arrange_batches_view(self.batches_view)
        self.top_split.setSizes([700, 700])
        self.main_split.setSizes([400, 160, 460])  # the failed lines get a little more: cards and lines

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
        view.setTabKeyNavigation(False)  # Tab leaves the table for the next pane; the arrows move inside
        view.verticalHeader().setDefaultSectionSize(24)
        return view
