"""The live batches read from MON_BatchProcessing (``BatchesModel``); the window shows them through a
plain ``QSortFilterProxyModel``."""

from __future__ import annotations

from typing import Any, ClassVar

from PySide6.QtGui import QColor, QFont

from core.db.schema import (
    ACTIVE_BATCH_STATES,
    CANCELLED,
    COMPLETED,
    COMPLETED_WITH_ERRORS,
    FAILED,
    NO_CHANGES,
    PROMOTING,
    PUSHING,
    STAGED,
    STARTED,
)
from gui.models.common import (
    _BACKGROUND,
    _CENTER,
    _DT_MIN,
    _ENABLED,
    _ERROR_COLOR,
    _FONT,
    _FOREGROUND,
    _LEFT,
    _RIGHT,
    _TOOLTIP,
    ProgressRole,
    _count,
    as_utc,
    format_duration,
    format_local,
    format_rate,
    format_utc,
)
from gui.models.keyed import _FieldColumns, _KeyedTableModel, _SortKeys

# Plain words, as a planner says them; the status code stays in the tooltip.
STATUS_TEXT = {
    STARTED: "Starting",
    STAGED: "Ready to send",
    PUSHING: "Sending",
    PROMOTING: "Finishing",
    COMPLETED: "Done",
    COMPLETED_WITH_ERRORS: "Partly done",
    FAILED: "Stopped",
    CANCELLED: "Cancelled",
    NO_CHANGES: "Done, nothing to send",
}
_FINISHED_OK = (COMPLETED, COMPLETED_WITH_ERRORS, NO_CHANGES)

# monday's status colours: green done, orange working, red stuck (white text on them).
DONE_COLOR = QColor(0, 200, 117)
WORKING_COLOR = QColor(253, 171, 61)
STUCK_COLOR = QColor(226, 68, 92)
_ON_COLOR = QColor(255, 255, 255)


def status_text(status: str | None, failed: Any = 0, errors_open: bool | None = None) -> str:
    """The status cell, short enough for its column: "Sending", "Done", "21 lines failed", "Done, 21 retried"…

    A batch that ended with failed lines keeps COMPLETED_WITH_ERRORS in MON_BatchProcessing (what
    happened in it); once none of its failed lines is open any more (``errors_open`` False, see
    ``core.staging.monitor.batch_overview``) it shows as done, saying how many were fixed since.
    """
    if not status:
        return ""
    if status == COMPLETED_WITH_ERRORS:
        count = _count(failed)
        if errors_open is False:
            return f"Done, {count:,} retried" if count else "Done"
        if count:
            return f"{count:,} line{'' if count == 1 else 's'} failed"
    return STATUS_TEXT.get(status) or status.replace("_", " ").capitalize()


def status_color(status: str | None, errors_open: bool | None = None) -> QColor | None:
    if status in (COMPLETED, NO_CHANGES) or (status == COMPLETED_WITH_ERRORS and errors_open is False):
        return DONE_COLOR
    if status in ACTIVE_BATCH_STATES:
        return WORKING_COLOR
    if status in (FAILED, COMPLETED_WITH_ERRORS, CANCELLED):
        return STUCK_COLOR
    return None


def _progress(done: Any, total: Any, status: str | None) -> float:
    done, total = _count(done), _count(total)
    if total <= 0:
        return 1.0 if status in _FINISHED_OK else 0.0
    return min(max(done / total, 0.0), 1.0)


