"""Item filters: the ``columns`` of ``items_page_by_column_values`` and the ``query_params`` of
``items_page`` (rules, groups, operators, ``order_by``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .columns import Column
from .errors import invalid_argument, invalid_column
from .models import Board, Item
from .store import Store

MAX_ROOT_ITEMS = 100
SEARCHABLE = {
    "name",
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
    "hour",
    "country",
    "people",
    "timeline",
}


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _compare(a: str, b: Any) -> int:
    x, y = _number(a), _number(b)
    if x is not None and y is not None:
        return (x > y) - (x < y)
    b = str(b)
    return (a > b) - (a < b)


class Finder:
    """Item filters: ``items_page_by_column_values`` columns and ``items_page`` query_params."""

    def __init__(self, store: Store, board: Board) -> None:
        self.store = store
        self.board = board

    def column(self, column_id: str) -> Column:
        column = self.board.column_by_id.get(column_id)
        if column is None:
            raise invalid_column(column_id, self.board.id)
        return column

    def _texts(self, item: Item, column: Column) -> list[str]:
        if column.type == "name":
            return [item.name]
        return column.match_texts(item.values.get(column.id))

    # items_page_by_column_values: exact, case-insensitive, ANY_OF within a column, AND across columns
    def check_column_values(self, columns: list[dict]) -> list[tuple[str, set[str]]]:
        """(column id, wanted search keys) per column, after checking the columns can be searched."""
        checks = []
        for spec in columns:
            column = self.column(spec["column_id"])
            if column.type not in SEARCHABLE:
                raise invalid_argument(
                    f"Column type {column.type} is not supported by items_page_by_column_values",
                    column_id=column.id,
                    column_type=column.type,
                )
            values = ["" if v is None else str(v) for v in spec.get("column_values") or []]
            if column.type in ("date", "dropdown") and len(values) > 1:
                raise invalid_argument(
                    f"A {column.type} column takes a single value in items_page_by_column_values", column_id=column.id
                )
            if column.type == "checkbox":  # the last value given decides
                wanted = {"v" if v.strip().lower() in ("true", "v", "1", "checked") else "" for v in values[-1:]}
            elif column.type == "date":
                wanted = {v.strip()[:10].lower() for v in values}
            else:
                wanted = {v.strip().lower() for v in values}
            checks.append((column.id, wanted))
        return checks

    def by_column_values(self, columns: list[dict]) -> list[int]:
        """Ids (ascending) of the active items matching every column, through the search index."""
        matched: set[str] | None = None
        for column_id, wanted in self.check_column_values(columns):
            index = self.store.search_index(self.board, column_id)
            hits: set[str] = set()
            for key in wanted:
                hits |= index.get(key, set())
            matched = hits if matched is None else matched & hits
            if not matched:
                return []
        items = self.store.items
        return sorted(int(i) for i in matched or () if items[i].state == "active")

    # items_page query_params
    def by_query(self, query: dict | None) -> Callable[[Item], bool]:
        if not query:
            return lambda item: True
        ids = query.get("ids")
        id_set = None
        if ids:
            if len(ids) > MAX_ROOT_ITEMS:
                raise invalid_argument(f"query_params.ids takes at most {MAX_ROOT_ITEMS} ids")
            id_set = {str(i) for i in ids}
        group = self._group(query)

        def match(item: Item) -> bool:
            return (id_set is None or item.id in id_set) and group(item)

        return match

    def _group(self, spec: dict) -> Callable[[Item], bool]:
        parts = [self._rule(rule) for rule in spec.get("rules") or []]
        parts += [self._group(group) for group in spec.get("groups") or []]
        if not parts:
            return lambda item: True
        if (spec.get("operator") or "and") == "or":
            return lambda item: any(p(item) for p in parts)
        return lambda item: all(p(item) for p in parts)

    def _rule(self, rule: dict) -> Callable[[Item], bool]:
        column_id = str(rule["column_id"])
        operator = rule.get("operator") or "any_of"
        values = [v for v in _as_list(rule.get("compare_value")) if v not in ("EXACT",)]
        if column_id == "group":
            wanted = {str(v) for v in values}
            texts_of: Callable[[Item], list[str]] = lambda item: [item.group_id]
        else:
            column = self.column(column_id)
            if column.type in ("status", "dropdown"):
                wanted = set()
                for v in values:
                    if isinstance(v, int) or (isinstance(v, str) and v.isdigit()):
                        wanted.add(column.labels.get(int(v), f"#{v}").lower())
                    else:
                        wanted.add(str(v).lower())
            else:
                wanted = {str(v).lower() for v in values}
            texts_of = lambda item: self._texts(item, column)
        lowered = [str(v).lower() for v in values]
        if operator in ("within_the_next", "within_the_last"):
            raise invalid_argument(f"The sandbox does not support the {operator} operator")

        def match(item: Item) -> bool:
            texts = [t.lower() for t in texts_of(item)]
            if operator == "any_of":
                return any(t in wanted for t in texts)
            if operator == "not_any_of":
                return not any(t in wanted for t in texts)
            if operator == "is_empty":
                return all(t == "" for t in texts)
            if operator == "is_not_empty":
                return any(t != "" for t in texts)
            if operator in ("contains_text", "contains_terms"):
                return any(v in t for t in texts for v in lowered)
            if operator == "not_contains_text":
                return not any(v in t for t in texts for v in lowered)
            if operator == "starts_with":
                return any(t.startswith(v) for t in texts for v in lowered)
            if operator == "ends_with":
                return any(t.endswith(v) for t in texts for v in lowered)
            text = texts[0] if texts else ""
            if text == "" or not lowered:
                return False
            if operator == "greater_than":
                return _compare(text, lowered[0]) > 0
            if operator == "greater_than_or_equals":
                return _compare(text, lowered[0]) >= 0
            if operator == "lower_than":
                return _compare(text, lowered[0]) < 0
            if operator == "lower_than_or_equal":
                return _compare(text, lowered[0]) <= 0
            if operator == "between":
                return len(lowered) >= 2 and _compare(text, lowered[0]) >= 0 and _compare(text, lowered[1]) <= 0
            return False

        return match

    def sort_key(self, order_by: list[dict]) -> Callable[[Item], tuple] | None:
        if not order_by or (
            len(order_by) == 1
            and order_by[0]["column_id"] == "__creation_log__"
            and (order_by[0].get("direction") or "asc") == "asc"
        ):
            return None
        keys = []
        for spec in order_by:
            column_id, reverse = spec["column_id"], (spec.get("direction") or "asc") == "desc"
            if column_id == "__creation_log__":
                getter = lambda item: int(item.id)
            elif column_id == "__last_updated__":
                getter = lambda item: item.updated_at
            else:
                column = self.column(column_id)

                def getter(item: Item, column=column):
                    text = self._texts(item, column)[0]
                    number = _number(text) if column.type == "numbers" else None
                    return (0, number, "") if number is not None else (1, 0, text.lower())

            keys.append((getter, reverse))
        return lambda item: tuple(_Ordered(getter(item), reverse) for getter, reverse in keys) + (int(item.id),)


class _Ordered:
    """A sort key component that can be reversed per column."""

    __slots__ = ("reverse", "value")

    def __init__(self, value: Any, reverse: bool) -> None:
        self.value, self.reverse = value, reverse

    def __lt__(self, other: _Ordered) -> bool:
        return other.value < self.value if self.reverse else self.value < other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Ordered) and self.value == other.value
