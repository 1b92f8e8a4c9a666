"""The real window, driven with pytest-qt, against the real engine, the sandbox over HTTP and SQLite.

The window runs on a qasync event loop as in the application; each scenario is a coroutine run
on that loop, waiting for what a planner would see.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import contextlib
import logging
import sys
import time

import pytest
import qasync
import sqlalchemy as sa
from PySide6.QtCore import QObject, Qt, QTimer, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QApplication

from core.db import schema as s
from gui.bridge import EngineBridge
from gui.main_window import MainWindow
from gui.models import CustomersModel, ErrorsModel, KeyRole, RetryableRole
from tests.helpers import BOARD, SANDBOX_TOKEN, empty_orders, engine_context, make_world, order_row, start_sandbox


@pytest.fixture
def qloop(qapp):
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


async def until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", base_latency=0.01)
    yield server
    server.stop()


@pytest.fixture
def open_window(qtbot, qloop, sqlite_engine, sandbox, monkeypatch):
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    windows = []

    def make():
        ctx = engine_context(sqlite_engine, **{"monday.api_url": sandbox.url})
        bridge = EngineBridge(ctx)
        window = MainWindow(bridge)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.bridge.cancel()
        window.close()
        window.bridge.executor.shutdown(wait=True)


def runs_finished(window) -> list:
    """Every sync or retry the window started, as the bridge reports its end (never missed, unlike polling)."""
    finished: list = []
    window.bridge.syncFinished.connect(finished.append)
    return finished


def customers_in_list(window) -> set[str]:
    """The customers the list shows (those with pending work, unless "Show all customers" is ticked)."""
    proxy = window.customers_proxy
    return {proxy.index(r, CustomersModel.COL_CUSTOMER).data(KeyRole) for r in range(proxy.rowCount())}


def test_sync_two_selected_customers_to_completion(qloop, qtbot, open_window, sqlite_engine, sandbox):
    make_world(sqlite_engine, n_orders=80, seed=9, hostile=False)
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 3, what="the pending customers")
        chosen = sorted(customers_in_list(window))[:2]
        for customer in chosen:
            window.customers.set_checked(customer, True)
        assert window.sync_button.isEnabled()
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 120, "the sync to finish")
        await until(lambda: not (customers_in_list(window) & set(chosen)), 30, "the customers to leave the list")
        assert window.customers.checked() == []  # their work is done: no longer ticked
        # Still listable with their last sync, through "Show all customers".
        window.customers_pane.show_all.setChecked(True)
        assert set(chosen) <= customers_in_list(window)
        for customer in chosen:
            row = window.customers.row_for_key(customer)
            assert window.customers.index(row, CustomersModel.COL_LAST_SYNC).data() not in ("", "never")
        await until(
            lambda: (
                all(
                    window.batches.index(r, 0).data(KeyRole) is not None and window.batches.index(r, 2).data() == "Done"
                    for r in range(window.batches.rowCount())
                )
                and window.batches.rowCount() == 2
            ),
            10,
            "both batches to show Done",
        )
        done, total = window.batches.overall()
        assert done == total  # nothing active left
        board = {i["column_values"]["CUSTOMER"] for i in sandbox.board_dump(BOARD)["items"]}
        assert board == set(chosen)
        rows = [window.batches.index(r, 0).data(KeyRole) for r in range(window.batches.rowCount())]
        assert len(rows) == 2

    qloop.run_until_complete(scenario())


def _failing_world(engine):
    table = empty_orders(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                order_row(
                    table,
                    **{
                        "AAG ORDER NUMBER": f"MWE-{n:05d}",
                        "PO NUMBER": f"PO-{n:03d}",
                        "CUSTOMER COLOUR DESCRIPTION": f"COLOUR {n}",
                    },
                )
                for n in range(1, 9)
            ],
        )


def test_failed_rows_show_in_the_grid_and_one_retry_resolves_the_intended_row(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _failing_world(sqlite_engine)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")  # the board cannot take these lines yet
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await until(lambda: window.customers.rowCount() == 1, what="MACK WELDON pending")
        window.customers.set_all_checked(True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 60, "the sync to finish")
        await until(lambda: len(window.failures.rows) >= 8, 20, "the failed rows in the grid")
        assert sandbox.board_dump(BOARD)["items"] == []
        # The board owner adds the label back: the rows can go now.
        sandbox.add_label(BOARD, "ORDER TYPE", "RECEIVED")
        window.failures.flat_toggle.click()  # the flat list of every failed row, one click away
        # Sort by message descending and filter to the item errors of one order range.
        window.failures.errors_view.sortByColumn(ErrorsModel.COL_MESSAGE, Qt.SortOrder.DescendingOrder)
        window.failures.error_type.setCurrentIndex(window.failures.error_type.findData("COLUMN_VALUE"))
        window.failures.error_search.setText("MWE-0000")
        proxy = window.failures.errors_proxy
        await until(lambda: proxy.rowCount() == 8, 5, "the filtered grid")
        window.failures.errors_view.sortByColumn(ErrorsModel.COL_ORDER, Qt.SortOrder.DescendingOrder)
        target = proxy.index(2, 0)  # the third row the planner sees
        seen_order = proxy.index(2, ErrorsModel.COL_ORDER).data()
        ref = proxy.ref_at(target)
        assert target.data(RetryableRole)
        cell = window.failures.errors_view.visualRect(proxy.index(2, ErrorsModel.COL_ACTION)).center()
        qtbot.mouseClick(window.failures.errors_view.viewport(), Qt.MouseButton.LeftButton, pos=cell)
        await until(lambda: len(finished) == 2, 60, "the retry to finish")
        items = sandbox.board_dump(BOARD)["items"]
        assert [i["column_values"]["AAG ORDER NUMBER"] for i in items] == [seen_order]
        with sqlite_engine.connect() as conn:
            resolved = conn.execute(
                sa.select(s.err_items.c.err_id, s.err_items.c.order_number).where(
                    s.err_items.c.resolved_at.is_not(None)
                )
            ).all()
        assert [(f"I{r.err_id}", r.order_number) for r in resolved] == [(ref, seen_order)]
        await until(lambda: window.failures.errors.row_for_ref(ref) is None, 20, "the resolved row to leave the grid")
        await until(lambda: window.failures.result_panel.isVisible(), 20, "the retry's result")
        assert window.failures.result_label.text().endswith("1 line sent, 0 failed.")

    qloop.run_until_complete(scenario())


def test_cancel_a_running_sync_and_resume_it(qloop, qtbot, open_window, sqlite_engine, sandbox):
    make_world(sqlite_engine, n_orders=300, seed=4, hostile=False)
    sandbox.set_faults("slow=1.0,slow_seconds=0.25")  # every answer slow: time to press Cancel mid-way
    window = open_window()
    finished = runs_finished(window)

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 1, what="pending customers")
        biggest = max(window.bridge.ctx.pending(), key=lambda p: p.new).customer
        window.customers.set_checked(biggest, True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: window.cancel_button.isEnabled() and window.batches.rowCount() > 0, 20, "a running batch")
        await until(lambda: window.batches.overall()[0] > 0, 30, "the first rows on the board")
        qtbot.mouseClick(window.cancel_button, Qt.MouseButton.LeftButton)
        assert window.statusBar().currentMessage().startswith("Cancelling")
        await until(lambda: len(finished) == 1, 60, "the cancelled sync to stop")
        assert window.statusBar().currentMessage() == ""  # no stale "Cancelling…" once it has stopped
        with sqlite_engine.connect() as conn:
            batch = conn.execute(sa.select(s.batches)).mappings().one()
        assert batch["status"] == s.CANCELLED
        partial = len(sandbox.board_dump(BOARD)["items"])
        assert 0 < partial
        sandbox.set_faults(None)
        window.customers.set_checked(biggest, True)
        await until(lambda: window.sync_button.isEnabled(), 10, "Sync to be available again")
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 2, 120, "the resumed sync to finish")
        with sqlite_engine.connect() as conn:
            rows = conn.execute(sa.select(s.batches.c.batch_id, s.batches.c.status)).all()
        assert [(r.batch_id, r.status) for r in rows] == [(batch["batch_id"], s.COMPLETED)]  # resumed, not restarted
        keys = [i["column_values"]["SYNC KEY"] for i in sandbox.board_dump(BOARD)["items"]]
        assert len(keys) == len(set(keys)) > partial

    qloop.run_until_complete(scenario())


def test_keyboard_and_csv_export(qloop, qtbot, open_window, sqlite_engine, tmp_path):
    make_world(sqlite_engine, n_orders=220, seed=6, hostile=True)
    window = open_window()

    async def scenario():
        await until(lambda: window.customers.rowCount() >= 3, what="pending customers")
        assert window.sync_action.shortcut().toString() == "Ctrl+Return"
        assert window.refresh_action.shortcut().toString() == "F5"
        window.customer_filter.setFocus()
        qtbot.keyClicks(window.customer_filter, "mack")
        await until(lambda: window.customers_proxy.rowCount() == 1, 5, "the filter")
        assert not window.sync_button.isEnabled()  # nothing checked yet
        window.customers.set_checked("MACK WELDON", True)
        assert window.sync_button.isEnabled()
        written = window.write_csv(tmp_path / "errors.csv")
        assert written == window.failures.errors_proxy.rowCount()

    qloop.run_until_complete(scenario())


class UrlCatcher(QObject):
    """Qt's own hook for desktop URLs: what "open the folder" would hand to Explorer or Finder."""

    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    @Slot(QUrl)
    def open(self, url) -> None:
        self.urls.append(url.toLocalFile())


