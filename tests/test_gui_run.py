"""A run followed at a glance, in the real window on the real engine, the sandbox over HTTP and SQLite:
the header's one bar across customers, the forecast before the click, plain batch states and words."""

from __future__ import annotations

import itertools
import re

import pytest
import sqlalchemy as sa
from PySide6.QtCore import Qt

from core.db import schema as s
from core.push.forecast import Pace, describe_duration, describe_forecast, forecast_seconds
from gui.models import COL_STATUS
from gui.models.batches import DONE_COLOR, STUCK_COLOR
from gui.run_panel import BAR_STEPS, budget_text
from tests.helpers import BOARD, make_world
from tests.test_gui_window import _failing_world, customers_in_list, open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - the fixtures


def test_the_bar_never_goes_back_across_three_customers(qloop, qtbot, open_window, sqlite_engine, sandbox, log_folder):
    from core.foundation.logs import setup_logging

    make_world(sqlite_engine, n_orders=120, seed=9, hostile=False)
    setup_logging(console_level=None)  # as the application does: the log pane shows what is logged
    window = open_window()
    finished = runs_finished(window)
    panel = window.run_panel
    raw: list[float] = []  # the unclamped share done, at every step: the plan must be honest, not just clamped
    headlines: list[str] = []

    def record(*_args) -> None:
        tracker = panel.tracker
        if tracker.running and tracker.rows_total():
            raw.append(tracker.rows_done() / tracker.rows_total())
        headlines.append(panel.headline.text())

    progress = window.bridge.progress
    for signal in (progress.runPlanned, progress.batchStarted, progress.batchProgressed, progress.batchFinished):
        signal.connect(record)

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 3, what="the pending customers")
        chosen = sorted(customers_in_list(window))[:3]
        for customer in chosen:
            window.customers.set_checked(customer, True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 180, "the sync of three customers to finish")
        planned = panel.tracker.planned
        assert sorted(planned) == chosen and all(p.rows for p in planned.values())
        with sqlite_engine.connect() as conn:
            staged = conn.execute(sa.select(sa.func.sum(s.batches.c.total_items + s.batches.c.total_subitems))).scalar()
        assert sum(p.rows for p in planned.values()) == staged  # the total known at the start was the real one
        return chosen

    chosen = qloop.run_until_complete(scenario())
    values = panel.values
    assert len(values) > 6
    assert all(a <= b for a, b in itertools.pairwise(values)), values
    assert all(a <= b + 1e-9 for a, b in itertools.pairwise(raw)), raw
    assert values[-1] == BAR_STEPS
    # The bar did not start over with each customer: when the third began, more than a third was done.
    third = next(i for i, h in enumerate(headlines) if h.startswith("Customer 3 of 3"))
    assert raw[min(third, len(raw) - 1)] > 0.3
    for position, customer in enumerate(chosen, 1):
        assert f"Customer {position} of 3: {customer}" in headlines
    # The log pane tells each batch in plain words.
    log_text = window.log_view.toPlainText()
    assert "sending to monday" in log_text and "recording what monday confirmed" in log_text
    for jargon in ("claimed", "PUSHING", "PROMOTING", "COMPLETED", "STAGED", "mutations", "complexity"):
        assert jargon not in log_text, jargon
    # Idle: the outcome stays, in plain words.
    assert re.fullmatch(r"The last sync ended at \d\d:\d\d: 3 customers done, everything sent\.", panel.headline.text())
    assert window.budget_label.text().startswith("monday budget: ") and "% left this minute" in (
        window.budget_label.text()
    )


