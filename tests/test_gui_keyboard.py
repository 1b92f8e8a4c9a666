"""The window without the mouse: key presses only (QTest.keyClick) on the real window, against the real
engine, the sandbox over HTTP and SQLite; and every Alt+letter of the whole window used once.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections import Counter

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QAbstractItemView, QApplication, QGroupBox, QLabel

from gui.mnemonics import TEXT, mnemonic
from gui.models import CustomersModel
from gui.preview import PreviewDialog
from tests.helpers import BOARD, make_world
from tests.test_gui_window import open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures

KEY = Qt.Key
CTRL, SHIFT, ALT = (
    Qt.KeyboardModifier.ControlModifier,
    Qt.KeyboardModifier.ShiftModifier,
    Qt.KeyboardModifier.AltModifier,
)


def focused():
    return QApplication.focusWidget()


def press(key, modifier=Qt.KeyboardModifier.NoModifier, widget=None) -> None:
    """One key press where the keyboard is (the focused widget), as a planner's keyboard sends it."""
    target = widget or focused()
    assert target is not None, "no widget has the keyboard"
    QTest.keyClick(target, key, modifier)


def mnemonic_owners(window) -> Counter:
    """Every Alt+letter of the window: buttons (the other panes' too), actions, labels with a buddy,
    checkable group boxes."""
    letters: Counter = Counter()
    texts = [w.text() for w in window.findChildren(QAbstractButton)]
    texts += [a.text() for a in window.findChildren(QAction)]
    texts += [w.text() for w in window.findChildren(QLabel) if w.buddy() is not None]
    texts += [w.title() for w in window.findChildren(QGroupBox) if w.isCheckable()]
    for text in texts:
        letter = mnemonic(text)
        if letter:
            letters[letter] += 1
    return letters


def test_every_mnemonic_of_the_window_is_unique(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=40, seed=9, hostile=False)
    window = open_window()
    letters = mnemonic_owners(window)
    assert {"S", "P", "I", "A", "T", "U"} <= set(letters)  # the customers pane's own, collected
    assert [letter for letter, n in letters.items() if n > 1] == []


def test_the_table_of_mnemonics_uses_each_letter_once():
    letters = Counter(mnemonic(text) for text in TEXT.values())
    assert None not in letters and [letter for letter, n in letters.items() if n > 1] == []


def test_the_mnemonic_helper_reads_letters_as_qt_does():
    assert mnemonic("&Sync 3 customers") == "S"
    assert mnemonic("Retr&y selected") == "Y"
    assert mnemonic("Fish && &Chips") == "C"
    assert mnemonic("Fish && Chips") is None and mnemonic("Refresh") is None


def test_tab_leaves_every_table_and_the_arrows_move_inside(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=40, seed=9, hostile=False)
    window = open_window()
    qtbot.waitExposed(window)
    window.activateWindow()

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        views = [v for v in window.findChildren(QAbstractItemView) if v.isVisible() and v.focusPolicy()]
        assert window.customers_view in views and len(views) >= 3
        for view in views:
            assert not view.tabKeyNavigation(), view.objectName()
            for key in (KEY.Key_Tab, KEY.Key_Backtab):
                view.setFocus(Qt.FocusReason.TabFocusReason)
                assert focused() is view
                press(key)
                assert focused() is not view and not view.isAncestorOf(focused()), (view.objectName(), key)
        # The arrows move within the customers list, and the current row is the highlighted row.
        view = window.customers_view
        view.clearSelection()
        view.setFocus(Qt.FocusReason.TabFocusReason)
        first = view.currentIndex().row()
        assert [i.row() for i in view.selectionModel().selectedRows()] == [first]
        press(KEY.Key_Down)
        assert focused() is view and view.currentIndex().row() == first + 1
        assert [i.row() for i in view.selectionModel().selectedRows()] == [first + 1]

    qloop.run_until_complete(scenario())


def test_tab_goes_from_pane_to_pane(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=40, seed=9, hostile=False)
    window = open_window()
    window.activateWindow()

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        window.customers.set_checked(window.customers.keys()[0], True)  # Preview and Sync take focus
        pane = window.customers_pane
        window.customer_filter.setFocus(Qt.FocusReason.TabFocusReason)
        seen = [focused()]
        for _ in range(len(pane.focus_chain()) + 1):
            press(KEY.Key_Tab)
            seen.append(focused())
        assert seen[: len(pane.focus_chain())] == pane.focus_chain()
        assert not pane.isAncestorOf(seen[-1])  # and on to the next pane
        for widget in reversed(seen[:-1]):
            press(KEY.Key_Backtab)
            assert focused() is widget

    qloop.run_until_complete(scenario())


