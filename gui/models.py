"""Table models of the operator window: customers with pending work, live batches, failed rows.

All three are keyed tables (customer name / batch_id / error ref). ``set_rows`` is called on every
refresh tick with the full current list and turns it into row-level changes, the way a view wants
them: ``rowsRemoved`` for keys that went, one ``dataChanged`` per changed row spanning only the
columns whose value changed, ``rowsInserted`` for new keys. Never a model reset, so selection,
current row, scroll position and check boxes survive a refresh.

The error grid must stay fast with 100,000 rows, which shapes the storage:

* rows live in plain parallel Python lists (key, row dict, a tuple of the compared values); a
  refresh compares tuples, which runs in C;
* display strings are made once per row, the first time the row is painted, and cached until the
  row changes: only the few dozen visible rows ever pay for formatting;
* the sort keys of a column are computed once, in one list comprehension, when the grid is sorted
  by that column, and kept up to date while it stays the sort column;
* the filter's search runs over one lowercase haystack per row, made once;
* what a view asks ``data()`` for while painting creates no objects: cached strings, constants,
  values already stored.

Sorting 100,000 rows through ``QSortFilterProxyModel``'s own sort would call ``data()`` from C++
about 3.4 million times (13 s measured); ``ErrorsFilterProxy.sort`` therefore hands the sort to
``ErrorsModel.sort``, which orders its rows in Python with the precomputed keys and announces it as
one layout change. See ``ErrorsFilterProxy`` for why the proxy does not sort or filter dynamically.
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from itertools import compress, count, islice
from operator import itemgetter
from typing import Any, Callable, Iterable, Sequence

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QColor, QFont

from core.db.schema import (ACTIVE_BATCH_STATES, CANCELLED, COMPLETED, COMPLETED_WITH_ERRORS, FAILED,
                            NO_CHANGES, PROMOTING, PUSHING, STAGED, STARTED)

log = logging.getLogger(__name__)

KeyRole = Qt.ItemDataRole.UserRole + 1        # the row's stable key: customer / batch_id / error ref
SortRole = Qt.ItemDataRole.UserRole + 2       # the native value the column sorts by
ProgressRole = Qt.ItemDataRole.UserRole + 3   # BatchesModel, progress column: float 0..1
RetryableRole = Qt.ItemDataRole.UserRole + 4  # ErrorsModel: whether the row's Retry button is enabled
RowRole = Qt.ItemDataRole.UserRole + 5        # the whole row dict, on every column

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_CHECK = int(Qt.ItemDataRole.CheckStateRole)

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter

_ENABLED = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_CHECKABLE = _ENABLED | Qt.ItemFlag.ItemIsUserCheckable

_NO_PARENT = QModelIndex()
# The overload of layout(AboutToBe)Changed that carries a hint (PySide picks the bare one by default).
_PARENTS, _HINT = "QList<QPersistentModelIndex>", QAbstractItemModel.LayoutChangeHint

# More separate changes than this in one refresh are announced in bulk (one layout change and one
# block, or one dataChanged over the changed span): each separate insert or remove costs the proxy a
# pass over all its rows, so thousands of them would cost more than one layout change.
_MAX_RUNS = 64

# Sorts "never" before every date; also as a QDateTime (datetime.min converts to an invalid one).
_DT_MIN = dt.datetime(1900, 1, 1)
_UTC = dt.timezone.utc


# --- value formatting ----------------------------------------------------------------------------


def as_utc(value: Any) -> dt.datetime | None:
    """A timestamp as naive UTC, the way core stores them; aware ones are converted, ISO text parsed."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    elif not isinstance(value, dt.datetime):  # a date
        value = dt.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(_UTC).replace(tzinfo=None)
    return value


def format_local(value: dt.datetime | None, empty: str = "") -> str:
    """A naive-UTC timestamp in the operator's local time, to the minute."""
    if value is None:
        return empty
    return value.replace(tzinfo=_UTC).astimezone().strftime("%Y-%m-%d %H:%M")


def format_utc(value: dt.datetime | None) -> str:
    return "" if value is None else value.isoformat(sep=" ", timespec="seconds") + " UTC"


def format_duration(seconds: float | None) -> str:
    """``45 s``, ``1 min 20 s``, ``2 h 05 min``; empty when unknown."""
    if seconds is None or seconds != seconds or seconds < 0:
        return ""
    total = int(round(seconds))
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_rate(rows_per_second: float | None) -> str:
    if rows_per_second is None or rows_per_second != rows_per_second:
        return ""
    return f"{rows_per_second:.1f} rows/s"


def _count(value: Any) -> int:
    return int(value or 0)


