"""The customers pane and the window's title, on the real window against the real engine, the sandbox
over HTTP and SQLite: customers with nothing pending stay listable, ticks the filter hides are counted,
empty states say why, nothing is cut off at 1024x700 and 1400x860, the title names board and database.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import datetime as dt

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QApplication, QLabel, QLineEdit

from gui.customers_pane import short_time
from gui.mnemonics import strip
from gui.models import CustomersModel
from gui.window_title import database_label, window_title
from tests.helpers import BOARD, make_world
from tests.test_gui_window import open_window, qloop, runs_finished, sandbox, until  # noqa: F401 - fixtures


def test_nothing_ticked_nothing_to_press_and_hidden_ticks_are_counted(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=60, seed=9, hostile=False)
    window = open_window()
    pane = window.customers_pane

    async def scenario():
        assert pane.view.empty_label.text() == "Reading the customers…"
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        assert not pane.view.empty_label.isVisible()
        assert not window.sync_button.isEnabled() and not window.preview_button.isEnabled()
        assert not window.sync_action.isEnabled() and not window.preview_action.isEnabled()
        names = sorted(window.customers.pending_customers())
        for name in names[:3]:
            window.customers.set_checked(name, True)
        window.customer_filter.setText(names[0])
        await until(lambda: window.customers_proxy.rowCount() == 1, 5, "the filter")
        assert pane.ticked_label.text() == "3 ticked, 2 hidden by the filter"
        assert all(name in pane.ticked_label.toolTip() for name in names[1:3])
        assert window.sync_button.isEnabled() and window.sync_button.text() == "&Sync 3 customers"
        assert "2 of them hidden by the filter" in window.sync_button.toolTip()
        window.customer_filter.setText("xyz")
        await until(lambda: window.customers_proxy.rowCount() == 0, 5, "the filter")
        assert pane.view.empty_label.isVisible() and pane.view.empty_label.text() == 'No customer matches "xyz".'
        assert pane.ticked_label.text() == "3 ticked, 3 hidden by the filter"
        window.customer_filter.clear()
        window.select_none_button.click()
        assert pane.ticked_label.text() == "Nothing ticked" and not window.sync_button.isEnabled()

    qloop.run_until_complete(scenario())


def test_synced_customers_stay_listable_and_the_empty_list_says_when_the_last_sync_was(
    qloop, qtbot, open_window, sqlite_engine, sandbox
):
    make_world(sqlite_engine, n_orders=40, seed=9, hostile=False)
    window = open_window()
    finished = runs_finished(window)
    pane = window.customers_pane

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 2, what="the pending customers")
        everyone = set(window.customers.keys())
        window.select_all_button.click()
        window.sync_button.click()
        await until(lambda: len(finished) == 1, 120, "the sync to finish")
        await until(lambda: window.customers_proxy.rowCount() == 0, 30, "every customer to be done")
        assert window.customers.checked() == []
        last = window.customers.last_sync()
        assert last is not None
        assert pane.view.empty_label.isVisible()
        assert pane.view.empty_label.text() == f"Nothing pending. Last sync {short_time(last)}."
        assert not window.sync_button.isEnabled()
        # "Show all customers": every one of them, with its last sync.
        window.customer_filter.setText(min(everyone))
        assert "with nothing pending" in pane.view.empty_label.text()
        window.customer_filter.clear()
        pane.show_all.setChecked(True)
        assert pane.title() == "All customers"
        assert window.customers_proxy.shown_customers() == everyone
        assert not pane.view.empty_label.isVisible()
        for row in range(window.customers_proxy.rowCount()):
            assert window.customers_proxy.index(row, CustomersModel.COL_LAST_SYNC).data() != "never"
        # A customer with nothing pending can still be ticked and previewed when shown.
        window.customers.set_checked(min(everyone), True)
        assert window.preview_button.isEnabled()
        assert len(sandbox.board_dump(BOARD)["items"]) > 0

    qloop.run_until_complete(scenario())


@pytest.mark.parametrize("size", [(1024, 700), (1400, 860)])
def test_nothing_of_the_customers_pane_is_cut_off(qloop, qtbot, open_window, sqlite_engine, size):
    make_world(sqlite_engine, n_orders=60, seed=9, hostile=False)
    window = open_window()
    window.resize(*size)
    qtbot.waitExposed(window)

    async def scenario():
        await until(lambda: window.customers_proxy.rowCount() >= 3, what="the pending customers")
        window.customers.set_checked(window.customers.keys()[0], True)
        window.customers.set_checked(window.customers.keys()[1], True)
        window.customer_filter.setText(window.customers.keys()[0])
        await until(lambda: window.customers_proxy.rowCount() == 1, 5, "the filter")
        QApplication.sendPostedEvents()  # the layouts follow the new texts
        QApplication.processEvents()
        assert (window.width(), window.height()) == size
        view = window.customers_view
        header = view.horizontalHeader()
        assert not view.horizontalScrollBar().isVisible()
        for column in range(header.count()):
            if column == CustomersModel.COL_CUSTOMER:
                continue  # it takes the room left and elides; its tooltip holds the name whole
            assert header.sectionSize(column) >= view.sizeHintForColumn(column), column
            assert header.sectionSize(column) >= header.sectionSizeFromContents(column).width() - 24, column
        name = window.customers_proxy.index(0, CustomersModel.COL_CUSTOMER)
        assert name.data(Qt.ItemDataRole.ToolTipRole) == name.data()
        pane = window.customers_pane
        for widget in pane.findChildren(QAbstractButton) + pane.findChildren(QLabel):
            if widget.isVisible() and widget is not view.empty_label and not isinstance(widget.parent(), QLineEdit):
                assert widget.width() >= widget.minimumSizeHint().width(), widget.text()
                if isinstance(widget, QLabel) and not widget.wordWrap():
                    text = strip(widget.text())  # as shown, without the &
                    assert widget.fontMetrics().horizontalAdvance(text) <= widget.contentsRect().width(), text

    qloop.run_until_complete(scenario())


def test_the_title_names_the_board_by_its_name_and_the_database_by_name(qloop, qtbot, open_window, sqlite_engine):
    make_world(sqlite_engine, n_orders=20, seed=9, hostile=False)
    window = open_window()
    assert window.windowTitle() == f"OrderSync — board {BOARD} · SQLite test.db"  # until monday answers

    async def scenario():
        await until(lambda: window.board_name is not None, 30, "the board's name")
        assert window.windowTitle() == "OrderSync — Customer Master Schedule · SQLite test.db"

    qloop.run_until_complete(scenario())
    assert "/" not in window.windowTitle() and "sqlite:" not in window.windowTitle()


@pytest.mark.parametrize(
    ("url", "label"),
    [
        ("mssql+pyodbc://planner:s3cret@APPS01/ERP?driver=ODBC+Driver+18+for+SQL+Server", "SQL Server APPS01/ERP"),
        (r"mssql+pyodbc://@APPS01\SQLEXPRESS/ERP?trusted_connection=yes", r"SQL Server APPS01\SQLEXPRESS/ERP"),
        (
            (
                "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC+Driver+18+for+SQL+Server%7D%3BSERVER%3Dtcp%3AAPPS01"
                "%2C1433%3BDATABASE%3DERP%3BUID%3Dplanner%3BPWD%3Ds3cret"
            ),
            "SQL Server APPS01/ERP",
        ),
        ("postgresql+psycopg://me:pw@db1:5432/orders", "PostgreSQL db1/orders"),
        ("sqlite:////home/planner/OrderSync/demo.db", "SQLite demo.db"),
        ("sqlite:///C:\\Users\\planner\\OrderSync\\demo.db", "SQLite demo.db"),
        ("sqlite://", "SQLite in memory"),
    ],
)
def test_the_database_is_named_by_server_and_database_never_by_url_or_path(url, label):
    assert database_label(url) == label
    title = window_title("Customer Master Schedule", BOARD, database_label(url))
    assert title == f"OrderSync — Customer Master Schedule · {label}"
    assert "s3cret" not in title and "planner" not in title and "://" not in title


def test_times_read_as_a_planner_says_them():
    now = dt.datetime(2026, 12, 4, 15, 0).astimezone()
    today = now.replace(hour=14, minute=2).astimezone(dt.UTC).replace(tzinfo=None)
    assert short_time(today, now) == "14:02"
    earlier = (now - dt.timedelta(days=1)).replace(hour=9, minute=5).astimezone(dt.UTC).replace(tzinfo=None)
    assert short_time(earlier, now) == "3 Dec 09:05"
    assert short_time(None, now) == ""
