"""The window's log pane: engine log lines as they are written, the log file's path and its folder."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

from core.foundation.logs import formatter, log_file
from gui.diagnostics import open_log_folder


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


class LogPane(QWidget):
    """The log lines (the last 5,000), the log file's path, and a button that opens its folder."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.log_view = QPlainTextEdit(readOnly=True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_file_label = QLabel(f"Log file: {log_file()}")
        self.log_file_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_log_button = QPushButton("Open Log &Folder")
        self.open_log_button.clicked.connect(open_log_folder)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        header = QHBoxLayout()
        header.addWidget(self.log_file_label, 1)
        header.addWidget(self.open_log_button)
        layout.addLayout(header)
        layout.addWidget(self.log_view, 1)
