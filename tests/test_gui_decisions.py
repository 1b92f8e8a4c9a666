"""The "Needs a decision" list in the real window: the real engine, the sandbox over HTTP and SQLite.

A column set to ``ask`` (as in tests/test_protect.py), a person's edit on the board and an ERP change
make a cell wait; the window lists it with both values, and each of its two buttons does what it says:
the next sync leaves the person's value on the board, or sends the ERP's.
"""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core.db import schema as s
from core.source.mapping import load_mapping
from core.staging.decisions import waiting
from gui.bridge import EngineBridge
from gui.decisions_pane import HEADERS
from gui.main_window import MainWindow
from tests.helpers import BOARD, SANDBOX_TOKEN, engine_context
from tests.test_gui_window import qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures
from tests.test_protect import cell, erp_changes, line, mutations, protected_mapping, seed

ALT_PO = "CUSTOMER ALT PO"


@pytest.fixture
def ask_window(qtbot, qloop, sqlite_engine, sandbox, monkeypatch, tmp_path):
    """The window over a mapping whose CUSTOMER ALT PO column asks."""
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    ctx = engine_context(sqlite_engine, **{"monday.api_url": sandbox.url})
    ctx = dataclasses.replace(ctx, mapping=load_mapping(protected_mapping(tmp_path)))
    windows = []

    def make():
        window = MainWindow(EngineBridge(ctx))
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.bridge.cancel()
        window.close()
        window.bridge.executor.shutdown(wait=True)


async def _sync(window, qtbot, finished, runs: int) -> None:
    await until(lambda: window.customers.rowCount() >= 1, 30, "MACK WELDON listed")
    window.customers.set_all_checked(True)
    await until(lambda: window.sync_button.isEnabled(), 10, "Sync to be enabled")
    qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
    await until(lambda: len(finished) == runs, 90, "the sync to finish")


def _rows(pane) -> list[dict]:
    model = pane.model
    return [{HEADERS[c]: model.item(r, c).text() for c in range(model.columnCount())} for r in range(model.rowCount())]


async def _one_waiting_cell(window, qtbot, engine, sandbox, finished) -> dict:
    """Sync, a person's edit of ALT PO on the board and the ERP's change, sync again: one cell waits."""
    await _sync(window, qtbot, finished, 1)
    pane = window.decisions
    assert not pane.isVisible()  # nothing waits: the box is out of the way
    mwe1 = line(engine, "MWE-00001")
    sandbox.set_value(mwe1["monday_item_id"], ALT_PO, "TYPED-BY-PLANNER")
    erp_changes(engine, "MWE-00001", **{ALT_PO: "ERP-NEW"})
    await _sync(window, qtbot, finished, 2)
    await until(lambda: pane.model.rowCount() == 1, 30, "the waiting cell to be listed")
    assert pane.isVisible() and pane.title() == "Needs a decision (1)"
    assert _rows(pane) == [
        {
            "Customer": "MACK WELDON",
            "Order": "MWE-00001",
            "Column": ALT_PO,
            "The board says": "TYPED-BY-PLANNER",
            "The ERP says": "ERP-NEW",
            "Waiting since": _rows(pane)[0]["Waiting since"],
        }
    ]
    assert _rows(pane)[0]["Waiting since"]
    assert cell(sandbox, mwe1["monday_item_id"], ALT_PO) == "TYPED-BY-PLANNER"  # held meanwhile
    return mwe1


async def _choose(window, button) -> None:
    pane = window.decisions
    assert not button.isEnabled()  # nothing selected yet
    pane.view.setFocus()
    pane.view.selectRow(0)
    await until(lambda: button.isEnabled(), 10, "the button to be enabled by the selection")
    button.click()
    await until(lambda: pane.model.rowCount() == 0, 30, "the decided cell to leave the list")
    assert pane.title() == "Needs a decision (0)"


