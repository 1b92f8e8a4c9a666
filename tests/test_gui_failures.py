"""The failed lines of the window, grouped by what to do: the real window, the real engine, the sandbox
over HTTP and SQLite (the fixtures of tests/test_gui_window.py), and the grouping on its own."""

from __future__ import annotations

import csv
import datetime as dt

import sqlalchemy as sa
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from core.db import schema as s
from core.foundation.error_types import ERROR_KINDS, RETRY_AFTER_FIX, RETRY_NEVER, ErrorType, cause_of
from gui.failure_groups import group_failures
from gui.failures_widgets import LinesModel
from gui.models import RetryableRole
from tests.helpers import BOARD, empty_orders, order_row
from tests.test_gui_window import open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures

MISSING = 'the board has no ORDER TYPE label "RECEIVED"'


def _world(engine, lines: int = 31, invalid: bool = False) -> None:
    """``lines`` MACK WELDON lines: two thirds with four sizes, the rest with three (31 lines: 114 sizes)."""
    table = empty_orders(engine)
    rows = []
    for n in range(1, lines + 1):
        four = n <= 21
        sizes = {"XS": 6, "S": 12, "M": 24, "L": 24} if four else {"S": 12, "M": 24, "L": 24}
        rows.append(
            order_row(
                table,
                **{
                    "AAG ORDER NUMBER": f"MWE-{n:05d}",
                    "PO NUMBER": f"PO-{n:03d}",
                    "CUSTOMER STYLE": f"STY{n:03d}",
                    "CUSTOMER COLOUR DESCRIPTION": f"COLOUR {n}",
                    "TOTAL QTY": sum(sizes.values()),
                    **sizes,
                },
            )
        )
    if invalid:
        rows.append(order_row(table, **{"AAG ORDER NUMBER": "MWE-BAD01", "CUSTOMER PRICE": "N/A"}))
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)


def _open_rows(engine) -> int:
    with engine.connect() as conn:
        return sum(
            conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.resolved_at.is_(None))).scalar_one()
            for t in (s.err_items, s.err_subitems)
        )


async def _sync_all(window, qtbot, finished) -> None:
    await until(lambda: window.customers.rowCount() == 1, what="MACK WELDON pending")
    window.customers.set_all_checked(True)
    qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
    await until(lambda: len(finished) == 1, 90, "the sync to finish")


def _cards(window) -> dict:
    return {card.key: card for card in window.failures.cards if not card.isHidden()}


