"""The Query and Mutation fields: what each root field of a request does to the board state.

Mutation fields run one after another and are not transactional: a failing alias is ``null`` with
its own error and path, the others stay applied (and its cost is refunded).

About 400 lines: one resolver per root field of the schema, in the schema's order.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable
from typing import Any

from graphql import GraphQLResolveInfo, execute

from .errors import MondayError, column_value_error, invalid_argument, invalid_board, invalid_column, not_found
from .models import GROUP_COLOURS, Board, Group, Item, now_iso
from .schema import SCHEMA, Prepared
from .search import MAX_ROOT_ITEMS, Finder
from .store import Store
from .views import ME, BoardView, Context, GroupView, ItemView, _check_limit, _decode_cursor, _page

ITEM_NAME_MAX = 255
ITEMS_PER_BOARD = 10_000


def _mutation(fn: Callable) -> Callable:
    """Counts an applied mutation; on failure refunds its cost (and, in legacy mode, stops the rest)."""

    @functools.wraps(fn)
    def wrapper(self: Root, info: GraphQLResolveInfo, **args: Any) -> Any:
        ctx: Context = info.context
        key = str(info.path.key)  # a root field's response key (its alias or name)
        if ctx.aborted:
            ctx.refund += ctx.costs.get(key, 0)
            raise MondayError("RequestAborted", "Not executed: an earlier mutation of this request failed")
        try:
            result = fn(self, info, ctx, **args)
        except Exception:
            ctx.failed += 1
            ctx.refund += ctx.costs.get(key, 0)
            if ctx.legacy:
                ctx.aborted = True
            raise
        ctx.applied += 1
        return result

    return wrapper


def _board(ctx: Context, board_id: Any) -> Board:
    board = ctx.store.boards.get(str(board_id))
    if board is None:
        raise invalid_board(board_id)
    return board


def _item(ctx: Context, item_id: Any, *, allow_archived: bool = True) -> Item:
    """The item a write names. A deleted (or never existing) item is not found; an archived one is
    written as monday writes it, silently, in the archive.

    Which error monday answers for a deleted item is not documented in one place: its error table
    lists ``ResourceNotFoundException`` (HTTP 200, ``status_code`` 404); its older error page says a
    non-existent item id gives an internal server error; client code in the wild matches the message
    "Item not found in board" (and "inactive items" wording). The sandbox answers the documented
    current shape: ``ResourceNotFoundException`` with "Item not found in board" and the id in
    ``error_data``, which the client classifies as NOT_FOUND.
    """
    if item_id is None:
        raise invalid_argument("item_id is required")
    item = ctx.store.items.get(str(item_id))
    if item is None or item.state == "deleted" or (item.state == "archived" and not allow_archived):
        raise not_found("item", item_id, "Item not found in board")
    return item


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or len(name) > ITEM_NAME_MAX:
        raise MondayError(
            "ItemNameTooLongException",
            f"Item name must be between 1 and {ITEM_NAME_MAX} characters long",
            error_data={"item_name_length": len(name) if isinstance(name, str) else 0},
        )
    return name


def _column_values(raw: Any) -> dict:
    if raw is None:
        return {}
    if isinstance(raw, str):
        if raw.strip() == "":
            return {}
        try:
            raw = json.loads(raw)
        except ValueError:
            raise MondayError(
                "JsonParseException", "Syntax error in JSON input", status_code=400, error_data={"json": raw}
            ) from None
    if not isinstance(raw, dict):
        raise column_value_error(
            "column_values must be a JSON object keyed by column id", column_value=json.dumps(raw, default=str)
        )
    return raw


def _coerce_all(store: Store, board: Board, raw: dict, create: bool) -> tuple[dict, str | None]:
    """Validated changes {column id: stored value or None} and a new name, if the map renames."""
    changes: dict[str, Any] = {}
    name = None
    for column_id, value in raw.items():
        if column_id == "name":
            name = _check_name(value if isinstance(value, str) else str(value))
            continue
        column = board.column_by_id.get(column_id)
        if column is None:
            raise invalid_column(column_id, board.id)
        if column.type == "subtasks":
            raise column_value_error(
                "The subitems column cannot be changed through column values; use create_subitem", column_id=column_id
            )
        stored, created = column.coerce(value, bool(create))
        if created:
            store.touch_board(board)
        changes[column_id] = stored
    return changes, name


def _apply(store: Store, item: Item, changes: dict, name: str | None) -> None:
    store.update_item(item, changes, name)


class Root:
    """Root value of every request: the Query and Mutation fields."""

    # --- queries -------------------------------------------------------------------------------

    def complexity(self, info):
        return info.context.complexity()

    def me(self, info):
        return dict(ME)

    def boards(
        self,
        info: GraphQLResolveInfo,
        ids: list[Any] | None = None,
        limit: int | None = 25,
        page: int | None = 1,
        state: str | None = "active",
    ) -> list[BoardView]:
        ctx: Context = info.context
        store = ctx.store
        if state in ("archived", "deleted"):  # the sandbox's boards are all active (none is archived)
            return []
        if ids:
            return [
                BoardView(ctx, store.boards[str(i)])
                for i in dict.fromkeys(str(i) for i in ids)
                if str(i) in store.boards
            ]
        boards = [b for b in store.boards.values() if b.kind == "board"]
        limit = max(1, limit or 25)
        start = (max(1, page or 1) - 1) * limit
        return [BoardView(ctx, b) for b in boards[start : start + limit]]

    def items(
        self,
        info: GraphQLResolveInfo,
        ids: list[Any] | None = None,
        limit: int | None = 25,
        page: int | None = 1,
        exclude_nonactive: bool | None = None,
        newest_first: bool | None = None,
    ) -> list[ItemView]:
        """``items(ids:)`` as monday serves it: a page of ``limit`` (default 25) of the items asked for.

        Archived and deleted items are returned too (with their ``state``) unless ``exclude_nonactive``
        (the argument's description in monday's schema: it "excludes items that are inactive, deleted
        or belong to deleted items"), so a lookup of 26 or more ids without ``limit`` misses some, as
        it does on monday. At most 100 ids a query. Oldest first, unless ``newest_first``.
        """
        ctx: Context = info.context
        if not ids:
            return []
        if len(ids) > MAX_ROOT_ITEMS:
            raise invalid_argument(
                f"The items query returns at most {MAX_ROOT_ITEMS} items; page through items_page instead",
                ids_count=len(ids),
            )
        limit = 25 if limit is None else limit
        if limit < 1:  # monday: a limit of 0 returns no items
            return []
        limit = min(limit, MAX_ROOT_ITEMS)
        store = ctx.store
        found: list[Item] = []
        for item_id in dict.fromkeys(str(i) for i in ids):
            item = store.items.get(item_id)
            if item is None or (exclude_nonactive and not store.is_active(item)):
                continue
            found.append(item)
        found.sort(key=lambda i: int(i.id), reverse=bool(newest_first))
        start = (max(1, page or 1) - 1) * limit
        return [ItemView(ctx, item) for item in found[start : start + limit]]

    def job_status(self, info, job_id):
        job = info.context.store.jobs.get(str(job_id))
        if job is None:
            raise not_found("job", job_id, f"Job {job_id} not found")
        return dict(job)

    def items_page_by_column_values(
        self,
        info: GraphQLResolveInfo,
        board_id: Any,
        columns: list[dict] | None = None,
        limit: int = 25,
        cursor: str | None = None,
    ) -> dict:
        ctx: Context = info.context
        _check_limit(limit)
        board = _board(ctx, board_id)
        if cursor is not None:
            if columns:
                raise invalid_argument(
                    "cursor and columns cannot be used together; pass the cursor alone (it carries the filters)"
                )
            state = _decode_cursor(cursor, ctx.time_scale)
            if state["b"] != board.id:
                raise invalid_argument("This cursor belongs to another board", cursor=cursor)
            return _page(ctx, state, limit)
        if not columns:
            raise invalid_argument("items_page_by_column_values needs columns (or a cursor)")
        specs = [{"column_id": c["column_id"], "column_values": list(c.get("column_values") or [])} for c in columns]
        Finder(ctx.store, board).check_column_values(specs)
        return _page(ctx, {"b": board.id, "c": specs, "t": time.time()}, limit)

    def next_items_page(self, info: GraphQLResolveInfo, cursor: str, limit: int = 25) -> dict:
        ctx: Context = info.context
        _check_limit(limit)
        return _page(ctx, _decode_cursor(cursor, ctx.time_scale), limit)

    # --- mutations -----------------------------------------------------------------------------

    @_mutation
    def create_group(
        self,
        info,
        ctx: Context,
        board_id,
        group_name,
        group_color=None,
        relative_to=None,
        position_relative_method=None,
        position=None,
    ):
        store = ctx.store
        board = _board(ctx, board_id)
        if not isinstance(group_name, str) or not group_name.strip() or len(group_name) > 255:
            raise invalid_argument("Group name must be between 1 and 255 characters long")
        if group_color is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", group_color):
            raise invalid_argument(f"Invalid group color {group_color!r}; use a hex colour like #579bfc")
        group = Group(
            store.new_group_id(board), group_name, group_color or GROUP_COLOURS[len(board.groups) % len(GROUP_COLOURS)]
        )
        if relative_to is not None:
            anchor = board.group(relative_to)
            if anchor is None:
                raise not_found("group", relative_to, f"Group {relative_to} not found")
            index = board.groups.index(anchor) + (0 if position_relative_method == "before_at" else 1)
        else:
            index = 0  # monday puts a new group at the top of the board
        board.groups.insert(index, group)
        store.touch_board(board)
        return GroupView(ctx, board, group)

    @_mutation
    def create_item(
        self,
        info,
        ctx: Context,
        board_id,
        item_name,
        group_id=None,
        column_values=None,
        create_labels_if_missing=None,
        position_relative_method=None,
        relative_to=None,
    ):
        store = ctx.store
        board = _board(ctx, board_id)
        if board.kind == "sub_items_board":
            raise invalid_argument("This is a subitems board: create subitems with create_subitem", board_id=board.id)
        name = _check_name(item_name)
        if group_id is not None:
            group = board.group(group_id)
            if group is None or group.archived:
                raise not_found("group", group_id, f"Group {group_id} not found on board {board.id}")
        else:
            group = next((g for g in board.groups if not g.archived), None)
            if group is None:
                raise invalid_argument("The board has no group to put the item in")
        changes, rename = _coerce_all(store, board, _column_values(column_values), bool(create_labels_if_missing))
        if board.live_items >= ctx.items_limit:
            raise MondayError(
                "ItemsLimitationException",
                f"The board has reached its limit of {ctx.items_limit} items",
                error_data={"board_id": board.id, "limit": ctx.items_limit},
            )
        item = store.add_item(board, group.id, rename or name, {k: v for k, v in changes.items() if v is not None})
        return ItemView(ctx, item)

    @_mutation
    def create_subitem(
        self, info, ctx: Context, parent_item_id, item_name, column_values=None, create_labels_if_missing=None
    ):
        store = ctx.store
        parent = _item(ctx, parent_item_id)
        if parent.parent_id is not None:
            raise invalid_argument("A subitem cannot have subitems", parent_item_id=str(parent_item_id))
        board = store.boards[parent.board_id]
        sub = store.boards.get(board.subitems_board_id or "")
        if sub is None:
            raise invalid_argument("The parent's board has no subitems board", board_id=board.id)
        name = _check_name(item_name)
        changes, rename = _coerce_all(store, sub, _column_values(column_values), bool(create_labels_if_missing))
        if sub.live_items >= ctx.items_limit:
            raise MondayError(
                "ItemsLimitationException",
                f"The subitems board has reached its limit of {ctx.items_limit} items",
                error_data={"board_id": sub.id, "limit": ctx.items_limit},
            )
        item = store.add_item(
            sub, sub.groups[0].id, rename or name, {k: v for k, v in changes.items() if v is not None}, parent=parent
        )
        return ItemView(ctx, item)

    def _target(self, ctx: Context, item_id, board_id) -> tuple[Item, Board]:
        board = _board(ctx, board_id)
        item = _item(ctx, item_id)
        own = ctx.store.boards[item.board_id]
        if item.board_id != board.id and own.parent_board_id != board.id:
            raise not_found("item", item_id, "Item not found in board")
        return item, own

    @_mutation
    def change_multiple_column_values(
        self, info, ctx: Context, board_id, column_values, item_id=None, create_labels_if_missing=None
    ):
        item, own = self._target(ctx, item_id, board_id)
        changes, name = _coerce_all(ctx.store, own, _column_values(column_values), bool(create_labels_if_missing))
        _apply(ctx.store, item, changes, name)
        return ItemView(ctx, item)

    @_mutation
    def change_simple_column_value(
        self, info, ctx: Context, board_id, column_id, item_id=None, value=None, create_labels_if_missing=None
    ):
        item, own = self._target(ctx, item_id, board_id)
        changes, name = _coerce_all(ctx.store, own, {column_id: value}, bool(create_labels_if_missing))
        _apply(ctx.store, item, changes, name)
        return ItemView(ctx, item)

    @_mutation
    def change_column_value(
        self, info, ctx: Context, board_id, column_id, value, item_id=None, create_labels_if_missing=None
    ):
        item, own = self._target(ctx, item_id, board_id)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise MondayError(
                    "JsonParseException", "Syntax error in JSON input", status_code=400, error_data={"json": value}
                ) from None
        changes, name = _coerce_all(ctx.store, own, {column_id: value}, bool(create_labels_if_missing))
        _apply(ctx.store, item, changes, name)
        return ItemView(ctx, item)

    @_mutation
    def move_item_to_group(self, info, ctx: Context, group_id, item_id=None):
        item = _item(ctx, item_id)
        if item.parent_id is not None:
            raise invalid_argument("Subitems cannot be moved between groups", item_id=item.id)
        board = ctx.store.boards[item.board_id]
        group = board.group(group_id)
        if group is None or group.archived:
            raise not_found("group", group_id, f"Group {group_id} not found on board {board.id}")
        item.group_id = group.id
        item.updated_at = now_iso()
        ctx.store.touch_item(item)
        return ItemView(ctx, item)

    @_mutation
    def archive_item(self, info, ctx: Context, item_id=None):
        item = _item(ctx, item_id)
        ctx.store.set_state(item, "archived")
        return ItemView(ctx, item)

    @_mutation
    def delete_item(self, info, ctx: Context, item_id=None):
        item = _item(ctx, item_id)
        ctx.store.delete_item(item)
        return ItemView(ctx, item)

    @_mutation
    def bulk_archive_items(self, info, ctx: Context, board_id, item_ids):
        """Archives the board's items at once; the job it answers is already COMPLETED.

        monday runs it asynchronously (``job_status`` polls it); the sandbox finishes before it answers,
        so a poll sees the end state. Ids that are not live items of the board are the job's failures.
        """
        board = _board(ctx, board_id)
        store = ctx.store
        failed = []
        for item_id in dict.fromkeys(str(i) for i in item_ids):
            item = store.items.get(item_id)
            if item is None or item.state == "deleted" or item.board_id != board.id:
                failed.append(item_id)
            elif item.state != "archived":
                store.set_state(item, "archived")
        total = len(dict.fromkeys(str(i) for i in item_ids))
        return {"job_id": store.add_job("bulk_archive_items", total, failed)}


ROOT = Root()


def run(prepared: Prepared, variables: dict, ctx: Context):
    """Execute a prepared request (the caller holds the state lock)."""
    return execute(
        SCHEMA,
        prepared.document,
        root_value=ROOT,
        context_value=ctx,
        variable_values=variables,
        operation_name=prepared.operation.name.value if prepared.operation.name else None,
    )
