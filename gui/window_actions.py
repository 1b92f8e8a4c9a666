"""What the operator window's buttons, menus and shortcuts do: sync, preview, cancel, retry, export, settings.

``WindowActions`` is a part of ``MainWindow`` (which inherits it and owns the widgets and models it uses);
those are declared with their types on ``WindowBase`` (gui/window_base.py).
"""

from __future__ import annotations

import csv
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QMenu, QMessageBox

from gui.models import COL_ACTION, RetryableRole, RowRole
from gui.preview import PreviewDialog
from gui.window_base import WindowBase


class WindowActions(WindowBase):
    """The operator's commands, on the widgets and models ``MainWindow`` builds."""

    def _update_actions(self) -> None:
        chosen = bool(self.customers.checked())
        busy = self.bridge.syncing
        self.customers_pane.set_busy(busy)  # the pane's Sync and Preview buttons, their counts and tooltips
        for action in (self.sync_action, self.preview_action):
            action.setEnabled(chosen and not busy)
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
            self.bridge.tasks.start("cancel:" + ",".join(map(str, others)), lambda: self.bridge.request_cancel(others))
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
        model = self.errors
        refs = [
            self.errors_proxy.ref_at(self.errors_proxy.mapFromSource(model.index(row, 0)))
            for row in range(model.rowCount())
            if model.index(row, 0).data(RetryableRole)
        ]
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
            lambda: self._copy(index.siblingAtColumn(0).data(RowRole)["message"])
        )
        menu.popup(self.errors_view.viewport().mapToGlobal(pos))

    @staticmethod
    def _copy(text: str) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(text)

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
                writer.writerow([proxy.ref_at(proxy.index(row, 0))] + [proxy.index(row, c).data() for c in columns])
        return proxy.rowCount()

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
