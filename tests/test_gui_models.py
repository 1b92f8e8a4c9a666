"""The operator window's table models, proxies and delegates (gui/models/, gui/delegates.py).

Every model and proxy runs under Qt's QAbstractItemModelTester (and pytest-qt's Python one) while it
is refreshed; a refresh is checked to be row-level (targeted dataChanged, inserts, removes; never a
reset); the error grid's Retry is checked to act on the row the operator sees, whatever the sort
and filter; and 100,000 error rows are loaded, sorted and filtered (figures printed, not asserted).
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import datetime as dt
import time

import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QKeyEvent, QMouseEvent
from PySide6.QtWidgets import QAbstractItemView, QStyleOptionViewItem, QTableView

from gui.delegates import ProgressBarDelegate, RetryButtonDelegate
from gui.models import (
    COL_ACTION,
    COL_CHANGED,
    COL_CHECK,
    COL_CODE,
    COL_ETA,
    COL_LAST,
    COL_LAST_SYNC,
    COL_MESSAGE,
    COL_NEW,
    COL_ORDER,
    COL_PO,
    COL_PROGRESS,
    COL_RETRIES,
    COL_RETRYABLE,
    COL_SIZE,
    COL_STATUS,
    COL_THROUGHPUT,
    COL_TYPE,
    BatchesModel,
    CustomersFilterProxy,
    CustomersModel,
    ErrorsFilterProxy,
    ErrorsModel,
    KeyRole,
    ProgressRole,
    RetryableRole,
    RowRole,
    SortRole,
    format_duration,
)
from gui.models.batches import DONE_COLOR, STUCK_COLOR, WORKING_COLOR

# Qt's model tester reports through qWarning: any warning fails the test.
pytestmark = pytest.mark.qt_log_level_fail("WARNING")

T0 = dt.datetime(2024, 3, 1, 8, 0, 0)  # naive UTC, as core stores timestamps
TYPES = ("VALIDATION", "COLUMN_VALUE", "NOT_FOUND", "RATE_LIMIT", "SERVER")
CUSTOMERS = ("Acme", "Blue Fox", "")


# --- data ---------------------------------------------------------------------------------------------


def customer_rows() -> list[dict]:
    return [
        {"customer": "Acme", "new": 3, "changed": 1, "removed": 0, "invalid": 0, "open_errors": 2, "last_sync": T0},
        {
            "customer": "Blue Fox",
            "new": 0,
            "changed": 12,
            "removed": 2,
            "invalid": 1,
            "open_errors": 0,
            "last_sync": None,
        },
        {
            "customer": "",
            "new": 1,
            "changed": 0,
            "removed": 0,
            "invalid": 0,
            "open_errors": 0,
            "last_sync": "2024-02-28 17:30:00",
        },
        {
            "customer": "Zed & Co",
            "new": 10,
            "changed": 0,
            "removed": 0,
            "invalid": 0,
            "open_errors": 5,
            "last_sync": T0 - dt.timedelta(days=3),
        },
    ]


def batch_row(batch_id: int, status: str = "PUSHING", done: int = 40, total: int = 100, **extra) -> dict:
    row = {
        "batch_id": batch_id,
        "customer": f"Customer {batch_id}",
        "status": status,
        "done": done,
        "total": total,
        "sent": done + 5,
        "succeeded": done - 2,
        "failed": 2,
        "items": total // 4,
        "subitems": total - total // 4,
        "throughput": 12.34,
        "eta_seconds": 80.0,
        "started_at": T0 + dt.timedelta(minutes=batch_id),
        "owner": "ann@ws1",
        "mine": batch_id == 3,
    }
    row.update(extra)
    return row


def error_row(i: int, **extra) -> dict:
    """Error ``i``: customers and types interleave, messages are unique and in no source order."""
    item = i % 4 != 3
    row = {
        "ref": f"{'I' if item else 'S'}{i}",
        "level": "item" if item else "subitem",
        "customer": CUSTOMERS[i % 3],
        "po_number": f"PO{1000 + i % 7}",
        "order_number": f"SO{i // 2}",
        "error_type": TYPES[i % 5],
        "error_code": "ColumnValueException" if i % 5 == 1 else None,
        "message": f"message {(i * 37) % 1000:04d} for line {i}",
        "retryable": i % 2 == 0,
        "retry_count": i % 12,
        "last_failed_at": T0 + dt.timedelta(minutes=(i * 53) % 997),
        "resolved_at": None,
        "fixed": False,
        "payload_json": "{}",
        "source_json": "{}",
    }
    if item:  # as ErrorHandler returns them: items have sync_key, subitems parent_sync_key + size
        row["sync_key"] = f"K{i}"
    else:
        row["parent_sync_key"] = f"K{i}"
        row["size_label"] = ("S", "M", "L")[i % 3]
    row.update(extra)
    return row


def error_rows(n: int) -> list[dict]:
    return [error_row(i) for i in range(n)]


class Recorder:
    """Records a model's change signals."""

    def __init__(self, model):
        self.changed: list[tuple[int, int, int, int]] = []
        self.inserted: list[tuple[int, int]] = []
        self.removed: list[tuple[int, int]] = []
        self.resets = 0
        self.layouts = 0
        model.dataChanged.connect(
            lambda tl, br, roles=(): self.changed.append((tl.row(), tl.column(), br.row(), br.column()))
        )
        model.rowsInserted.connect(lambda parent, first, last: self.inserted.append((first, last)))
        model.rowsRemoved.connect(lambda parent, first, last: self.removed.append((first, last)))
        model.modelReset.connect(self._reset)
        model.layoutChanged.connect(self._layout)

    def _reset(self):
        self.resets += 1

    def _layout(self, *args):
        self.layouts += 1

    def clear(self):
        self.changed.clear(), self.inserted.clear(), self.removed.clear()
        self.resets = self.layouts = 0


