"""Reading the board (the drift check; the push's protection of board edits): items with their mapped
column values, page by page or by ids, paced.

Three reads, each a document monday's published schema accepts, each with an explicit ``limit`` and
the ``complexity`` field (so the governor learns the budget left from every answer):

- the groups' active items (``boards → groups(ids:) → items_page``), with the mapped columns only
  (``column_values(ids:)``): the first pages of several groups in one request, aliased, each sized to
  the items expected there (monday prices a page at its limit), then ``next_items_page`` with a
  group's cursor for what did not fit;
- the subitems board's active subitems the same way, each with its parent's id;
- items by id (``items(ids:)``, at most 100 a query): the ones OrderSync knows that a group did not
  show, with their state (``items_page`` answers active items only; ``items(ids:)`` answers archived
  and deleted ones too), their group and their values.

Before every request the governor (``core.monday.governor``) waits until its price fits the budget
left; the price is estimated with the documented weights (a scalar 1 point, an object 10, a list
priced at its ``limit``), which is also how the forecast is made before anything is read.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.foundation.error_types import ErrorType
from core.foundation.exceptions import BoardMismatch
from core.monday.client import COMPLEXITY_FIELD, IDS_PER_QUERY, MondayApiClient
from core.monday.columns import BoardMeta
from core.monday.errors import MondayError

# What each read costs, by the documented weights: a scalar 1 point, an object (or each entry of a list) 10.
COLUMN_VALUES_POINTS = 10 + 3  # column_values { id text value }
PAGE_ITEM_POINTS = 2 + COLUMN_VALUES_POINTS  # id name column_values
SUBITEM_POINTS = 2 + (10 + 1) + COLUMN_VALUES_POINTS  # id name parent_item { id } column_values
BY_ID_POINTS = 3 + (10 + 2) + (10 + 1) + COLUMN_VALUES_POINTS  # id name state group parent_item column_values
COMPLEXITY_POINTS = 10 + 4  # complexity { query before after reset_in_x_seconds }
GROUPS_REQUEST_POINTS = COMPLEXITY_POINTS + 10  # boards
GROUP_POINTS = 10 + 1 + 10 + 1 + 10  # each group of a request: groups { id items_page { cursor items } }
MAX_GROUPS = 25  # groups read in one request, at most; together they hold at most a page of items
BOARD_PAGE_POINTS = COMPLEXITY_POINTS + 10 + 10 + 1 + 10  # boards items_page cursor items
NEXT_PAGE_POINTS = COMPLEXITY_POINTS + 10 + 1 + 10  # next_items_page cursor items
BY_IDS_POINTS = COMPLEXITY_POINTS + 10  # items
SLACK = 10  # items a group's first page holds beyond those expected, at least

_ITEM = "id name column_values(ids: $columns) { id text value }"
_SUBITEM = "id name parent_item { id } column_values(ids: $columns) { id text value }"


def groups_page(count: int) -> str:
    """The first page of ``count`` groups in one request: aliases g0 … g{count-1}, each with its own limit."""
    declarations = ", ".join(f"$g{i}: [String], $l{i}: Int!" for i in range(count))
    fields = " ".join(
        f"g{i}: groups(ids: $g{i}) {{ id items_page(limit: $l{i}) {{ cursor items {{ {_ITEM} }} }} }}"
        for i in range(count)
    )
    return (
        f"query ($board: [ID!], $columns: [String!], {declarations}) {{ {COMPLEXITY_FIELD} "
        f"boards(ids: $board) {{ {fields} }} }}"
    )


BOARD_PAGE = (
    "query ($board: [ID!], $limit: Int!, $columns: [String!]) { "
    f"{COMPLEXITY_FIELD} boards(ids: $board) {{ items_page(limit: $limit) {{ cursor items {{ {_SUBITEM} }} }} }} }}"
)
NEXT_PAGE = (
    "query ($cursor: String!, $limit: Int!, $columns: [String!]) { "
    f"{COMPLEXITY_FIELD} next_items_page(cursor: $cursor, limit: $limit) {{ cursor items {{ {{fields}} }} }} }}"
)
BY_IDS = (
    "query ($ids: [ID!], $limit: Int, $columns: [String!]) { "
    f"{COMPLEXITY_FIELD} items(ids: $ids, limit: $limit) {{ "
    "id name state group { id title } parent_item { id } column_values(ids: $columns) { id text value } } }"
)


def page_points(first: int, limit: int, per_item: int) -> int:
    """The price of one page of ``limit`` items (monday prices a list at its limit, not at what it holds)."""
    return first + limit * per_item


def first_limit(expected: int, limit: int) -> int:
    """The first page's limit: the items expected and a few more (people add some), at most ``limit``.

    monday prices a page at its limit, not at what it holds: a group of 12 items read with a limit
    of 500 would cost as much as 500 items. What does not fit follows on full pages.
    """
    return max(1, min(limit, expected + max(SLACK, expected // 10)))


def read_plan(expected: int, limit: int, first_points: int, per_item: int) -> tuple[int, int]:
    """(requests, points) to read ``expected`` items: a first page sized to them, then full pages."""
    first = first_limit(expected, limit)
    more = math.ceil(max(0, expected - first) / limit)
    return 1 + more, page_points(first_points, first, per_item) + more * page_points(NEXT_PAGE_POINTS, limit, per_item)


def pack_groups(expected: list[tuple[str, int]], limit: int) -> list[list[tuple[str, int]]]:
    """Groups (id, items expected) packed into requests: each request's first pages hold at most
    ``limit`` items together, and at most ``MAX_GROUPS`` groups."""
    packs: list[list[tuple[str, int]]] = []
    room = 0
    for group_id, count in expected:
        first = first_limit(count, limit)
        if not packs or first > room or len(packs[-1]) >= MAX_GROUPS:
            packs.append([])
            room = limit
        packs[-1].append((group_id, count))
        room -= first
    return packs


def groups_plan(expected: list[tuple[str, int]], limit: int) -> tuple[int, int]:
    """(requests, points) to read the groups: their first pages packed, then full pages for the rest."""
    requests, points = 0, 0
    for pack in pack_groups(expected, limit):
        requests += 1
        points += GROUPS_REQUEST_POINTS
        for _, count in pack:
            more, cost = read_plan(count, limit, GROUP_POINTS, PAGE_ITEM_POINTS)
            requests += more - 1
            points += cost
    return requests, points


def by_ids_points(count: int) -> int:
    return BY_IDS_POINTS + count * BY_ID_POINTS


class ReadsCancelled(Exception):
    """The reads were stopped by their cancel flag, between two requests (or while waiting for the budget)."""

    def __init__(self, requests: int) -> None:
        super().__init__(f"the board's reads were stopped after {requests} requests")
        self.requests = requests


@dataclass
class BoardItem:
    """An item (or subitem) as the board answered it."""

    id: str
    name: str
    cells: dict[str, tuple[str | None, Any]]  # column id -> (text, value)
    state: str = "active"
    group_id: str | None = None
    group_title: str | None = None
    parent_id: str | None = None


@dataclass
class ReadCounts:
    """What the reads cost: requests, the points monday charged (from ``complexity``), the governor's waits."""

    requests: int = 0
    points: int = 0
    waited: float = 0.0
    answering: float = 0.0  # seconds from sending a request to its answer (parsed), waits for the budget excluded
    by_kind: dict[str, int] = field(default_factory=dict)


