"""Per-type validation of column values: every input form the reference (§4) lists for a type, the
JSON form and the simple-string form, to the canonical JSON shape stored; ``ColumnValueException``
otherwise. ``COERCE`` maps a column type to its handler, ``Column.coerce`` is the entry point.

About 400 lines: one rule per column type, as monday documents them, side by side.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from typing import TYPE_CHECKING, Any

from .errors import column_value_error

if TYPE_CHECKING:
    from .columns import Column

LONG_TEXT_MAX_CHARS = 2000

#: Countries checked strictly by name when their code is known; other two-letter codes are
#: accepted with any non-empty name (a basic shape check).
COUNTRIES = {
    "AU": "Australia",
    "AT": "Austria",
    "BD": "Bangladesh",
    "BE": "Belgium",
    "BR": "Brazil",
    "CA": "Canada",
    "CH": "Switzerland",
    "CN": "China",
    "CZ": "Czech Republic",
    "DE": "Germany",
    "DK": "Denmark",
    "EG": "Egypt",
    "ES": "Spain",
    "FI": "Finland",
    "FR": "France",
    "GB": "United Kingdom",
    "GR": "Greece",
    "HK": "Hong Kong",
    "ID": "Indonesia",
    "IE": "Ireland",
    "IL": "Israel",
    "IN": "India",
    "IT": "Italy",
    "JP": "Japan",
    "KH": "Cambodia",
    "KR": "South Korea",
    "LK": "Sri Lanka",
    "MA": "Morocco",
    "MX": "Mexico",
    "MY": "Malaysia",
    "NL": "Netherlands",
    "NO": "Norway",
    "NZ": "New Zealand",
    "PE": "Peru",
    "PH": "Philippines",
    "PK": "Pakistan",
    "PL": "Poland",
    "PT": "Portugal",
    "RO": "Romania",
    "SE": "Sweden",
    "SG": "Singapore",
    "TH": "Thailand",
    "TR": "Turkey",
    "TW": "Taiwan",
    "US": "United States",
    "VN": "Vietnam",
    "ZA": "South Africa",
}

_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{4,20}$")


def _bad(col: Column, raw: Any, why: str = "") -> Exception:
    shown = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return column_value_error(
        f"invalid value for {col.type} column {col.id!r}{': ' + why if why else ''}, "
        "please check our API documentation for the correct data structure for this column",
        column_id=col.id,
        column_type=col.type,
        column_value=shown,
    )


def _text(col: Column, raw: Any, _c: bool):
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise _bad(col, raw, "a text value is a string")
    text = raw if isinstance(raw, str) else str(raw)
    return (text or None), False


def _long_text(col: Column, raw: Any, _c: bool):
    if isinstance(raw, dict):
        if not raw:
            return None, False
        text = raw.get("text")
        if not isinstance(text, str) or set(raw) - {"text"}:
            raise _bad(col, raw, 'expected {"text": "..."}')
    elif isinstance(raw, str):
        text = raw
    else:
        raise _bad(col, raw)
    if len(text) > LONG_TEXT_MAX_CHARS:
        raise _bad(col, raw, f"long text is limited to {LONG_TEXT_MAX_CHARS} characters")
    return ({"text": text} if text else None), False


def _numbers(col: Column, raw: Any, _c: bool):
    if isinstance(raw, bool):
        raise _bad(col, raw, "not a number")
    if isinstance(raw, (int, float)):
        if isinstance(raw, float) and not math.isfinite(raw):  # NaN and the infinities
            raise _bad(col, raw, "not a number")
        return str(raw), False
    if not isinstance(raw, str):
        raise _bad(col, raw, "not a number")
    text = raw.strip()
    if text == "":
        return None, False
    if not _NUMBER.match(text):
        raise _bad(col, raw, "not a number")
    return text, False


def _check_date(col: Column, raw: Any, text: Any) -> str:
    if not isinstance(text, str) or not _DATE.match(text):
        raise _bad(col, raw, "dates are YYYY-MM-DD")
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        raise _bad(col, raw, "no such date") from None
    return text


def _check_time(col: Column, raw: Any, text: Any) -> str:
    if not isinstance(text, str) or not _TIME.match(text):
        raise _bad(col, raw, "times are HH:MM:SS")
    parts = [int(p) for p in text.split(":")]
    if parts[0] > 23 or parts[1] > 59 or (len(parts) == 3 and parts[2] > 59):
        raise _bad(col, raw, "no such time")
    return text if len(parts) == 3 else text + ":00"


def _date(col: Column, raw: Any, _c: bool):
    if isinstance(raw, str):
        text = raw.strip()
        if not text:
            return None, False
        date, _, time = text.partition(" ")
        value = {"date": _check_date(col, raw, date)}
        if time:
            value["time"] = _check_time(col, raw, time)
        return value, False
    if isinstance(raw, dict):
        if not raw or raw.get("date") in (None, ""):
            if set(raw) - {"date", "time"}:
                raise _bad(col, raw)
            return None, False
        if set(raw) - {"date", "time", "changed_at", "icon"}:
            raise _bad(col, raw, 'expected {"date": "YYYY-MM-DD", "time": "HH:MM:SS"}')
        value = {"date": _check_date(col, raw, raw["date"])}
        if raw.get("time") not in (None, ""):
            value["time"] = _check_time(col, raw, raw["time"])
        return value, False
    raise _bad(col, raw)


def _status(col: Column, raw: Any, create: bool):
    created = False
    if isinstance(raw, str):
        text = raw
        if text == "":
            return None, False
        if text.isdigit():  # the simple-string form reads a numeric text as a label id (reference §4)
            raw = {"index": int(text)}
        else:
            raw = {"label": text}
    if isinstance(raw, (int, float)) and not isinstance(raw, bool):
        raw = {"index": raw}
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    if not raw:
        return None, False
    if "label" in raw:
        label = raw["label"]
        if label is None or label == "":
            return None, False
        if not isinstance(label, str):
            label = str(label)
        label_id = col.label_id(label)
        if label_id is None:
            if not create:
                raise column_value_error(
                    f"This status label doesn't exist, possible statuses are: {col.describe_labels()}",
                    column_id=col.id,
                    column_value=json.dumps(raw),
                    column_type="StatusColumn",
                )
            label_id = col.add_label(label)
            created = True
        return {"index": label_id}, created
    if "index" in raw:
        index = raw["index"]
        try:
            index = int(index)
        except (TypeError, ValueError):
            raise _bad(col, raw, "index must be a label id") from None
        if index not in col.labels:
            raise column_value_error(
                f"This status label id doesn't exist, possible statuses are: {col.describe_labels()}",
                column_id=col.id,
                column_value=json.dumps(raw),
                column_type="StatusColumn",
            )
        return {"index": index}, False
    raise _bad(col, raw, 'expected {"label": "..."} or {"index": id}')


def _dropdown(col: Column, raw: Any, create: bool):
    created = False
    if isinstance(raw, str):
        if raw.strip() == "":
            return None, False
        raw = {"labels": [part.strip() for part in raw.split(",") if part.strip()]}
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    if not raw:
        return None, False
    ids: list[int] = []
    if "labels" in raw:
        labels = raw["labels"]
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise _bad(col, raw, 'expected {"labels": ["..."]}')
        for label in labels:
            label_id = col.label_id(label)
            if label_id is None:
                if not create:
                    raise column_value_error(
                        f"The dropdown label {label!r} does not exist, possible labels are: {col.describe_labels()}",
                        column_id=col.id,
                        column_value=json.dumps(raw),
                        column_type="DropdownColumn",
                    )
                label_id = col.add_label(label)
                created = True
            ids.append(label_id)
    elif "ids" in raw:
        values = raw["ids"]
        if isinstance(values, (str, int)):
            values = [values]
        if not isinstance(values, list):
            raise _bad(col, raw, 'expected {"ids": [1, 2]}')
        for value in values:
            try:
                label_id = int(value)
            except (TypeError, ValueError):
                raise _bad(col, raw, "dropdown ids are numbers") from None
            if label_id not in col.labels:
                raise column_value_error(
                    f"The dropdown label id {label_id} does not exist, possible labels are: {col.describe_labels()}",
                    column_id=col.id,
                    column_value=json.dumps(raw),
                    column_type="DropdownColumn",
                )
            ids.append(label_id)
    else:
        raise _bad(col, raw, 'expected {"labels": [...]} or {"ids": [...]}')
    ids = list(dict.fromkeys(ids))
    return ({"ids": ids} if ids else None), created


def _split_simple(raw: str) -> tuple[str, str]:
    head, _, tail = raw.strip().partition(" ")
    return head, tail.strip()


def _email(col: Column, raw: Any, _c: bool):
    if isinstance(raw, str):
        if not raw.strip():
            return None, False
        email, text = _split_simple(raw)
        raw = {"email": email, "text": text or email}
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    if not raw:
        return None, False
    if not isinstance(raw.get("email"), str) or not isinstance(raw.get("text"), str):
        raise _bad(col, raw, 'expected {"email": "...", "text": "..."} (both keys)')
    if not raw["email"] and not raw["text"]:
        return None, False
    if not _EMAIL.match(raw["email"]):
        raise _bad(col, raw, "not an email address")
    return {"email": raw["email"], "text": raw["text"]}, False


def _phone(col: Column, raw: Any, _c: bool):
    if isinstance(raw, str):
        if not raw.strip():
            return None, False
        simple = _split_simple(raw)
        raw = {"phone": simple[0], "countryShortName": simple[1]}
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    if not raw:
        return None, False
    phone, country = raw.get("phone"), raw.get("countryShortName")
    if not isinstance(phone, str) or not _PHONE.match(phone.replace(" ", "")):
        raise _bad(col, raw, "not a phone number")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Z]{2}", country):
        raise _bad(col, raw, "countryShortName is a two-letter ISO code")
    return {"phone": phone.replace(" ", ""), "countryShortName": country}, False


def _link(col: Column, raw: Any, _c: bool):
    if isinstance(raw, str):
        if not raw.strip():
            return None, False
        simple = _split_simple(raw)
        raw = {"url": simple[0], "text": simple[1]}
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    if not raw:
        return None, False
    url, text = raw.get("url"), raw.get("text", "")
    if not isinstance(url, str) or not url or " " in url or not isinstance(text, str):
        raise _bad(col, raw, 'expected {"url": "...", "text": "..."}')
    return {"url": url, "text": text}, False


def _checkbox(col: Column, raw: Any, _c: bool):
    if not isinstance(raw, dict):
        raise _bad(col, raw, 'checkbox takes {"checked": "true"}; the simple-string form is not supported')
    if not raw:
        return None, False
    checked = raw.get("checked")
    if checked in ("true", True):
        return {"checked": "true"}, False
    if checked in ("false", False, None):
        return None, False
    raise _bad(col, raw)


def _timeline(col: Column, raw: Any, _c: bool):
    if not isinstance(raw, dict):
        raise _bad(col, raw, 'timeline takes {"from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}')
    if not raw:
        return None, False
    start = _check_date(col, raw, raw.get("from"))
    end = _check_date(col, raw, raw.get("to"))
    if end < start:
        raise _bad(col, raw, "'to' is before 'from'")
    return {"from": start, "to": end}, False


def _hour(col: Column, raw: Any, _c: bool):
    if not isinstance(raw, dict):
        raise _bad(col, raw, 'hour takes {"hour": 16, "minute": 42}')
    if not raw:
        return None, False
    hour, minute = raw.get("hour"), raw.get("minute", 0)
    for part, top in ((hour, 23), (minute, 59)):
        if isinstance(part, bool) or not isinstance(part, int) or not 0 <= part <= top:
            raise _bad(col, raw, "hour and minute are integers")
    return {"hour": hour, "minute": minute}, False


def _country(col: Column, raw: Any, _c: bool):
    if not isinstance(raw, dict):
        raise _bad(col, raw, 'country takes {"countryCode": "US", "countryName": "United States"}')
    if not raw:
        return None, False
    code, name = raw.get("countryCode"), raw.get("countryName")
    if not isinstance(code, str) or not re.fullmatch(r"[A-Z]{2}", code) or not isinstance(name, str) or not name:
        raise _bad(col, raw, "countryCode is a two-letter ISO code and countryName is required")
    if code in COUNTRIES and COUNTRIES[code] != name:
        raise _bad(col, raw, f"the name of {code} is {COUNTRIES[code]!r}")
    return {"countryCode": code, "countryName": name}, False


def _people(col: Column, raw: Any, _c: bool):
    if isinstance(raw, str):
        if not raw.strip():
            return None, False
        try:
            raw = {"personsAndTeams": [{"id": int(p), "kind": "person"} for p in raw.split(",") if p.strip()]}
        except ValueError:
            raise _bad(col, raw, "people are given by user id") from None
    if not isinstance(raw, dict):
        raise _bad(col, raw)
    entries = raw.get("personsAndTeams")
    if not isinstance(entries, list):
        raise _bad(col, raw, 'expected {"personsAndTeams": [{"id": 1, "kind": "person"}]}')
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kind") not in ("person", "team"):
            raise _bad(col, raw)
        person: Any = entry.get("id")  # any JSON; int() refuses what is not an id
        try:
            out.append({"id": int(person), "kind": entry["kind"]})
        except (TypeError, ValueError):
            raise _bad(col, raw) from None
    return ({"personsAndTeams": out} if out else None), False


COERCE = {
    "text": _text,
    "long_text": _long_text,
    "numbers": _numbers,
    "date": _date,
    "status": _status,
    "dropdown": _dropdown,
    "email": _email,
    "phone": _phone,
    "link": _link,
    "checkbox": _checkbox,
    "timeline": _timeline,
    "hour": _hour,
    "country": _country,
    "people": _people,
}