def test_tick_preview_and_sync_with_the_keyboard_only(qloop, qtbot, open_window, sqlite_engine, sandbox):
    """The main job without the mouse: find a customer, tick it with Space on any cell, tick another,
    see the hidden tick counted, preview both (Ctrl+P), close, Tab to Sync and press Space."""
    make_world(sqlite_engine, n_orders=80, seed=9, hostile=False)
    window = open_window()
    window.activateWindow()
    finished = runs_finished(window)
    pane = window.customers_pane

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        names = sorted(window.customers.pending_customers())
        first, second = names[0], names[-1]
        assert not window.sync_button.isEnabled() and not window.preview_button.isEnabled()
        assert pane.ticked_label.text() == "Nothing ticked"

        press(KEY.Key_F, CTRL, window)  # Ctrl+F: to the filter
        assert focused() is window.customer_filter
        QTest.keyClicks(window.customer_filter, second.lower())
        await until(lambda: window.customers_proxy.rowCount() == 1, 5, "the filter")
        press(KEY.Key_Down)  # from the filter into the list
        assert focused() is window.customers_view
        press(KEY.Key_Right)  # any cell of the row: Space still ticks the customer
        press(KEY.Key_Right)
        assert window.customers_view.currentIndex().column() > CustomersModel.COL_CUSTOMER
        press(KEY.Key_Space)
        assert window.customers.checked() == [second]

        press(KEY.Key_I, ALT)  # the filter's mnemonic (F&ind customer:)
        assert focused() is window.customer_filter
        press(KEY.Key_A, CTRL)
        press(KEY.Key_Backspace)
        await until(lambda: window.customers_proxy.rowCount() == len(names), 5, "the whole list")
        press(KEY.Key_Down)
        press(KEY.Key_Home, CTRL)  # the first customer
        press(KEY.Key_Space)
        assert set(window.customers.checked()) == {first, second}
        assert pane.ticked_label.text() == "2 ticked"

        press(KEY.Key_I, ALT)
        QTest.keyClicks(window.customer_filter, first.lower())
        await until(lambda: window.customers_proxy.rowCount() == 1, 5, "the filter")
        assert pane.ticked_label.text() == "2 ticked, 1 hidden by the filter"
        assert window.sync_button.text() == "&Sync 2 customers"

        press(KEY.Key_P, CTRL)  # Preview: every ticked customer, the hidden one too
        await until(lambda: isinstance(QApplication.activeModalWidget(), PreviewDialog), 10, "the preview")
        dialog = QApplication.activeModalWidget()
        assert sorted(dialog.customers) == sorted([first, second])
        await until(lambda: dialog.report is not None, 60, "the dry run")
        assert sorted(c["customer"] for c in dialog.report) == sorted([first, second])
        press(KEY.Key_Escape, widget=dialog)
        await until(lambda: not dialog.isVisible(), 5, "the preview to close")
        window.activateWindow()  # what the desktop does when a dialog closes
        await until(lambda: QApplication.activeWindow() is window, 5, "the window to be active again")

        window.customer_filter.setFocus(Qt.FocusReason.TabFocusReason)
        for _ in range(len(pane.focus_chain())):
            if focused() is window.sync_button:
                break
            press(KEY.Key_Tab)
        assert focused() is window.sync_button
        press(KEY.Key_Space)
        await until(lambda: len(finished) == 1, 120, "the sync to finish")
        board = {i["column_values"]["CUSTOMER"] for i in sandbox.board_dump(BOARD)["items"]}
        assert board == {first, second}

    qloop.run_until_complete(scenario())


def test_ctrl_a_in_the_list_ticks_the_customers_shown(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=40, seed=9, hostile=False)
    window = open_window()
    window.activateWindow()

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        one = sorted(window.customers.pending_customers())[1]
        window.customer_filter.setText(one[:-1].lower())
        await until(lambda: window.customers_proxy.rowCount() >= 1, 5, "the filter")
        shown = window.customers_proxy.shown_customers()
        window.customers_view.setFocus(Qt.FocusReason.TabFocusReason)
        press(KEY.Key_A, CTRL)
        assert set(window.customers.checked()) == shown  # the hidden ones are not ticked behind the filter
        press(KEY.Key_Space)  # Space unticks the current one again
        assert len(window.customers.checked()) == len(shown) - 1

    qloop.run_until_complete(scenario())