class BoardReader:
    """The drift check's reads through the client (its transport retries; its governor paces)."""

    def __init__(
        self,
        client: MondayApiClient,
        limit: int | None = None,
        *,
        cancel: threading.Event | None = None,
        on_read: Callable[[int], None] | None = None,
    ) -> None:
        self.client = client
        self.limit = limit or client.page_limit
        self.counts = ReadCounts()
        # Checked before every request (a page, a chunk of ids) and after the budget's wait: once set,
        # the request in flight is the last one and ``ReadsCancelled`` ends the reads.
        self.cancel = cancel or threading.Event()
        self.on_read = on_read  # called after each answered request with the requests so far
        # monday's price over the documented weights' estimate, the most seen so far: a board that
        # charges more than the weights say is paced by what it charges, never into a 429
        self.price_factor = 1.0

    def _read(self, kind: str, query: str, variables: dict[str, Any], points: int) -> dict[str, Any]:
        self._stop_if_cancelled()
        governor = self.client.governor
        waited = governor.waited
        governor.reserve_points(points * self.price_factor)
        self._stop_if_cancelled()
        sent = time.monotonic()
        data = self.client.query(query, variables)
        self.counts.answering += time.monotonic() - sent
        self.counts.waited += governor.waited - waited
        self.counts.requests += 1
        self.counts.by_kind[kind] = self.counts.by_kind.get(kind, 0) + 1
        charged = (data.get("complexity") or {}).get("query")
        self.counts.points += int(charged) if charged is not None else points
        if charged is not None and points > 0:
            self.price_factor = max(self.price_factor, float(charged) / points)
        if self.on_read is not None:
            self.on_read(self.counts.requests)
        return data

    def _stop_if_cancelled(self) -> None:
        if self.cancel.is_set():
            raise ReadsCancelled(self.counts.requests)

    def cancellable_sleep(self, seconds: float) -> None:
        """A wait (the budget's, a retry's backoff) that ends at once when the cancel flag is set."""
        if self.cancel.wait(max(seconds, 0.0)):
            raise ReadsCancelled(self.counts.requests)

    def _follow(
        self, kind: str, page: dict[str, Any], fields: str, columns: list[str], per_item: int
    ) -> Iterator[dict[str, Any]]:
        while True:
            yield from page.get("items") or []
            cursor = page.get("cursor")
            if not cursor:
                return
            data = self._read(
                kind,
                NEXT_PAGE.replace("{fields}", fields),
                {"cursor": cursor, "limit": self.limit, "columns": columns},
                page_points(NEXT_PAGE_POINTS, self.limit, per_item),
            )
            page = data.get("next_items_page") or {}

    def group_items(
        self, board_id: str, expected: list[tuple[str, int]], columns: list[str]
    ) -> Iterator[tuple[str, BoardItem]]:
        """(group id, item) for the active items of the groups, with the ``columns`` asked for.

        ``expected``: each group with the items it should hold; first pages of several groups go in
        one request (``pack_groups``), the rest of a group follows through its cursor.
        """
        for pack in pack_groups(expected, self.limit):
            variables: dict[str, Any] = {"board": [board_id], "columns": columns}
            points = GROUPS_REQUEST_POINTS
            for i, (group_id, count) in enumerate(pack):
                first = first_limit(count, self.limit)
                variables[f"g{i}"] = [group_id]
                variables[f"l{i}"] = first
                points += GROUP_POINTS + first * PAGE_ITEM_POINTS
            data = self._read("group pages", groups_page(len(pack)), variables, points)
            boards = data.get("boards") or []
            board = boards[0] if boards else {}
            for i, (group_id, _) in enumerate(pack):
                groups = board.get(f"g{i}") or []
                if not groups:
                    continue  # the group is gone (deleted or archived on the board)
                page = groups[0].get("items_page") or {}
                for raw in self._follow("group pages", page, _ITEM, columns, PAGE_ITEM_POINTS):
                    yield group_id, _item(raw, group_id=group_id)

    def subitems(self, subitem_board_id: str, columns: list[str], expected: int) -> Iterator[BoardItem]:
        """Every active subitem of the subitems board, with its parent's id."""
        first = first_limit(expected, self.limit)
        data = self._read(
            "subitem pages",
            BOARD_PAGE,
            {"board": [subitem_board_id], "limit": first, "columns": columns},
            page_points(BOARD_PAGE_POINTS, first, SUBITEM_POINTS),
        )
        boards = data.get("boards") or []
        page = (boards[0].get("items_page") if boards else None) or {}
        for raw in self._follow("subitem pages", page, _SUBITEM, columns, SUBITEM_POINTS):
            yield _item(raw)

    def by_ids(self, ids: Sequence[str], columns: list[str]) -> dict[str, BoardItem]:
        """Items (or subitems) by id, whatever their state; an id monday does not know is absent."""
        found: dict[str, BoardItem] = {}
        unique = list(dict.fromkeys(str(i) for i in ids))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            data = self._read(
                "lookups by id",
                BY_IDS,
                {"ids": chunk, "limit": len(chunk), "columns": columns},
                by_ids_points(len(chunk)),
            )
            for raw in data.get("items") or []:
                item = _item(raw)
                found[item.id] = item
        return found


def _item(raw: dict[str, Any], group_id: str | None = None) -> BoardItem:
    group = raw.get("group") or {}
    parent = raw.get("parent_item") or {}
    return BoardItem(
        id=str(raw["id"]),
        name=str(raw.get("name") or ""),
        cells={str(cv["id"]): (cv.get("text"), cv.get("value")) for cv in raw.get("column_values") or []},
        state=str(raw.get("state") or "active"),
        group_id=group_id or (str(group["id"]) if group.get("id") else None),
        group_title=group.get("title"),
        parent_id=str(parent["id"]) if parent.get("id") else None,
    )


def read_board(client: Any, board_id: str) -> BoardMeta:
    """``client.board(board_id)``; a board monday does not find is a settings error that says what to check."""
    try:
        meta: BoardMeta = client.board(board_id)
    except MondayError as exc:
        if exc.error_type != ErrorType.NOT_FOUND:
            raise
        raise BoardMismatch(
            f"{exc.message}: check monday.board_id in the settings, and that the token's user can see the board"
        ) from None
    return meta
