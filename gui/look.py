"""The window's look in one place: monday's status colours, one spacing and type scale, the icons of
the main actions, and the application style sheet (resources/style.qss).

Native Qt widgets only: the style sheet styles a few roles (the primary button, the focused pane,
the current row, empty states) and leaves the platform's own style to draw the rest.
"""

from __future__ import annotations

from typing import TypeVar

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QColor, QFont, QIcon
from PySide6.QtWidgets import QAbstractItemView, QApplication, QLabel, QLayout, QStyle, QWidget

from core.foundation.resources import resource_path

# monday's status colours: what a planner reads on the board, the window reads the same.
DONE = "#00c875"  # green: done
WORKING = "#fdab3d"  # orange: working on it
STUCK = "#e2445c"  # red: stuck
PRIMARY = "#0073ea"  # monday's primary blue
MUTED = "#676879"  # secondary text

DONE_COLOR, WORKING_COLOR, STUCK_COLOR, MUTED_COLOR = map(QColor, (DONE, WORKING, STUCK, MUTED))

# One spacing scale (pixels): between controls, inside a pane, around a pane.
SPACE_S, SPACE_M, SPACE_L = 4, 8, 12
# One type scale, relative to the application's font: small notes, body, pane headings.
TYPE_SMALL, TYPE_BODY, TYPE_HEADING = 0.9, 1.0, 1.15

STYLESHEET = "style.qss"

# The icons of the main actions: Qt's standard icons, drawn by the platform's style.
ICONS = {
    "sync": QStyle.StandardPixmap.SP_ArrowRight,
    "preview": QStyle.StandardPixmap.SP_FileDialogContentsView,
    "refresh": QStyle.StandardPixmap.SP_BrowserReload,
    "cancel": QStyle.StandardPixmap.SP_BrowserStop,
    "settings": QStyle.StandardPixmap.SP_FileDialogDetailedView,
    "about": QStyle.StandardPixmap.SP_MessageBoxInformation,
    "log": QStyle.StandardPixmap.SP_FileDialogInfoView,
    "retry": QStyle.StandardPixmap.SP_BrowserReload,
    "export": QStyle.StandardPixmap.SP_DialogSaveButton,
    "check_board": QStyle.StandardPixmap.SP_FileDialogListView,
}


def icon(name: str) -> QIcon:
    """The icon of a main action (``ICONS``)."""
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return QIcon()
    return app.style().standardIcon(ICONS[name])


def font(scale: float, bold: bool = False) -> QFont:
    """The application's font at ``scale`` of the type scale (``TYPE_*``)."""
    result = QFont(QApplication.font())
    if result.pointSizeF() > 0:
        result.setPointSizeF(result.pointSizeF() * scale)
    elif result.pixelSize() > 0:
        result.setPixelSize(round(result.pixelSize() * scale))
    result.setBold(bold)
    return result


_Layout = TypeVar("_Layout", bound=QLayout)


def pane_layout(layout: _Layout) -> _Layout:
    """A pane's layout on the spacing scale."""
    layout.setContentsMargins(SPACE_M, SPACE_M, SPACE_M, SPACE_M)
    layout.setSpacing(SPACE_M)
    return layout


def make_primary(widget: QWidget) -> None:
    """The one primary button of a pane (the style sheet draws it in monday's blue)."""
    widget.setProperty("primary", True)
    widget.style().unpolish(widget)
    widget.style().polish(widget)


def stylesheet() -> str:
    return resource_path(STYLESHEET).read_text(encoding="utf-8")


def apply_look(app: QApplication) -> None:
    """Load the application style sheet once (``gui/app.py`` at start; the window too, for tests and
    screenshots that build it without ``run``)."""
    if app.property("ordersync_look"):
        return
    app.setStyleSheet(app.styleSheet() + "\n" + stylesheet())
    app.setProperty("ordersync_look", True)


class EmptyState(QObject):
    """A sentence painted on an empty view ("No batches yet…"), gone as soon as the view shows a row."""

    def __init__(self, view: QAbstractItemView, text: str):
        super().__init__(view)
        self.view = view
        self.label = QLabel(text, view.viewport())
        self.label.setProperty("role", "empty")
        self.label.setFont(font(TYPE_HEADING))
        self.label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.label.setWordWrap(True)
        view.viewport().installEventFilter(self)
        model = view.model()
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset, model.layoutChanged):
            signal.connect(self.refresh)
        self.refresh()

    def refresh(self, *_args) -> None:
        self.label.setVisible(self.view.model().rowCount() == 0)
        self._place()

    def _place(self) -> None:
        self.label.setGeometry(self.view.viewport().rect().adjusted(SPACE_M, SPACE_M, -SPACE_M, -SPACE_M))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Resize:
            self._place()
        return False
