"""The operator window: customers with pending work, live batches, failed lines grouped by cause (gui/failures_pane.py).

Everything the window shows is read off the GUI thread through the bridge; the models receive
plain rows and emit targeted changes. Batches are read from MON_BatchProcessing on a timer, so
batches of other workstations and of scheduled headless runs show up too.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from core import __version__
from core.db.engine import redact_url
from core.foundation.logs import log_file
from gui.bridge import EngineBridge
from gui.diagnostics import exec_with_log_folder
from gui.log_pane import QtLogHandler
from gui.look import apply_look
from gui.models import BatchesModel, CustomersFilterProxy, CustomersModel
from gui.run_panel import budget_text
from gui.window_actions import WindowActions
from gui.window_layout import WindowLayout
from gui.window_title import database_label, read_board_name, window_title

log = logging.getLogger(__name__)


class MainWindow(WindowLayout, WindowActions):
    """The window: its models, wiring, refreshes and state. Its widgets are built by ``WindowLayout``
    (gui/window_layout.py) and its commands are in ``WindowActions`` (gui/window_actions.py)."""

    def __init__(self, bridge: EngineBridge, settings_path: Path | None = None):
        super().__init__()
        self.bridge = bridge
        self.settings_path = settings_path
        ctx = bridge.ctx
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_look(app)
        self.database_label = database_label(ctx.engine.url)
        self.board_name: str | None = None
        self.setWindowTitle(window_title(None, ctx.board_id, self.database_label))
        self.customers = CustomersModel(self)
        self.customers_proxy = CustomersFilterProxy(self)
        self.customers_proxy.setSourceModel(self.customers)
        self.batches = BatchesModel(self)
        self._batches_dirty = False
        self._refreshing: set[str] = set()
        self._build()
        self._connect()
        self._restore_state()
        self.log_handler = QtLogHandler()
        self.log_handler.signal.line.connect(self.log_view.appendPlainText)
        logging.getLogger().addHandler(self.log_handler)
        self.refresh_all()
        self.read_board_name()

    # == wiring =====================================================================================

    def _connect(self) -> None:
        self.sync_action.triggered.connect(self.sync_selected)
        self.sync_button.clicked.connect(self.sync_selected)
        self.preview_action.triggered.connect(self.preview_selected)
        self.preview_button.clicked.connect(self.preview_selected)
        self.refresh_action.triggered.connect(self.refresh_all)
        self.cancel_action.triggered.connect(self.cancel_sync)
        self.cancel_button.clicked.connect(self.cancel_sync)
        self.check_action.triggered.connect(self.check_board)
        self.batch_history_action.triggered.connect(self.show_batch_history)
        self.undo_batch_action.triggered.connect(self.undo_batch)
        self.bridge.checkingChanged.connect(lambda _checking: self._update_actions())
        self.settings_action.triggered.connect(self.open_settings)
        self.about_action.triggered.connect(self.show_about)
        self.customers.checkedChanged.connect(self._update_actions)
        self.failures.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.decisions.message.connect(lambda text: self.statusBar().showMessage(text, 10_000))
        self.decisions.decided.connect(lambda: self._refresh("customers", self.bridge.pending, self._set_customers))
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
        self.run_panel.follow(self.bridge)
        self.forecast_label.follow(self.bridge, self.customers)
        self.batch_timer.start()
        self.list_timer.start()
        self.coalesce_timer.start()

    # == refresh ====================================================================================

    def refresh_all(self) -> None:
        self.refresh_lists()
        self.refresh_batches()

    def refresh_lists(self) -> None:
        self._refresh("customers", self.bridge.pending, self._set_customers)
        self.failures.refresh()
        self.decisions.refresh()

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

    def read_board_name(self) -> None:
        """Name the board in the title by its name, read from monday off the GUI thread; a failure
        leaves the board's number there (the sync reports what is wrong with monday)."""
        if not self.bridge.ctx.board_id:
            return

        async def run() -> None:
            try:
                name = await self.bridge.call(read_board_name, self.bridge.ctx)
            except Exception as exc:  # noqa: BLE001 - the title keeps the board's number
                log.info("the board's name could not be read for the title: %s", exc)
                return
            self.board_name = name
            self.setWindowTitle(window_title(name, self.bridge.ctx.board_id, self.database_label))

        self.bridge.tasks.start("board-name", run)

    def _set_customers(self, rows: list[dict]) -> None:
        # Every customer: those with nothing pending stay listable ("Show all customers") with their last sync.
        self.customers_pane.set_rows(rows)
        self._update_actions()

    def _set_batches(self, rows: list[dict]) -> None:
        self.batches.set_rows(rows)
        self.run_panel.batches_read(rows)
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

    # == events from the engine =====================================================================

    def _sync_started(self) -> None:
        self.cancel_button.setEnabled(True)
        self.cancel_action.setEnabled(True)
        self.error_label.clear()
        self.monday_label.setText("monday: syncing…")
        self._update_actions()

    def _batch_finished(self, result) -> None:
        # The run header (gui/run_panel.py) says how each customer and the run ended, and keeps saying it.
        self._batches_dirty = True

    def _sync_finished(self, results: list) -> None:
        self.monday_label.setText("monday: connected" if results else self.monday_label.text())
        if self.statusBar().currentMessage().startswith("Cancelling"):
            self.statusBar().clearMessage()  # done cancelling: the run header says how the run ended
        self.refresh_all()
        self._update_actions()
        # The run's task ends just after this signal: what waits for it (Check the board) follows once it has.
        QTimer.singleShot(0, self._update_actions)

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
            self.budget_label.setText(budget_text(left, limit))

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
        for splitter in (self.top_split, self.main_split, self.failures.errors_split):
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
            f"Log file: {log_file()}"
        )
        box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        exec_with_log_folder(box)

    def closeEvent(self, event) -> None:
        if self.bridge.syncing:
            answer = QMessageBox.question(
                self, "Sync running", "A sync is running. Cancel it after the request in flight and quit?"
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.bridge.cancel()
        settings = QSettings("OrderSync", "OrderSync")
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState())
        for splitter in (self.top_split, self.main_split, self.failures.errors_split):
            settings.setValue(f"splitters/{splitter.objectName()}", splitter.saveState())
        for timer in (self.batch_timer, self.list_timer, self.coalesce_timer):
            timer.stop()
        logging.getLogger().removeHandler(self.log_handler)
        super().closeEvent(event)
