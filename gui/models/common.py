"""What the table models share: item roles, cell constants, value formatting, sort comparison.

The models themselves are in the sibling modules; ``gui.models`` re-exports everything public.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Sequence
from typing import Any

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

KeyRole = Qt.ItemDataRole.UserRole + 1  # the row's stable key: customer / batch_id / error ref
SortRole = Qt.ItemDataRole.UserRole + 2  # the native value the column sorts by
ProgressRole = Qt.ItemDataRole.UserRole + 3  # BatchesModel, progress column: float 0..1
RetryableRole = Qt.ItemDataRole.UserRole + 4  # ErrorsModel: whether the row's Retry button is enabled
RowRole = Qt.ItemDataRole.UserRole + 5  # the whole row dict, on every column

_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_TOOLTIP = int(Qt.ItemDataRole.ToolTipRole)
_FONT = int(Qt.ItemDataRole.FontRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_BACKGROUND = int(Qt.ItemDataRole.BackgroundRole)
_CHECK = int(Qt.ItemDataRole.CheckStateRole)

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_CENTER = Qt.AlignmentFlag.AlignCenter

_ENABLED = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
_CHECKABLE = _ENABLED | Qt.ItemFlag.ItemIsUserCheckable

_NO_PARENT = QModelIndex()

# Sorts "never" before every date; also as a QDateTime (datetime.min converts to an invalid one).
_DT_MIN = dt.datetime(1900, 1, 1)
_UTC = dt.UTC

_ERROR_COLOR = QColor(190, 30, 30)
_MUTED_COLOR = QColor(128, 128, 128)


# --- value formatting ----------------------------------------------------------------------------


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
    if seconds is None or math.isnan(seconds) or seconds < 0:
        return ""
    total = round(seconds)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def format_rate(rows_per_second: float | None) -> str:
    if rows_per_second is None or math.isnan(rows_per_second):
        return ""
    return f"{rows_per_second:.1f} rows/s"


def _count(value: Any) -> int:
    return int(value or 0)


# --- list helpers of the row-diff engine ---------------------------------------------------------


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


# --- proxies ---------------------------------------------------------------------------------------


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
