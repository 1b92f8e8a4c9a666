"""The history of a line and the check of the board, in the real window: the real engine, the sandbox
over HTTP and SQLite (the fixtures of tests/test_gui_window.py). Edits a person makes on the board are
planted through the sandbox, as in tests/test_drift.py.
"""

from __future__ import annotations

import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from core.db import schema as s
from core.foundation.exceptions import OrderSyncError
from gui.drift_dialog import CLEAN, DriftDialog
from gui.mnemonics import SHORTCUT
from gui.models import KeyRole
from tests.helpers import BOARD, empty_orders, order_row
from tests.test_gui_window import open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures

ORDERS = ("MWE-00001", "MWE-00002")


def _world(engine) -> sa.Table:
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **{"AAG ORDER NUMBER": order}) for order in ORDERS])
    return table


def _line(engine, order: str) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(s.items)).mappings().all()
    return next(dict(r) for r in rows if r["sync_key"].startswith(order + " "))


def _set_price(engine, table: sa.Table, order: str, price: str) -> None:
    with engine.begin() as conn:
        conn.execute(table.update().where(table.c["AAG ORDER NUMBER"] == order).values({"CUSTOMER PRICE": price}))


async def _sync(window, qtbot, finished, runs: int) -> None:
    await until(lambda: window.customers.rowCount() == 1, 30, "MACK WELDON listed")
    window.customers.set_all_checked(True)
    await until(lambda: window.sync_button.isEnabled(), 10, "Sync to be enabled")
    qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
    await until(lambda: len(finished) == runs, 90, "the sync to finish")


async def _check_the_board(window) -> DriftDialog:
    """Ctrl+B on the window: the forecast, then Check, then the result."""
    window.activateWindow()
    await until(lambda: QApplication.activeWindow() is window, 10, "the window to be active")
    await until(lambda: window.check_action.isEnabled(), 10, "Check the board to be enabled after the sync")
    QTest.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    dialog = window.drift_dialog
    assert isinstance(dialog, DriftDialog) and dialog.isVisible()
    await until(lambda: dialog.check_button.isEnabled() or dialog.error, 60, "the forecast")
    assert dialog.error is None, dialog.error
    assert "read request" in dialog.summary.text() and "changes nothing" in dialog.summary.text()
    assert dialog.report is None  # nothing read from the board's items before Check
    dialog.check_button.click()
    # From the press on, nothing else may use the client: Sync, retry and another check wait.
    assert window.bridge.busy and not window.check_action.isEnabled()
    try:
        window.bridge.sync(["MACK WELDON"])
    except OrderSyncError as exc:
        assert "being checked" in str(exc)
    else:
        raise AssertionError("a sync started while the board was being checked")
    await until(lambda: dialog.report is not None or dialog.error, 60, "the check")
    assert dialog.error is None, dialog.error
    await until(lambda: window.check_action.isEnabled(), 10, "Check the board to be enabled again")
    return dialog