def column(model, col: int, role=Qt.ItemDataRole.DisplayRole) -> list:
    return [model.index(r, col).data(role) for r in range(model.rowCount())]


def refs(model) -> list[str]:
    return column(model, 0, KeyRole)


# --- model tester -------------------------------------------------------------------------------------


def test_customers_model_and_proxy_pass_the_model_tester(qtbot, qtmodeltester):
    model = CustomersModel()
    model.set_rows(customer_rows())
    qtmodeltester.check(model)
    qtmodeltester.check(model, force_py=True)
    proxy = CustomersFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    proxy.sort(COL_CHANGED, Qt.SortOrder.DescendingOrder)
    proxy.set_search("o")
    model.set_checked("Acme", True)
    rows = customer_rows()
    rows[1]["changed"] = 13
    del rows[0]
    rows.append(
        {"customer": "New One", "new": 1, "changed": 0, "removed": 0, "invalid": 0, "open_errors": 0, "last_sync": None}
    )
    model.set_rows(rows)
    model.set_all_checked(True)
    model.set_rows([])
    model.set_rows(customer_rows())


def test_batches_model_passes_the_model_tester(qtbot, qtmodeltester):
    model = BatchesModel()
    model.set_rows([batch_row(1, "COMPLETED", 100, 100), batch_row(2), batch_row(3, "STAGED", 0, 50)])
    qtmodeltester.check(model)
    qtmodeltester.check(model, force_py=True)
    model.set_rows([batch_row(2, done=60), batch_row(3, "PUSHING", 10, 50), batch_row(4, "STARTED", 0, 0)])
    model.set_rows([])


def test_errors_model_and_proxy_pass_the_model_tester(qtbot, qtmodeltester):
    model = ErrorsModel()
    model.set_rows(error_rows(60))
    qtmodeltester.check(model)
    qtmodeltester.check(model, force_py=True)
    proxy = ErrorsFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    # Refreshes, sorts and filters while both testers watch.
    proxy.sort(COL_MESSAGE, Qt.SortOrder.DescendingOrder)
    proxy.set_customer("Acme")
    rows = error_rows(70)[5:]
    rows[0]["retry_count"] = 99
    rows[10]["resolved_at"] = T0
    model.set_rows(rows)
    proxy.set_search("message 0")
    proxy.set_retryable_only(True)
    proxy.set_show_resolved(True)
    proxy.sort(COL_LAST, Qt.SortOrder.AscendingOrder)
    model.set_rows(error_rows(500)[::3])  # many scattered removes and inserts: the bulk paths
    proxy.sort(-1)
    model.set_rows(list(reversed(error_rows(40))))
    model.set_rows([])


# --- customers ----------------------------------------------------------------------------------------


def test_customers_show_blank_and_never_and_sort_natively(qtbot):
    model = CustomersModel()
    model.set_rows(customer_rows())
    assert column(model, 1) == ["Acme", "Blue Fox", "(blank)", "Zed & Co"]
    assert model.index(1, COL_LAST_SYNC).data() == "never"
    assert model.index(0, COL_LAST_SYNC).data() == T0.replace(tzinfo=dt.UTC).astimezone().strftime("%Y-%m-%d %H:%M")
    assert model.index(2, COL_LAST_SYNC).data(SortRole) == dt.datetime(2024, 2, 28, 17, 30)  # ISO text parsed
    assert model.index(0, COL_CHECK).data() is None
    assert model.headerData(COL_CHECK, Qt.Orientation.Horizontal) == ""
    assert model.flags(model.index(0, COL_CHECK)) & Qt.ItemFlag.ItemIsUserCheckable
    proxy = CustomersFilterProxy()
    proxy.setSourceModel(model)
    proxy.sort(COL_CHANGED, Qt.SortOrder.DescendingOrder)
    assert column(proxy, COL_CHANGED) == ["12", "1", "0", "0"]  # 12 > 1 as numbers, not as text
    proxy.sort(COL_LAST_SYNC, Qt.SortOrder.AscendingOrder)
    assert column(proxy, 1) == ["Blue Fox", "Zed & Co", "(blank)", "Acme"]  # never, then oldest first
    proxy.set_search("FOX")
    assert column(proxy, 1) == ["Blue Fox"]
    proxy.set_search("blank")
    assert column(proxy, 1) == ["(blank)"]
    proxy.set_search("")
    assert proxy.rowCount() == 4