@pytest.fixture
def file_urls():
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    yield catcher.urls
    QDesktopServices.unsetUrlHandler("file")


def click_in_modal(qtbot, button_text: str, seen: list) -> None:
    """When the next modal dialog is up, note its text and click its button labelled ``button_text``."""

    def press():
        box = QApplication.activeModalWidget()
        if box is None:
            QTimer.singleShot(20, press)
            return
        seen.append(box.text() + "\n" + box.informativeText())
        button = next(b for b in box.buttons() if b.text().replace("&", "") == button_text)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(20, press)


def test_a_crash_is_logged_and_its_dialog_opens_the_log_folder(qtbot, log_folder, file_urls, monkeypatch):
    from core.foundation.logs import LOG_FILE_NAME, setup_logging
    from gui.app import excepthook

    setup_logging(console_level=None)
    seen: list = []
    click_in_modal(qtbot, "Open Log Folder", seen)
    try:
        raise ZeroDivisionError("while drawing the grid")
    except ZeroDivisionError:
        excepthook(*sys.exc_info())
    assert "ZeroDivisionError: while drawing the grid" in seen[0]
    assert str(log_folder / LOG_FILE_NAME) in seen[0] and "Nothing already recorded is lost" in seen[0]
    assert file_urls == [str(log_folder)]
    text = (log_folder / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "CRITICAL" in text and "Traceback (most recent call last)" in text and "while drawing the grid" in text


def test_the_window_shows_the_log_file_and_batch_ids_and_opens_the_folder(
    qloop, qtbot, open_window, sqlite_engine, log_folder, file_urls
):
    from core.foundation.logs import LOG_FILE_NAME, batch_context

    make_world(sqlite_engine, n_orders=20, seed=3, hostile=False)
    window = open_window()
    assert window.log_file_label.text() == f"Log file: {log_folder / LOG_FILE_NAME}"
    qtbot.mouseClick(window.open_log_button, Qt.MouseButton.LeftButton)
    assert file_urls == [str(log_folder)]
    with batch_context(17):
        logging.getLogger("core.push.run").info("batch 17: PUSHING")
    qtbot.waitUntil(lambda: "[batch 17] batch 17: PUSHING" in window.log_view.toPlainText(), timeout=5000)
    seen: list = []
    click_in_modal(qtbot, "Close", seen)
    window.about_action.trigger()
    assert "OrderSync " in seen[0] and f"Log file: {log_folder / LOG_FILE_NAME}" in seen[0]
    assert window.about_action.shortcut().toString() == "F1"


def test_qt_messages_go_into_the_log_file(qapp, log_folder):
    from PySide6.QtCore import qInstallMessageHandler, qWarning

    from core.foundation.logs import LOG_FILE_NAME, setup_logging
    from gui.app import _qt_message

    setup_logging(console_level=None)
    previous = qInstallMessageHandler(_qt_message)
    try:
        qWarning("QFont::setPointSize: Point size <= 0 (-1), must be greater than 0")
    finally:
        qInstallMessageHandler(previous)
    text = (log_folder / LOG_FILE_NAME).read_text(encoding="utf-8")
    assert "WARNING" in text and "qt: QFont::setPointSize: Point size <= 0" in text


def test_retry_all_leaves_invalid_lines_open_until_the_erp_fixes_them(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    """A group's Retry retries what can be retried; lines the ERP still holds wrong stay open, in the grid and
    in the customer list, and resolve only once ORDERS_UNIFIED is fixed."""
    _failing_world(sqlite_engine)
    table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=sqlite_engine)
    with sqlite_engine.begin() as conn:  # two lines a loader must reject
        conn.execute(
            table.insert(),
            [
                order_row(table, **{"AAG ORDER NUMBER": "MWE-BAD01", "CUSTOMER PRICE": "N/A"}),
                order_row(table, **{"AAG ORDER NUMBER": None}),
            ],
        )
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")
    window = open_window()
    finished = runs_finished(window)

    def open_validation() -> int:
        with sqlite_engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(s.err_items)
                .where(s.err_items.c.error_type == "VALIDATION", s.err_items.c.resolved_at.is_(None))
            ).scalar_one()

    def shown(column: int) -> str:
        return window.customers.index(0, column).data()

    async def scenario():
        await until(lambda: window.customers.rowCount() == 1, what="MACK WELDON pending")
        window.customers.set_all_checked(True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 60, "the sync to finish")
        await until(lambda: len(window.failures.rows) >= 10, 20, "the failed and the invalid rows in the grid")
        assert open_validation() == 2
        sandbox.add_label(BOARD, "ORDER TYPE", "RECEIVED")
        cards = {card.key[0]: card for card in window.failures.cards if not card.isHidden()}
        assert not cards["VALIDATION"].retry_button.isEnabled()  # the ERP must fix those: no retry
        assert cards["missing_label"].retry_button.text() == "Retry these 8 lines"
        qtbot.mouseClick(cards["missing_label"].retry_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 2, 60, "the group's retry to finish")
        assert len(sandbox.board_dump(BOARD)["items"]) == 8  # every retryable line went
        await until(lambda: len(window.failures.rows) == 2, 20, "only the invalid rows left in the grid")
        assert open_validation() == 2  # nothing said resolved while the ERP still holds them
        assert {row["error_type"] for row in window.failures.rows} == {"VALIDATION"}
        await until(lambda: window.customers_proxy.rowCount() == 1, 20, "MACK WELDON listed with what is held back")
        assert shown(CustomersModel.COL_INVALID) == "2" and shown(CustomersModel.COL_ERRORS) == "2"
        # Fixed in the ERP; the next sync of the customer takes the lines and closes their errors.
        with sqlite_engine.begin() as conn:
            conn.execute(
                table.update().where(table.c["AAG ORDER NUMBER"] == "MWE-BAD01").values({"CUSTOMER PRICE": "12.5"})
            )
            conn.execute(table.delete().where(table.c["AAG ORDER NUMBER"].is_(None)))
        window.refresh_all()
        await until(
            lambda: window.customers.rowCount() == 1 and shown(CustomersModel.COL_INVALID) in ("0", ""),
            20,
            "the fixed lines to count as changed, not invalid",
        )
        window.customers.set_all_checked(True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 3, 60, "the sync of the fixed lines")
        assert open_validation() == 0
        assert len(sandbox.board_dump(BOARD)["items"]) == 9
        await until(lambda: len(window.failures.rows) == 0, 20, "the grid to empty")

    qloop.run_until_complete(scenario())


