"""Board columns: monday-style ids, label settings, and per-type validation of column values.

A column value is stored in the canonical JSON shape monday returns in ``column_values.value``
(for status and dropdown columns: label *ids*, so a renamed label keeps its items); the ``text`` is
derived from it when asked. ``coerce`` accepts every input form the reference (§4) lists for a type,
the JSON form and the simple-string form, and raises ``ColumnValueException`` otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from .errors import column_value_error

#: Column types a board may be created with (besides the built-in ``name`` and ``subtasks``).
USER_TYPES = ("text", "long_text", "numbers", "date", "status", "dropdown", "email", "phone", "link",
              "checkbox", "timeline", "hour", "country", "people")

#: Prefix of a generated column id, the way monday names new columns ("text_mkx1a2b3").
ID_PREFIX = {"text": "text", "long_text": "long_text", "numbers": "numeric", "date": "date",
             "status": "status", "dropdown": "dropdown", "email": "email", "phone": "phone",
             "link": "link", "checkbox": "boolean", "timeline": "timerange", "hour": "hour",
             "country": "country", "people": "person"}

#: The id monday gives the *first* column of some types on a board (legacy names that still appear).
CLASSIC_ID = {"status": "status", "date": "date4", "people": "person"}

STATUS_LABEL_MAX_CHARS = 30
STATUS_MAX_LABELS = 40
LONG_TEXT_MAX_CHARS = 2000
#: Status label ids: monday's colour slots; 5 is reserved for the blank label, so ids and
#: display positions part ways from the sixth label on (the reference's "index is the id" trap).
_STATUS_IDS = [0, 1, 2, 3, 4, *range(6, 200)]
_COLOURS = ["#fdab3d", "#00c875", "#e2445c", "#0086c0", "#a25ddc", "#037f4c", "#579bfc", "#caa8f5",
            "#ff642e", "#bb3354", "#784bd1", "#9aadbd", "#66ccff", "#ffcb00", "#cab641", "#ff158a"]

#: Countries checked strictly by name when their code is known; other two-letter codes are
#: accepted with any non-empty name (a basic shape check).
COUNTRIES = {
    "AU": "Australia", "AT": "Austria", "BD": "Bangladesh", "BE": "Belgium", "BR": "Brazil",
    "CA": "Canada", "CH": "Switzerland", "CN": "China", "CZ": "Czech Republic", "DE": "Germany",
    "DK": "Denmark", "EG": "Egypt", "ES": "Spain", "FI": "Finland", "FR": "France",
    "GB": "United Kingdom", "GR": "Greece", "HK": "Hong Kong", "ID": "Indonesia", "IE": "Ireland",
    "IL": "Israel", "IN": "India", "IT": "Italy", "JP": "Japan", "KH": "Cambodia", "KR": "South Korea",
    "LK": "Sri Lanka", "MA": "Morocco", "MX": "Mexico", "MY": "Malaysia", "NL": "Netherlands",
    "NO": "Norway", "NZ": "New Zealand", "PE": "Peru", "PH": "Philippines", "PK": "Pakistan",
    "PL": "Poland", "PT": "Portugal", "RO": "Romania", "SE": "Sweden", "SG": "Singapore",
    "TH": "Thailand", "TR": "Turkey", "TW": "Taiwan", "US": "United States", "VN": "Vietnam",
    "ZA": "South Africa",
}

_NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{2}:\d{2}(:\d{2})?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?\d{4,20}$")


class Column:
    """One board column. ``labels`` (status, dropdown) maps label id -> text in display order."""

    __slots__ = ("id", "title", "type", "labels", "description", "settings")

    def __init__(self, id: str, title: str, type: str, labels: dict[int, str] | None = None,
                 description: str | None = None, settings: dict | None = None) -> None:
        self.id = id
        self.title = title
        self.type = type
        self.labels: dict[int, str] = dict(labels or {})
        self.description = description
        self.settings = dict(settings or {})

    # --- persistence ---------------------------------------------------------------------------

    def to_doc(self) -> dict:
        return {"id": self.id, "title": self.title, "type": self.type,
                "labels": [[k, v] for k, v in self.labels.items()],
                "description": self.description, "settings": self.settings}

    @classmethod
    def from_doc(cls, doc: dict) -> Column:
        return cls(doc["id"], doc["title"], doc["type"], {int(k): v for k, v in doc.get("labels", [])},
                   doc.get("description"), doc.get("settings"))

    # --- labels --------------------------------------------------------------------------------

    def add_label(self, text: str) -> int:
        if self.type == "status":
            if len(text) > STATUS_LABEL_MAX_CHARS:
                raise column_value_error(
                    f"Status label {text!r} is longer than {STATUS_LABEL_MAX_CHARS} characters",
                    column_id=self.id, column_value=text, column_type="StatusColumn")
            if len(self.labels) >= STATUS_MAX_LABELS:
                raise column_value_error(
                    f"A status column holds at most {STATUS_MAX_LABELS} labels; cannot create {text!r}",
                    column_id=self.id, column_value=text, column_type="StatusColumn")
            new_id = next(i for i in _STATUS_IDS if i not in self.labels)
        else:
            new_id = max(self.labels, default=0) + 1
        self.labels[new_id] = text
        return new_id

    def label_id(self, text: str) -> int | None:
        for key, value in self.labels.items():
            if value == text:
                return key
        return None

    def settings_str(self) -> str:
        if self.type == "status":
            ids = list(self.labels)
            settings = {
                "labels": {str(k): v for k, v in self.labels.items()},
                "labels_positions_v2": {str(k): pos for pos, k in enumerate(ids)},
                "labels_colors": {str(k): {"color": _COLOURS[k % len(_COLOURS)], "border": _COLOURS[k % len(_COLOURS)]}
                                  for k in ids},
            }
        elif self.type == "dropdown":
            settings = {"hide_footer": False, "labels": [{"id": k, "name": v} for k, v in self.labels.items()]}
        else:
            settings = dict(self.settings)
        return json.dumps(settings, separators=(",", ":"))

    def settings_json(self) -> dict:
        """``Column.settings`` (JSON, API 2025-10 and later): labels as a list of typed entries."""
        if self.type == "status":
            return {"labels": [{"id": k, "color": k % len(_COLOURS), "label": v, "index": position,
                                "is_done": False, "is_deactivated": False}
                               for position, (k, v) in enumerate(self.labels.items())]}
        if self.type == "dropdown":
            return {"hide_footer": False,
                    "labels": [{"id": k, "label": v, "is_deactivated": False} for k, v in self.labels.items()]}
        return dict(self.settings)

    def describe_labels(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.labels.items()) + "}"

    # --- values --------------------------------------------------------------------------------

    def coerce(self, raw: Any, create_labels: bool) -> tuple[Any, bool]:
        """(stored value or None to clear, whether labels were created) for an input value."""
        if raw is None:
            return None, False
        handler = _COERCE.get(self.type)
        if handler is None:
            raise column_value_error(f"Column {self.id!r} of type {self.type} cannot be changed through the API",
                                     column_id=self.id, column_type=self.type)
        return handler(self, raw, create_labels)

    def text(self, value: Any) -> str:
        """monday's ``text`` for a stored value ('' when empty)."""
        if value is None:
            return ""
        kind = self.type
        if kind == "text":
            return value
        if kind == "long_text":
            return value.get("text", "")
        if kind == "numbers":
            return value
        if kind == "date":
            return value["date"] + (f" {value['time']}" if value.get("time") else "")
        if kind == "status":
            return self.labels.get(value["index"], "")
        if kind == "dropdown":
            return ", ".join(self.labels[i] for i in value["ids"] if i in self.labels)
        if kind == "email":
            return value["email"]
        if kind == "phone":
            return value["phone"]
        if kind == "link":
            return f"{value['text']} - {value['url']}" if value.get("text") else value["url"]
        if kind == "checkbox":
            return "v"
        if kind == "timeline":
            return f"{value['from']} - {value['to']}"
        if kind == "hour":
            return f"{value['hour']:02d}:{value['minute']:02d}"
        if kind == "country":
            return value["countryName"]
        if kind == "people":
            return ", ".join(f"User {p['id']}" for p in value["personsAndTeams"])
        return ""

    def match_texts(self, value: Any) -> list[str]:
        """The texts a search value is compared with (a dropdown matches any one of its labels)."""
        if value is None:
            return [""]
        if self.type == "dropdown":
            return [self.labels[i] for i in value["ids"] if i in self.labels] or [""]
        return [self.text(value)]