def test_customers_refresh_is_row_level_and_check_state_survives(qtbot):
    model = CustomersModel()
    model.set_rows(customer_rows())
    seen = Recorder(model)
    checked_changes = []
    model.checkedChanged.connect(lambda: checked_changes.append(1))

    assert model.setData(model.index(1, COL_CHECK), Qt.CheckState.Checked, Qt.ItemDataRole.CheckStateRole)
    model.set_checked("Zed & Co", True)
    assert model.checked() == ["Blue Fox", "Zed & Co"] and len(checked_changes) == 2
    seen.clear()

    rows = customer_rows()
    rows[1]["new"] = 4  # one value of one row
    model.set_rows(rows)
    assert seen.changed == [(1, COL_NEW, 1, COL_NEW)]
    assert (seen.inserted, seen.removed, seen.resets, seen.layouts) == ([], [], 0, 0)

    model.set_rows(rows)  # nothing changed: no signal at all
    assert seen.changed == [(1, COL_NEW, 1, COL_NEW)]

    seen.clear()
    del rows[0]  # Acme leaves, a new customer arrives at the end
    rows.append(
        {"customer": "Newco", "new": 1, "changed": 0, "removed": 0, "invalid": 0, "open_errors": 0, "last_sync": None}
    )
    model.set_rows(rows)
    assert seen.removed == [(0, 0)] and seen.inserted == [(3, 3)] and seen.resets == 0
    assert column(model, 1) == ["Blue Fox", "(blank)", "Zed & Co", "Newco"]
    assert model.checked() == ["Blue Fox", "Zed & Co"]  # by customer, not by row
    assert model.index(0, COL_CHECK).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Checked
    assert model.index(1, COL_CHECK).data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked

    checked_changes.clear()
    model.set_rows(rows[1:])  # a checked customer that leaves the list is no longer checked
    assert model.checked() == ["Zed & Co"] and checked_changes == [1]

    seen.clear()
    model.set_all_checked(True)
    assert model.checked() == ["", "Zed & Co", "Newco"]  # the blank customer's key is ""
    assert seen.changed == [(0, COL_CHECK, 2, COL_CHECK)]
    model.set_all_checked(False)
    assert model.checked() == []


def test_customers_check_boxes_in_a_view(qtbot):
    model = CustomersModel()
    model.set_rows(customer_rows())
    proxy = CustomersFilterProxy()
    proxy.setSourceModel(model)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.sortByColumn(1, Qt.SortOrder.DescendingOrder)
    view.show()
    qtbot.waitExposed(view)
    view.setFocus()
    view.setCurrentIndex(proxy.index(0, COL_CHECK))
    qtbot.keyClick(view, Qt.Key.Key_Space)  # the item delegate toggles the check box through setData
    assert model.checked() == ["Zed & Co"]
    view.sortByColumn(COL_CHECK, Qt.SortOrder.DescendingOrder)
    assert proxy.index(0, 1).data() == "Zed & Co"


def test_customers_with_nothing_pending_stay_in_the_model_and_show_all_lists_them(qtbot, qtmodeltester):
    model = CustomersModel()
    rows = customer_rows()
    done = {"customer": "Done Ltd", "new": 0, "changed": 0, "removed": 0, "invalid": 0, "open_errors": 0}
    model.set_rows([*rows, done | {"last_sync": T0}])
    proxy = CustomersFilterProxy()
    proxy.setSourceModel(model)
    qtmodeltester.check(proxy)
    assert model.rowCount() == 5 and "Done Ltd" not in model.pending_customers()
    assert proxy.shown_customers() == {"Acme", "Blue Fox", "", "Zed & Co"}
    proxy.set_show_all(True)
    assert "Done Ltd" in proxy.shown_customers()
    proxy.set_search("done")
    assert proxy.shown_customers() == {"Done Ltd"}
    proxy.set_show_all(False)
    assert proxy.rowCount() == 0
    assert model.last_sync() == T0
    # Work appears for the customer: the proxy shows it without being told.
    proxy.set_search("")
    model.set_rows([*rows, done | {"new": 2, "last_sync": T0}])
    assert "Done Ltd" in proxy.shown_customers()
    # Ticking many at once: one signal; unknown names ignored.
    changes = []
    model.checkedChanged.connect(lambda: changes.append(1))
    model.set_many_checked(["Acme", "Done Ltd", "Nobody"], True)
    assert model.checked() == ["Acme", "Done Ltd"] and changes == [1]
    model.set_many_checked(["Acme"], False)
    assert model.checked() == ["Done Ltd"] and changes == [1, 1]