def test_the_forecast_shows_next_to_sync_and_in_preview(qloop, qtbot, open_window, sqlite_engine, sandbox):
    make_world(sqlite_engine, n_orders=60, seed=5, hostile=False)
    window = open_window()
    label = window.forecast_label
    assert label.text() == label.NOTHING_TICKED

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 2, what="the pending customers")
        chosen = sorted(customers_in_list(window))[:2]
        for customer in chosen:
            window.customers.set_checked(customer, True)
        await until(lambda: label.text().startswith("Ticked: about"), 30, "the forecast under Sync")
        report = await window.bridge.preview(chosen)
        changes = sum(r["mutations"] for r in report)
        assert label.text() == f"Ticked: {describe_forecast(changes, Pace())}"
        assert f"about {changes:,} changes, " in label.text() and label.text().endswith("at your monday budget")
        qtbot.mouseClick(window.preview_button, Qt.MouseButton.LeftButton)
        dialog = window.preview_dialog
        await until(lambda: dialog.report is not None, 30, "the preview")
        text = dialog.summary.text()
        assert describe_forecast(changes, Pace()) in text and "mutation" not in text
        dialog.close()
        window.customers.set_all_checked(False)
        await until(lambda: label.text() == label.NOTHING_TICKED, 10, "the forecast to clear")

    qloop.run_until_complete(scenario())


def test_a_batch_whose_failed_lines_were_all_retried_shows_done(qloop, qtbot, open_window, sqlite_engine, sandbox):
    _failing_world(sqlite_engine)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")  # the board cannot take these lines yet
    window = open_window()
    finished = runs_finished(window)

    def first_batch_status() -> tuple[str, object]:
        model = window.batches
        row = next(r for r in range(model.rowCount()) if model.index(r, 0).data() == str(first))
        index = model.index(row, COL_STATUS)
        return index.data(), index.data(Qt.ItemDataRole.BackgroundRole)

    async def scenario():
        nonlocal first
        await until(lambda: window.customers.rowCount() == 1, what="MACK WELDON pending")
        window.customers.set_all_checked(True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 60, "the sync to finish")
        first = finished[0][0].batch_id
        # The list is read every second: the read after the run's end shows how the batch ended.
        await until(lambda: window.batches.rowCount() == 1, 10, "the batch in the list")
        await until(lambda: first_batch_status()[0].endswith(" lines failed"), 10, "the batch's end in the list")
        text, colour = first_batch_status()
        assert text.endswith(" lines failed") and colour == STUCK_COLOR
        assert "lines could not be sent" in window.run_panel.headline.text()
        sandbox.add_label(BOARD, "ORDER TYPE", "RECEIVED")  # the board owner adds the label back
        await until(lambda: any(c.retry_button.isEnabled() for c in window.failures.cards), 20, "a group's Retry")
        card = next(c for c in window.failures.cards if c.retry_button.isEnabled())
        qtbot.mouseClick(card.retry_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 2, 60, "the retry to finish")
        await until(lambda: first_batch_status()[0].endswith(" retried"), 20, "the first batch done")
        assert first_batch_status()[1] == DONE_COLOR
        with sqlite_engine.connect() as conn:  # its recorded history stays what happened in it
            status = conn.execute(sa.select(s.batches.c.status).where(s.batches.c.batch_id == first)).scalar()
        assert status == s.COMPLETED_WITH_ERRORS
        # A window opened later says how the newest batch ended, before any run of its own.
        later = open_window()
        await until(lambda: later.run_panel.headline.text().startswith("The last batch ended at "), 10, "the outcome")
        assert later.run_panel.headline.text().endswith(": MACK WELDON, done.")

    first = None
    qloop.run_until_complete(scenario())
    assert len(sandbox.board_dump(BOARD)["items"]) == 8


@pytest.mark.parametrize(
    ("changes", "words"),
    [(0, "nothing to send"), (300, "under a minute"), (980, "about 2 minutes"), (25_000, "about 1 hour 14 minutes")],
)
def test_the_forecast_arithmetic(changes, words):
    pace = Pace()  # 30,000 points a change, 10 million a minute: 333 changes a minute, the first 333 at once
    assert words in describe_forecast(changes, pace)
    assert forecast_seconds(980, pace) == pytest.approx((980 * 30_000 - 10_000_000) / 10_000_000 * 60)
    slow = Pace(round_trip=1.0, per_request=25)
    assert forecast_seconds(100, slow) == pytest.approx(4.0)  # within the budget: four round trips
    assert describe_duration(4 * 3600 + 60) == "about 4 hours"
    assert budget_text(8.68e6, 10e6) == "monday budget: 87% left this minute"
    assert budget_text(None, None) == ""


