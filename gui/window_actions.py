"""What the operator window's buttons, menus and shortcuts do: sync, preview, check the board, cancel, retry,
export, settings.

``WindowActions`` is a part of ``MainWindow`` (which inherits it and owns the widgets and models it uses);
those are declared with their types on ``WindowBase`` (gui/window_base.py).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from gui.drift_dialog import DriftDialog
from gui.history_view import HistoryDialog
from gui.models import KeyRole
from gui.preview import PreviewDialog
from gui.undo_dialog import UndoDialog
from gui.window_base import WindowBase


class WindowActions(WindowBase):
    """The operator's commands, on the widgets and models ``MainWindow`` builds."""

    def _update_actions(self) -> None:
        chosen = bool(self.customers.checked())
        busy = self.bridge.busy  # a sync, a retry or a check of the board: one at a time
        self.customers_pane.set_busy(busy)  # the pane's Sync and Preview buttons, their counts and tooltips
        for action in (self.sync_action, self.preview_action):
            action.setEnabled(chosen and not busy)
        self.check_action.setEnabled(not busy)
        self.failures.set_busy(busy)

    def sync_selected(self) -> None:
        customers = self.customers.checked()
        if not customers or self.bridge.busy:
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

    def check_board(self) -> None:
        """The drift check of the board: its forecast, then (on Check) the check, then the findings."""
        if self.bridge.busy:
            self.statusBar().showMessage("A sync or a check of the board is running; check when it has finished.", 5000)
            return
        dialog = DriftDialog(self.bridge, self)
        dialog.open()
        self.drift_dialog = dialog

    def show_batch_history(self) -> None:
        """What the selected (or current) batch changed on the board, from the audit trail."""
        selected = self.batches_view.selectionModel().selectedRows()
        index = selected[0] if selected else self.batches_view.currentIndex()
        if not index.isValid():
            self.statusBar().showMessage("Select a batch to see what it changed on the board.", 5000)
            return
        batch_id = self.batches.index(index.row(), 0).data(KeyRole)
        customer = self.batches.index(index.row(), self.batches.COL_CUSTOMER).data()
        dialog = HistoryDialog(self.bridge, int(batch_id), str(customer or ""), self)
        dialog.open()
        self.history_dialog = dialog

    def undo_batch(self) -> None:
        """The undo of the selected (or current) batch: its preview, then (on Undo) the undo as a run."""
        selected = self.batches_view.selectionModel().selectedRows()
        index = selected[0] if selected else self.batches_view.currentIndex()
        if not index.isValid():
            self.statusBar().showMessage("Select a batch to undo it.", 5000)
            return
        dialog = UndoDialog(self.bridge, int(self.batches.index(index.row(), 0).data(KeyRole)), self)
        dialog.open()
        self.undo_dialog = dialog

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
            self.bridge.tasks.start("cancel:" + ",".join(map(str, others)), lambda: self.bridge.request_cancel(others))
        what = f"batches {', '.join(map(str, others))}" if others else "the sync"
        self.statusBar().showMessage(f"Cancelling {what} after the request in flight…", 5000)

    def retry(self, refs: list[str]) -> None:
        """Retry the failed rows ``refs`` (the failures pane shows the result)."""
        self.failures.retry(refs)

    def write_csv(self, path: Path) -> int:
        """The failed rows as the flat list shows them (sorted and filtered), all columns."""
        return self.failures.write_csv(path)

    def open_settings(self) -> None:
        from gui.settings_dialog import SettingsDialog

        if self.settings_path is None:
            QMessageBox.information(self, "Settings", "This window runs on the demo; its settings are built in.")
            return
        dialog = SettingsDialog(self.settings_path, self)
        dialog.saved.connect(
            lambda _path: self.statusBar().showMessage(
                "Settings saved; restart OrderSync to use the new database or board.", 10_000
            )
        )
        dialog.open()
        self.settings_dialog = dialog