def _runs(indexes: Sequence[int]) -> list[tuple[int, int]]:
    """Ascending row numbers -> inclusive (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    start = prev = indexes[0]
    for i in indexes[1:]:
        if i != prev + 1:
            runs.append((start, prev))
            start = i
        prev = i
    runs.append((start, prev))
    return runs


def _take(values: list, positions: Iterable[int]) -> list:
    """``[values[i] for i in positions]``, at C speed."""
    return list(map(values.__getitem__, positions))


def _insert_position(keys: list, key: Any, descending: bool) -> int:
    """Where ``key`` goes in ``keys`` sorted ascending (or descending): after the equal ones."""
    lo, hi = 0, len(keys)
    if descending:
        while lo < hi:
            mid = (lo + hi) // 2
            if key > keys[mid]:
                hi = mid
            else:
                lo = mid + 1
    else:
        while lo < hi:
            mid = (lo + hi) // 2
            if key < keys[mid]:
                hi = mid
            else:
                lo = mid + 1
    return lo


# --- the keyed table ------------------------------------------------------------------------------


class _KeyedTableModel(QAbstractTableModel):
    """A table of rows identified by a key, refreshed with ``set_rows`` as row-level changes.

    Subclasses declare the columns (``_HEADERS`` ...), the key field, the compared fields and which
    columns show each field, the sort key of each sortable column (``_SORT``), and implement
    ``_format`` (the display strings of one row) and ``_role_data`` (the other roles).
    """

    #: Emitted at the end of every ``set_rows``, after all the row signals.
    refreshed = Signal()

    _HEADERS: tuple[str, ...] = ()
    _HEADER_TIPS: tuple[str, ...] = ()
    _ALIGNMENT: tuple[Any, ...] = ()
    _FLAGS: tuple[Any, ...] = ()
    _KEY: str = ""
    _FIELDS: tuple[str, ...] = ()           # compared to detect a change; in every row
    _OPTIONAL: tuple[str, ...] = ()         # compared too, may be missing from a row (None)
    _FIELD_COLUMNS: dict[str, tuple[int, ...]] = {}  # the columns that show a field; absent: all
    # column -> ("str" | "int" | "float" | "dt", position in the compared tuple), or a function of the
    # tuple. "str" sorts case-insensitively, "dt" as naive UTC with None first.
    _SORT: dict[int, tuple[str, int] | Callable[[tuple], Any]] = {}

    def __init__(self, parent=None):
        super().__init__(parent)
        self._keys: list[Any] = []
        self._rows: list[dict] = []
        self._raw: list[tuple] = []            # values of _FIELDS + _OPTIONAL, compared on refresh
        self._disp: list[tuple | None] = []    # display strings, made on first use
        self._hay: list[str | None] = []       # lowercase search text, made on first use
        self._pos: dict[Any, int] | None = {}  # key -> row, rebuilt lazily after structural changes
        self._sort_spec: tuple[int, Qt.SortOrder] | None = None
        self._sort_keys: list | None = None    # keys of the sort column, kept current while sorted
        ncols = len(self._HEADERS)
        self._field_spans = []
        for name in self._FIELDS + self._OPTIONAL:
            cols = self._FIELD_COLUMNS.get(name, range(ncols))
            self._field_spans.append((min(cols), max(cols)))
        self._get_required = itemgetter(*self._FIELDS)
        self._get_key = itemgetter(self._KEY)

    # -- Qt API ---------------------------------------------------------------------------------------

    def rowCount(self, parent=_NO_PARENT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent=_NO_PARENT) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._HEADERS)

    def headerData(self, section, orientation, role=_DISPLAY):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._HEADERS):
            if role == _DISPLAY:
                return self._HEADERS[section]
            if role == _TOOLTIP:
                return self._HEADER_TIPS[section] or None
            if role == _ALIGN:
                return self._ALIGNMENT[section]
            return None
        return super().headerData(section, orientation, role)

    def flags(self, index):
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return self._FLAGS[index.column()]

    def data(self, index, role=_DISPLAY):
        if not index.isValid():
            return None
        row = index.row()
        if role == _DISPLAY:
            cells = self._disp[row]
            if cells is None:
                cells = self._disp[row] = self._format(self._raw[row])
            return cells[index.column()]
        if role == KeyRole:
            return self._keys[row]
        if role == _ALIGN:
            return self._ALIGNMENT[index.column()]
        if role == SortRole:
            column = index.column()
            if self._sort_keys is not None and self._sort_spec[0] == column:
                return self._sort_keys[row]
            return self._key_of(column, self._raw[row])
        if role == RowRole:
            return self._rows[row]
        return self._role_data(row, index.column(), role)

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        """Order the rows by ``column``, stably (-1: keep the current order and stop sorting).

        While sorted, new rows are inserted at their sorted place; rows whose sort value changes keep
        their place until the next sort (they do not jump away from under the operator's mouse).
        """
        if column not in self._SORT:
            self._sort_spec = None
            self._sort_keys = None
            return
        order = Qt.SortOrder(order)
        descending = order == Qt.SortOrder.DescendingOrder
        if self._sort_spec is not None and self._sort_spec[0] == column:
            keys = self._sort_keys  # current: kept up to date while this is the sort column
        else:
            keys = self._column_keys(column, self._raw)
        self._sort_spec = (column, order)
        self._sort_keys = keys
        # Views ask twice (QTableView.sortByColumn sorts, and so does the header's signal): the second
        # request finds the rows in order and costs one pass.
        if all(map(operator.ge if descending else operator.le, keys, islice(keys, 1, None))):
            return
        perm = sorted(range(len(keys)), key=keys.__getitem__, reverse=descending)
        self._permute(perm, QAbstractItemModel.LayoutChangeHint.VerticalSortHint)

    # -- public ---------------------------------------------------------------------------------------

    def set_rows(self, rows: Iterable[dict]) -> None:
        """Make the table show ``rows`` (the whole current list), as row-level changes."""
        rows = self._ordered(list(rows))
        keys = list(map(self._get_key, rows))
        raws = self._raws(rows)
        if keys == self._keys:
            # The usual tick: the same rows in the same order; only values may have changed.
            if keys:
                self._update(rows, raws)
        else:
            incoming = dict(zip(keys, range(len(keys))))
            if len(incoming) != len(keys):
                rows, keys, raws = self._deduplicated(rows, keys, raws)
                incoming = dict(zip(keys, range(len(keys))))
            if not self._keys:
                self._load(keys, rows, raws)
            else:
                self._refresh(keys, rows, raws, incoming)
        self.refreshed.emit()

    def row_for_key(self, key: Any) -> int | None:
        return self._position().get(key)

    def keys(self) -> list[Any]:
        """The keys in row order (a copy)."""
        return list(self._keys)

    def haystack(self, row: int) -> str:
        """The row's lowercase search text (made once per row)."""
        text = self._hay[row]
        if text is None:
            text = self._hay[row] = self._haystack(self._raw[row])
        return text

    def prepare_search(self) -> None:
        """Make every row's search text now, in one pass (faster than row by row while filtering)."""
        hay = self._hay
        if None in hay:
            make = self._haystack
            self._hay = [make(raw) if text is None else text for raw, text in zip(self._raw, hay)]

    # -- for subclasses -------------------------------------------------------------------------------

    def _ordered(self, rows: list[dict]) -> list[dict]:
        """The row order to show while the model is not sorted: as given."""
        return rows

    def _format(self, raw: tuple) -> tuple:
        raise NotImplementedError

    def _role_data(self, row: int, column: int, role: int) -> Any:
        return None

    def _haystack(self, raw: tuple) -> str:
        return ""

    def _rows_removed(self, keys: list[Any]) -> None:
        """Hook: the rows with these keys have just been removed."""

    # -- sort keys ------------------------------------------------------------------------------------

    def _column_keys(self, column: int, raws: Sequence[tuple]) -> list:
        spec = self._SORT[column]
        if callable(spec):
            return [spec(raw) for raw in raws]
        kind, position = spec
        values = map(itemgetter(position), raws)
        if kind == "str":
            return [v.lower() if v.__class__ is str else ("" if v is None else str(v).lower()) for v in values]
        if kind == "int":
            return [v if v.__class__ is int else _count(v) for v in values]
        if kind == "float":
            return [v if v.__class__ is float else float(v or 0.0) for v in values]
        if kind == "dt":
            naive = dt.datetime
            return [v if v.__class__ is naive and v.tzinfo is None else (as_utc(v) or _DT_MIN) for v in values]
        raise ValueError(kind)

    def _key_of(self, column: int, raw: tuple) -> Any:
        return self._column_keys(column, (raw,))[0] if column in self._SORT else None

    # -- refresh --------------------------------------------------------------------------------------

    def _position(self) -> dict[Any, int]:
        if self._pos is None:
            self._pos = dict(zip(self._keys, range(len(self._keys))))
        return self._pos

    def _raws(self, rows: list[dict]) -> list[tuple]:
        required, optional = self._get_required, self._OPTIONAL
        try:
            if optional:
                return [required(r) + tuple(map(r.get, optional)) for r in rows]
            return list(map(required, rows))
        except KeyError:
            # Rows without some of the fields: slower, and only then.
            fields = self._FIELDS + self._OPTIONAL
            return [tuple(map(r.get, fields)) for r in rows]

    def _deduplicated(self, rows: list[dict], keys: list, raws: list[tuple]) -> tuple[list, list, list]:
        seen: set[Any] = set()
        kept = [i for i, k in enumerate(keys) if not (k in seen or seen.add(k))]
        log.warning("%s: %d rows repeat the key of an earlier row; the first of each is shown",
                    type(self).__name__, len(keys) - len(kept))
        return [rows[i] for i in kept], [keys[i] for i in kept], [raws[i] for i in kept]

    def _load(self, keys: list, rows: list[dict], raws: list[tuple]) -> None:
        """Rows into an empty model: one insert."""
        sort_keys = None
        if self._sort_spec is not None:
            column, order = self._sort_spec
            sort_keys = self._column_keys(column, raws)
            perm = sorted(range(len(keys)), key=sort_keys.__getitem__,
                          reverse=order == Qt.SortOrder.DescendingOrder)
            keys, rows, raws = _take(keys, perm), _take(rows, perm), _take(raws, perm)
            sort_keys = _take(sort_keys, perm)
        self.beginInsertRows(_NO_PARENT, 0, len(keys) - 1)
        self._keys, self._rows, self._raw = keys, rows, raws
        self._disp = [None] * len(keys)
        self._hay = [None] * len(keys)
        self._sort_keys = sort_keys
        self._pos = None
        self.endInsertRows()

    def _refresh(self, keys: list, rows: list[dict], raws: list[tuple], incoming: dict[Any, int]) -> None:
        order = list(map(incoming.get, self._keys))  # incoming position of each current row
        if None in order:
            gone = [i for i, j in enumerate(order) if j is None]
            self._remove(gone)
            order = [j for j in order if j is not None]
        if self._keys:
            self._update(list(map(rows.__getitem__, order)), list(map(raws.__getitem__, order)))
        if len(keys) > len(self._keys):
            current = self._position()
            self._insert([j for j, k in enumerate(keys) if k not in current], keys, rows, raws)
        if self._sort_spec is None and self._keys != keys:
            current = self._position()
            self._permute([current[k] for k in keys], QAbstractItemModel.LayoutChangeHint.NoLayoutChangeHint)

    def _remove(self, gone: list[int]) -> None:
        removed_keys = [self._keys[i] for i in gone]
        runs = _runs(gone)
        if len(runs) > _MAX_RUNS:
            # Scattered: move them to the end in one layout change, then remove one block.
            gone_set = set(gone)
            kept = [i for i in range(len(self._keys)) if i not in gone_set]
            self._permute(kept + gone, QAbstractItemModel.LayoutChangeHint.NoLayoutChangeHint)
            runs = [(len(kept), len(self._keys) - 1)]
        for first, last in reversed(runs):
            self.beginRemoveRows(_NO_PARENT, first, last)
            for values in self._parallel():
                del values[first:last + 1]
            self._pos = None
            self.endRemoveRows()
        self._rows_removed(removed_keys)

    def _update(self, rows: list[dict], raws: list[tuple]) -> None:
        """``rows``/``raws`` are aligned with the current rows: signal the cells that changed."""
        self._rows = rows  # always the newest dicts, for RowRole
        old, self._raw = self._raw, raws
        changed = list(compress(count(), map(operator.ne, old, raws)))
        if not changed:
            return
        spans, ncols = self._field_spans, len(self._HEADERS)
        sort_column = self._sort_spec[0] if self._sort_keys is not None else None
        cells: list[tuple[int, int, int]] = []
        for i in changed:
            first, last = ncols, -1
            for f, (x, y) in enumerate(zip(old[i], raws[i])):
                if x != y:
                    lo, hi = spans[f]
                    first, last = min(first, lo), max(last, hi)
            self._disp[i] = None
            self._hay[i] = None
            if sort_column is not None:
                self._sort_keys[i] = self._key_of(sort_column, raws[i])
            cells.append((i, first, last))
        if len(cells) > _MAX_RUNS:
            self.dataChanged.emit(self.index(changed[0], 0), self.index(changed[-1], ncols - 1), [])
            return
        for i, first, last in cells:
            self.dataChanged.emit(self.index(i, first), self.index(i, last), [])

    def _insert(self, added: list[int], keys: list, rows: list[dict], raws: list[tuple]) -> None:
        """New rows: at their sorted place while sorted, else where the incoming order puts them.

        ``added`` are positions in the incoming lists. Few places: one insert per place. Many: one
        insert at the end, then one layout change that moves them into place.
        """
        n = len(self._keys)
        places: list[tuple[int, list[int]]]  # (row in the current rows, incoming positions)
        if self._sort_spec is not None:
            column, order = self._sort_spec
            descending = order == Qt.SortOrder.DescendingOrder
            new_keys = dict(zip(added, self._column_keys(column, _take(raws, added))))
            by_place: dict[int, list[int]] = {}
            for j in sorted(added, key=new_keys.__getitem__, reverse=descending):
                by_place.setdefault(_insert_position(self._sort_keys, new_keys[j], descending), []).append(j)
            places = sorted(by_place.items())
        else:
            current = self._position()
            if [k for k in keys if k in current] != self._keys:
                places = [(n, added)]  # the kept rows changed order: _refresh reorders everything
            else:
                # Incoming positions are final rows once every earlier run is in: shift them back.
                places, inserted = [], 0
                for first, last in _runs(added):
                    places.append((first - inserted, list(range(first, last + 1))))
                    inserted += last - first + 1
        if len(places) > _MAX_RUNS:
            self._insert_block(n, [j for _, js in places for j in js], keys, rows, raws)
            perm: list[int] = []
            previous, appended = 0, n
            for place, js in places:
                perm.extend(range(previous, place))
                perm.extend(range(appended, appended + len(js)))
                previous, appended = place, appended + len(js)
            perm.extend(range(previous, n))
            self._permute(perm, QAbstractItemModel.LayoutChangeHint.NoLayoutChangeHint)
            return
        shift = 0
        for place, js in places:
            self._insert_block(place + shift, js, keys, rows, raws)
            shift += len(js)

    def _insert_block(self, at: int, js: list[int], keys: list, rows: list[dict], raws: list[tuple]) -> None:
        new_raws = _take(raws, js)
        self.beginInsertRows(_NO_PARENT, at, at + len(js) - 1)
        self._keys[at:at] = _take(keys, js)
        self._rows[at:at] = _take(rows, js)
        self._raw[at:at] = new_raws
        self._disp[at:at] = [None] * len(js)
        self._hay[at:at] = [None] * len(js)
        if self._sort_keys is not None:
            self._sort_keys[at:at] = self._column_keys(self._sort_spec[0], new_raws)
        self._pos = None
        self.endInsertRows()

    def _parallel(self) -> list[list]:
        lists = [self._keys, self._rows, self._raw, self._disp, self._hay]
        if self._sort_keys is not None:
            lists.append(self._sort_keys)
        return lists

    def _permute(self, perm: list[int], hint: QAbstractItemModel.LayoutChangeHint) -> None:
        """Reorder the rows (``perm``: old row numbers in their new order) as one layout change."""
        self.layoutAboutToBeChanged[_PARENTS, _HINT].emit([], hint)
        old_keys = self._keys
        persistent = self.persistentIndexList()
        self._keys = _take(old_keys, perm)
        self._rows = _take(self._rows, perm)
        self._raw = _take(self._raw, perm)
        self._disp = _take(self._disp, perm)
        self._hay = _take(self._hay, perm)
        if self._sort_keys is not None:
            self._sort_keys = _take(self._sort_keys, perm)
        self._pos = None
        if persistent:
            position = self._position()
            self.changePersistentIndexList(
                persistent, [self.index(position[old_keys[p.row()]], p.column()) for p in persistent])
        self.layoutChanged[_PARENTS, _HINT].emit([], hint)


# --- customers with pending work -----------------------------------------------------------------

_ERROR_COLOR = QColor(190, 30, 30)
_MUTED_COLOR = QColor(128, 128, 128)


class CustomersModel(_KeyedTableModel):
    """Customers with pending work, each with a check box that survives refreshes (kept by name)."""

    #: The set of checked customers changed (by the user, by code, or by a customer leaving the list).
    checkedChanged = Signal()

    COL_CHECK, COL_CUSTOMER, COL_NEW, COL_CHANGED, COL_REMOVED, COL_INVALID, COL_ERRORS, COL_LAST_SYNC = range(8)

    _HEADERS = ("", "Customer", "New", "Changed", "Removed", "Invalid", "Open errors", "Last sync")
    _HEADER_TIPS = ("Check the customers to sync", "", "Order lines not on the board yet",
                    "Order lines that changed since the last sync", "Order lines no longer in the ERP",
                    "Lines that cannot be sent until fixed in the ERP", "Failed rows not resolved yet",
                    "When the customer was last synced (local time)")
    _ALIGNMENT = (_CENTER, _LEFT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _LEFT)
    _FLAGS = (_CHECKABLE, *[_ENABLED] * 7)
    _KEY = "customer"
    _FIELDS = ("customer", "new", "changed", "removed", "invalid", "open_errors", "last_sync")
    _FIELD_COLUMNS = {"customer": (COL_CUSTOMER,), "new": (COL_NEW,), "changed": (COL_CHANGED,),
                      "removed": (COL_REMOVED,), "invalid": (COL_INVALID,), "open_errors": (COL_ERRORS,),
                      "last_sync": (COL_LAST_SYNC,)}

    def __init__(self, parent=None):
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
        wanted = set(self._keys) if checked else set()
        if wanted == self._checked or not self._keys:
            self._checked = wanted
            return
        self._checked = wanted
        self.dataChanged.emit(self.index(0, COL_CHECK), self.index(len(self._keys) - 1, COL_CHECK), [_CHECK])
        self.checkedChanged.emit()

    def setData(self, index, value, role=_CHECK) -> bool:  # noqa: N802
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
        return (None, customer or "(blank)", str(_count(new)), str(_count(changed)), str(_count(removed)),
                str(_count(invalid)), str(_count(errors)), format_local(as_utc(last_sync), "never"))

    # The check column sorts through SortRole only (its value is not in the compared tuple).
    _SORT = {COL_CUSTOMER: ("str", 0), COL_NEW: ("int", 1), COL_CHANGED: ("int", 2), COL_REMOVED: ("int", 3),
             COL_INVALID: ("int", 4), COL_ERRORS: ("int", 5), COL_LAST_SYNC: ("dt", 6)}

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
                return _ERROR_COLOR
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
    CustomersModel.COL_CHECK, CustomersModel.COL_NEW, CustomersModel.COL_CHANGED, CustomersModel.COL_REMOVED,
    CustomersModel.COL_INVALID, CustomersModel.COL_ERRORS, CustomersModel.COL_LAST_SYNC)