def test_the_check_of_the_board_lists_what_a_person_changed_and_links_to_the_line(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)
    assert SHORTCUT["check_board"] == window.check_action.shortcut().toString()

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        clean = await _check_the_board(window)
        assert clean.summary.text().startswith(CLEAN) and clean.findings() == []
        assert "2 items" in clean.summary.text()
        clean.reject()

        mwe1, mwe2 = _line(sqlite_engine, "MWE-00001"), _line(sqlite_engine, "MWE-00002")
        sandbox.set_value(mwe1["monday_item_id"], "CUSTOMER PRICE", "31")  # a planner retypes a cell
        sandbox.delete_item(mwe2["monday_item_id"])  # and deletes an item
        new = sandbox.add_item(BOARD, "A planner's line", {"SYNC KEY": "MWE-99999 | X | Y"}, group=mwe1["group_id"])
        copy = sandbox.add_item(BOARD, "copy", {"SYNC KEY": mwe1["sync_key"]}, group=mwe1["group_id"])
        dialog = await _check_the_board(window)
        assert dialog.summary.text().startswith("4 differences on the board")
        assert dialog.findings() == [
            (
                "MACK WELDON",
                "a person changed CUSTOMER PRICE on the board: board says 31, OrderSync wrote 28.86",
                "MWE-00001",
                mwe1["sync_key"],
                mwe1["monday_item_id"],
            ),
            ("MACK WELDON", "item deleted on the board", "MWE-00002", mwe2["sync_key"], mwe2["monday_item_id"]),
            (
                "MACK WELDON",
                'an item with a key OrderSync does not know: "A planner\'s line"',
                "",
                "MWE-99999 | X | Y",
                new,
            ),
            (
                "MACK WELDON",
                f"two items with the same key (OrderSync's is {mwe1['monday_item_id']})",
                "",
                mwe1["sync_key"],
                ", ".join(sorted([mwe1["monday_item_id"], copy], key=int)),
            ),
        ]
        groups = [dialog.tree.topLevelItem(0).child(g).text(0) for g in range(4)]
        assert groups == [
            "Changed by a person on the board (1)",
            "Deleted or archived on the board (1)",
            "On the board, not put there by OrderSync (1)",
            "One sync key on several items (1)",
        ]

        # A finding leads to its line: order, key and item, and what OrderSync wrote there.
        dialog.select_finding(0)
        line = dialog.line_label.text()
        assert "order MWE-00001" in line and mwe1["sync_key"] in line and mwe1["monday_item_id"] in line
        await until(lambda: dialog.history.rowCount() > 0, 20, "the line's history")
        rows = dialog.history.rows()
        assert {what.split(" (")[0] for _when, what, _column, _change, _who in rows} == {"created"}  # sizes too
        assert any("PRICE" in column and change.endswith("→ 28.86") for _w, _k, column, change, _who in rows)
        dialog.copy_finding()
        copied = QApplication.clipboard().text()
        assert copied.startswith("a person changed CUSTOMER PRICE") and mwe1["sync_key"] in copied

        dialog.select_finding(1)
        await until(lambda: dialog.history.loaded >= 2, 20, "the deleted line's history")
        assert "order MWE-00002" in dialog.line_label.text()
        assert dialog.history.rowCount() > 0
        dialog.reject()

    qloop.run_until_complete(scenario())


def test_a_failed_lines_details_show_its_history_after_a_sync_and_a_retry(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    table = _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)
    pane = window.failures

    def select(ref: str) -> None:
        row = pane.errors.row_for_ref(ref)
        pane.errors_view.setCurrentIndex(pane.errors_proxy.mapFromSource(pane.errors.index(row, 0)))

    def history() -> list[tuple[str, ...]]:
        return pane.details.history_rows()

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        key = _line(sqlite_engine, "MWE-00001")["sync_key"]
        _set_price(sqlite_engine, table, "MWE-00001", "N/A")  # the ERP holds a price monday cannot take
        await _sync(window, qtbot, finished, 2)
        await until(lambda: len(pane.rows) == 1, 20, "the failed line")
        (failed,) = pane.rows
        assert failed["sync_key"] == key

        pane.flat_toggle.click()
        select(failed["ref"])
        await until(lambda: pane.details.history.loaded >= 1 and history(), 20, "the line's history")
        first = history()
        assert {what.split(" (")[0] for _when, what, _column, _change, _who in first} == {"created"}
        assert any("PRICE" in column and change == "(empty) → 28.86" for _w, _k, column, change, _who in first)
        assert all(who for *_rest, who in first)  # who ran it
        assert pane.details.tabs.tabText(1) == f"History ({len(first)})"

        _set_price(sqlite_engine, table, "MWE-00001", "31.50")  # fixed in the ERP: the retry sends it
        window.retry([failed["ref"]])
        await until(lambda: len(finished) == 3, 90, "the retry to finish")
        pane.show_resolved.setChecked(True)
        await until(lambda: any(r["ref"] == failed["ref"] and r.get("resolved_at") for r in pane.rows), 20, "resolved")
        select(failed["ref"])
        await until(lambda: len(history()) > len(first), 20, "the retry in the line's history")
        after = history()
        assert after[: len(first)] == first  # oldest first: what was, then the retry's change
        updated = [row for row in after[len(first) :] if row[1] == "updated"]
        assert [(column, change) for _w, _k, column, change, _who in updated] == [("CUSTOMER PRICE", "28.86 → 31.5")]

        # The batches' list: the retry's batch, and what it changed on the board.
        with sqlite_engine.connect() as conn:
            retried = conn.execute(sa.select(sa.func.max(s.audit_log.c.batch_id))).scalar_one()
            audited = conn.execute(
                sa.select(sa.func.count()).select_from(s.audit_log).where(s.audit_log.c.batch_id == retried)
            ).scalar_one()
        await until(
            lambda: retried in [window.batches.index(r, 0).data(KeyRole) for r in range(window.batches.rowCount())],
            20,
            "the retry's batch in the list",
        )
        row = next(r for r in range(window.batches.rowCount()) if window.batches.index(r, 0).data(KeyRole) == retried)
        window.batches_view.selectRow(row)
        assert window.batch_history_action in window.batches_view.actions()  # its right-click menu
        window.batch_history_action.trigger()
        dialog = window.history_dialog
        await until(lambda: dialog.table.loaded == 1, 20, "the batch's history")
        assert dialog.table.rowCount() == audited >= 1
        assert all(f"(batch {retried})" in when for when, *_rest in dialog.table.rows())
        assert dialog.summary.text().startswith(f"Batch {retried} (MACK WELDON): {audited} change")
        dialog.reject()

    qloop.run_until_complete(scenario())


