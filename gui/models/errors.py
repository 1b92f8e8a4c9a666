"""The failed rows of both ERR tables in one grid (``ErrorsModel``) and its filter proxy.

About 440 lines on purpose: the model, its proxy and the search text both match share the positions
of one compared tuple (``_E_*``); apart, each would have to know the other's layout.
"""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, QObject, QPersistentModelIndex, QSortFilterProxyModel, Qt

from core.foundation.error_types import error_kind
from gui.models.common import (
    _CENTER,
    _ENABLED,
    _FOREGROUND,
    _LEFT,
    _MUTED_COLOR,
    _NO_PARENT,
    _RIGHT,
    _TOOLTIP,
    KeyRole,
    RetryableRole,
    SortRole,
    _count,
    _native_less_than,
    as_utc,
    format_local,
    format_utc,
)
from gui.models.keyed import _FieldColumns, _KeyedTableModel, _SortKeys

# Positions in ErrorsModel's compared tuple (its _FIELDS, then its _OPTIONAL).
(
    _E_REF,
    _E_LEVEL,
    _E_CUSTOMER,
    _E_PO,
    _E_ORDER,
    _E_TYPE,
    _E_CODE,
    _E_MESSAGE,
    _E_RETRYABLE,
    _E_RETRIES,
    _E_LAST,
    _E_RESOLVED,
    _E_SYNC_KEY,
    _E_PARENT_KEY,
    _E_SIZE,
    _E_FIXED,
) = range(16)


# The Retry column: not retryable, retryable after a fix, retryable now.
RETRY_TEXT = ("No: fix in the ERP", "After a fix", "Retry now")


def _can_retry(raw: tuple) -> bool:
    return bool((raw[_E_RETRYABLE] or raw[_E_FIXED]) and raw[_E_RESOLVED] is None)


def _one_line(text: Any) -> str:
    text = "" if text is None else str(text)
    return " ".join(text.split()) if ("\n" in text or "\r" in text or "\t" in text) else text