async def _choose_by_keyboard(window) -> None:
    """Tab from the batches into the list, Down to its row, Alt+K."""
    pane = window.decisions
    window.activateWindow()
    await until(lambda: QApplication.activeWindow() is window, 10, "the window to be active")
    window.batches_view.setFocus(Qt.FocusReason.TabFocusReason)
    QTest.keyClick(window.batches_view, Qt.Key.Key_Tab)
    assert QApplication.focusWidget() is pane.view
    QTest.keyClick(pane.view, Qt.Key.Key_Home)  # the first (and only) row
    await until(lambda: pane.keep_button.isEnabled(), 10, "the selection to enable the buttons")
    QTest.keyClick(pane.view, Qt.Key.Key_K, Qt.KeyboardModifier.AltModifier)
    await until(lambda: pane.model.rowCount() == 0, 30, "the decided cell to leave the list")


def test_keep_the_boards_value_removes_the_cell_and_the_next_sync_sends_nothing_there(
    qloop, qtbot, ask_window, sqlite_engine, sandbox
):
    seed(sqlite_engine)
    window = ask_window()
    finished = runs_finished(window)

    async def scenario():
        mwe1 = await _one_waiting_cell(window, qtbot, sqlite_engine, sandbox, finished)
        await _choose_by_keyboard(window)
        assert "is kept" in window.decisions.result_label.text()
        assert window.decisions.intro.text() == "Nothing needs a decision."  # one line, the result beside
        assert waiting(sqlite_engine, BOARD) == []
        sandbox.clear_journal()
        await _sync(window, qtbot, finished, 3)
        assert mutations(sandbox) == []  # nothing sent for that cell (nor anything else)
        assert cell(sandbox, mwe1["monday_item_id"], ALT_PO) == "TYPED-BY-PLANNER"
        assert {r.status for r in finished[-1]} == {s.NO_CHANGES}

    qloop.run_until_complete(scenario())


def test_send_the_erps_value_removes_the_cell_and_the_next_sync_sends_it(
    qloop, qtbot, ask_window, sqlite_engine, sandbox
):
    seed(sqlite_engine)
    window = ask_window()
    finished = runs_finished(window)

    async def scenario():
        mwe1 = await _one_waiting_cell(window, qtbot, sqlite_engine, sandbox, finished)
        await _choose(window, window.decisions.erp_button)
        text = window.decisions.result_label.text()
        assert "ERP-NEW" in text and "will be sent on the next sync" in text
        assert waiting(sqlite_engine, BOARD) == []
        assert cell(sandbox, mwe1["monday_item_id"], ALT_PO) == "TYPED-BY-PLANNER"  # not before the sync
        await _sync(window, qtbot, finished, 3)
        assert cell(sandbox, mwe1["monday_item_id"], ALT_PO) == "ERP-NEW"

    qloop.run_until_complete(scenario())


def test_a_choice_while_a_sync_of_the_customer_runs_is_refused_in_plain_words_and_changes_nothing(
    qloop, qtbot, ask_window, sqlite_engine, sandbox
):
    from core.staging.batches import Owner
    from core.staging.operations import StagingOperations

    seed(sqlite_engine)
    window = ask_window()
    finished = runs_finished(window)

    async def scenario():
        mwe1 = await _one_waiting_cell(window, qtbot, sqlite_engine, sandbox, finished)
        elsewhere = StagingOperations(sqlite_engine, Owner("PLAN-WS-09", "bob", 4242))
        running = elsewhere.claim("MACK WELDON", BOARD)  # another workstation syncs the customer
        pane = window.decisions
        pane.view.setFocus()
        pane.view.selectRow(0)
        await until(lambda: pane.keep_button.isEnabled(), 10, "the button to be enabled by the selection")
        pane.keep_button.click()
        await until(lambda: "is running" in pane.result_label.text(), 30, "the refusal to be shown")
        assert pane.result_label.text() == (
            f"a sync of MACK WELDON is running (batch {running.batch_id}: started, by bob on PLAN-WS-09); "
            "decide when it has finished"
        )
        await until(lambda: not window.bridge.tasks.running("refresh:decisions"), 10, "the list to be read again")
        assert pane.model.rowCount() == 1 and [d["sync_key"] for d in waiting(sqlite_engine, BOARD)] == [
            mwe1["sync_key"]
        ]
        assert window.error_label.text() == ""  # a refusal, not a failure of the window
        elsewhere.set_status(running.batch_id, s.COMPLETED)
        pane.keep_button.click()
        await until(lambda: pane.model.rowCount() == 0, 30, "the decided cell to leave the list")
        assert "is kept" in pane.result_label.text()

    qloop.run_until_complete(scenario())
