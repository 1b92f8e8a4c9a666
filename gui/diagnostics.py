"""Where the window sends a planner (or whoever they call) to find out what happened: the log.

The crash dialog, the log pane and the About box all point at the same log file and open its
folder the same way: through Qt's desktop services, so Explorer, Finder or the file manager shows it.
"""

from __future__ import annotations

import logging
import traceback

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox, QWidget

from core.foundation.logs import log_dir, log_file

log = logging.getLogger(__name__)


def open_log_folder() -> bool:
    """Show the log folder in the system's file manager; False when it could not be opened."""
    folder = log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    opened = QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))
    if not opened:
        log.warning("could not open the log folder %s", folder)
    return opened


def show_crash_dialog(exc_type, exc, tb, parent: QWidget | None = None) -> None:
    """An unexpected error: what happened, that nothing is lost, where the log is, and a way to open it."""
    box = QMessageBox(
        QMessageBox.Icon.Critical,
        "OrderSync — unexpected error",
        f"Something went wrong that OrderSync did not expect:\n\n{exc_type.__name__}: {exc}\n\n"
        "Nothing already recorded is lost: a batch that was running resumes on the next sync.\n\n"
        f"The details are in the log file:\n{log_file()}",
        parent=parent,
    )
    box.setObjectName("crash_dialog")
    box.setDetailedText("".join(traceback.format_exception(exc_type, exc, tb)))
    exec_with_log_folder(box, default_open=True)


def exec_with_log_folder(box: QMessageBox, *, default_open: bool = False) -> None:
    """Show ``box`` with Open Log Folder and Close; open the folder when that was the choice."""
    open_button = box.addButton("Open &Log Folder", QMessageBox.ButtonRole.ActionRole)
    close_button = box.addButton(QMessageBox.StandardButton.Close)
    box.setDefaultButton(open_button if default_open else close_button)
    box.exec()
    if box.clickedButton() is open_button:
        open_log_folder()