# --- the details pane reads one source line by its key ---------------------------------------------------


@contextlib.contextmanager
def statements_on(engine, table: str):
    """Every SQL statement naming ``table`` that runs on ``engine`` inside the block."""
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if table in statement:
            seen.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def test_a_source_line_is_read_by_its_key_in_one_query_and_maps_as_a_sync_maps_it(engine):
    from core.source.mapping import load_mapping
    from core.source.reader import Source

    table = empty_orders(engine)
    lines = [
        {"AAG ORDER NUMBER": "MWE-00001", "CUSTOMER COLOUR DESCRIPTION": "NAVY"},
        {"AAG ORDER NUMBER": "  MWE-00002 ", "CUSTOMER COLOUR DESCRIPTION": "NAVY\t"},  # trimmed into its key
        {"AAG ORDER NUMBER": "MWE-00002", "CUSTOMER COLOUR DESCRIPTION": "navy"},  # differs in case only
        {"AAG ORDER NUMBER": "MWE-1%_3", "CUSTOMER COLOUR DESCRIPTION": "NAVY"},  # LIKE's wildcards
        {"AAG ORDER NUMBER": "MWE-1X_3", "CUSTOMER COLOUR DESCRIPTION": "NAVY"},
        {"AAG ORDER NUMBER": "A | B", "CUSTOMER COLOUR DESCRIPTION": "NAVY"},  # the key separator in a value
        {
            "AAG ORDER NUMBER": "MWE-00009",
            "CUSTOMER COLOUR DESCRIPTION": "NAVY",
            "CUSTOMER NAME": "OTHER CO",
            "PO NUMBER": "PO-OTHER",
        },
        {"AAG ORDER NUMBER": "MWE-00009", "CUSTOMER COLOUR DESCRIPTION": "NAVY", "PO NUMBER": "PO-MACK"},
    ]
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **values) for values in lines])
    source = Source.reflect(engine, load_mapping())
    with engine.connect() as conn:
        scanned = [source.mapper.map_row(row) for row in source.iter_rows(conn)]  # what a sync maps
        keys = [line.sync_key for line in scanned]
        assert keys[1] == "MWE-00002 | M01Y09 | NAVY" and keys[3] == "MWE-1%_3 | M01Y09 | NAVY"

        for wanted in (1, 2, 3, 4):
            with statements_on(engine, "ORDERS_UNIFIED") as seen:
                line = source.read_line(conn, keys[wanted])
            assert len(seen) == 1 and "WHERE" in seen[0], seen  # one SELECT, narrowed in SQL
            assert line.source == scanned[wanted].source and line.sync_key == keys[wanted]

        assert source.read_line(conn, "A | B | M01Y09 | NAVY").source == scanned[5].source
        assert source.read_line(conn, "MWE-00003 | M01Y09 | NAVY") is None
        assert source.read_line(conn, "mwe-00001 | M01Y09 | NAVY") is None  # keys compare exactly
        # A key under two customers: the error's customer's line.
        assert source.read_line(conn, keys[6], "MACK WELDON").source["PO NUMBER"] == "PO-MACK"
        assert source.read_line(conn, keys[6], scanned[6].customer).source["PO NUMBER"] == "PO-OTHER"


