"""What the parts of the operator window share, declared once with their types.

``MainWindow`` (gui/main_window.py) is built from two parts: ``WindowLayout`` builds its widgets and
``WindowActions`` holds its commands. Each part uses what the window or the other part sets up; this
base declares those attributes, so each module reads (and is type-checked) on its own.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QPushButton, QTableView

from gui.bridge import EngineBridge
from gui.customers_pane import CustomersPane
from gui.failures_pane import FailuresPane
from gui.models import BatchesModel, CustomersFilterProxy, CustomersModel


class WindowBase(QMainWindow):
    """The attributes ``MainWindow`` and its parts hand to each other (a QMainWindow)."""

    # -- set by MainWindow.__init__ before the widgets are built
    bridge: EngineBridge
    settings_path: Path | None
    customers: CustomersModel
    customers_proxy: CustomersFilterProxy
    batches: BatchesModel

    # -- built by WindowLayout._build, used by WindowActions
    customers_pane: CustomersPane
    sync_action: QAction
    preview_action: QAction
    check_action: QAction
    batch_history_action: QAction
    undo_batch_action: QAction
    sync_button: QPushButton
    preview_button: QPushButton
    batches_view: QTableView
    failures: FailuresPane

    def refresh_lists(self) -> None:
        """Re-read the customers and the failed rows (MainWindow's refresh)."""
        raise NotImplementedError
