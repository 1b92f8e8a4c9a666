"""What the resolvers answer: the request's shared ``Context``, the views of boards, groups, items and
columns that graphql-core's default resolver reads, and the cursor-paged item lists."""

from __future__ import annotations

import base64
import bisect
import json
import time
from dataclasses import dataclass, field

from .columns import Column
from .errors import MondayError, invalid_argument, invalid_board
from .models import Board, Item
from .search import Finder
from .store import Store

#: The implementations of the ColumnValue interface the sandbox serves, by column type (monday has more).
VALUE_TYPES = {
    "text": "TextValue",
    "long_text": "LongTextValue",
    "numbers": "NumbersValue",
    "date": "DateValue",
    "status": "StatusValue",
    "dropdown": "DropdownValue",
    "email": "EmailValue",
    "phone": "PhoneValue",
    "link": "LinkValue",
    "checkbox": "CheckboxValue",
    "timeline": "TimelineValue",
    "hour": "HourValue",
    "country": "CountryValue",
    "people": "PeopleValue",
    "subtasks": "SubtasksValue",
}

MAX_PAGE_LIMIT = 500
CURSOR_TTL_NOMINAL = 3600.0
ME = {"id": "10000001", "name": "Sandbox User", "email": "sandbox@example.com"}


# --- request context -------------------------------------------------------------------------