class ErrorsModel(_KeyedTableModel):
    """The item and subitem ERR tables in one grid, keyed by error ref (``I12``, ``S7``).

    ``RetryableRole`` is ``retryable or fixed`` for an open row and False once resolved; a Retry
    reads the ref with ``KeyRole`` through the proxy, never a row number. A row's ``payload_json``
    and ``source_json`` are not compared (they can be large): ``RowRole`` always returns the newest
    dict, and a retry that fails again changes the compared fields anyway.
    """

    (
        COL_CUSTOMER,
        COL_PO,
        COL_ORDER,
        COL_SIZE,
        COL_TYPE,
        COL_CODE,
        COL_MESSAGE,
        COL_RETRYABLE,
        COL_RETRIES,
        COL_LAST,
        COL_ACTION,
    ) = range(11)

    _HEADERS = (
        "Customer",
        "PO",
        "Order",
        "Size",
        "Kind of failure",
        "monday code",
        "Message",
        "Retry",
        "Retries",
        "Last attempt",
        "",
    )
    _HEADER_TIPS = (
        "",
        "PO number",
        "Order number (the tooltip shows the order line's sync key)",
        "Size of a subitem error; empty for an item error",
        "What kind of failure this is (the details pane explains it)",
        "The error code monday.com returned",
        "",
        (
            "Retry now: a retry can succeed as is; After a fix: retry once the cause is fixed (a label added "
            "on the board, a setting); No: fix the line in the ERP, the next sync sends it"
        ),
        "Retries so far",
        "Local time of the last failure",
        "",
    )
    _ALIGNMENT = (_LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _CENTER, _RIGHT, _LEFT, _CENTER)
    _FLAGS = (_ENABLED,) * 11
    _KEY = "ref"
    _FIELDS = (
        "ref",
        "level",
        "customer",
        "po_number",
        "order_number",
        "error_type",
        "error_code",
        "message",
        "retryable",
        "retry_count",
        "last_failed_at",
        "resolved_at",
    )
    # Item errors have sync_key, subitem errors parent_sync_key and size_label; fixed is the window's.
    _OPTIONAL = ("sync_key", "parent_sync_key", "size_label", "fixed")
    _ALL = tuple(range(11))
    _FIELD_COLUMNS: ClassVar[_FieldColumns] = {
        "ref": _ALL,
        "level": (COL_ORDER, COL_SIZE),
        "customer": (COL_CUSTOMER,),
        "po_number": (COL_PO,),
        "order_number": (COL_ORDER,),
        "sync_key": (COL_ORDER,),
        "size_label": (COL_SIZE,),
        "error_type": (COL_TYPE,),
        "error_code": (COL_CODE,),
        "message": (COL_MESSAGE,),
        "retryable": (COL_RETRYABLE, COL_ACTION),
        "retry_count": (COL_RETRIES,),
        "last_failed_at": (COL_LAST,),
        "parent_sync_key": (COL_ORDER,),
        "resolved_at": _ALL,
        "fixed": (COL_RETRYABLE, COL_ACTION),
    }

    _SORT: ClassVar[_SortKeys] = {
        COL_CUSTOMER: ("str", _E_CUSTOMER),
        COL_PO: ("str", _E_PO),
        COL_ORDER: ("str", _E_ORDER),
        COL_SIZE: ("str", _E_SIZE),
        COL_TYPE: ("str", _E_TYPE),
        COL_CODE: ("str", _E_CODE),
        COL_MESSAGE: ("str", _E_MESSAGE),
        # 2 retryable, 1 fixed since it failed, 0 not retryable
        COL_RETRYABLE: lambda raw: 2 if raw[_E_RETRYABLE] else 1 if raw[_E_FIXED] else 0,
        COL_RETRIES: ("int", _E_RETRIES),
        COL_LAST: ("dt", _E_LAST),
        COL_ACTION: lambda raw: int(_can_retry(raw)),
    }

    def _raws(self, rows: list[dict]) -> list[tuple]:
        # The optional fields spelled out: a third faster than the engine's generic map over them,
        # which is a tenth of opening 100,000 rows.
        required = self._get_required
        try:
            return [
                required(r) + (r.get("sync_key"), r.get("parent_sync_key"), r.get("size_label"), r.get("fixed"))
                for r in rows
            ]
        except KeyError:
            return super()._raws(rows)

    def row_for_ref(self, ref: str) -> int | None:
        return self._position().get(ref)

    def _format(self, raw: tuple) -> tuple:
        return (
            raw[_E_CUSTOMER] or "(blank)",
            raw[_E_PO] or "",
            raw[_E_ORDER] or "",
            raw[_E_SIZE] or "",
            error_kind(raw[_E_TYPE]).name,
            "" if raw[_E_CODE] is None else str(raw[_E_CODE]),
            _one_line(raw[_E_MESSAGE]),
            RETRY_TEXT[2 if raw[_E_RETRYABLE] else 1 if raw[_E_FIXED] else 0],
            str(_count(raw[_E_RETRIES])),
            format_local(as_utc(raw[_E_LAST])),
            None,
        )

    def _role_data(self, row: int, column: int, role: int) -> Any:
        if role == RetryableRole:
            return _can_retry(self._raw[row])
        if role == _FOREGROUND:
            return _MUTED_COLOR if self._raw[row][_E_RESOLVED] is not None else None
        if role == _TOOLTIP:
            return self._tooltip(self._raw[row], column)
        return None

    def _tooltip(self, raw: tuple, column: int) -> str | None:
        if column == COL_MESSAGE:
            return None if raw[_E_MESSAGE] is None else str(raw[_E_MESSAGE])
        if column == COL_ORDER:
            line = raw[_E_SYNC_KEY] or raw[_E_PARENT_KEY] or "?"
            return f"{raw[_E_LEVEL] or 'item'} error {raw[_E_REF]}, order line {line}"
        if column == COL_LAST:
            tip = format_utc(as_utc(raw[_E_LAST]))
            if raw[_E_RESOLVED] is not None:
                tip += f"\nresolved {format_local(as_utc(raw[_E_RESOLVED]))}"
            return tip or None
        if column == COL_ACTION:
            if raw[_E_RESOLVED] is not None:
                return f"{raw[_E_REF]} is resolved"
            if raw[_E_RETRYABLE]:
                return f"Retry {raw[_E_REF]}"
            if raw[_E_FIXED]:
                return f"Retry {raw[_E_REF]}: the line changed in the ERP since it failed"
            return f"{raw[_E_REF]} cannot succeed as is: fix the data in the ERP first"
        return None

    def _haystack(self, raw: tuple) -> str:
        return _search_text(
            raw[_E_CUSTOMER], raw[_E_PO], raw[_E_ORDER], raw[_E_SIZE], raw[_E_TYPE], raw[_E_CODE], raw[_E_MESSAGE]
        )

    def seed_search(self, texts: dict[str, str]) -> None:
        """Take the rows' search texts made elsewhere (``search_text`` of the same rows, on a worker
        thread), so the first search of the session does not make 100,000 of them on the GUI thread."""
        self._hay = [texts.get(key) if text is None else text for key, text in zip(self._keys, self._hay, strict=True)]