class BatchesModel(_KeyedTableModel):
    """Batches read from MON_BatchProcessing, newest first, with live progress."""

    (
        COL_BATCH,
        COL_CUSTOMER,
        COL_STATUS,
        COL_PROGRESS,
        COL_SENT,
        COL_SUCCEEDED,
        COL_FAILED,
        COL_ITEMS,
        COL_SUBITEMS,
        COL_THROUGHPUT,
        COL_ETA,
        COL_STARTED,
        COL_OWNER,
    ) = range(13)

    _HEADERS = (
        "Batch",
        "Customer",
        "Status",
        "Progress",
        "Sent",
        "Succeeded",
        "Failed",
        "Lines",
        "Sizes",
        "Speed",
        "Time left",
        "Started",
        "Owner",
    )
    _HEADER_TIPS = (
        "",
        "",
        "",
        "Lines and sizes done (sent or failed) of all of the batch",
        "Lines and sizes sent to monday",
        "",
        "",
        "Order lines (monday items) in the batch",
        "Sizes (monday subitems) in the batch",
        "Lines and sizes per second since sending started",
        "Estimated time left for this batch",
        "Local time",
        "user@workstation running the batch",
    )
    _ALIGNMENT = (_RIGHT, _LEFT, _LEFT, _CENTER, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _RIGHT, _LEFT, _LEFT)
    _FLAGS = (_ENABLED,) * 13
    _KEY = "batch_id"
    _FIELDS = (
        "batch_id",
        "customer",
        "status",
        "done",
        "total",
        "sent",
        "succeeded",
        "failed",
        "items",
        "subitems",
        "throughput",
        "eta_seconds",
        "started_at",
        "owner",
        "mine",
    )
    _OPTIONAL = ("stale", "message", "errors_open")
    _FIELD_COLUMNS: ClassVar[_FieldColumns] = {
        "batch_id": (COL_BATCH,),
        "customer": (COL_CUSTOMER,),
        "status": (COL_STATUS, COL_PROGRESS),
        "done": (COL_PROGRESS,),
        "total": (COL_PROGRESS,),
        "sent": (COL_SENT,),
        "succeeded": (COL_SUCCEEDED,),
        "failed": (COL_STATUS, COL_FAILED),
        "items": (COL_ITEMS,),
        "subitems": (COL_SUBITEMS,),
        "throughput": (COL_THROUGHPUT,),
        "eta_seconds": (COL_ETA,),
        "started_at": (COL_STARTED,),
        "owner": (COL_OWNER,),
        "mine": (COL_OWNER,),
        "stale": (COL_STATUS,),
        "message": (COL_STATUS,),
        "errors_open": (COL_STATUS,),
    }
    (
        _B_ID,
        _B_CUSTOMER,
        _B_STATUS,
        _B_DONE,
        _B_TOTAL,
        _B_SENT,
        _B_SUCCEEDED,
        _B_FAILED,
        _B_ITEMS,
        _B_SUBITEMS,
        _B_RATE,
        _B_ETA,
        _B_STARTED,
        _B_OWNER,
        _B_MINE,
        _B_STALE,
        _B_MESSAGE,
        _B_ERRORS_OPEN,
    ) = range(18)

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
        return [
            (raw[self._B_ID], bool(raw[self._B_MINE])) for raw in raws if raw[self._B_STATUS] in ACTIVE_BATCH_STATES
        ]

    def _ordered(self, rows: list[dict]) -> list[dict]:
        def newest(row: dict) -> tuple:
            return (as_utc(row.get("started_at")) or _DT_MIN, row.get("batch_id") or 0)

        return sorted(rows, key=newest, reverse=True)

    def _format(self, raw: tuple) -> tuple:
        progress = _progress(raw[self._B_DONE], raw[self._B_TOTAL], raw[self._B_STATUS])
        status = status_text(raw[self._B_STATUS], raw[self._B_FAILED], raw[self._B_ERRORS_OPEN])
        if raw[self._B_STALE]:
            status += " (stalled)"
        return (
            str(raw[self._B_ID]),
            raw[self._B_CUSTOMER] or "(blank)",
            status,
            f"{int(progress * 100 + 1e-9)} %",
            str(_count(raw[self._B_SENT])),
            str(_count(raw[self._B_SUCCEEDED])),
            str(_count(raw[self._B_FAILED])),
            str(_count(raw[self._B_ITEMS])),
            str(_count(raw[self._B_SUBITEMS])),
            format_rate(raw[self._B_RATE]),
            format_duration(raw[self._B_ETA]),
            format_local(as_utc(raw[self._B_STARTED])),
            raw[self._B_OWNER] or "",
        )

    _SORT: ClassVar[_SortKeys] = {
        COL_BATCH: ("int", 0),
        COL_CUSTOMER: ("str", 1),
        COL_STATUS: lambda raw: status_text(raw[2], raw[7], raw[17]).lower(),
        COL_PROGRESS: lambda raw: _progress(raw[3], raw[4], raw[2]),
        COL_SENT: ("int", 5),
        COL_SUCCEEDED: ("int", 6),
        COL_FAILED: ("int", 7),
        COL_ITEMS: ("int", 8),
        COL_SUBITEMS: ("int", 9),
        COL_THROUGHPUT: ("float", 10),
        COL_ETA: lambda raw: float(raw[11]) if raw[11] is not None else float("inf"),  # unknown last
        COL_STARTED: ("dt", 12),
        COL_OWNER: ("str", 13),
    }

    def _role_data(self, row: int, column: int, role: int) -> Any:
        raw = self._raw[row]
        if role == ProgressRole:
            if column != COL_PROGRESS:
                return None
            return _progress(raw[self._B_DONE], raw[self._B_TOTAL], raw[self._B_STATUS])
        if role == _TOOLTIP:
            if column == COL_CUSTOMER:
                return raw[self._B_CUSTOMER] or None  # the whole name, where the column elides it
            if column == COL_STATUS:
                tip = status_text(raw[self._B_STATUS], raw[self._B_FAILED], raw[self._B_ERRORS_OPEN])
                if raw[self._B_STATUS] in (FAILED, CANCELLED):
                    tip += "\nthe next sync of this customer resumes it"
                elif raw[self._B_STATUS] == COMPLETED_WITH_ERRORS:
                    tip += "\n" + (
                        "every failed line was sent since by a retry"
                        if raw[self._B_ERRORS_OPEN] is False
                        else "the other lines were sent; the failed ones are under Failed lines"
                    )
                tip += f"\nrecorded status: {raw[self._B_STATUS] or ''}"
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
            if column == COL_STATUS and status_color(raw[self._B_STATUS], raw[self._B_ERRORS_OPEN]) is not None:
                return _ON_COLOR
            return None
        if role == _BACKGROUND and column == COL_STATUS:
            return status_color(raw[self._B_STATUS], raw[self._B_ERRORS_OPEN])
        if role == _FONT and column == COL_OWNER and raw[self._B_MINE]:
            if BatchesModel._bold is None:
                BatchesModel._bold = QFont()
                BatchesModel._bold.setBold(True)
            return BatchesModel._bold
        return None

    def _haystack(self, raw: tuple) -> str:
        return "\x1f".join(
            (
                str(raw[self._B_ID]),
                raw[self._B_CUSTOMER] or "",
                status_text(raw[self._B_STATUS], raw[self._B_FAILED], raw[self._B_ERRORS_OPEN]),
                raw[self._B_OWNER] or "",
            )
        ).lower()


(
    COL_BATCH,
    COL_CUSTOMER,
    COL_STATUS,
    COL_PROGRESS,
    COL_SENT,
    COL_SUCCEEDED,
    COL_FAILED,
    COL_ITEMS,
    COL_SUBITEMS,
    COL_THROUGHPUT,
    COL_ETA,
    COL_STARTED,
    COL_OWNER,
) = (
    BatchesModel.COL_BATCH,
    BatchesModel.COL_CUSTOMER,
    BatchesModel.COL_STATUS,
    BatchesModel.COL_PROGRESS,
    BatchesModel.COL_SENT,
    BatchesModel.COL_SUCCEEDED,
    BatchesModel.COL_FAILED,
    BatchesModel.COL_ITEMS,
    BatchesModel.COL_SUBITEMS,
    BatchesModel.COL_THROUGHPUT,
    BatchesModel.COL_ETA,
    BatchesModel.COL_STARTED,
    BatchesModel.COL_OWNER,
)
