"""The kinds of error a row can end in: one enum, used by the monday client, the push, the error tables
and the window alike (never the strings spelled by hand). Members are strings, so they are stored in
``MON_ERR_*.error_type`` as they are and compare equal to what the tables hold."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class ErrorType(StrEnum):
    VALIDATION = "VALIDATION"  # the ERP line breaks a rule before anything is sent; fixed in ORDERS_UNIFIED
    COLUMN_VALUE = "COLUMN_VALUE"  # monday refused a value (a missing label, a bad date)
    NOT_FOUND = "NOT_FOUND"  # the item, board or column is not there
    AUTH = "AUTH"  # the token is missing, wrong or revoked
    RATE_LIMIT = "RATE_LIMIT"  # monday's budget or request limit
    NETWORK = "NETWORK"  # monday could not be reached
    TIMEOUT = "TIMEOUT"  # no answer in time: the outcome is unknown until reconciled
    SERVER = "SERVER"  # monday's own failure (5xx, locked)
    PARENT_FAILED = "PARENT_FAILED"  # a size not sent because its item was not created
    CONFLICT = "CONFLICT"  # an idempotency key met a different request
    UNKNOWN = "UNKNOWN"
    INVALID_REQUEST = "INVALID_REQUEST"  # monday refused the document itself: a bug in OrderSync, never stored
    # A person changed the board: the item was deleted or archived there, or two items carry one key.
    DELETED_ON_BOARD = "DELETED_ON_BOARD"
    ARCHIVED_ON_BOARD = "ARCHIVED_ON_BOARD"
    DUPLICATE_ON_BOARD = "DUPLICATE_ON_BOARD"


# What MON_ERR_Items / MON_ERR_Subitems accept (their CHECK constraint): every kind but the bug.
STORED_ERROR_TYPES: tuple[str, ...] = tuple(t.value for t in ErrorType if t is not ErrorType.INVALID_REQUEST)


# --- what each kind means to a planner -------------------------------------------------------------

RETRY_NOW = "now"  # a retry can succeed as things are (monday was busy, unreachable, slow)
RETRY_AFTER_FIX = "after_fix"  # a retry succeeds once the cause is fixed on the board or in the settings
RETRY_NEVER = "never"  # the line must be fixed in the ERP; the next sync sends it by itself


@dataclass(frozen=True)
class ErrorKind:
    """The plain words for one ``ErrorType``: a name, one line of explanation, the fix, and when a retry can work."""

    name: str
    explanation: str
    fix: str
    retry: str


ERROR_KINDS: dict[str, ErrorKind] = {
    ErrorType.VALIDATION: ErrorKind(
        "Needs a fix in the ERP",
        "The order line has a missing or wrong value, so it was not sent.",
        "Fix the value in the ERP (ORDERS_UNIFIED); the next sync sends the line by itself.",
        RETRY_NEVER,
    ),
    ErrorType.COLUMN_VALUE: ErrorKind(
        "Value the board refused",
        "monday refused a value, for example a status label the board does not have.",
        "Add the label or fix the column on the board, then retry.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.NOT_FOUND: ErrorKind(
        "Not found on the board",
        "The item, the board or a column was not found on monday.",
        "Check the board and its columns (Settings, Test board), then retry.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.AUTH: ErrorKind(
        "monday refused the sign-in",
        "monday did not accept the API token.",
        "Set a valid API token in Settings, then retry.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.RATE_LIMIT: ErrorKind(
        "monday was busy",
        "monday's limit for this minute was reached.",
        "Retry; it usually works a minute later.",
        RETRY_NOW,
    ),
    ErrorType.NETWORK: ErrorKind(
        "Could not reach monday",
        "The connection to monday failed.",
        "Check the internet connection, then retry.",
        RETRY_NOW,
    ),
    ErrorType.TIMEOUT: ErrorKind(
        "No answer from monday in time",
        "monday did not answer in time; it is not known whether the change arrived.",
        "Retry: OrderSync checks the board first, so nothing is created twice.",
        RETRY_NOW,
    ),
    ErrorType.SERVER: ErrorKind(
        "monday had a problem",
        "monday failed on its side.",
        "Retry; if it keeps failing, check monday's status page.",
        RETRY_NOW,
    ),
    ErrorType.PARENT_FAILED: ErrorKind(
        "Waiting for its order line",
        "A size was not sent because its order line could not be created.",
        "Fix the order line's own problem; retrying the line sends its sizes.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.CONFLICT: ErrorKind(
        "Changed by someone else at the same time",
        "monday was busy with another change of the same item.",
        "Retry.",
        RETRY_NOW,
    ),
    ErrorType.UNKNOWN: ErrorKind(
        "Unexpected failure",
        "The failure was not recognised; the details show monday's answer.",
        "Read the details, then retry.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.INVALID_REQUEST: ErrorKind(
        "A fault in OrderSync",
        "monday refused a request OrderSync built; this is a bug, not your data.",
        "Report it with the log file.",
        RETRY_NEVER,
    ),
    ErrorType.DELETED_ON_BOARD: ErrorKind(
        "Deleted on the board",
        "Someone deleted the item on the board.",
        "Retry to create it again, or leave it.",
        RETRY_NOW,
    ),
    ErrorType.ARCHIVED_ON_BOARD: ErrorKind(
        "Archived on the board",
        "Someone archived the item on the board.",
        "Restore it on the board and retry, or leave it.",
        RETRY_AFTER_FIX,
    ),
    ErrorType.DUPLICATE_ON_BOARD: ErrorKind(
        "Twice on the board",
        "The board holds more than one item for this order line.",
        "Delete the extra items on the board, then retry.",
        RETRY_AFTER_FIX,
    ),
}


def error_kind(error_type: str | None) -> ErrorKind:
    """The plain words for ``error_type`` (an unknown or missing type reads as UNKNOWN)."""
    return ERROR_KINDS.get(error_type or "", ERROR_KINDS[ErrorType.UNKNOWN])


# --- the cause of one failure, read from its type and message ----------------------------------------

# Written by core.monday.columns.missing_labels (and so by the push) for a status value the board lacks.
_MISSING_LABEL = re.compile(r"(?P<column>[^:;()]+): the board has no status label '(?P<value>[^']*)'")
_PARENT_FAILED = re.compile(r"^not sent: its item failed \((?P<inner>.*)\)$", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True)
class Cause:
    """Why lines failed, as one group of the window and one line of ``status``: failures with the same
    ``key`` share the planner's fix.

    ``headline`` completes "N lines could not be sent: …"; ``fix`` says what to do; ``retry`` is one of
    RETRY_NOW, RETRY_AFTER_FIX, RETRY_NEVER; ``column``/``value`` name the value at fault when known."""

    key: tuple[str, ...]
    error_type: str
    headline: str
    fix: str
    retry: str
    column: str | None = None
    value: str | None = None

    @property
    def kind(self) -> ErrorKind:
        return error_kind(self.error_type)


def cause_of(error_type: str | None, message: str | None) -> Cause:
    """The cause of one failure (an ERR row's type and message)."""
    text = " ".join((message or "").split())
    kind_name = error_type or ErrorType.UNKNOWN
    kind = error_kind(kind_name)
    if kind_name == ErrorType.PARENT_FAILED:
        inner = _PARENT_FAILED.match(text)
        if inner:  # the item's own cause: the sizes wait for the same fix
            cause = cause_of(ErrorType.COLUMN_VALUE, inner.group("inner"))
            if cause.column is not None:
                return cause
        return Cause((kind_name,), kind_name, "the order line they belong to was not created", kind.fix, kind.retry)
    label = _MISSING_LABEL.search(text)
    if label and kind_name in (ErrorType.COLUMN_VALUE, ErrorType.VALIDATION, ErrorType.UNKNOWN):
        column, value = label.group("column").strip(), label.group("value")
        return Cause(
            ("missing_label", column, value),
            kind_name,
            f'the board has no {column} label "{value}"',
            f'Add the label "{value}" to the {column} column on the board (or map {value} to an existing '
            "label), then retry.",
            RETRY_AFTER_FIX,
            column,
            value,
        )
    if kind_name == ErrorType.VALIDATION:
        # One group per rule broken, whatever the value: "CUSTOMER PRICE: 'N/A' is not a number" and
        # "CUSTOMER PRICE: 'TBC' is not a number" share their fix; each line names its own value.
        first = text.split("; ")[0]
        subject = first.split(":", 1)[0] if ":" in first else first
        subject = _NUMBER.sub("#", _QUOTED.sub("…", subject)).split(" (")[0].strip()
        return Cause(
            (kind_name, subject),
            kind_name,
            f"the ERP holds a value that cannot be sent ({subject})",
            kind.fix,
            kind.retry,
            first.split(":", 1)[0].strip() if ":" in first else None,
        )
    return Cause(
        (kind_name,), kind_name, kind.explanation[0].lower() + kind.explanation[1:].rstrip("."), kind.fix, kind.retry
    )