def test_customers_row_order_follows_the_incoming_order(qtbot):
    model = CustomersModel()
    rows = customer_rows()
    model.set_rows(rows)
    model.set_checked("Acme", True)
    seen = Recorder(model)
    model.set_rows(list(reversed(rows)))
    assert column(model, 1) == ["Zed & Co", "(blank)", "Blue Fox", "Acme"]
    assert seen.layouts == 1 and seen.resets == 0 and seen.changed == []
    assert model.checked() == ["Acme"]


# --- batches ------------------------------------------------------------------------------------------


def test_batches_newest_first_human_status_progress_and_overall(qtbot):
    model = BatchesModel()
    model.set_rows(
        [
            batch_row(1, "COMPLETED_WITH_ERRORS", 100, 100, eta_seconds=None, throughput=None),
            batch_row(3, "PUSHING", 30, 120, eta_seconds=80.0),
            batch_row(2, "STAGED", 0, 0, stale=True, message="waiting"),
        ]
    )
    assert refs(model) == [3, 2, 1]
    assert column(model, COL_STATUS) == ["Sending", "Ready to send (stalled)", "2 lines failed"]
    assert model.index(0, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole).endswith("recorded status: PUSHING")
    assert "COMPLETED_WITH_ERRORS" in model.index(2, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)
    # monday's colours: orange working, red for failed lines still open.
    background = [model.index(r, COL_STATUS).data(Qt.ItemDataRole.BackgroundRole) for r in range(3)]
    assert background == [WORKING_COLOR, WORKING_COLOR, STUCK_COLOR]
    assert "waiting" in model.index(1, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)
    assert model.index(0, COL_ETA).data() == "1 min 20 s"
    assert model.index(0, COL_THROUGHPUT).data() == "12.3 rows/s"
    assert model.index(2, COL_ETA).data() == "" and model.index(2, COL_THROUGHPUT).data() == ""
    assert column(model, COL_PROGRESS, ProgressRole) == [0.25, 0.0, 1.0]
    assert model.index(0, COL_STATUS).data(ProgressRole) is None
    assert model.index(0, COL_PROGRESS).data() == "25 %"
    assert model.overall() == (30, 120)  # active batches only (PUSHING 30/120, STAGED 0/0)
    assert [format_duration(s) for s in (0, 59.6, 60, 3599, 7500)] == [
        "0 s",
        "1 min",
        "1 min",
        "59 min 59 s",
        "2 h 05 min",
    ]

    seen = Recorder(model)
    model.set_rows(
        [
            batch_row(1, "COMPLETED_WITH_ERRORS", 100, 100, eta_seconds=None, throughput=None),
            batch_row(3, "PUSHING", 60, 120, eta_seconds=80.0, sent=65, succeeded=58),  # a tick of progress
            batch_row(2, "STAGED", 0, 0, stale=True, message="waiting"),
            batch_row(4, "STARTED", 0, 10),  # a new batch: on top
        ]
    )
    assert seen.inserted == [(0, 0)] and seen.removed == [] and seen.resets == 0 and seen.layouts == 0
    # Progress, sent and succeeded of batch 3 (row 0 until batch 4 is inserted above it): one signal.
    assert seen.changed == [(0, COL_PROGRESS, 0, COL_PROGRESS + 2)]
    assert refs(model) == [4, 3, 2, 1]
    assert model.overall() == (60, 130)

    # Every failed line of batch 1 retried successfully since: shown done, its history kept in the tooltip.
    model.set_rows([batch_row(1, "COMPLETED_WITH_ERRORS", 100, 100, failed=21, errors_open=False)])
    assert column(model, COL_STATUS) == ["Done, 21 retried"]
    assert model.index(0, COL_STATUS).data(Qt.ItemDataRole.BackgroundRole) == DONE_COLOR
    assert "COMPLETED_WITH_ERRORS" in model.index(0, COL_STATUS).data(Qt.ItemDataRole.ToolTipRole)


def test_progress_delegate_paints_into_a_pixmap(qtbot):
    painted = []

    class Counting(ProgressBarDelegate):
        def paint(self, painter, option, index):
            painted.append(index.data(ProgressRole))
            super().paint(painter, option, index)

    model = BatchesModel()
    model.set_rows([batch_row(1, "COMPLETED", 100, 100), batch_row(2, "PUSHING", 1, 3)])
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegateForColumn(COL_PROGRESS, Counting(view))
    view.resize(1200, 200)
    view.show()
    qtbot.waitExposed(view)
    pixmap = view.grab()
    assert not pixmap.isNull() and pixmap.width() > 0
    assert {round(v, 6) for v in painted} == {round(1 / 3, 6), 1.0}


# --- errors: model ------------------------------------------------------------------------------------