def test_the_key_batch_columns_stay_in_sight_at_1024_by_700(qloop, qtbot, open_window, sqlite_engine, sandbox):
    from gui.models import BatchesModel as M

    make_world(sqlite_engine, n_orders=300, seed=4, hostile=False)
    window = open_window()
    window.resize(1024, 700)  # from the first size (1400 × 860), as a window maximised on a small screen
    finished = runs_finished(window)

    def key_columns_in_sight() -> None:
        view = window.batches_view
        width = view.viewport().width()
        for column in (M.COL_CUSTOMER, M.COL_STATUS, M.COL_PROGRESS, M.COL_ETA):
            left = view.columnViewportPosition(column)
            assert 0 <= left and left + view.columnWidth(column) <= width, (
                column,
                left,
                width,
                window.top_split.sizes(),
            )

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 5, what="the pending customers")
        key_columns_in_sight()
        for customer in sorted(customers_in_list(window))[:2]:  # the others stay listed: the pane keeps its width
            window.customers.set_checked(customer, True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 120, "the sync to finish")
        await until(lambda: window.batches.rowCount() >= 1, 10, "the batches")
        key_columns_in_sight()

    qloop.run_until_complete(scenario())
    tip = window.batches.index(0, M.COL_CUSTOMER).data(Qt.ItemDataRole.ToolTipRole)
    assert tip == window.batches.index(0, M.COL_CUSTOMER).data()  # the whole name, where the cell elides it


def test_the_bar_holds_when_a_customer_sends_more_than_planned():
    from core.push.forecast import PlannedCustomer
    from core.push.progress import BatchResult
    from gui.run_tracker import RunTracker

    tracker = RunTracker()
    tracker.start(0.0)
    tracker.plan([PlannedCustomer("A", 2, 8, 10), PlannedCustomer("B", 2, 8, 10)], Pace())
    tracker.batch_started(1, "A", 2, 8)
    tracker.progress(1, 10, 10, 1.0)
    tracker.batch_finished("A", 1, s.COMPLETED)
    assert tracker.fraction() == 0.5 and tracker.headline() == "Customer 1 of 2: A"
    tracker.batch_started(2, "B", 6, 24)  # B's batch holds more than its detection counted (a resumed batch, say)
    assert tracker.rows_done() / tracker.rows_total() == 0.25
    assert tracker.fraction() == 0.5  # held, not sent back
    tracker.progress(2, 20, 30, 2.0)
    assert tracker.fraction() == 0.75
    assert tracker.seconds_left(3.0) == pytest.approx(
        1.0
    )  # 10 rows left at the rate seen (10 a second): a quarter is done
    tracker.batch_finished("B", 2, s.COMPLETED_WITH_ERRORS)
    assert tracker.fraction() == 1.0
    tracker.finish(
        [BatchResult(1, "A", s.COMPLETED), BatchResult(2, "B", s.COMPLETED_WITH_ERRORS, {"failed_count": 3})], 0
    )
    assert tracker.outcome().endswith(": 2 customers done, 3 lines could not be sent (see Failed lines).")


def test_a_run_that_stops_before_any_customer_says_so_and_keeps_saying_it(
    qloop, qtbot, open_window, sqlite_engine, sandbox, monkeypatch
):
    make_world(sqlite_engine, n_orders=20, seed=3, hostile=False)
    window = open_window()
    monkeypatch.delenv("MONDAY_API_TOKEN")  # the run's client cannot be made: no token
    finished = runs_finished(window)

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 1, what="the pending customers")
        window.customers.set_checked(min(customers_in_list(window)), True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 30, "the sync to stop")
        await until(lambda: "stopped" in window.run_panel.headline.text(), 10, "the outcome")
        window.refresh_batches()
        await until(lambda: not window._refreshing, 10, "the batch list read again")

    qloop.run_until_complete(scenario())
    text = window.run_panel.headline.text()
    assert re.match(r"The last sync stopped at \d\d:\d\d: no monday API token", text), text
