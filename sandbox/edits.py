"""People editing the board behind OrderSync's back: what a planner does in monday's web UI.

``SandboxServer`` has these as methods, and as control endpoints (JSON bodies, JSON answers; an unknown
item, subitem, board, column or group is HTTP 404, a bad request 400):

=========================================  ==============================================================
``delete_item(item_id)``                   ``POST /sandbox/items/<id>/delete``: the item and its subitems
                                           are deleted (``items(ids:)`` still reports them, state
                                           "deleted"; writes to them answer not found)
``archive_item(item_id)``                  ``POST /sandbox/items/<id>/archive``: archived (writes to it
                                           are applied silently, as monday does)
``restore_item(item_id)``                  ``POST /sandbox/items/<id>/restore``: an archived item back
                                           to active
``delete_subitem(subitem_id)``             ``POST /sandbox/subitems/<id>/delete``
``set_value(item_id, column, value)``      ``POST /sandbox/items/<id>/values`` ``{"column": id or title,
                                           "value": ...}``: one column of an item or subitem, the value
                                           as ``change_multiple_column_values`` takes it (``null``
                                           clears it; ``"name"`` renames)
``add_item(board_id, name, values=None,    ``POST /sandbox/boards/<id>/items`` ``{"name": ..., "values":
group=None)``                              {column id or title: value}, "group": id or title}``; answers
                                           ``{"id": ...}``; e.g. a second item with a sync key that is
                                           already on the board
``delete_column(board_id, column)``        ``POST /sandbox/boards/<id>/columns/delete`` ``{"column": id or
                                           title}``: a board owner deletes a column (the subitems column
                                           too), with its values
``move_item(item_id, group)``              ``POST /sandbox/items/<id>/move`` ``{"group": id or title}``: a
                                           person drags an item into another group
``add_subitem(parent_id, name,             ``POST /sandbox/items/<id>/subitems`` ``{"name": ..., "values":
values=None)``                             {column id or title: value}}``; answers ``{"id": ...}``; e.g.
                                           a size a person adds under an item
=========================================  ==============================================================

They go straight to the board state (no rate limit, no fault, no idempotency) and are committed to
the state file at once. Status and dropdown labels must exist (as a person picks from the labels).
"""

from __future__ import annotations

import json
from typing import Any

from .errors import MondayError
from .models import Item


class BoardEdits:
    """The edits, mixed into ``SandboxServer`` (which holds ``_store`` and ``_state_lock``)."""

    def _edited_item(self, item_id: Any, *, subitem: bool | None = None) -> Item:
        item = self._store.items.get(str(item_id))  # type: ignore[attr-defined]
        if item is None or item.state == "deleted":
            raise KeyError(f"no item {item_id} (or it is deleted)")
        if subitem is True and item.parent_id is None:
            raise KeyError(f"{item_id} is an item, not a subitem")
        if subitem is False and item.parent_id is not None:
            raise KeyError(f"{item_id} is a subitem; delete it with delete_subitem")
        return item

    def _commit(self) -> None:
        self._store.commit()  # type: ignore[attr-defined]

    def delete_item(self, item_id: str) -> None:
        """Delete an item, with its subitems, as a person does on the board."""
        with self._state_lock:  # type: ignore[attr-defined]
            self._store.delete_item(self._edited_item(item_id, subitem=False))  # type: ignore[attr-defined]
            self._commit()

    def delete_subitem(self, subitem_id: str) -> None:
        """Delete one subitem (its parent stays)."""
        with self._state_lock:  # type: ignore[attr-defined]
            self._store.set_state(self._edited_item(subitem_id, subitem=True), "deleted")  # type: ignore[attr-defined]
            self._commit()

    def archive_item(self, item_id: str) -> None:
        with self._state_lock:  # type: ignore[attr-defined]
            item = self._edited_item(item_id)
            if item.state != "archived":
                self._store.set_state(item, "archived")  # type: ignore[attr-defined]
            self._commit()

    def restore_item(self, item_id: str) -> None:
        """Bring an archived item back to the board."""
        with self._state_lock:  # type: ignore[attr-defined]
            item = self._edited_item(item_id)
            if item.state != "archived":
                raise ValueError(f"item {item_id} is not archived")
            self._store.set_state(item, "active")  # type: ignore[attr-defined]
            self._commit()

    def set_value(self, item_id: str, column: str, value: Any) -> None:
        """Change one column (id or title) of an item or subitem, as a person types it in."""
        with self._state_lock:  # type: ignore[attr-defined]
            item = self._edited_item(item_id)
            board = self._store.boards[item.board_id]  # type: ignore[attr-defined]
            if column == "name":
                self._store.update_item(item, {}, _name(value))  # type: ignore[attr-defined]
            else:
                target = self._column(board.id, column)[1]  # type: ignore[attr-defined]
                changes = {target.id: None if value is None else _coerce(target, value)}
                self._store.update_item(item, changes, None)  # type: ignore[attr-defined]
            self._commit()

    def delete_column(self, board_id: str, column: str) -> None:
        """Delete a column (id or title) and its values, as a board owner does; "name" cannot go."""
        with self._state_lock:  # type: ignore[attr-defined]
            board, target = self._column(str(board_id), column)  # type: ignore[attr-defined]
            if target.type == "name":
                raise ValueError("the name column cannot be deleted")
            board.columns.remove(target)
            del board.column_by_id[target.id]
            for item in self._store.items.values():  # type: ignore[attr-defined]
                if item.board_id == board.id:
                    item.values.pop(target.id, None)
            self._store.touch_board(board)  # type: ignore[attr-defined]
            self._commit()

    def add_item(self, board_id: str, name: str, values: dict | None = None, group: str | None = None) -> str:
        """Create an item as a person does (``values`` by column id or title); returns its id."""
        with self._state_lock:  # type: ignore[attr-defined]
            store = self._store  # type: ignore[attr-defined]
            board = store.boards.get(str(board_id))
            if board is None or board.kind != "board":
                raise KeyError(f"no board {board_id}")
            if group is None:
                target_group = next((g for g in board.groups if not g.archived), None)
            else:
                target_group = next((g for g in board.groups if g.id == group or g.title == group), None)
            if target_group is None:
                raise KeyError(f"board {board_id} has no group {group!r}")
            stored = {}
            for column, value in (values or {}).items():
                target = self._column(board.id, column)[1]  # type: ignore[attr-defined]
                if value is not None:
                    stored[target.id] = _coerce(target, value)
            item = store.add_item(
                board, target_group.id, _name(name), {k: v for k, v in stored.items() if v is not None}
            )
            self._commit()
            return item.id

    def move_item(self, item_id: str, group: str) -> None:
        """Drag an item into another group (id or title) of its board."""
        with self._state_lock:  # type: ignore[attr-defined]
            item = self._edited_item(item_id, subitem=False)
            board = self._store.boards[item.board_id]  # type: ignore[attr-defined]
            target = next((g for g in board.groups if (g.id == group or g.title == group) and not g.archived), None)
            if target is None:
                raise KeyError(f"board {board.id} has no group {group!r}")
            item.group_id = target.id
            self._store.touch_item(item)  # type: ignore[attr-defined]
            self._commit()

    def add_subitem(self, parent_id: str, name: str, values: dict | None = None) -> str:
        """Add a subitem under an item as a person does (``values`` by column id or title); returns its id."""
        with self._state_lock:  # type: ignore[attr-defined]
            store = self._store  # type: ignore[attr-defined]
            parent = self._edited_item(parent_id, subitem=False)
            sub = store.boards.get(store.boards[parent.board_id].subitems_board_id or "")
            if sub is None:
                raise KeyError(f"board {parent.board_id} has no subitems board")
            stored = {}
            for column, value in (values or {}).items():
                target = self._column(sub.id, column)[1]  # type: ignore[attr-defined]
                if value is not None:
                    stored[target.id] = _coerce(target, value)
            item = store.add_item(sub, sub.groups[0].id, _name(name), stored, parent=parent)
            self._commit()
            return item.id


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise ValueError("an item name is 1 to 255 characters")
    return value