def test_stop_checking_stops_the_reads_and_shows_nothing_of_a_half_read_board(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _world(sqlite_engine)
    window = open_window()
    finished = runs_finished(window)
    failures: list[str] = []
    window.bridge.failed.connect(lambda name, message: failures.append(f"{name}: {message}"))

    async def start(dialog_hold: float) -> DriftDialog:
        """Ctrl+B, the forecast, Check; the check's lookup by id is held in the sandbox (a slow network)."""
        window.activateWindow()
        await until(lambda: QApplication.activeWindow() is window, 10, "the window to be active")
        await until(lambda: window.check_action.isEnabled(), 10, "Check the board to be enabled")
        before = getattr(window, "drift_dialog", None)
        QTest.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
        dialog = window.drift_dialog
        assert dialog is not before and dialog.isVisible()
        await until(lambda: dialog.check_button.isEnabled() or dialog.error, 60, "the forecast")
        assert dialog.error is None, dialog.error
        held = sandbox.stats["held"]
        sandbox.fail_next("hold", on="query", field="items", seconds=dialog_hold)
        dialog.check_button.click()
        assert dialog.stop_button.isVisible() and dialog.stop_button.isDefault()
        assert QApplication.focusWidget() is dialog.stop_button  # Enter or Space stops it
        await until(lambda: sandbox.stats["held"] == held + 1, 60, "the lookup by id to be in flight")
        return dialog

    async def scenario():
        await _sync(window, qtbot, finished, 1)
        # an archived item: the check looks it up by id after the groups' pages, before the sizes
        sandbox.archive_item(_line(sqlite_engine, "MWE-00002")["monday_item_id"])

        dialog = await start(5)
        queries = sandbox.stats["queries"]
        QTest.keyClick(dialog.stop_button, Qt.Key.Key_Space)  # Stop checking, from the keyboard
        assert dialog.cancel.is_set() and not dialog.stop_button.isEnabled()
        assert dialog.summary.text().startswith("Stopping the check after the read in flight")
        await until(lambda: dialog.stopped is not None or dialog.error, 60, "the check to stop")
        assert dialog.error is None and dialog.report is None
        assert dialog.summary.text().startswith("The check was stopped after 2 of about ")
        assert "Nothing is shown" in dialog.summary.text() and dialog.findings() == []
        assert dialog.tree.topLevelItemCount() == 0 and not dialog.stop_button.isVisible()
        assert dialog.isVisible()  # it says so, and stays until closed
        await until(lambda: window.check_action.isEnabled(), 10, "Check the board to be enabled again")
        assert sandbox.stats["queries"] == queries + 1  # the held lookup was the last read: no page of sizes
        dialog.reject()

        # Esc while it reads: the reads stop after the one in flight, and the dialog closes.
        dialog = await start(2)
        queries = sandbox.stats["queries"]
        QTest.keyClick(dialog, Qt.Key.Key_Escape)
        assert dialog.cancel.is_set() and not dialog.isVisible()
        await until(lambda: window.check_action.isEnabled(), 30, "the check to end")
        assert sandbox.stats["queries"] == queries + 1
        assert dialog.report is None and dialog.findings() == []
        assert failures == []  # a stop is no failure: nothing reported as one

    qloop.run_until_complete(scenario())
