"""Every customer of ORDERS_UNIFIED with its pending work and last sync (``CustomersModel``), and the
proxy that shows those with pending work (or all of them) matching a search."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any, ClassVar, cast

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt, Signal

from gui.look import STUCK_COLOR
from gui.models.common import (
    _CENTER,
    _CHECK,
    _CHECKABLE,
    _DISPLAY,
    _ENABLED,
    _FOREGROUND,
    _LEFT,
    _MUTED_COLOR,
    _RIGHT,
    _TOOLTIP,
    KeyRole,
    SortRole,
    _begin_filter_change,
    _count,
    _end_filter_change,
    _native_less_than,
    as_utc,
    format_local,
    format_utc,
)
from gui.models.keyed import _FieldColumns, _KeyedTableModel, _SortKeys


class CustomersModel(_KeyedTableModel):
    """Every customer, each with a check box that survives refreshes (kept by name).

    Customers with nothing pending stay in the model with their last sync; the proxy decides whether
    they are shown (``CustomersFilterProxy.set_show_all``).
    """

    #: The set of checked customers changed (by the user, by code, or by a customer leaving the list).
    checkedChanged = Signal()

    COL_CHECK, COL_CUSTOMER, COL_NEW, COL_CHANGED, COL_REMOVED, COL_INVALID, COL_ERRORS, COL_LAST_SYNC = range(8)

    _HEADERS = ("", "Customer", "New", "Changed", "Removed", "Invalid", "Errors", "Last sync")
    _HEADER_TIPS = (
        "Check the customers to sync",
        "",
        "Order lines not on the board yet",
        "Order lines that changed since the last sync",
        "Order lines no longer in the ERP",
        "Lines that cannot be sent until fixed in the ERP",
        "Failed lines not resolved yet",
        "When the customer was last synced (local time)",
    )
    _ALIGNMENT = (_CENTER, _LEFT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _LEFT)
    _FLAGS = (_CHECKABLE, *[_ENABLED] * 7)
    _KEY = "customer"
    _FIELDS = ("customer", "new", "changed", "removed", "invalid", "open_errors", "last_sync")
    _FIELD_COLUMNS: ClassVar[_FieldColumns] = {
        "customer": (COL_CUSTOMER,),
        "new": (COL_NEW,),
        "changed": (COL_CHANGED,),
        "removed": (COL_REMOVED,),
        "invalid": (COL_INVALID,),
        "open_errors": (COL_ERRORS,),
        "last_sync": (COL_LAST_SYNC,),
    }

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._checked: set[str] = set()

    # -- check boxes ----------------------------------------------------------------------------------

    def checked(self) -> list[str]:
        """The checked customers, in row order."""
        return [k for k in self._keys if k in self._checked]

    def set_checked(self, customer: str, checked: bool) -> None:
        row = self._position().get(customer)
        if row is None or (customer in self._checked) == bool(checked):
            return
        if checked:
            self._checked.add(customer)
        else:
            self._checked.discard(customer)
        index = self.index(row, COL_CHECK)
        self.dataChanged.emit(index, index, [_CHECK])
        self.checkedChanged.emit()

    def set_all_checked(self, checked: bool) -> None:
        self.set_many_checked(self._keys, checked)

    def set_many_checked(self, customers: Iterable[str], checked: bool) -> None:
        """Tick (or untick) ``customers`` at once: one ``checkedChanged`` for all of them."""
        known = set(self._keys)
        chosen = {c for c in customers if c in known}
        wanted = (self._checked | chosen) if checked else (self._checked - chosen)
        if wanted == self._checked:
            return
        self._checked = wanted
        if self._keys:
            self.dataChanged.emit(self.index(0, COL_CHECK), self.index(len(self._keys) - 1, COL_CHECK), [_CHECK])
        self.checkedChanged.emit()

    # -- pending work ---------------------------------------------------------------------------------

    def has_pending(self, row: int) -> bool:
        """Whether the customer in ``row`` has anything to send or to fix (new, changed, removed,
        invalid lines or open errors)."""
        return any(_count(v) for v in self._raw[row][1:6])

    def pending_customers(self) -> set[str]:
        return {key for row, key in enumerate(self._keys) if self.has_pending(row)}

    def last_sync(self) -> dt.datetime | None:
        """The latest last sync over every customer (naive UTC), None when none was ever synced."""
        times = [t for t in (as_utc(raw[6]) for raw in self._raw) if t is not None]
        return max(times) if times else None

    def setData(self, index, value, role=_CHECK) -> bool:
        if not index.isValid() or index.column() != COL_CHECK or role != _CHECK:
            return False
        state = value.value if isinstance(value, Qt.CheckState) else int(value)
        self.set_checked(self._keys[index.row()], state == Qt.CheckState.Checked.value)
        return True

    def _rows_removed(self, keys: list[Any]) -> None:
        gone = self._checked.intersection(keys)
        if gone:
            self._checked -= gone
            self.checkedChanged.emit()

    # -- cells ----------------------------------------------------------------------------------------

    def _format(self, raw: tuple) -> tuple:
        customer, new, changed, removed, invalid, errors, last_sync = raw
        return (
            None,
            customer or "(blank)",
            str(_count(new)),
            str(_count(changed)),
            str(_count(removed)),
            str(_count(invalid)),
            str(_count(errors)),
            format_local(as_utc(last_sync), "never"),
        )

    # The check column sorts through SortRole only (its value is not in the compared tuple).
    _SORT: ClassVar[_SortKeys] = {
        COL_CUSTOMER: ("str", 0),
        COL_NEW: ("int", 1),
        COL_CHANGED: ("int", 2),
        COL_REMOVED: ("int", 3),
        COL_INVALID: ("int", 4),
        COL_ERRORS: ("int", 5),
        COL_LAST_SYNC: ("dt", 6),
    }

    def data(self, index, role=_DISPLAY):
        if role == SortRole and index.isValid() and index.column() == COL_CHECK:
            return int(self._keys[index.row()] in self._checked)
        return super().data(index, role)

    def _role_data(self, row: int, column: int, role: int) -> Any:
        if role == _CHECK:
            if column != COL_CHECK:
                return None
            return Qt.CheckState.Checked if self._keys[row] in self._checked else Qt.CheckState.Unchecked
        if role == _FOREGROUND:
            if column == COL_ERRORS and self._raw[row][5]:
                return STUCK_COLOR  # monday's red
            if column == COL_LAST_SYNC and not self._raw[row][6]:
                return _MUTED_COLOR
            return None
        if role == _TOOLTIP:
            raw = self._raw[row]
            if column == self.COL_CUSTOMER:
                return raw[0] or "The customer field is blank in the ERP"
            if column == COL_LAST_SYNC:
                return format_utc(as_utc(raw[6])) or "never synced"
        return None

    def _haystack(self, raw: tuple) -> str:
        return (raw[0] or "(blank)").lower()


COL_CHECK, COL_NEW, COL_CHANGED, COL_REMOVED, COL_INVALID, COL_ERRORS, COL_LAST_SYNC = (
    CustomersModel.COL_CHECK,
    CustomersModel.COL_NEW,
    CustomersModel.COL_CHANGED,
    CustomersModel.COL_REMOVED,
    CustomersModel.COL_INVALID,
    CustomersModel.COL_ERRORS,
    CustomersModel.COL_LAST_SYNC,
)


class CustomersFilterProxy(QSortFilterProxyModel):
    """Shows the customers with pending work (or all, ``set_show_all``) whose name holds the search;
    sorts by ``SortRole`` (few rows: dynamic, so a customer whose work is done leaves at once)."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._needle = ""
        self._show_all = False

    @property
    def needle(self) -> str:
        return self._needle

    @property
    def show_all(self) -> bool:
        return self._show_all

    def set_show_all(self, show: bool) -> None:
        if bool(show) == self._show_all:
            return
        _begin_filter_change(self)
        self._show_all = bool(show)
        _end_filter_change(self)

    def shown_customers(self) -> set[str]:
        return {self.index(row, 0).data(KeyRole) for row in range(self.rowCount())}

    def matches(self, source_row: int) -> bool:
        """Whether the search matches the customer in ``source_row`` (pending work or not)."""
        return not self._needle or self._needle in cast(CustomersModel, self.sourceModel()).haystack(source_row)

    def set_search(self, text: str) -> None:
        needle = (text or "").strip().lower()
        if needle == self._needle:
            return
        _begin_filter_change(self)
        self._needle = needle
        _end_filter_change(self)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = cast(CustomersModel, self.sourceModel())
        if not self._show_all and not model.has_pending(source_row):
            return False
        return self.matches(source_row)

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        return _native_less_than(left.data(self.sortRole()), right.data(self.sortRole()))
