"""The board state's objects: boards, groups and items, and their JSON documents in the state file."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .columns import Column

GROUP_COLOURS = [
    "#579bfc",
    "#00c875",
    "#fdab3d",
    "#e2445c",
    "#a25ddc",
    "#037f4c",
    "#ff642e",
    "#9d50dd",
    "#784bd1",
    "#bb3354",
    "#ff158a",
    "#c4c4c4",
]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Group:
    __slots__ = ("archived", "color", "id", "title")

    def __init__(self, id: str, title: str, color: str, archived: bool = False) -> None:
        self.id, self.title, self.color, self.archived = id, title, color, archived

    def to_doc(self) -> dict:
        return {"id": self.id, "title": self.title, "color": self.color, "archived": self.archived}


class Board:
    """A board (or a subitems board). ``item_ids`` holds every item ever created on it, ascending."""

    def __init__(
        self,
        id: str,
        name: str,
        kind: str = "board",
        parent_board_id: str | None = None,
        subitems_board_id: str | None = None,
    ) -> None:
        self.id = id
        self.name = name
        self.kind = kind  # "board" | "sub_items_board"
        self.parent_board_id = parent_board_id
        self.subitems_board_id = subitems_board_id
        self.columns: list[Column] = []
        self.column_by_id: dict[str, Column] = {}
        self.groups: list[Group] = []
        self.item_ids: list[int] = []
        self.live_items = 0  # not deleted: what the 10,000-item limit counts

    def add_column(self, column: Column) -> None:
        self.columns.append(column)
        self.column_by_id[column.id] = column

    def group(self, group_id: str) -> Group | None:
        for group in self.groups:
            if group.id == group_id:
                return group
        return None

    def to_doc(self) -> dict:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "parent_board_id": self.parent_board_id,
            "subitems_board_id": self.subitems_board_id,
            "columns": [c.to_doc() for c in self.columns],
            "groups": [g.to_doc() for g in self.groups],
        }

    @classmethod
    def from_doc(cls, doc: dict) -> Board:
        board = cls(doc["id"], doc["name"], doc["kind"], doc.get("parent_board_id"), doc.get("subitems_board_id"))
        for col in doc["columns"]:
            board.add_column(Column.from_doc(col))
        board.groups = [Group(g["id"], g["title"], g["color"], g.get("archived", False)) for g in doc["groups"]]
        return board


class Item:
    __slots__ = (
        "board_id",
        "created_at",
        "group_id",
        "id",
        "name",
        "parent_id",
        "state",
        "subitem_ids",
        "updated_at",
        "values",
    )

    def __init__(
        self,
        id: str,
        board_id: str,
        group_id: str,
        name: str,
        state: str = "active",
        parent_id: str | None = None,
        values: dict | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> None:
        self.id = id
        self.board_id = board_id
        self.group_id = group_id
        self.name = name
        self.state = state  # active | archived | deleted
        self.parent_id = parent_id
        self.values: dict[str, Any] = values or {}
        self.created_at = created_at or now_iso()
        self.updated_at = updated_at or self.created_at
        self.subitem_ids: list[str] = []

    def to_doc(self) -> dict:
        return {
            "board_id": self.board_id,
            "group_id": self.group_id,
            "name": self.name,
            "state": self.state,
            "parent_id": self.parent_id,
            "values": self.values,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_doc(cls, item_id: str, doc: dict) -> Item:
        return cls(
            item_id,
            doc["board_id"],
            doc["group_id"],
            doc["name"],
            doc["state"],
            doc.get("parent_id"),
            doc.get("values"),
            doc.get("created_at"),
            doc.get("updated_at"),
        )