class CustomersFilterProxy(QSortFilterProxyModel):
    """Filters customers by a search over the name; sorts by ``SortRole`` (few rows: dynamic)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self._needle = ""

    def set_search(self, text: str) -> None:
        needle = (text or "").strip().lower()
        if needle == self._needle:
            return
        _begin_filter_change(self)
        self._needle = needle
        _end_filter_change(self)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        if not self._needle:
            return True
        return self._needle in self.sourceModel().haystack(source_row)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        return _native_less_than(left.data(self.sortRole()), right.data(self.sortRole()))


def _native_less_than(a: Any, b: Any) -> bool:
    """Compares sort values as Python does: a Python datetime reaches C++ as an opaque object, which
    QSortFilterProxyModel's own comparison cannot order. None sorts first."""
    if a is None:
        return b is not None
    if b is None:
        return False
    try:
        return a < b
    except TypeError:
        return str(a) < str(b)


def _begin_filter_change(proxy: QSortFilterProxyModel) -> None:
    if hasattr(proxy, "beginFilterChange"):  # Qt >= 6.9
        proxy.beginFilterChange()


def _end_filter_change(proxy: QSortFilterProxyModel) -> None:
    if hasattr(proxy, "endFilterChange"):
        proxy.endFilterChange(QSortFilterProxyModel.Direction.Rows)
    else:  # pragma: no cover - older Qt
        proxy.invalidateFilter()