def _coerce(column, value: Any) -> Any:
    if column.type in ("name", "subtasks"):
        raise ValueError(f"column {column.title!r} cannot be set this way")
    try:
        stored, _ = column.coerce(value, False)
    except MondayError as exc:
        raise ValueError(f"column {column.title!r}: {exc.message}") from None
    return stored


def edit_endpoint(server: BoardEdits, method: str, parts: list[str], body: bytes) -> tuple[int, dict] | None:
    """The edit control endpoints (``parts``: the path after ``/sandbox``); None when not one of them."""
    if method != "POST":
        return None
    data = json.loads(body or b"{}")
    if not isinstance(data, dict):
        raise TypeError("the body is a JSON object")  # a 400 answer, as a ValueError is
    if len(parts) == 3 and parts[0] == "items" and parts[2] in ("delete", "archive", "restore"):
        getattr(server, f"{parts[2]}_item")(parts[1])
        return 200, {"id": parts[1], "done": parts[2]}
    if len(parts) == 3 and parts[0] == "subitems" and parts[2] == "delete":
        server.delete_subitem(parts[1])
        return 200, {"id": parts[1], "done": "delete"}
    if len(parts) == 3 and parts[0] == "items" and parts[2] == "values":
        if "column" not in data or "value" not in data:
            raise ValueError('the body is {"column": id or title, "value": ...}')
        server.set_value(parts[1], str(data["column"]), data["value"])
        return 200, {"id": parts[1], "column": data["column"]}
    if len(parts) == 3 and parts[0] == "items" and parts[2] == "move":
        if "group" not in data:
            raise ValueError('the body is {"group": id or title}')
        server.move_item(parts[1], str(data["group"]))
        return 200, {"id": parts[1], "group": data["group"]}
    if len(parts) == 3 and parts[0] == "items" and parts[2] == "subitems":
        if not isinstance(data.get("values", {}), dict):
            raise ValueError('"values" is an object keyed by column id or title')
        sub_id = server.add_subitem(parts[1], data.get("name", ""), data.get("values"))
        return 200, {"id": sub_id}
    if len(parts) == 4 and parts[0] == "boards" and parts[2:] == ["columns", "delete"]:
        if "column" not in data:
            raise ValueError('the body is {"column": id or title}')
        server.delete_column(parts[1], str(data["column"]))
        return 200, {"board": parts[1], "deleted": data["column"]}
    if len(parts) == 3 and parts[0] == "boards" and parts[2] == "items":
        if not isinstance(data.get("values", {}), dict):
            raise ValueError('"values" is an object keyed by column id or title')
        item_id = server.add_item(parts[1], data.get("name", ""), data.get("values"), data.get("group"))
        return 200, {"id": item_id}
    return None