def search_text(row: dict) -> str:
    """What the search of ``ErrorsModel`` matches for one error row (its lowercase haystack)."""
    return _search_text(
        row.get("customer"),
        row.get("po_number"),
        row.get("order_number"),
        row.get("size_label"),
        row.get("error_type"),
        row.get("error_code"),
        row.get("message"),
    )


def _search_text(customer, po, order, size, error_type, code, message) -> str:
    return "\x1f".join(
        (
            customer or "",
            po or "",
            order or "",
            size or "",
            error_type or "",
            error_kind(error_type).name,
            "" if code is None else str(code),
            "" if message is None else str(message),
        )
    ).lower()


(COL_PO, COL_ORDER, COL_SIZE, COL_TYPE, COL_CODE, COL_MESSAGE, COL_RETRYABLE, COL_RETRIES, COL_LAST, COL_ACTION) = (
    ErrorsModel.COL_PO,
    ErrorsModel.COL_ORDER,
    ErrorsModel.COL_SIZE,
    ErrorsModel.COL_TYPE,
    ErrorsModel.COL_CODE,
    ErrorsModel.COL_MESSAGE,
    ErrorsModel.COL_RETRYABLE,
    ErrorsModel.COL_RETRIES,
    ErrorsModel.COL_LAST,
    ErrorsModel.COL_ACTION,
)