def test_errors_model_cells_roles_and_retryable(qtbot):
    model = ErrorsModel()
    rows = error_rows(8)
    rows[2]["fixed"] = True
    rows[1]["fixed"] = True  # not retryable as is, but fixable (a label added on the board): retry enabled
    rows[4]["resolved_at"] = T0  # retryable but resolved: disabled
    model.set_rows(rows)
    assert refs(model) == [r["ref"] for r in rows]
    assert model.row_for_ref("S3") == 3 and model.row_for_ref("nope") is None
    assert column(model, COL_RETRYABLE) == [
        "Retry now",
        "After a fix",
        "Retry now",
        "No: fix in the ERP",
        "Retry now",
        "No: fix in the ERP",
        "Retry now",
        "No: fix in the ERP",
    ]
    assert column(model, COL_ACTION, RetryableRole) == [True, True, True, False, False, False, True, False]
    assert column(model, COL_ACTION) == [None] * 8
    assert model.headerData(COL_ACTION, Qt.Orientation.Horizontal) == ""
    assert model.index(3, COL_SIZE).data() == "S" and model.index(0, COL_SIZE).data() == ""
    assert model.index(2, 0).data() == "(blank)"
    assert model.index(1, COL_CODE).data() == "ColumnValueException"
    assert model.index(3, COL_ORDER).data(Qt.ItemDataRole.ToolTipRole).endswith("order line K3")
    assert model.index(5, COL_RETRIES).data(SortRole) == 5
    assert model.index(5, COL_MESSAGE).data(RowRole) == rows[5]  # an equal copy (a QVariantMap on the way)
    assert model.index(4, COL_TYPE).data(Qt.ItemDataRole.ForegroundRole) is not None  # resolved: muted


def test_errors_refresh_is_targeted(qtbot):
    model = ErrorsModel()
    model.set_rows(error_rows(30))
    seen = Recorder(model)
    rows = error_rows(30)
    rows[7]["message"] = "changed"
    model.set_rows(rows)
    assert seen.changed == [(7, COL_MESSAGE, 7, COL_MESSAGE)]
    assert (seen.inserted, seen.removed, seen.resets, seen.layouts) == ([], [], 0, 0)
    assert model.index(7, COL_MESSAGE).data() == "changed"

    seen.clear()
    rows[8]["retryable"] = False  # the Retryable column and the button
    model.set_rows(rows)
    assert seen.changed == [(8, COL_RETRYABLE, 8, COL_ACTION)]
    assert model.index(8, COL_ACTION).data(RetryableRole) is False

    seen.clear()
    rows[3]["message"] = rows[3]["message"]  # an in-place edit of the same dict is seen too
    rows[3]["retry_count"] += 1
    model.set_rows(rows)
    assert seen.changed == [(3, COL_RETRIES, 3, COL_RETRIES)]

    seen.clear()
    model.set_rows(rows[:10] + rows[12:] + [error_row(100)])
    assert seen.removed == [(10, 11)] and seen.inserted == [(28, 28)] and seen.resets == 0
    assert model.row_for_ref("I100") == 28 and model.row_for_ref("S11") is None


# --- errors: proxy ------------------------------------------------------------------------------------


def make_errors(n: int):
    model = ErrorsModel()
    model.set_rows(error_rows(n))
    proxy = ErrorsFilterProxy()
    proxy.setSourceModel(model)
    return model, proxy


def test_errors_proxy_filters(qtbot):
    rows = error_rows(40)
    rows[0]["resolved_at"] = T0
    rows[5]["fixed"] = True
    model = ErrorsModel()
    model.set_rows(rows)
    proxy = ErrorsFilterProxy()
    proxy.setSourceModel(model)
    assert proxy.dynamicSortFilter() is False
    assert "I0" not in refs(proxy) and proxy.rowCount() == 39  # resolved hidden by default
    proxy.set_show_resolved(True)
    assert proxy.rowCount() == 40
    proxy.set_show_resolved(False)

    proxy.set_customer("Blue Fox")
    assert set(column(proxy, 0)) == {"Blue Fox"} and proxy.rowCount() == 13
    proxy.set_customer("")  # the blank customer is a customer
    assert set(column(proxy, 0)) == {"(blank)"}
    proxy.set_customer(None)

    proxy.set_error_type("RATE_LIMIT")
    assert set(column(proxy, COL_TYPE)) == {"monday was busy"} and proxy.rowCount() == 8
    proxy.set_error_type(None)

    proxy.set_retryable_only(True)
    assert set(column(proxy, COL_ACTION, RetryableRole)) == {True}
    assert "I5" in refs(proxy) and "I1" not in refs(proxy)  # fixed counts, resolved does not
    assert proxy.rowCount() == 19 + 1
    proxy.set_retryable_only(False)

    proxy.set_search("Line 17")  # case-insensitive; every word, in any of the fields
    assert refs(proxy) == ["I17", "I34", "S35"]  # the message of line 17; order SO17
    proxy.set_search("LINE   17 message")
    assert refs(proxy) == ["I17", "I34", "S35"]
    proxy.set_search("po1003 rate_limit")  # across fields
    assert (
        set(refs(proxy))
        == {r["ref"] for r in rows[1:] if r["po_number"] == "PO1003" and r["error_type"] == "RATE_LIMIT"}
        != set()
    )
    proxy.set_search("columnvalueexception")
    assert set(column(proxy, COL_CODE)) == {"ColumnValueException"}
    proxy.set_search(" so8 ")  # an order number
    assert refs(proxy) == ["I16", "I17"]
    proxy.set_search("")
    assert proxy.rowCount() == 39

    proxy.set_customer("Acme")
    proxy.set_error_type("VALIDATION")
    proxy.set_retryable_only(True)
    proxy.set_search("message")
    expected = [
        r["ref"]
        for r in rows
        if r["customer"] == "Acme" and r["error_type"] == "VALIDATION" and r["retryable"] and r["resolved_at"] is None
    ]
    assert refs(proxy) == expected != []


