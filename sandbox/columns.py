"""Board columns: monday-style ids, label settings, and per-type validation of column values.

A column value is stored in the canonical JSON shape monday returns in ``column_values.value``
(for status and dropdown columns: label *ids*, so a renamed label keeps its items); the ``text`` is
derived from it when asked. ``coerce`` accepts every input form the reference (§4) lists for a type,
the JSON form and the simple-string form, and raises ``ColumnValueException`` otherwise (the per-type
rules are ``coercion.py``).
"""

from __future__ import annotations

import json
from typing import Any

from .coercion import COERCE
from .errors import column_value_error

#: Column types a board may be created with (besides the built-in ``name`` and ``subtasks``).
USER_TYPES = (
    "text",
    "long_text",
    "numbers",
    "date",
    "status",
    "dropdown",
    "email",
    "phone",
    "link",
    "checkbox",
    "timeline",
    "hour",
    "country",
    "people",
)

#: Prefix of a generated column id, the way monday names new columns ("text_mkx1a2b3").
ID_PREFIX = {
    "text": "text",
    "long_text": "long_text",
    "numbers": "numeric",
    "date": "date",
    "status": "status",
    "dropdown": "dropdown",
    "email": "email",
    "phone": "phone",
    "link": "link",
    "checkbox": "boolean",
    "timeline": "timerange",
    "hour": "hour",
    "country": "country",
    "people": "person",
}

#: The id monday gives the *first* column of some types on a board (legacy names that still appear).
CLASSIC_ID = {"status": "status", "date": "date4", "people": "person"}

STATUS_LABEL_MAX_CHARS = 30
STATUS_MAX_LABELS = 40
#: Status label ids: monday's colour slots; 5 is reserved for the blank label, so ids and
#: display positions part ways from the sixth label on (the reference's "index is the id" trap).
_STATUS_IDS = [0, 1, 2, 3, 4, *range(6, 200)]
_COLOURS = [
    "#fdab3d",
    "#00c875",
    "#e2445c",
    "#0086c0",
    "#a25ddc",
    "#037f4c",
    "#579bfc",
    "#caa8f5",
    "#ff642e",
    "#bb3354",
    "#784bd1",
    "#9aadbd",
    "#66ccff",
    "#ffcb00",
    "#cab641",
    "#ff158a",
]


class Column:
    """One board column. ``labels`` (status, dropdown) maps label id -> text in display order."""

    __slots__ = ("description", "id", "labels", "settings", "title", "type")

    def __init__(
        self,
        id: str,
        title: str,
        type: str,
        labels: dict[int, str] | None = None,
        description: str | None = None,
        settings: dict | None = None,
    ) -> None:
        self.id = id
        self.title = title
        self.type = type
        self.labels: dict[int, str] = dict(labels or {})
        self.description = description
        self.settings = dict(settings or {})

    # --- persistence ---------------------------------------------------------------------------

    def to_doc(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "type": self.type,
            "labels": [[k, v] for k, v in self.labels.items()],
            "description": self.description,
            "settings": self.settings,
        }

    @classmethod
    def from_doc(cls, doc: dict) -> Column:
        return cls(
            doc["id"],
            doc["title"],
            doc["type"],
            {int(k): v for k, v in doc.get("labels", [])},
            doc.get("description"),
            doc.get("settings"),
        )

    # --- labels --------------------------------------------------------------------------------

    def add_label(self, text: str) -> int:
        if self.type == "status":
            if len(text) > STATUS_LABEL_MAX_CHARS:
                raise column_value_error(
                    f"Status label {text!r} is longer than {STATUS_LABEL_MAX_CHARS} characters",
                    column_id=self.id,
                    column_value=text,
                    column_type="StatusColumn",
                )
            if len(self.labels) >= STATUS_MAX_LABELS:
                raise column_value_error(
                    f"A status column holds at most {STATUS_MAX_LABELS} labels; cannot create {text!r}",
                    column_id=self.id,
                    column_value=text,
                    column_type="StatusColumn",
                )
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
                "labels_colors": {
                    str(k): {"color": _COLOURS[k % len(_COLOURS)], "border": _COLOURS[k % len(_COLOURS)]} for k in ids
                },
            }
        elif self.type == "dropdown":
            settings = {"hide_footer": False, "labels": [{"id": k, "name": v} for k, v in self.labels.items()]}
        else:
            settings = dict(self.settings)
        return json.dumps(settings, separators=(",", ":"))

    def settings_json(self) -> dict:
        """``Column.settings`` (JSON, API 2025-10 and later): labels as a list of typed entries."""
        if self.type == "status":
            return {
                "labels": [
                    {
                        "id": k,
                        "color": k % len(_COLOURS),
                        "label": v,
                        "index": position,
                        "is_done": False,
                        "is_deactivated": False,
                    }
                    for position, (k, v) in enumerate(self.labels.items())
                ]
            }
        if self.type == "dropdown":
            return {
                "hide_footer": False,
                "labels": [{"id": k, "label": v, "is_deactivated": False} for k, v in self.labels.items()],
            }
        return dict(self.settings)

    def describe_labels(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.labels.items()) + "}"

    # --- values --------------------------------------------------------------------------------

    def coerce(self, raw: Any, create_labels: bool) -> tuple[Any, bool]:
        """(stored value or None to clear, whether labels were created) for an input value."""
        if raw is None:
            return None, False
        handler = COERCE.get(self.type)
        if handler is None:
            raise column_value_error(
                f"Column {self.id!r} of type {self.type} cannot be changed through the API",
                column_id=self.id,
                column_type=self.type,
            )
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