# --- live batches -----------------------------------------------------------------------------------

STATUS_TEXT = {
    STARTED: "Starting", STAGED: "Staged", PUSHING: "Pushing", PROMOTING: "Promoting",
    COMPLETED: "Completed", COMPLETED_WITH_ERRORS: "Completed with errors", FAILED: "Failed",
    CANCELLED: "Cancelled", NO_CHANGES: "No changes",
}
_FINISHED_OK = (COMPLETED, COMPLETED_WITH_ERRORS, NO_CHANGES)


def status_text(status: str | None) -> str:
    if not status:
        return ""
    return STATUS_TEXT.get(status) or status.replace("_", " ").capitalize()


def _progress(done: Any, total: Any, status: str | None) -> float:
    done, total = _count(done), _count(total)
    if total <= 0:
        return 1.0 if status in _FINISHED_OK else 0.0
    return min(max(done / total, 0.0), 1.0)


class BatchesModel(_KeyedTableModel):
    """Batches read from MON_BatchProcessing, newest first, with live progress."""

    (COL_BATCH, COL_CUSTOMER, COL_STATUS, COL_PROGRESS, COL_SENT, COL_SUCCEEDED, COL_FAILED, COL_ITEMS,
     COL_SUBITEMS, COL_THROUGHPUT, COL_ETA, COL_STARTED, COL_OWNER) = range(13)

    _HEADERS = ("Batch", "Customer", "Status", "Progress", "Sent", "Succeeded", "Failed", "Items", "Subitems",
                "Throughput", "ETA", "Started", "Owner")
    _HEADER_TIPS = ("", "", "", "Rows done (succeeded or failed) of all rows of the batch",
                    "Rows sent to monday.com", "", "", "Items in the batch", "Subitems in the batch",
                    "Rows per second since the push started", "Estimated time left", "Local time",
                    "user@workstation running the batch")
    _ALIGNMENT = (_RIGHT, _LEFT, _LEFT, _CENTER, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT,
                  _LEFT, _LEFT)
    _FLAGS = (_ENABLED,) * 13
    _KEY = "batch_id"
    _FIELDS = ("batch_id", "customer", "status", "done", "total", "sent", "succeeded", "failed", "items",
               "subitems", "throughput", "eta_seconds", "started_at", "owner", "mine")
    _OPTIONAL = ("stale", "message")
    _FIELD_COLUMNS = {
        "batch_id": (COL_BATCH,), "customer": (COL_CUSTOMER,), "status": (COL_STATUS, COL_PROGRESS),
        "done": (COL_PROGRESS,), "total": (COL_PROGRESS,), "sent": (COL_SENT,), "succeeded": (COL_SUCCEEDED,),
        "failed": (COL_FAILED,), "items": (COL_ITEMS,), "subitems": (COL_SUBITEMS,),
        "throughput": (COL_THROUGHPUT,), "eta_seconds": (COL_ETA,), "started_at": (COL_STARTED,),
        "owner": (COL_OWNER,), "mine": (COL_OWNER,), "stale": (COL_STATUS,), "message": (COL_STATUS,),
    }
    (_B_ID, _B_CUSTOMER, _B_STATUS, _B_DONE, _B_TOTAL, _B_SENT, _B_SUCCEEDED, _B_FAILED, _B_ITEMS,
     _B_SUBITEMS, _B_RATE, _B_ETA, _B_STARTED, _B_OWNER, _B_MINE, _B_STALE, _B_MESSAGE) = range(17)

    _bold: QFont | None = None

    def overall(self) -> tuple[int, int]:
        """(done, total) summed over the active batches (STARTED, STAGED, PUSHING, PROMOTING)."""
        done = total = 0
        for raw in self._raw:
            if raw[self._B_STATUS] in ACTIVE_BATCH_STATES:
                total += _count(raw[self._B_TOTAL])
                done += min(_count(raw[self._B_DONE]), _count(raw[self._B_TOTAL]))
        return done, total

    def active(self, rows: list[int] | None = None) -> list[tuple[int, bool]]:
        """(batch id, mine) of the active batches among source ``rows`` (all rows when None)."""
        raws = self._raw if rows is None else [self._raw[r] for r in rows if 0 <= r < len(self._raw)]
        return [(raw[self._B_ID], bool(raw[self._B_MINE])) for raw in raws if raw[self._B_STATUS] in ACTIVE_BATCH_STATES]

    def _ordered(self, rows: list[dict]) -> list[dict]:
        def newest(row: dict) -> tuple:
            return (as_utc(row.get("started_at")) or _DT_MIN, row.get("batch_id") or 0)
        return sorted(rows, key=newest, reverse=True)

    def _format(self, raw: tuple) -> tuple:
        progress = _progress(raw[self._B_DONE], raw[self._B_TOTAL], raw[self._B_STATUS])
        status = status_text(raw[self._B_STATUS])
        if raw[self._B_STALE]:
            status += " (no heartbeat)"
        return (str(raw[self._B_ID]), raw[self._B_CUSTOMER] or "(blank)", status, f"{int(progress * 100 + 1e-9)} %",
                str(_count(raw[self._B_SENT])), str(_count(raw[self._B_SUCCEEDED])),
                str(_count(raw[self._B_FAILED])), str(_count(raw[self._B_ITEMS])),
                str(_count(raw[self._B_SUBITEMS])), format_rate(raw[self._B_RATE]),
                format_duration(raw[self._B_ETA]), format_local(as_utc(raw[self._B_STARTED])),
                raw[self._B_OWNER] or "")

    _SORT = {
        COL_BATCH: ("int", 0), COL_CUSTOMER: ("str", 1),
        COL_STATUS: lambda raw: status_text(raw[2]).lower(),
        COL_PROGRESS: lambda raw: _progress(raw[3], raw[4], raw[2]),
        COL_SENT: ("int", 5), COL_SUCCEEDED: ("int", 6), COL_FAILED: ("int", 7), COL_ITEMS: ("int", 8),
        COL_SUBITEMS: ("int", 9), COL_THROUGHPUT: ("float", 10),
        COL_ETA: lambda raw: float(raw[11]) if raw[11] is not None else float("inf"),  # unknown last
        COL_STARTED: ("dt", 12), COL_OWNER: ("str", 13),
    }

    def _role_data(self, row: int, column: int, role: int) -> Any:
        raw = self._raw[row]
        if role == ProgressRole:
            if column != COL_PROGRESS:
                return None
            return _progress(raw[self._B_DONE], raw[self._B_TOTAL], raw[self._B_STATUS])
        if role == _TOOLTIP:
            if column == COL_STATUS:
                tip = raw[self._B_STATUS] or ""
                if raw[self._B_STALE]:
                    tip += "\nno heartbeat for over 2 minutes: the process running it may be gone"
                if raw[self._B_MESSAGE]:
                    tip += "\n" + str(raw[self._B_MESSAGE])
                return tip
            if column == COL_PROGRESS:
                return f"{_count(raw[self._B_DONE])} of {_count(raw[self._B_TOTAL])} rows done"
            if column == COL_STARTED:
                return format_utc(as_utc(raw[self._B_STARTED])) or None
            if column == COL_OWNER and raw[self._B_MINE]:
                return "Started by this window"
            return None
        if role == _FOREGROUND:
            if column == COL_FAILED and raw[self._B_FAILED]:
                return _ERROR_COLOR
            if column == COL_STATUS and raw[self._B_STATUS] in (FAILED, COMPLETED_WITH_ERRORS):
                return _ERROR_COLOR
            return None
        if role == _FONT and column == COL_OWNER and raw[self._B_MINE]:
            if BatchesModel._bold is None:
                BatchesModel._bold = QFont()
                BatchesModel._bold.setBold(True)
            return BatchesModel._bold
        return None

    def _haystack(self, raw: tuple) -> str:
        return "\x1f".join((str(raw[self._B_ID]), raw[self._B_CUSTOMER] or "", status_text(raw[self._B_STATUS]),
                            raw[self._B_OWNER] or "")).lower()