def test_the_details_pane_shows_the_failed_line_as_orders_unified_holds_it_now(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    _failing_world(sqlite_engine)
    sandbox.remove_label(BOARD, "ORDER TYPE", "RECEIVED")  # every line fails on the board, without source_json
    window = open_window()
    finished = runs_finished(window)
    ctx = window.bridge.ctx
    pane = window.failures

    def select(ref: str) -> None:
        row = pane.errors.row_for_ref(ref)
        pane.errors_view.setCurrentIndex(pane.errors_proxy.mapFromSource(pane.errors.index(row, 0)))

    def now_column() -> dict:
        return {field: now for field, _before, _sent, now in pane.details.field_rows() if now}

    async def scenario():
        await until(lambda: window.customers.rowCount() == 1, what="MACK WELDON pending")
        window.customers.set_all_checked(True)
        qtbot.mouseClick(window.sync_button, Qt.MouseButton.LeftButton)
        await until(lambda: len(finished) == 1, 60, "the sync to finish")
        await until(lambda: len(pane.rows) >= 8, 20, "the failed rows in the grid")
        pane.flat_toggle.click()
        rows = pane.rows
        first, second = [row for row in rows if row.get("sync_key")][:2]
        assert first["sync_key"] and not first["source_json"]

        select(first["ref"])
        await until(lambda: "AAG ORDER NUMBER" in now_column(), 20, "the line as the ERP holds it now")
        with sqlite_engine.connect() as conn:
            expected = next(
                ctx.source.mapper.map_row(row).item_fields
                for row in ctx.source.iter_rows(conn)
                if ctx.source.mapper.row_key(row) == first["sync_key"]
            )
        from gui.details import FIELD_WORDS  # the item's name and group in the board's words

        assert now_column() == {FIELD_WORDS.get(k, k): str(v) for k, v in expected.items() if v is not None}
        assert now_column()["AAG ORDER NUMBER"] == first["order_number"]
        assert "ColumnValueException" not in pane.details.summary.text()  # monday's code: technical details only
        technical = pane.details.technical.toPlainText()
        assert f"reference for support: {first['ref']}" in technical
        assert first["error_type"] not in technical  # our type names stay out of what a planner reads

        # The ERP drops the line: the next look says so.
        table = sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=sqlite_engine)
        with sqlite_engine.begin() as conn:
            conn.execute(table.delete().where(table.c["AAG ORDER NUMBER"] == first["order_number"]))
        select(second["ref"])
        await until(
            lambda: now_column().get("AAG ORDER NUMBER") == second["order_number"], 20, "the other row's values"
        )
        select(first["ref"])
        await until(
            lambda: now_column().get("(the line)") == "no longer in the ERP", 20, "the dropped line to be reported"
        )

    qloop.run_until_complete(scenario())
