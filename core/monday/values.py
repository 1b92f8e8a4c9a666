"""One cell, two sides: what OrderSync last wrote and what the board holds now, in one comparable form.

OrderSync's side is a mapped value (text, numbers as canonical decimal text, dates as YYYY-MM-DD,
status and dropdown labels), turned into the JSON monday is sent (``core.monday.columns.encode_value``)
and read back into plain words here. The board's side is a ``column_values`` entry (``text`` and
``value``). Both end in the same form per column type, so a cell nobody touched always compares
equal: "20.70" and "20.7" are the same number, an empty text and a cleared cell are the same blank,
a date is its day (and its time, if one was set).
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

from core.monday.columns import encode_value


def _number(text: str) -> str:
    try:
        number = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return text.strip()
    if not number.is_finite():
        return text.strip()
    if number == number.to_integral_value():
        return str(number.quantize(Decimal(1)))
    return format(number.normalize(), "f")


def _json(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _from_encoded(column_type: str, encoded: Any) -> str:
    """The comparable form of a value in the shape monday is sent (or answers) it."""
    kind = "status" if column_type == "color" else column_type
    if encoded is None or encoded == "" or encoded == {}:
        return ""
    if kind == "numbers":
        return _number(str(encoded))
    if kind == "date" and isinstance(encoded, dict):
        day = str(encoded.get("date") or "")
        time = encoded.get("time")
        return f"{day} {time}" if day and time else day
    if kind == "long_text" and isinstance(encoded, dict):
        return str(encoded.get("text") or "")
    if kind == "checkbox":
        checked = encoded.get("checked") if isinstance(encoded, dict) else encoded
        return "v" if str(checked).lower() in ("true", "1", "v") else ""
    if kind == "status" and isinstance(encoded, dict):
        return str(encoded.get("label") or "")
    if kind == "dropdown" and isinstance(encoded, dict):
        return ", ".join(str(label) for label in encoded.get("labels") or [])
    return str(encoded)


def ordersync_form(column_type: str, value: Any) -> str:
    """What OrderSync last wrote to a cell, in the form it is compared in."""
    return _from_encoded(column_type, encode_value(column_type, value))


def board_form(column_type: str, text: str | None, value: Any) -> str:
    """What a cell of the board holds (its ``column_values`` text and value), in the same form.

    Status and dropdown cells are compared by their labels' text (their value holds label ids); a
    number by its value; a date by its day and time; every other type by its text.
    """
    kind = "status" if column_type == "color" else column_type
    parsed = _json(value)
    if parsed is None and not text:
        return ""
    if kind == "numbers":
        return _number(str(parsed if isinstance(parsed, (str, int, float)) else text or ""))
    if kind == "date":
        return _from_encoded("date", parsed) if isinstance(parsed, dict) else (text or "")
    if kind == "long_text":
        return _from_encoded("long_text", parsed) if isinstance(parsed, dict) else (text or "")
    if kind == "checkbox":
        return _from_encoded("checkbox", parsed if parsed is not None else text)
    return text or ""


def shown(form: str) -> str:
    """A compared form as a person reads it: a blank cell says so."""
    return form if form else "(blank)"