class ErrorsFilterProxy(QSortFilterProxyModel):
    """Filters the error grid (customer, type, retryable, resolved, search) and sorts it.

    ``dynamicSortFilter`` is off, for speed and for the operator: with it on, every refresh that
    touches a row would re-sort it through ``data()`` calls from C++, and a row could move from under
    the mouse between seeing it and clicking its Retry. Instead:

    * sorting is done by ``ErrorsModel.sort`` (Python, precomputed keys, one layout change), so the
      proxy keeps the source order; rows whose sort value changes keep their place until the next
      sort, and new rows arrive at their sorted place;
    * a filter change rebuilds the mapping with ``invalidate()`` (one pass of a cheap
      ``filterAcceptsRow``: 100,000 rows in about 40 ms; the incremental
      ``beginFilterChange``/``endFilterChange`` path takes ~10x longer at that size);
    * after a refresh whose changed rows now pass or fail the filter differently (a row resolved
      while resolved rows are hidden), the filter is re-applied once, at the model's ``refreshed``.
    """

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(False)
        self._customer: str | None = None
        self._error_type: str | None = None
        self._retryable_only = False
        self._show_resolved = False
        self._needles: tuple[str, ...] = ()
        self._stale = False
        self._connected: ErrorsModel | None = None

    # -- filters ----------------------------------------------------------------------------------------

    def set_customer(self, customer: str | None) -> None:
        self._set("_customer", customer)

    def set_error_type(self, t: str | None) -> None:
        self._set("_error_type", t or None)

    def set_retryable_only(self, flag: bool) -> None:
        self._set("_retryable_only", bool(flag))

    def set_show_resolved(self, flag: bool) -> None:
        self._set("_show_resolved", bool(flag))

    def set_search(self, text: str) -> None:
        """Every whitespace-separated word must occur in customer, PO, order, size, type, code or message."""
        needles = tuple((text or "").lower().split())
        if needles and self._connected is not None:
            self._connected.prepare_search()
        self._set("_needles", needles)

    def set_filters(self, customer: str | None, error_type: str | None, retryable_only: bool, search: str) -> None:
        """Every filter at once: one pass over the rows however many of them changed."""
        values = {
            "_customer": customer,
            "_error_type": error_type or None,
            "_retryable_only": bool(retryable_only),
            "_needles": tuple((search or "").lower().split()),
        }
        if all(getattr(self, name) == value for name, value in values.items()):
            return
        if values["_needles"] and self._connected is not None:
            self._connected.prepare_search()
        for name, value in values.items():
            setattr(self, name, value)
        self.invalidate()

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) == value:
            return
        setattr(self, name, value)
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex | QPersistentModelIndex) -> bool:
        model = self._connected
        if model is None:
            return True
        raw = model._raw[source_row]
        if raw[_E_RESOLVED] is not None and not self._show_resolved:
            return False
        if self._customer is not None and (raw[_E_CUSTOMER] or "") != self._customer:
            return False
        if self._error_type is not None and raw[_E_TYPE] != self._error_type:
            return False
        if self._retryable_only and not _can_retry(raw):
            return False
        if self._needles:
            hay = model.haystack(source_row)
            for needle in self._needles:
                if needle not in hay:
                    return False
        return True

    # -- rows -------------------------------------------------------------------------------------------

    def ref_at(self, proxy_index: QModelIndex) -> str:
        """The error ref of the row at ``proxy_index``, read through ``KeyRole``; "" for no row."""
        if not proxy_index.isValid():
            return ""
        return proxy_index.siblingAtColumn(0).data(KeyRole) or ""

    # -- sorting ----------------------------------------------------------------------------------------

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        model = self.sourceModel()
        if isinstance(model, ErrorsModel):
            model.sort(column, order)  # a source layout change: the proxy follows in the source order
        else:
            super().sort(column, order)

    def sortColumn(self) -> int:
        model = self.sourceModel()
        if isinstance(model, ErrorsModel):
            return model._sort_spec[0] if model._sort_spec else -1
        return super().sortColumn()

    def lessThan(self, left: QModelIndex | QPersistentModelIndex, right: QModelIndex | QPersistentModelIndex) -> bool:
        return _native_less_than(left.data(self.sortRole()), right.data(self.sortRole()))

    def sortOrder(self) -> Qt.SortOrder:
        model = self.sourceModel()
        if isinstance(model, ErrorsModel):
            return model._sort_spec[1] if model._sort_spec else Qt.SortOrder.AscendingOrder
        return super().sortOrder()

    # -- keeping the filter right across refreshes ------------------------------------------------------

    def setSourceModel(self, model) -> None:
        if self._connected is not None:
            self._connected.dataChanged.disconnect(self._source_data_changed)
            self._connected.refreshed.disconnect(self._source_refreshed)
        self._connected = model if isinstance(model, ErrorsModel) else None
        super().setSourceModel(model)
        if self._connected is not None:
            self._connected.dataChanged.connect(self._source_data_changed)
            self._connected.refreshed.connect(self._source_refreshed)

    def _source_data_changed(self, top_left: QModelIndex, bottom_right: QModelIndex, roles=()) -> None:
        if self._stale:
            return
        first, last = top_left.row(), bottom_right.row()
        if last - first > 1000:
            self._stale = True
            return
        model = self._connected
        if model is None:  # connected only while the source is an ErrorsModel
            return
        for row in range(first, last + 1):
            shown = self.mapFromSource(model.index(row, 0)).isValid()
            if shown != self.filterAcceptsRow(row, _NO_PARENT):
                self._stale = True
                return

    def _source_refreshed(self) -> None:
        if self._stale:
            self._stale = False
            self.invalidate()
