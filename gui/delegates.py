"""Delegates that draw controls in table cells: a progress bar, and a Retry button.

Both draw with the style (no widget per row, no ``setIndexWidget``), so 100,000 rows cost nothing
until they are painted, and the views stay as fast as plain text cells.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QModelIndex, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
)

from gui.models import KeyRole, ProgressRole, RetryableRole

_ACTIVATE_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_Select, Qt.Key.Key_Enter, Qt.Key.Key_Return)


def _style(option: QStyleOptionViewItem) -> QStyle:
    widget = option.widget
    return widget.style() if widget is not None else QApplication.style()


def _paint_cell_background(delegate: QStyledItemDelegate, painter, option, index: QModelIndex) -> None:
    """The cell's own panel (selection, alternating colour, hover) without its text."""
    cell = QStyleOptionViewItem(option)
    delegate.initStyleOption(cell, index)
    cell.text = ""
    cell.icon = QIcon()
    cell.features &= ~QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    _style(option).drawControl(QStyle.ControlElement.CE_ItemViewItem, cell, painter, option.widget)


class ProgressBarDelegate(QStyledItemDelegate):
    """Paints ``ProgressRole`` (0..1) as a progress bar with an ``NN %`` text."""

    MARGIN = 2

    def paint(self, painter, option, index) -> None:
        value = index.data(ProgressRole)
        if value is None:
            super().paint(painter, option, index)
            return
        value = min(max(float(value), 0.0), 1.0)
        _paint_cell_background(self, painter, option, index)
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(self.MARGIN, self.MARGIN, -self.MARGIN, -self.MARGIN)
        bar.state = (option.state & QStyle.StateFlag.State_Enabled) | QStyle.StateFlag.State_Horizontal
        bar.direction = option.direction
        bar.palette = option.palette
        bar.fontMetrics = option.fontMetrics
        bar.minimum = 0
        bar.maximum = 1000
        bar.progress = round(value * 1000)
        # Floored, so a batch shows 100 % only when it is done.
        bar.text = f"{int(value * 100 + 1e-9)} %"
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        _style(option).drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        return QSize(max(size.width(), 90), size.height())


class RetryButtonDelegate(QStyledItemDelegate):
    """Paints a "Retry" push button in each cell of its column and emits ``retryRequested(ref)``.

    The ref is read from the index's ``KeyRole`` at the moment of the click; the view hands the
    delegate its own (proxy) index, so sorting and filtering can never make it retry another row.
    The button is enabled only where ``RetryableRole`` is true; clicks on a disabled one do nothing
    (and fall through to the view, which selects the row).

    Mouse: press inside the button shows it sunken; the release inside the same cell emits.
    Keyboard: Space on the current cell of the column emits (the view passes it to the delegate).
    Qt's views on Windows and Linux turn Enter/Return into ``activated`` instead of passing it on, so
    when the delegate is created with its view as parent it also watches the view for those keys.
    """

    retryRequested = Signal(str)

    TEXT = "Retry"
    MARGIN = 2

    def __init__(self, parent=None):
        super().__init__(parent)
        self._pressed = QPersistentModelIndex()
        self.enabled = True  # False: every button drawn disabled and inert (a sync or retry is running)
        # Kept, and compared by identity only: the filter also sees events while the view is being
        # destroyed, when calling into it would fail.
        self._view = parent if isinstance(parent, QAbstractItemView) else None
        self._viewport = None
        if self._view is not None:
            self._viewport = self._view.viewport()
            self._view.installEventFilter(self)
            self._viewport.installEventFilter(self)

    # -- painting ---------------------------------------------------------------------------------------

    def button_rect(self, cell: QRect) -> QRect:
        return cell.adjusted(self.MARGIN + 1, self.MARGIN, -self.MARGIN - 1, -self.MARGIN)

    def paint(self, painter, option, index) -> None:
        _paint_cell_background(self, painter, option, index)
        enabled = self.enabled and bool(index.data(RetryableRole))
        button = QStyleOptionButton()
        button.rect = self.button_rect(option.rect)
        button.text = self.TEXT
        button.direction = option.direction
        button.palette = QPalette(option.palette)
        if not enabled:  # drawn greyed, as a disabled button is (the style reads the current group)
            button.palette.setCurrentColorGroup(QPalette.ColorGroup.Disabled)
        button.fontMetrics = option.fontMetrics
        state = QStyle.StateFlag.State_None
        if enabled and option.state & QStyle.StateFlag.State_Enabled:
            state |= QStyle.StateFlag.State_Enabled
            if self._pressed.isValid() and self._pressed == index:
                state |= QStyle.StateFlag.State_Sunken
            else:
                state |= QStyle.StateFlag.State_Raised
                if option.state & QStyle.StateFlag.State_MouseOver:
                    state |= QStyle.StateFlag.State_MouseOver
            if option.state & QStyle.StateFlag.State_HasFocus:
                state |= QStyle.StateFlag.State_HasFocus
        button.state = state
        _style(option).drawControl(QStyle.ControlElement.CE_PushButton, button, painter, option.widget)

    def sizeHint(self, option, index) -> QSize:
        button = QStyleOptionButton()
        button.text = self.TEXT
        button.fontMetrics = option.fontMetrics
        text = option.fontMetrics.size(Qt.TextFlag.TextShowMnemonic, self.TEXT)
        size = _style(option).sizeFromContents(QStyle.ContentsType.CT_PushButton, button, text, option.widget)
        return size + QSize(2 * (self.MARGIN + 1), 2 * self.MARGIN)

    # -- input ------------------------------------------------------------------------------------------

    def editorEvent(self, event, model, option, index) -> bool:
        kind = event.type()
        if kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonDblClick):
            if event.button() != Qt.MouseButton.LeftButton or not (self.enabled and index.data(RetryableRole)):
                return False
            if not self.button_rect(option.rect).contains(event.position().toPoint()):
                return False
            if kind == QEvent.Type.MouseButtonPress:
                self._pressed = QPersistentModelIndex(index)
            # A double click is one retry: its second press is swallowed here and not armed.
            return True
        if kind == QEvent.Type.MouseButtonRelease:
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            pressed, self._pressed = self._pressed, QPersistentModelIndex()
            if not pressed.isValid() or pressed != index:
                return False
            if self.button_rect(option.rect).contains(event.position().toPoint()):
                self._request(index)
            return True
        if kind == QEvent.Type.KeyPress:
            if (
                event.key() in _ACTIVATE_KEYS
                and not event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
                and self.enabled
                and index.data(RetryableRole)
            ):
                self._request(index)
                return True
            return False
        return False

    def eventFilter(self, watched, event) -> bool:
        view = self._view
        if view is None:
            return super().eventFilter(watched, event)
        if watched is self._viewport:
            # A release away from the pressed button never reaches editorEvent: un-press it here.
            if (
                event.type() == QEvent.Type.MouseButtonRelease
                and self._pressed.isValid()
                and self._pressed != view.indexAt(event.position().toPoint())
            ):
                self._pressed = QPersistentModelIndex()
                watched.update()
            return False
        if watched is not view:
            return super().eventFilter(watched, event)  # an editor's events (the base class handles them)
        if (
            event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Enter, Qt.Key.Key_Return)
            and watched.state() != QAbstractItemView.State.EditingState
        ):
            index = watched.currentIndex()
            if index.isValid() and watched.itemDelegateForIndex(index) is self:
                return self.editorEvent(event, watched.model(), QStyleOptionViewItem(), index)
        return False

    def _request(self, index: QModelIndex) -> None:
        ref = index.data(KeyRole)
        if ref:
            self.retryRequested.emit(str(ref))
