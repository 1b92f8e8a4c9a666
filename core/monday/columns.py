"""Board metadata (titles → ids, labels, groups, the subitems board) and column value encoding.

Values arrive typed and normalised by the mapping (text, numbers as canonical decimal text, dates
as YYYY-MM-DD, status and dropdown labels); here they become the JSON monday expects per column
type (reference §4). ``None`` clears a column.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.foundation.exceptions import SettingsError
from core.source.mapping import ColumnMap


@dataclass
class Column:
    id: str
    title: str
    type: str
    labels: set[str] = field(default_factory=set)


@dataclass
class BoardMeta:
    """What OrderSync needs to know of a board, read once per run."""

    board_id: str
    name: str
    columns: list[Column]
    groups: dict[str, str]  # title -> id
    subitem_board_id: str | None = None
    subitem_columns: list[Column] = field(default_factory=list)

    def resolve(self, mapped: Iterable[ColumnMap], *, subitems: bool = False) -> dict[str, Column]:
        """Mapped column label → board column; a missing or ambiguous title is a settings error."""
        columns = self.subitem_columns if subitems else self.columns
        where = f"the subitems board {self.subitem_board_id}" if subitems else f"board {self.board_id} ({self.name})"
        resolved: dict[str, Column] = {}
        problems = []
        for column in mapped:
            if column.id:
                found = [c for c in columns if c.id == column.id]
            else:
                wanted = (column.title or "").strip().casefold()  # a mapped column has an id or a title
                found = [c for c in columns if c.title.strip().casefold() == wanted]
            if not found:
                problems.append(f"no column {'id' if column.id else 'titled'} {column.label!r}")
            elif len(found) > 1:
                problems.append(
                    f"{len(found)} columns are titled {column.label!r} "
                    f"(ids {', '.join(c.id for c in found)}); name it by id in the mapping"
                )
            else:
                resolved[column.label] = found[0]
        if problems:
            raise SettingsError(f"mapping does not fit {where}: " + "; ".join(problems))
        return resolved


def _settings(settings: Any) -> dict[str, Any]:
    """Column settings as a dict: ``settings`` is JSON (a dict, or a JSON string from some servers)."""
    if isinstance(settings, str):
        try:
            settings = json.loads(settings) if settings.strip() else {}
        except ValueError:
            return {}
    return settings if isinstance(settings, dict) else {}


def labels_of(column_type: str, settings: Any) -> set[str]:
    """The labels a status or dropdown column offers, from its ``settings``.

    ``settings`` (API 2025-10 and later) lists them as ``[{"id": 1, "label": "Done", "is_deactivated":
    false}, ...]``; the deprecated ``settings_str`` had ``{"0": "Done"}`` (status) or ``[{"id": 1,
    "name": "A"}]`` (dropdown). All three are read; a deactivated label is not offered.
    """
    if column_type not in ("status", "color", "dropdown"):
        return set()
    labels = _settings(settings).get("labels") or {}
    if isinstance(labels, dict):  # settings_str, status: {"0": "Working on it", ...}
        return {str(v) for v in labels.values() if v}
    if isinstance(labels, list):
        out = set()
        for entry in labels:
            if not isinstance(entry, dict) or entry.get("is_deactivated"):
                continue
            text = entry.get("label", entry.get("name"))
            if text:
                out.add(str(text))
        return out
    return set()


def subitem_board_ids(settings: Any) -> list[str]:
    """The subitems board(s) a subitems column links to, from its ``settings``."""
    raw = _settings(settings)
    ids = raw.get("boardIds") or raw.get("board_ids") or []
    return [str(i) for i in ids] if isinstance(ids, list) else []


def encode_value(column_type: str, value: Any) -> Any:
    """The JSON value of one column for ``column_values`` (None clears the column)."""
    if value is None or value == "":
        return None
    kind = "status" if column_type == "color" else column_type
    if kind == "numbers":
        return str(value)
    if kind == "date":
        return {"date": str(value)}
    if kind == "status":
        return {"label": str(value)}
    if kind == "dropdown":
        return {"labels": [str(value)]}
    if kind == "long_text":
        return {"text": str(value)}
    if kind == "checkbox":
        return {"checked": "true"} if str(value).lower() in ("1", "true", "yes", "y") else None
    return str(value)


def encode_values(
    values: dict[str, Any], columns: dict[str, Column], only: Iterable[str] | None = None
) -> dict[str, Any]:
    """``{column id: encoded}`` for the mapped values (all, or only the labels in ``only``)."""
    wanted = set(only) if only is not None else None
    encoded = {}
    for label, value in values.items():
        if label in ("name", "group") or (wanted is not None and label not in wanted):
            continue
        column = columns.get(label)
        if column is not None:
            encoded[column.id] = encode_value(column.type, value)
    return encoded


def missing_labels(values: dict[str, Any], columns: dict[str, Column], only: Iterable[str] | None = None) -> list[str]:
    """Status labels the board lacks (monday would refuse them): checked before anything is sent."""
    wanted = set(only) if only is not None else None
    problems = []
    for label, value in values.items():
        column = columns.get(label)
        if column is None or value in (None, "") or (wanted is not None and label not in wanted):
            continue
        if column.type in ("status", "color") and column.labels and str(value) not in column.labels:
            problems.append(
                f"{label}: the board has no status label {str(value)!r} (it has {', '.join(sorted(column.labels))})"
            )
    return problems