(COL_BATCH, COL_STATUS, COL_PROGRESS, COL_SENT, COL_SUCCEEDED, COL_FAILED, COL_ITEMS, COL_SUBITEMS,
 COL_THROUGHPUT, COL_ETA, COL_STARTED, COL_OWNER) = (
    BatchesModel.COL_BATCH, BatchesModel.COL_STATUS, BatchesModel.COL_PROGRESS, BatchesModel.COL_SENT,
    BatchesModel.COL_SUCCEEDED, BatchesModel.COL_FAILED, BatchesModel.COL_ITEMS, BatchesModel.COL_SUBITEMS,
    BatchesModel.COL_THROUGHPUT, BatchesModel.COL_ETA, BatchesModel.COL_STARTED, BatchesModel.COL_OWNER)


# --- failed rows ------------------------------------------------------------------------------------

# Positions in ErrorsModel's compared tuple (its _FIELDS, then its _OPTIONAL).
(_E_REF, _E_LEVEL, _E_CUSTOMER, _E_PO, _E_ORDER, _E_TYPE, _E_CODE, _E_MESSAGE, _E_RETRYABLE, _E_RETRIES,
 _E_LAST, _E_RESOLVED, _E_SYNC_KEY, _E_PARENT_KEY, _E_SIZE, _E_FIXED) = range(16)


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

    (COL_CUSTOMER, COL_PO, COL_ORDER, COL_SIZE, COL_TYPE, COL_CODE, COL_MESSAGE, COL_RETRYABLE, COL_RETRIES,
     COL_LAST, COL_ACTION) = range(11)

    _HEADERS = ("Customer", "PO", "Order", "Size", "Error type", "monday code", "Message", "Retryable",
                "Retries", "Last attempt", "")
    _HEADER_TIPS = ("", "PO number", "Order number (the tooltip shows the order line's sync key)",
                    "Size of a subitem error; empty for an item error", "Where the failure was classified",
                    "The error code monday.com returned", "", "yes: a retry can succeed as is; after a fix: retry once "
                    "the cause is fixed (a label added on the board, a setting); no: fix the line in the ERP", "Retries so far",
                    "Local time of the last failure", "")
    _ALIGNMENT = (_LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _LEFT, _CENTER, _RIGHT, _LEFT, _CENTER)
    _FLAGS = (_ENABLED,) * 11
    _KEY = "ref"
    _FIELDS = ("ref", "level", "customer", "po_number", "order_number", "error_type", "error_code", "message",
               "retryable", "retry_count", "last_failed_at", "resolved_at")
    # Item errors have sync_key, subitem errors parent_sync_key and size_label; fixed is the window's.
    _OPTIONAL = ("sync_key", "parent_sync_key", "size_label", "fixed")
    _ALL = tuple(range(11))
    _FIELD_COLUMNS = {
        "ref": _ALL, "level": (COL_ORDER, COL_SIZE), "customer": (COL_CUSTOMER,), "po_number": (COL_PO,),
        "order_number": (COL_ORDER,), "sync_key": (COL_ORDER,), "size_label": (COL_SIZE,),
        "error_type": (COL_TYPE,), "error_code": (COL_CODE,), "message": (COL_MESSAGE,),
        "retryable": (COL_RETRYABLE, COL_ACTION), "retry_count": (COL_RETRIES,), "last_failed_at": (COL_LAST,),
        "parent_sync_key": (COL_ORDER,), "resolved_at": _ALL, "fixed": (COL_RETRYABLE, COL_ACTION),
    }

    _SORT = {
        COL_CUSTOMER: ("str", _E_CUSTOMER), COL_PO: ("str", _E_PO), COL_ORDER: ("str", _E_ORDER),
        COL_SIZE: ("str", _E_SIZE), COL_TYPE: ("str", _E_TYPE), COL_CODE: ("str", _E_CODE),
        COL_MESSAGE: ("str", _E_MESSAGE),
        # 2 retryable, 1 fixed since it failed, 0 not retryable
        COL_RETRYABLE: lambda raw: 2 if raw[_E_RETRYABLE] else 1 if raw[_E_FIXED] else 0,
        COL_RETRIES: ("int", _E_RETRIES), COL_LAST: ("dt", _E_LAST),
        COL_ACTION: lambda raw: int(_can_retry(raw)),
    }

    def row_for_ref(self, ref: str) -> int | None:
        return self._position().get(ref)

    def _format(self, raw: tuple) -> tuple:
        return (
            raw[_E_CUSTOMER] or "(blank)",
            raw[_E_PO] or "",
            raw[_E_ORDER] or "",
            raw[_E_SIZE] or "",
            raw[_E_TYPE] or "",
            "" if raw[_E_CODE] is None else str(raw[_E_CODE]),
            _one_line(raw[_E_MESSAGE]),
            "yes" if raw[_E_RETRYABLE] else "after a fix" if raw[_E_FIXED] else "no",
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
        return "\x1f".join((
            raw[_E_CUSTOMER] or "", raw[_E_PO] or "", raw[_E_ORDER] or "", raw[_E_SIZE] or "",
            raw[_E_TYPE] or "", "" if raw[_E_CODE] is None else str(raw[_E_CODE]),
            "" if raw[_E_MESSAGE] is None else str(raw[_E_MESSAGE]),
        )).lower()


(COL_PO, COL_ORDER, COL_SIZE, COL_TYPE, COL_CODE, COL_MESSAGE, COL_RETRYABLE, COL_RETRIES, COL_LAST,
 COL_ACTION) = (
    ErrorsModel.COL_PO, ErrorsModel.COL_ORDER, ErrorsModel.COL_SIZE, ErrorsModel.COL_TYPE, ErrorsModel.COL_CODE,
    ErrorsModel.COL_MESSAGE, ErrorsModel.COL_RETRYABLE, ErrorsModel.COL_RETRIES, ErrorsModel.COL_LAST,
    ErrorsModel.COL_ACTION)


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

    def __init__(self, parent=None):
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

    def _set(self, name: str, value: Any) -> None:
        if getattr(self, name) == value:
            return
        setattr(self, name, value)
        self.invalidate()

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
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

    def sortColumn(self) -> int:  # noqa: N802
        model = self.sourceModel()
        if isinstance(model, ErrorsModel):
            return model._sort_spec[0] if model._sort_spec else -1
        return super().sortColumn()

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:  # noqa: N802
        return _native_less_than(left.data(self.sortRole()), right.data(self.sortRole()))

    def sortOrder(self) -> Qt.SortOrder:  # noqa: N802
        model = self.sourceModel()
        if isinstance(model, ErrorsModel):
            return model._sort_spec[1] if model._sort_spec else Qt.SortOrder.AscendingOrder
        return super().sortOrder()

    # -- keeping the filter right across refreshes ------------------------------------------------------

    def setSourceModel(self, model) -> None:  # noqa: N802
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
        for row in range(first, last + 1):
            shown = self.mapFromSource(model.index(row, 0)).isValid()
            if shown != self.filterAcceptsRow(row, _NO_PARENT):
                self._stale = True
                return

    def _source_refreshed(self) -> None:
        if self._stale:
            self._stale = False
            self.invalidate()