def test_145_failed_rows_of_one_missing_label_are_one_group_of_31_lines_and_its_retry_clears_it(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _world(sqlite_engine)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")  # the board cannot take these lines yet
    window = open_window()
    pane = window.failures
    finished = runs_finished(window)

    async def scenario():
        await _sync_all(window, qtbot, finished)
        await until(lambda: len(pane.rows) == 145, 30, "the 145 failed rows")
        assert _open_rows(sqlite_engine) == 145  # 31 lines and their 114 sizes
        assert len(pane.groups) == 1 and len(pane.groups[0].lines) == 31
        (card,) = _cards(window).values()
        assert card.title.text().startswith("<b>31 lines could not be sent:</b> ")
        assert MISSING in card.title.text()
        assert "Add the label" in card.fix.text() and card.retry_button.text() == "Retry these 31 lines"
        assert card.retry_button.isEnabled()
        assert "31 lines in 1 group · 145 failed rows" in pane.count_label.text()
        lines = pane.lines
        assert lines.rowCount() == 31  # one row per order line, never one per size
        texts = {lines.index(r, LinesModel.COL_SIZES).data() for r in range(31)}
        assert texts == {"4 sizes waiting for this line", "3 sizes waiting for this line"}
        first = next(r for r in range(31) if lines.index(r, LinesModel.COL_ORDER).data() == "MWE-00001")
        assert [lines.index(first, c).data() for c in (LinesModel.COL_STYLE, LinesModel.COL_COLOUR)] == [
            "STY001",
            "COLOUR 1",
        ]
        assert all(lines.index(r, 0).data(RetryableRole) for r in range(31))

        # The details pane follows the line: a field table, and no "sent" for a line never sent.
        pane.lines_view.setCurrentIndex(lines.index(first, 1))
        assert pane.details.shown_ref is not None
        assert pane.details.fields.horizontalHeaderItem(2).text() == "Would send"
        await until(
            lambda: any(row[0] == "AAG ORDER NUMBER" and row[3] == "MWE-00001" for row in pane.details.field_rows()),
            20,
            "the line as the ERP holds it now",
        )
        assert "ColumnValueException" not in card.title.text() + card.fix.text()

        sandbox.add_label(BOARD, "ORDER TYPE", "RECEIVED")  # the board owner adds the label
        # Without the mouse: from the search box, Tab reaches the group's Retry, and Space presses it.
        window.activateWindow()
        pane.error_search.setFocus()
        qtbot.keyClick(pane.error_search, Qt.Key.Key_Tab)
        assert QApplication.focusWidget() is card.retry_button
        qtbot.keyClick(card.retry_button, Qt.Key.Key_Space)
        await until(lambda: len(finished) == 2, 90, "the group's retry to finish")
        await until(lambda: pane.result_panel.isVisible(), 30, "the retry's result")
        assert pane.result_label.text().endswith("31 lines sent, 0 failed.")
        assert len(sandbox.board_dump(BOARD)["items"]) == 31 and _open_rows(sqlite_engine) == 0
        assert not _cards(window) and pane.groups == []
        assert pane.empty_label.isVisible() and pane.empty_label.text().startswith(
            "No failed lines. Everything synced at"
        )
        assert pane.details.shown_ref is None  # its row went: the pane cleared
        assert not pane.retry_selected_button.isEnabled() and not pane.export_button.isEnabled()
        window.refresh_all()  # the result stays until dismissed
        await until(lambda: not window.bridge.tasks.running("refresh"), 20, "the refresh")
        assert pane.result_panel.isVisible()
        qtbot.mouseClick(pane.dismiss_button, Qt.MouseButton.LeftButton)
        assert not pane.result_panel.isVisible()

    qloop.run_until_complete(scenario())


def test_a_line_the_erp_must_fix_offers_no_retry_and_says_which_value(
    qloop, qtbot, open_window, sqlite_engine, sandbox, tmp_path
):
    _world(sqlite_engine, lines=3, invalid=True)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
    window = open_window()
    pane = window.failures
    finished = runs_finished(window)

    async def scenario():
        await _sync_all(window, qtbot, finished)
        await until(lambda: len(pane.groups) == 2, 30, "two causes")

        # The cards take the height they need (up to three fifths of the split), the lines below the rest.
        def cards_fit() -> bool:
            cards, lines = pane.groups_split.sizes()
            need = pane.cards_host.sizeHint().height() + 2 * pane.cards_scroll.frameWidth()
            return cards >= min(need, (cards + lines) * 3 // 5) - 1

        await until(cards_fit, 5, "the cards to get their height")
        cards = _cards(window)
        invalid = next(card for key, card in cards.items() if key[0] == ErrorType.VALIDATION)
        assert not invalid.retry_button.isEnabled() and invalid.retry_button.text() == "No retry: fix in the ERP"
        assert "which value to fix" in invalid.fix.text()  # the reason is on screen, not only in a tooltip
        qtbot.mouseClick(invalid.show_button, Qt.MouseButton.LeftButton)
        lines = pane.lines
        assert lines.rowCount() == 1
        assert not lines.index(0, 0).data(RetryableRole)
        todo = lines.index(0, LinesModel.COL_TODO).data()
        assert todo.startswith("No retry: fix in the ERP:") and "CUSTOMER PRICE" in todo and "'N/A'" in todo
        pane.lines_view.selectRow(0)
        assert pane.details.shown_ref is not None
        assert not pane.retry_selected_button.isEnabled()  # nothing selected can be retried
        assert pane.details.fields.horizontalHeaderItem(2).text() == "Would send"

        # Filtered out: the details pane clears.
        pane.error_search.setText("MWE-00002")
        await until(lambda: pane.details.shown_ref is None, 5, "the details pane to clear")
        assert all(line.order == "MWE-00002" for line in lines.lines)
        pane.error_search.clear()

        # The flat list, one click away, and its CSV.
        pane.flat_toggle.click()
        assert pane.stack.currentWidget() is pane.errors_view and pane.errors_proxy.rowCount() == 3 + 12 + 1
        path = tmp_path / "failed.csv"
        assert window.write_csv(path) == 16
        with path.open(encoding="utf-8") as handle:
            table = list(csv.reader(handle))
        assert table[0][:3] == ["ID", "Customer", "PO"] and "Kind of failure" in table[0]
        assert len(table) == 17 and {row[0][0] for row in table[1:]} == {"I", "S"}
        kinds = {row[table[0].index("Kind of failure")] for row in table[1:]}
        assert kinds == {"Needs a fix in the ERP", "Value the board refused", "Waiting for its order line"}

        # A retry before the board is fixed: the result says so, and so do the rows.
        pane.flat_toggle.click()
        label = next(card for key, card in _cards(window).items() if key[0] == "missing_label")
        await until(lambda: label.retry_button.text() == "Retry these 3 lines", 5, "the search cleared")
        qtbot.mouseClick(label.retry_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 2, 90, "the retry to finish")
        await until(lambda: pane.result_panel.isVisible(), 30, "the retry's result")
        assert pane.result_label.text().endswith("0 lines sent, 3 failed again; their rows say so.")
        qtbot.mouseClick(label.show_button, Qt.MouseButton.LeftButton)
        assert lines.rowCount() == 3
        assert all(lines.index(r, LinesModel.COL_TODO).data().startswith("Retried at ") for r in range(3))

    qloop.run_until_complete(scenario())


def test_before_any_sync_the_batches_and_the_failed_lines_say_so_without_zero_counts(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _world(sqlite_engine, lines=2)
    window = open_window()
    pane = window.failures
    empty = window.batches_empty.label
    finished = runs_finished(window)

    async def scenario():
        await until(lambda: pane.empty_label.text().startswith("No failed lines"), 10, "the failed lines read")
        assert pane.count_label.text() == ""  # not "0 lines in 0 groups · 0 failed rows"
        assert window.batches.rowCount() == 0
        assert empty.isVisibleTo(window.batches_view) and empty.text().startswith("No batches yet.")
        await _sync_all(window, qtbot, finished)
        await until(lambda: window.batches.rowCount() == 1, 10, "the batch in the list")
        assert not empty.isVisibleTo(window.batches_view)

    qloop.run_until_complete(scenario())


# --- the grouping and the plain words on their own ---------------------------------------------------------


def _row(ref: str, error_type: str, message: str, key: str, **extra) -> dict:
    level = "subitem" if ref.startswith("S") else "item"
    return {
        "ref": ref,
        "level": level,
        "customer": "ACME",
        "po_number": "PO1",
        "order_number": key.split(" | ")[0],
        "error_type": error_type,
        "error_code": None,
        "message": message,
        "retryable": error_type in ("SERVER", "TIMEOUT"),
        "fixed": error_type in ("COLUMN_VALUE", "PARENT_FAILED"),
        "retry_count": 0,
        "last_failed_at": dt.datetime(2025, 1, 1, 12, 0),
        "resolved_at": None,
        ("sync_key" if level == "item" else "parent_sync_key"): key,
        **extra,
    }


def test_sizes_fold_into_their_line_and_causes_group_lines():
    label = "ORDER TYPE: the board has no status label 'CANCELLED' (it has ACTIVE, RECEIVED)"
    rows = [
        _row("I1", "COLUMN_VALUE", label, "A | X | RED"),
        _row("S1", "PARENT_FAILED", f"not sent: its item failed ({label})", "A | X | RED", size_label="S"),
        _row("S2", "PARENT_FAILED", f"not sent: its item failed ({label})", "A | X | RED", size_label="M"),
        _row("I2", "COLUMN_VALUE", label, "B | X | RED"),
        _row("I3", "VALIDATION", "CUSTOMER PRICE: 'N/A' is not a number", "C | X | RED"),
        _row("S3", "SERVER", "monday answered 500", "D | X | RED", size_label="L"),
        _row("S4", "SERVER", "monday answered 500", "D | X | RED", size_label="XL"),
        _row("I4", "COLUMN_VALUE", label, "E | X | RED", resolved_at=dt.datetime(2025, 1, 2)),
    ]
    groups = {g.key: g for g in group_failures(rows)}
    label_group = groups[("missing_label", "ORDER TYPE", "CANCELLED")]
    assert [sorted(line.refs) for line in label_group.lines] == [["I1", "S1", "S2"], ["I2"]]
    assert label_group.sentence() == '2 lines could not be sent: the board has no ORDER TYPE label "CANCELLED".'
    assert label_group.lines[0].sizes_text() == "2 sizes waiting for this line"
    (server,) = [g for k, g in groups.items() if k == ("SERVER",)]
    assert [line.refs for line in server.lines] == [["S3", "S4"]]
    assert server.lines[0].sizes_text() == "2 sizes failed: L, XL" and server.lines[0].can_retry
    (invalid,) = [g for k, g in groups.items() if k[0] == "VALIDATION"]
    assert not invalid.lines[0].can_retry and "'N/A'" in invalid.lines[0].todo()
    assert sum(len(g.lines) for g in groups.values()) == 4  # the resolved line is not grouped


def test_every_error_type_has_plain_words_and_a_cause():
    assert set(ERROR_KINDS) == set(ErrorType)
    for kind in ERROR_KINDS.values():
        assert kind.name and kind.explanation.endswith(".") and kind.fix.endswith(".")
        assert "_" not in kind.name  # never the enum's spelling
    cause = cause_of("COLUMN_VALUE", "ORDER TYPE: the board has no status label 'CANCELLED' (it has X)")
    assert (cause.column, cause.value, cause.retry) == ("ORDER TYPE", "CANCELLED", RETRY_AFTER_FIX)
    assert cause_of("VALIDATION", "CUSTOMER PRICE: 'N/A' is not a number").retry == RETRY_NEVER
    a = cause_of("VALIDATION", "CUSTOMER PRICE: 'N/A' is not a number")
    b = cause_of("VALIDATION", "CUSTOMER PRICE: 'TBC' is not a number")
    assert a.key == b.key  # the same fix: one group, each line naming its own value
