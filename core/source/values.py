"""Value conversion: a cleaned source value typed for its board column, quantities, JSON text, messages."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from core.source.columns import LONG_TEXT_MAX, NUMBER_DIGITS, STATUS_LABEL_MAX, ColumnMap


class ValueError_(Exception):
    """A value that cannot become its board column's type; the message names the value."""


def shorten(text: str, width: int = 40) -> str:
    """``text`` cut to ``width`` characters with an ellipsis, for messages."""
    return text if len(text) <= width else text[: width - 1] + "…"


def unstorable(text: str) -> str | None:
    """What in ``text`` no database column can store (a NUL, an unpaired surrogate), or None."""
    if "\x00" in text:
        return "a NUL character"
    if not text.isascii() and _SURROGATE.search(text):
        return "an unpaired UTF-16 surrogate"
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def show(value: Any) -> str:
    """A source value as a message shows it: text quoted, numbers plain."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    return str(value)


def _number_text(value: Any, column: ColumnMap) -> str:
    if isinstance(value, bool):
        raise ValueError_(f"{show(value)} is not a number")
    if isinstance(value, (int, Decimal)):
        number = Decimal(value)
    elif isinstance(value, float):
        if math.isnan(value) or value in (float("inf"), float("-inf")):
            raise ValueError_(f"{show(value)} is not a number")
        number = Decimal(repr(value))
    else:
        text = str(value).strip().replace(",", "")
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError_(f"{show(value)} is not a number") from None
    if not number.is_finite():
        raise ValueError_(f"{show(value)} is not a number")
    if number and number.adjusted() > NUMBER_DIGITS:
        raise ValueError_(f"{show(value)} has more than {NUMBER_DIGITS} digits before the decimal point")
    if column.whole and number != number.to_integral_value():
        raise ValueError_(f"{show(value)} is not a whole number")
    if column.min is not None and number < Decimal(str(column.min)):
        raise ValueError_(f"{show(value)} is below {column.min:g}")
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


def _date_text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).date().isoformat()
        except ValueError:
            continue
    raise ValueError_(f"{show(value)} is not a date (expected YYYY-MM-DD)")


def to_board_value(value: Any, column: ColumnMap) -> str | None:
    """Type a cleaned, transformed value for its board column; None means empty."""
    if value is None:
        return None
    kind = column.type
    if kind == "numbers":
        return _number_text(value, column)
    if kind == "date":
        return _date_text(value)
    text = value if isinstance(value, str) else _plain_text(value)
    if kind == "status" and len(text) > STATUS_LABEL_MAX:
        raise ValueError_(f"{show(text)} is longer than {STATUS_LABEL_MAX} characters, the limit of a status label")
    if kind == "long_text" and len(text) > LONG_TEXT_MAX:
        raise ValueError_(f"is longer than {LONG_TEXT_MAX} characters")
    return text


def _plain_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():  # (False for inf and NaN, which stay as they read)
        return str(int(value))
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def parse_quantity(value: Any) -> int:
    """A size quantity: a whole number of at least 0 (None and '' are 0)."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ValueError_(f"{show(value)} is not a quantity")
    if isinstance(value, int):
        quantity = value
    else:
        text = value.strip() if isinstance(value, str) else value
        if text == "":
            return 0
        try:
            number = Decimal(str(text))
        except InvalidOperation:
            raise ValueError_(f"{show(value)} is not a number") from None
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError_(f"{show(value)} is not a whole number")
        quantity = int(number)
    if quantity < 0:
        raise ValueError_(f"{show(value)} is negative")
    return quantity


_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode
_encode_ascii = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str).encode


def to_json(value: Any) -> str:
    """Compact JSON text (non-ASCII kept) for payload columns; one shared encoder, it is hot.

    Text holding an unpaired surrogate (which no UTF-8 column stores) is escaped instead.
    """
    text = _encode(value)
    if not text.isascii() and _SURROGATE.search(text):
        return _encode_ascii(value)
    return text


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)