# --- per-type coercion ---------------------------------------------------------------------------


def _bad(col: Column, raw: Any, why: str = "") -> Exception:
    shown = raw if isinstance(raw, str) else json.dumps(raw, default=str)
    return column_value_error(
        f"invalid value for {col.type} column {col.id!r}{': ' + why if why else ''}, "
        "please check our API documentation for the correct data structure for this column",
        column_id=col.id, column_type=col.type, column_value=shown)


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
        if raw != raw or raw in (float("inf"), float("-inf")):
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
                    column_id=col.id, column_value=json.dumps(raw), column_type="StatusColumn")
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
                column_id=col.id, column_value=json.dumps(raw), column_type="StatusColumn")
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
                        column_id=col.id, column_value=json.dumps(raw), column_type="DropdownColumn")
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
                    column_id=col.id, column_value=json.dumps(raw), column_type="DropdownColumn")
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
        phone, country = _split_simple(raw)
        raw = {"phone": phone, "countryShortName": country}
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
        url, text = _split_simple(raw)
        raw = {"url": url, "text": text}
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
        try:
            out.append({"id": int(entry.get("id")), "kind": entry["kind"]})
        except (TypeError, ValueError):
            raise _bad(col, raw) from None
    return ({"personsAndTeams": out} if out else None), False


_COERCE = {"text": _text, "long_text": _long_text, "numbers": _numbers, "date": _date, "status": _status,
           "dropdown": _dropdown, "email": _email, "phone": _phone, "link": _link, "checkbox": _checkbox,
           "timeline": _timeline, "hour": _hour, "country": _country, "people": _people}