@dataclass
class Context:
    """What the resolvers of one request share."""

    store: Store
    time_scale: float
    items_limit: int
    legacy: bool
    cost: int = 0
    costs: dict[str, int] = field(default_factory=dict)
    before: int = 0
    reset_in: float = 0.0
    applied: int = 0
    failed: int = 0
    refund: int = 0
    aborted: bool = False

    def complexity(self) -> dict:
        return {
            "before": self.before,
            "after": self.before - self.cost,
            "query": self.cost,
            "reset_in_x_seconds": max(0, int(-(-self.reset_in // 1))),
        }


# --- cursors ---------------------------------------------------------------------------------


def _encode_cursor(state: dict) -> str:
    raw = json.dumps(state, separators=(",", ":")).encode()
    return "MSw" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, time_scale: float) -> dict:
    try:
        if not cursor.startswith("MSw"):
            raise ValueError
        body = cursor[3:]
        state = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if not isinstance(state, dict) or "b" not in state:
            raise ValueError
    except (ValueError, TypeError, UnicodeDecodeError):
        raise invalid_argument("Invalid cursor", cursor=cursor) from None
    if (time.time() - state.get("t", 0)) * time_scale > CURSOR_TTL_NOMINAL:
        raise MondayError(
            "CursorExpiredError", "The cursor has expired, start the pagination again", error_data={"cursor": cursor}
        )
    return state


def _check_limit(limit: int) -> int:
    if limit is None or limit < 1 or limit > MAX_PAGE_LIMIT:
        raise invalid_argument(f"limit must be between 1 and {MAX_PAGE_LIMIT}", limit=limit)
    return limit


# --- views (what the default resolver reads) ----------------------------------------------------


class ColumnView:
    def __init__(self, column: Column) -> None:
        self.id = column.id
        self.title = column.title
        self.type = column.type
        self.description = column.description
        self.archived = False
        self.width = None
        self._column = column

    @property
    def settings(self) -> dict:
        return self._column.settings_json()

    @property
    def settings_str(self) -> str:
        return self._column.settings_str()


class GroupView:
    def __init__(self, ctx: Context, board: Board, group) -> None:
        self._ctx, self._board, self._group = ctx, board, group
        self.id = group.id
        self.title = group.title
        self.color = group.color
        self.archived = group.archived
        self.deleted = False

    @property
    def position(self) -> str:
        return f"{65536 * (self._board.groups.index(self._group) + 1):.1f}"

    def items_page(self, info, limit: int = 25, cursor: str | None = None, query_params: dict | None = None):
        return items_page(self._ctx, self._board, limit, cursor, query_params, group_id=self.id)


class ItemView:
    def __init__(self, ctx: Context, item: Item) -> None:
        self._ctx, self._item = ctx, item
        self.id = item.id
        self.name = item.name
        self.state = item.state
        self.created_at = item.created_at
        self.updated_at = item.updated_at
        self.creator_id = ME["id"]

    @property
    def url(self) -> str:
        return f"https://sandbox.monday.com/boards/{self._item.board_id}/pulses/{self._item.id}"

    def _board(self) -> Board:
        return self._ctx.store.boards[self._item.board_id]

    def board(self, info):
        return BoardView(self._ctx, self._board())

    def group(self, info):
        board = self._board()
        group = board.group(self._item.group_id)
        return GroupView(self._ctx, board, group) if group else None

    def column_values(self, info, ids: list[str] | None = None, types: list[str] | None = None):
        store, item = self._ctx.store, self._item
        wanted = set(ids) if ids else None
        kinds = set(types) if types else None
        out = []
        for column in self._board().columns:
            if (
                column.type == "name"
                or (wanted is not None and column.id not in wanted)
                or (kinds is not None and column.type not in kinds)
            ):
                continue
            if column.type == "subtasks":
                subs = [store.items[i] for i in item.subitem_ids if store.items[i].state == "active"]
                value = {"linkedPulseIds": [{"linkedPulseId": int(s.id)} for s in subs]} if subs else None
                text = ", ".join(s.name for s in subs)
            else:
                value = item.values.get(column.id)
                text = column.text(value)
            out.append(
                {
                    "__typename": VALUE_TYPES[column.type],
                    "id": column.id,
                    "text": text,
                    "type": column.type,
                    "column": ColumnView(column),
                    "is_leaf": not item.subitem_ids,
                    "value": None if value is None else json.dumps(value, separators=(",", ":")),
                }
            )
        return out

    def subitems(self, info):
        store = self._ctx.store
        return [
            ItemView(self._ctx, store.items[i]) for i in self._item.subitem_ids if store.items[i].state != "deleted"
        ]

    def parent_item(self, info):
        if self._item.parent_id is None:
            return None
        return ItemView(self._ctx, self._ctx.store.items[self._item.parent_id])


class BoardView:
    def __init__(self, ctx: Context, board: Board) -> None:
        self._ctx, self._board = ctx, board
        self.id = board.id
        self.name = board.name
        self.state = "active"
        self.type = board.kind
        self.board_kind = "public"
        self.items_count = board.live_items

    def columns(self, info, ids: list[str] | None = None, types: list[str] | None = None):
        wanted = {i for i in ids if i is not None} if ids else None
        kinds = set(types) if types else None
        return [
            ColumnView(c)
            for c in self._board.columns
            if (wanted is None or c.id in wanted) and (kinds is None or c.type in kinds)
        ]

    def groups(self, info, ids: list[str] | None = None):
        wanted = {i for i in ids if i is not None} if ids else None
        return [
            GroupView(self._ctx, self._board, g)
            for g in self._board.groups
            if not g.archived and (wanted is None or g.id in wanted)
        ]

    def items_page(self, info, limit: int = 25, cursor: str | None = None, query_params: dict | None = None):
        return items_page(self._ctx, self._board, limit, cursor, query_params)


# --- pagination ------------------------------------------------------------------------------


def items_page(
    ctx: Context, board: Board, limit: int, cursor: str | None, query_params: dict | None, group_id: str | None = None
) -> dict:
    _check_limit(limit)
    if cursor is not None:
        if query_params:
            raise invalid_argument(
                "cursor and query_params cannot be used together; pass the cursor alone (it carries the filters)"
            )
        state = _decode_cursor(cursor, ctx.time_scale)
        if state["b"] != board.id:
            raise invalid_argument("This cursor belongs to another board", cursor=cursor)
        return _page(ctx, state, limit)
    Finder(ctx.store, board).by_query(query_params)  # validate the filter now, not on the next page
    state = {"b": board.id, "g": group_id, "q": query_params or None, "t": time.time()}
    return _page(ctx, state, limit)


def _page(ctx: Context, state: dict, limit: int) -> dict:
    store = ctx.store
    board = store.boards.get(state["b"])
    if board is None:
        raise invalid_board(state["b"])
    finder = Finder(store, board)
    if state.get("c") is not None:
        ids = finder.by_column_values(state["c"])
        after = state.get("a")
        start = bisect.bisect_right(ids, after) if after is not None else 0
        page = ids[start : start + limit]
        more = start + limit < len(ids)
        return {
            "cursor": _encode_cursor(dict(state, a=page[-1])) if more else None,
            "items": [ItemView(ctx, store.items[str(n)]) for n in page],
        }
    match = finder.by_query(state.get("q"))
    group_id = state.get("g")
    query = state.get("q") or {}
    sort_key = finder.sort_key(query.get("order_by") or [])
    found: list[Item] = []
    if sort_key is None:
        after = state.get("a")
        ids = board.item_ids
        start = bisect.bisect_right(ids, after) if after is not None else 0
        more = False
        for numeric in ids[start:] if start else ids:
            item = store.items[str(numeric)]
            if item.state != "active" or (group_id is not None and item.group_id != group_id) or not match(item):
                continue
            if len(found) == limit:
                more = True
                break
            found.append(item)
        next_state = dict(state, a=int(found[-1].id)) if more else None
    else:
        every = [store.items[str(n)] for n in board.item_ids]
        every = [i for i in every if i.state == "active" and (group_id is None or i.group_id == group_id) and match(i)]
        every.sort(key=sort_key)
        offset = int(state.get("n") or 0)
        found = every[offset : offset + limit]
        more = offset + limit < len(every)
        next_state = dict(state, n=offset + limit) if more else None
    return {
        "cursor": _encode_cursor(next_state) if next_state else None,
        "items": [ItemView(ctx, item) for item in found],
    }