def test_errors_proxy_follows_refreshes(qtbot):
    model, proxy = make_errors(30)
    proxy.set_customer("Acme")
    before = refs(proxy)
    rows = error_rows(30)
    rows[3]["resolved_at"] = T0  # resolved while resolved rows are hidden: it goes
    rows[6]["customer"] = "Blue Fox"  # no longer matches the filter: it goes
    rows[4]["customer"] = "Acme"  # now matches: it comes
    model.set_rows(rows + [error_row(30), error_row(31)])  # I30 is Acme's, S31 is not
    assert set(refs(proxy)) == (set(before) - {"S3", "I6"}) | {"I4", "I30"}


def test_errors_sorting_is_native(qtbot):
    model, proxy = make_errors(40)
    proxy.sort(COL_RETRIES, Qt.SortOrder.AscendingOrder)
    counts = [int(v) for v in column(proxy, COL_RETRIES)]
    assert counts == sorted(counts) and counts[-1] == 11  # 11 after 2: numbers, not text
    assert column(proxy, COL_RETRIES, SortRole) == counts
    proxy.sort(COL_LAST, Qt.SortOrder.DescendingOrder)
    stamps = column(proxy, COL_LAST, SortRole)
    assert all(isinstance(s, dt.datetime) for s in stamps)
    assert stamps == sorted(stamps, reverse=True)
    assert proxy.sortColumn() == COL_LAST and proxy.sortOrder() == Qt.SortOrder.DescendingOrder
    proxy.sort(COL_PO, Qt.SortOrder.AscendingOrder)
    pos = column(proxy, COL_PO)
    assert pos == sorted(pos, key=str.lower)
    proxy.sort(COL_MESSAGE, Qt.SortOrder.AscendingOrder)
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages)

    # While sorted, a new row arrives at its sorted place (and nothing is reset).
    seen = Recorder(model)
    model.set_rows(error_rows(40) + [error_row(40, message="message 0500 new")])
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages) and "message 0500 new" in messages
    assert len(seen.inserted) == 1 and seen.resets == 0 and seen.layouts == 0

    # New rows in a few places: one insert per place, still sorted.
    seen.clear()
    rows = error_rows(40) + [error_row(40, message="message 0500 new")] + [error_row(i) for i in range(41, 400)]
    model.set_rows(rows)
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages) and proxy.rowCount() == 400
    assert seen.resets == seen.layouts == 0 and 1 < len(seen.inserted) <= 64

    # New rows in many places: one insert at the end and one layout change that moves them into place.
    seen.clear()
    rows += [error_row(i) for i in range(400, 3000)]
    model.set_rows(rows)
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages) and proxy.rowCount() == 3000
    assert seen.resets == 0 and seen.inserted == [(400, 2999)] and seen.layouts == 1
    rows = rows[:400]
    model.set_rows(rows)

    # A row whose sort value changes keeps its place (no row jumps under the mouse) until the next sort.
    rows[0]["message"] = "zzz"
    model.set_rows(rows)
    assert proxy.index(0, COL_MESSAGE).data() == "zzz"
    proxy.sort(COL_MESSAGE, Qt.SortOrder.AscendingOrder)
    assert proxy.index(proxy.rowCount() - 1, COL_MESSAGE).data() == "zzz"
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages)


def test_sorting_from_the_header_keeps_the_selected_row(qtbot):
    model, proxy = make_errors(50)
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.selectRow(4)
    chosen = proxy.ref_at(view.currentIndex())
    view.sortByColumn(COL_MESSAGE, Qt.SortOrder.DescendingOrder)
    assert proxy.sortColumn() == COL_MESSAGE
    messages = column(proxy, COL_MESSAGE)
    assert messages == sorted(messages, reverse=True)
    assert proxy.ref_at(view.currentIndex()) == chosen
    assert [proxy.ref_at(i) for i in view.selectionModel().selectedRows()] == [chosen]
    model.set_rows(list(reversed(error_rows(50))))  # a refresh keeps it too
    assert proxy.ref_at(view.currentIndex()) == chosen


