"""The kinds of error a row can end in: one enum, used by the monday client, the push, the error tables
and the window alike (never the strings spelled by hand). Members are strings, so they are stored in
``MON_ERR_*.error_type`` as they are and compare equal to what the tables hold."""

from __future__ import annotations

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
