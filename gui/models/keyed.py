"""The row-diff engine shared by every table of the operator window: ``_KeyedTableModel``.

One module of about 430 lines on purpose: it is one class whose every method keeps the same parallel row
lists (keys, rows, compared values, display and search caches, sort keys) in step, and split files would
scatter that one invariant.

A keyed table turns the full current list of rows, given on every refresh tick, into row-level
changes (see the package docstring of ``gui.models`` for the storage and the speed it is built for).
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
from collections.abc import Callable, Iterable, Sequence
from itertools import compress, count, islice
from operator import itemgetter
from typing import Any, ClassVar

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QObject, Qt, Signal

from gui.models.common import (
    _ALIGN,
    _DISPLAY,
    _DT_MIN,
    _NO_PARENT,
    _TOOLTIP,
    KeyRole,
    RowRole,
    SortRole,
    _count,
    _insert_position,
    _runs,
    _take,
    as_utc,
)

log = logging.getLogger(__name__)

# The overload of layout(AboutToBe)Changed that carries a hint (PySide picks the bare one by default).
_PARENTS, _HINT = "QList<QPersistentModelIndex>", QAbstractItemModel.LayoutChangeHint

# More separate changes than this in one refresh are announced in bulk (one layout change and one
# block, or one dataChanged over the changed span): each separate insert or remove costs the proxy a
# pass over all its rows, so thousands of them would cost more than one layout change.
_MAX_RUNS = 64

# The columns that show each compared field (``_FIELD_COLUMNS``), and each sortable column's sort key (``_SORT``).
_FieldColumns = dict[str, tuple[int, ...]]
_SortKeys = dict[int, tuple[str, int] | Callable[[tuple], Any]]


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
    _FIELDS: tuple[str, ...] = ()  # compared to detect a change; in every row
    _OPTIONAL: tuple[str, ...] = ()  # compared too, may be missing from a row (None)
    _FIELD_COLUMNS: ClassVar[_FieldColumns] = {}  # the columns that show a field; absent: all
    # column -> ("str" | "int" | "float" | "dt", position in the compared tuple), or a function of the
    # tuple. "str" sorts case-insensitively, "dt" as naive UTC with None first.
    _SORT: ClassVar[_SortKeys] = {}

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._keys: list[Any] = []
        self._rows: list[dict] = []
        self._raw: list[tuple] = []  # values of _FIELDS + _OPTIONAL, compared on refresh
        self._disp: list[tuple | None] = []  # display strings, made on first use
        self._hay: list[str | None] = []  # lowercase search text, made on first use
        self._pos: dict[Any, int] | None = {}  # key -> row, rebuilt lazily after structural changes
        self._sort_spec: tuple[int, Qt.SortOrder] | None = None
        self._sort_keys: list | None = None  # keys of the sort column, kept current while sorted
        ncols = len(self._HEADERS)
        self._field_spans = []
        for name in self._FIELDS + self._OPTIONAL:
            cols = self._FIELD_COLUMNS.get(name, range(ncols))
            self._field_spans.append((min(cols), max(cols)))
        self._get_required = itemgetter(*self._FIELDS)
        self._get_key = itemgetter(self._KEY)

    # -- Qt API ---------------------------------------------------------------------------------------

    def rowCount(self, parent=_NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self._keys)

    def columnCount(self, parent=_NO_PARENT) -> int:
        return 0 if parent.isValid() else len(self._HEADERS)

    def headerData(self, section, orientation, role=_DISPLAY):
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
        if self._sort_spec is not None and self._sort_spec[0] == column and self._sort_keys is not None:
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
            incoming = dict(zip(keys, range(len(keys)), strict=True))
            if len(incoming) != len(keys):
                rows, keys, raws = self._deduplicated(rows, keys, raws)
                incoming = dict(zip(keys, range(len(keys)), strict=True))
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
            self._hay = [make(raw) if text is None else text for raw, text in zip(self._raw, hay, strict=True)]

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
            self._pos = dict(zip(self._keys, range(len(self._keys)), strict=True))
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
        kept: list[int] = []
        for i, k in enumerate(keys):
            if k not in seen:
                seen.add(k)
                kept.append(i)
        log.warning(
            "%s: %d rows repeat the key of an earlier row; the first of each is shown",
            type(self).__name__,
            len(keys) - len(kept),
        )
        return [rows[i] for i in kept], [keys[i] for i in kept], [raws[i] for i in kept]

    def _load(self, keys: list, rows: list[dict], raws: list[tuple]) -> None:
        """Rows into an empty model: one insert."""
        sort_keys = None
        if self._sort_spec is not None:
            column, order = self._sort_spec
            sort_keys = self._column_keys(column, raws)
            perm = sorted(range(len(keys)), key=sort_keys.__getitem__, reverse=order == Qt.SortOrder.DescendingOrder)
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
        found = list(map(incoming.get, self._keys))  # incoming position of each current row (None: gone)
        if None in found:
            gone = [i for i, j in enumerate(found) if j is None]
            self._remove(gone)
        order = [j for j in found if j is not None]
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
                del values[first : last + 1]
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
        sort_keys = self._sort_keys
        sort_column = self._sort_spec[0] if sort_keys is not None and self._sort_spec is not None else None
        cells: list[tuple[int, int, int]] = []
        for i in changed:
            first, last = ncols, -1
            for f, (x, y) in enumerate(zip(old[i], raws[i], strict=True)):
                if x != y:
                    lo, hi = spans[f]
                    first, last = min(first, lo), max(last, hi)
            self._disp[i] = None
            self._hay[i] = None
            if sort_keys is not None and sort_column is not None:
                sort_keys[i] = self._key_of(sort_column, raws[i])
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
        sort_keys = self._sort_keys
        if self._sort_spec is not None and sort_keys is not None:
            column, order = self._sort_spec
            descending = order == Qt.SortOrder.DescendingOrder
            new_keys = dict(zip(added, self._column_keys(column, _take(raws, added)), strict=True))
            by_place: dict[int, list[int]] = {}
            for j in sorted(added, key=new_keys.__getitem__, reverse=descending):
                by_place.setdefault(_insert_position(sort_keys, new_keys[j], descending), []).append(j)
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
        if self._sort_keys is not None and self._sort_spec is not None:
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
        self.layoutAboutToBeChanged[_PARENTS, _HINT].emit([], hint)  # type: ignore[index]  # stubs lack Signal[...]
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
                persistent, [self.index(position[old_keys[p.row()]], p.column()) for p in persistent]
            )
        self.layoutChanged[_PARENTS, _HINT].emit([], hint)  # type: ignore[index]  # stubs lack Signal[...]