# --- errors: the Retry button -------------------------------------------------------------------------


def retry_view(qtbot, model, proxy):
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(proxy)
    view.setSortingEnabled(True)
    delegate = RetryButtonDelegate(view)
    view.setItemDelegateForColumn(COL_ACTION, delegate)
    view.resize(1400, 900)
    view.show()
    qtbot.waitExposed(view)
    emitted: list[str] = []
    delegate.retryRequested.connect(emitted.append)
    return view, delegate, emitted


def test_retry_acts_on_the_row_the_operator_sees(qtbot):
    rows = [error_row(i, retryable=i % 5 != 2) for i in range(50)]
    by_message = {r["message"]: r["ref"] for r in rows}
    model = ErrorsModel()
    model.set_rows(rows)
    proxy = ErrorsFilterProxy()
    proxy.setSourceModel(model)
    view, delegate, emitted = retry_view(qtbot, model, proxy)

    view.sortByColumn(COL_MESSAGE, Qt.SortOrder.DescendingOrder)
    proxy.set_customer("Blue Fox")
    proxy.set_retryable_only(False)
    visible = [(proxy.index(r, 0).data(), proxy.index(r, COL_MESSAGE).data()) for r in range(proxy.rowCount())]
    assert {customer for customer, _ in visible} == {"Blue Fox"}
    assert [m for _, m in visible] == sorted((m for _, m in visible), reverse=True)

    # The 3rd visible row, as the operator sees it.
    third = 2
    assert proxy.index(third, COL_ACTION).data(RetryableRole)
    seen_ref = by_message[proxy.index(third, COL_MESSAGE).data()]
    assert seen_ref != rows[third]["ref"] and seen_ref != model.index(third, 0).data(KeyRole)

    cell = proxy.index(third, COL_ACTION)
    center = view.visualRect(cell).center()
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert emitted == [seen_ref]
    assert proxy.ref_at(cell) == seen_ref

    # The same through editorEvent directly, with the proxy index.
    emitted.clear()
    option = QStyleOptionViewItem()
    option.rect = view.visualRect(cell)
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        event = QMouseEvent(
            kind,
            QPointF(center),
            QPointF(view.viewport().mapToGlobal(center)),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton if kind == QEvent.Type.MouseButtonPress else Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        assert delegate.editorEvent(event, proxy, option, cell)
    assert emitted == [seen_ref]

    # A click on a disabled button emits nothing.
    emitted.clear()
    disabled = next(r for r in range(proxy.rowCount()) if not proxy.index(r, COL_ACTION).data(RetryableRole))
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(proxy.index(disabled, COL_ACTION)).center()
    )
    assert emitted == []

    # Press on one button and release on another: nothing.
    enabled = [r for r in range(proxy.rowCount()) if proxy.index(r, COL_ACTION).data(RetryableRole)]
    qtbot.mousePress(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(proxy.index(enabled[0], COL_ACTION)).center()
    )
    qtbot.mouseRelease(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(proxy.index(enabled[1], COL_ACTION)).center()
    )
    assert emitted == [] and not delegate._pressed.isValid()

    # A click elsewhere in the row is a plain selection.
    qtbot.mouseClick(
        view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(proxy.index(third, COL_MESSAGE)).center()
    )
    assert emitted == [] and proxy.ref_at(view.currentIndex()) == seen_ref


def test_retry_from_the_keyboard(qtbot):
    model, proxy = make_errors(20)
    view, delegate, emitted = retry_view(qtbot, model, proxy)
    view.sortByColumn(COL_RETRIES, Qt.SortOrder.DescendingOrder)
    view.setFocus()
    enabled = [r for r in range(proxy.rowCount()) if proxy.index(r, COL_ACTION).data(RetryableRole)]
    disabled = [r for r in range(proxy.rowCount()) if not proxy.index(r, COL_ACTION).data(RetryableRole)]

    view.setCurrentIndex(proxy.index(enabled[1], COL_ACTION))
    qtbot.keyClick(view, Qt.Key.Key_Space)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    assert emitted == [proxy.ref_at(proxy.index(enabled[1], 0))] * 2

    emitted.clear()
    view.setCurrentIndex(proxy.index(disabled[0], COL_ACTION))
    qtbot.keyClick(view, Qt.Key.Key_Space)
    qtbot.keyClick(view, Qt.Key.Key_Return)
    view.setCurrentIndex(proxy.index(enabled[0], COL_MESSAGE))  # another column: not the button's key
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert emitted == []

    # Direct: a key event given to editorEvent for the current cell.
    event = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_Enter, Qt.KeyboardModifier.KeypadModifier)
    assert delegate.editorEvent(event, proxy, QStyleOptionViewItem(), proxy.index(enabled[0], COL_ACTION))
    assert emitted == [proxy.ref_at(proxy.index(enabled[0], 0))]


def test_retry_buttons_paint(qtbot):
    model, proxy = make_errors(30)
    view, delegate, emitted = retry_view(qtbot, model, proxy)
    option = QStyleOptionViewItem()
    option.initFrom(view)
    size = delegate.sizeHint(option, proxy.index(0, COL_ACTION))
    assert size.width() > 20 and size.height() > 10
    row = next(r for r in range(proxy.rowCount()) if proxy.index(r, COL_ACTION).data(RetryableRole))
    center = view.visualRect(proxy.index(row, COL_ACTION)).center()
    qtbot.mousePress(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert not view.grab().isNull()  # painted sunken while pressed
    qtbot.mouseRelease(view.viewport(), Qt.MouseButton.LeftButton, pos=center)
    assert emitted == [proxy.ref_at(proxy.index(row, 0))]


# --- performance smoke ----------------------------------------------------------------------------------


def test_hundred_thousand_error_rows(qtbot, capsys):
    n = 100_000
    rows = error_rows(n)
    model = ErrorsModel()
    proxy = ErrorsFilterProxy()
    proxy.setSourceModel(model)
    view, _delegate, emitted = retry_view(qtbot, model, proxy)
    figures = {}

    def timed(name, action):
        start = time.perf_counter()
        action()
        qtbot.wait(0)  # let the view catch up
        figures[name] = (time.perf_counter() - start) * 1000

    timed("set_rows (open)", lambda: model.set_rows(rows))
    assert model.rowCount() == n and proxy.rowCount() == n
    again = error_rows(n)
    timed("set_rows (same rows again)", lambda: model.set_rows(again))
    changed = error_rows(n)
    changed[12345]["message"] = "changed"
    seen = Recorder(model)
    timed("set_rows (one change)", lambda: model.set_rows(changed))
    assert len(seen.changed) == 1 and seen.resets == 0
    timed("sort by message", lambda: view.sortByColumn(COL_MESSAGE, Qt.SortOrder.DescendingOrder))
    messages = column(proxy, COL_MESSAGE)[:1000]
    assert messages == sorted(messages, reverse=True)
    timed("sort by last attempt", lambda: view.sortByColumn(COL_LAST, Qt.SortOrder.AscendingOrder))
    timed("filter by customer", lambda: proxy.set_customer("Acme"))
    assert proxy.rowCount() == sum(1 for r in rows if r["customer"] == "Acme")
    timed("filter: retryable only", lambda: proxy.set_retryable_only(True))
    assert proxy.rowCount() == sum(1 for r in rows if r["customer"] == "Acme" and r["retryable"])
    timed("search (first)", lambda: proxy.set_search("line 4"))
    expected = sum(
        1
        for r in rows
        if r["customer"] == "Acme"
        and r["retryable"]
        and "line" in r["message"]
        and any("4" in (r.get(f) or "") for f in ("po_number", "order_number", "message", "size_label"))
    )
    assert proxy.rowCount() == expected
    timed("clear filters", lambda: (proxy.set_search(""), proxy.set_retryable_only(False), proxy.set_customer(None)))
    assert proxy.rowCount() == n

    cell = proxy.index(2, COL_ACTION)
    if cell.data(RetryableRole):
        qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.visualRect(cell).center())
        assert emitted == [proxy.ref_at(cell)]
    with capsys.disabled():
        print("\n100,000 error rows: " + ", ".join(f"{k} {v:.0f} ms" for k, v in figures.items()))


def test_errors_proxy_sets_every_filter_in_one_pass(qtbot):
    """``set_filters`` shows what the four setters show one after the other, with one invalidation."""
    rows = error_rows(60)
    one_by_one, together = make_errors(60)[1], make_errors(60)[1]
    one_by_one.sourceModel().set_rows(rows)
    together.sourceModel().set_rows(rows)
    one_by_one.set_customer("Acme")
    one_by_one.set_error_type("VALIDATION")
    one_by_one.set_retryable_only(True)
    one_by_one.set_search("line")
    resets: list[int] = []
    together.layoutChanged.connect(lambda *_: resets.append(1))
    together.modelReset.connect(lambda *_: resets.append(1))
    together.set_filters("Acme", "VALIDATION", True, "line")
    assert refs(together) == refs(one_by_one) != []
    assert len(resets) == 1
    together.set_filters("Acme", "VALIDATION", True, "line")  # nothing changed: no pass at all
    assert len(resets) == 1
    together.set_filters(None, None, False, "")
    assert together.rowCount() == sum(1 for r in rows if r["resolved_at"] is None)


def test_search_texts_made_elsewhere_are_the_ones_the_model_makes(qtbot):
    from gui.models.errors import search_text

    rows = error_rows(30)
    seeded, built = make_errors(30)[0], make_errors(30)[0]
    seeded.set_rows(rows)
    built.set_rows(rows)
    seeded.seed_search({r["ref"]: search_text(r) for r in rows})
    assert all(seeded._hay)  # every text handed over, none made by the model
    built.prepare_search()
    assert seeded._hay == built._hay
