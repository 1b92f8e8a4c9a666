"""The sandbox's boards, groups, items and id counters, in memory, written through to SQLite (the
objects themselves are ``models.py``).

Every read is served from memory (dicts and per-board id lists), so a board of 10,000+ items costs
nothing to query. Every change marks the board or item dirty; ``commit()`` writes the dirty rows as
JSON documents in one SQLite transaction. The server calls it once per mutation request, before the
answer leaves, so a client that saw an id can always find that item again after either process
crashed.

Durability: the file runs in WAL mode with ``synchronous=NORMAL``. A committed transaction is in the
WAL file before ``commit()`` returns, so it survives the crash or kill of the process hosting the
sandbox (the case that matters here: a crashed client or a crashed demo); only a power loss or
kernel crash could lose the last transactions, which is the price of not paying an fsync per
request. Only one process may open a state file at a time.

About 400 lines: persistence, ids and the search index change together (every write updates the
index).
"""

from __future__ import annotations

import bisect
import hashlib
import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .columns import CLASSIC_ID, ID_PREFIX, USER_TYPES, Column
from .errors import MondayError
from .models import GROUP_COLOURS, Board, Group, Item, now_iso

#: Generated ids. Item ids start just below 10**10 so that a board of a few thousand items and
#: subitems crosses from 10 to 11 digits, as monday's ids did: ids are strings, never int32s, and
#: must not be sorted as text.
FIRST_BOARD_ID = 5_100_000_001
FIRST_ITEM_ID = 9_999_990_001
FIRST_JOB_ID = 70_000_001
DEFAULT_GROUP_ID = "topics"
DEFAULT_GROUP_TITLE = "Topics"
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS boards (id TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, board_id TEXT NOT NULL, doc TEXT NOT NULL);
"""


class Store:
    """All boards and items; ``path=None`` keeps them in memory only."""

    def __init__(self, path: str | Path | None, seed: int = 0) -> None:
        self.path = Path(path) if path is not None else None
        self.seed = seed
        self.boards: dict[str, Board] = {}
        self.items: dict[str, Item] = {}
        self.counters = {"board": FIRST_BOARD_ID, "item": FIRST_ITEM_ID, "token": 1, "job": FIRST_JOB_ID}
        self._dirty_boards: set[str] = set()
        self._dirty_items: set[str] = set()
        self._dirty_meta = False
        self._db: sqlite3.Connection | None = None
        # items_page_by_column_values: (board id, column id) -> search key -> item ids; built on the
        # first search of a column, then kept up to date by every change that goes through the store
        self._search: dict[tuple[str, str], dict[str, set[str]]] = {}
        # asynchronous jobs (bulk_archive_items) by id, for job_status; kept in memory only
        self.jobs: dict[str, dict] = {}
        if self.path is not None:
            self._open()

    # --- persistence ---------------------------------------------------------------------------

    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(_SCHEMA)
        self._db = db
        for key, value in db.execute("SELECT key, value FROM meta"):
            if key.startswith("counter."):
                self.counters[key[len("counter.") :]] = int(value)
        for _, doc in db.execute("SELECT id, doc FROM boards"):
            board = Board.from_doc(json.loads(doc))
            self.boards[board.id] = board
        for item_id, doc in db.execute("SELECT id, doc FROM items ORDER BY id"):
            item = Item.from_doc(str(item_id), json.loads(doc))
            self.items[item.id] = item
            owner = self.boards.get(item.board_id)
            if owner is not None:
                owner.item_ids.append(item_id)
                if item.state != "deleted":
                    owner.live_items += 1
            if item.parent_id is not None and item.parent_id in self.items:
                self.items[item.parent_id].subitem_ids.append(item.id)

    def commit(self) -> None:
        """Write everything changed since the last commit, in one transaction."""
        if self._db is None:
            self._dirty_boards.clear()
            self._dirty_items.clear()
            self._dirty_meta = False
            return
        if not (self._dirty_boards or self._dirty_items or self._dirty_meta):
            return
        db = self._db
        db.execute("BEGIN")
        try:
            if self._dirty_boards:
                db.executemany(
                    "INSERT OR REPLACE INTO boards (id, doc) VALUES (?, ?)",
                    [(b, json.dumps(self.boards[b].to_doc(), separators=(",", ":"))) for b in self._dirty_boards],
                )
            if self._dirty_items:
                db.executemany(
                    "INSERT OR REPLACE INTO items (id, board_id, doc) VALUES (?, ?, ?)",
                    [
                        (int(i), self.items[i].board_id, json.dumps(self.items[i].to_doc(), separators=(",", ":")))
                        for i in self._dirty_items
                    ],
                )
            if self._dirty_meta:
                db.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                    [(f"counter.{k}", str(v)) for k, v in self.counters.items()],
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._dirty_boards.clear()
        self._dirty_items.clear()
        self._dirty_meta = False

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def touch_board(self, board: Board) -> None:
        self._dirty_boards.add(board.id)

    def touch_item(self, item: Item) -> None:
        self._dirty_items.add(item.id)

    # --- ids -----------------------------------------------------------------------------------

    def _next(self, counter: str) -> int:
        value = self.counters[counter]
        self.counters[counter] = value + 1
        self._dirty_meta = True
        return value

    def _token(self) -> str:
        """Six base-36 characters, deterministic for (seed, counter), for column and group ids."""
        digest = hashlib.blake2s(f"{self.seed}:{self._next('token')}".encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(6):
            number, rem = divmod(number, 36)
            chars.append(_BASE36[rem])
        return "".join(chars)

    def new_board_id(self) -> str:
        while True:
            candidate = str(self._next("board"))
            if candidate not in self.boards:
                return candidate

    def new_item_id(self) -> str:
        return str(self._next("item"))

    def new_column_id(self, board: Board, kind: str) -> str:
        classic = CLASSIC_ID.get(kind)
        if classic and classic not in board.column_by_id:
            return classic
        while True:
            candidate = f"{ID_PREFIX[kind]}_mk{self._token()}"
            if candidate not in board.column_by_id:
                return candidate

    def new_group_id(self, board: Board) -> str:
        while True:
            candidate = f"group_mk{self._token()}"
            if board.group(candidate) is None:
                return candidate

    # --- boards --------------------------------------------------------------------------------

    def create_board(
        self, name: str, columns: Iterable[dict], subitem_columns: Iterable[dict], board_id: str | None = None
    ) -> Board:
        """A board with its subitems board (linked through the ``subitems`` column) and group "Topics"."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a board needs a name")
        if board_id is not None:
            board_id = str(board_id)
            if not board_id.isdigit():
                raise ValueError(f"board ids are digits, got {board_id!r}")
            if board_id in self.boards:
                raise ValueError(f"board {board_id} already exists")
        columns, subitem_columns = list(columns), list(subitem_columns)
        board = Board(board_id or self.new_board_id(), name)
        sub = Board(self.new_board_id(), f"Subitems of {name}", kind="sub_items_board", parent_board_id=board.id)
        board.subitems_board_id = sub.id
        board.add_column(Column("name", "Name", "name"))
        board.add_column(
            Column(
                "subitems",
                "Subitems",
                "subtasks",
                settings={
                    "allowMultipleItems": True,
                    "itemTypeName": "column.subtasks.title",
                    "displayType": "BOARD_INLINE",
                    "boardIds": [int(sub.id)],
                },
            )
        )
        sub.add_column(Column("name", "Name", "name"))
        for target, specs in ((board, columns), (sub, subitem_columns)):
            for spec in specs:
                target.add_column(self._column_from_spec(target, spec))
            target.groups.append(
                Group(DEFAULT_GROUP_ID, DEFAULT_GROUP_TITLE if target is board else "Subitems", GROUP_COLOURS[0])
            )
        self.boards[board.id] = board
        self.boards[sub.id] = sub
        self.touch_board(board)
        self.touch_board(sub)
        return board

    def _column_from_spec(self, board: Board, spec: dict) -> Column:
        if not isinstance(spec, dict) or not isinstance(spec.get("title"), str) or not spec["title"].strip():
            raise ValueError(f"a column is a dict with a title and a type, got {spec!r}")
        kind = spec.get("type", "text")
        if kind not in USER_TYPES:
            raise ValueError(f"column {spec['title']!r}: unsupported type {kind!r} (one of {', '.join(USER_TYPES)})")
        column_id = spec.get("id")
        if column_id is not None:
            column_id = str(column_id)
            if column_id in board.column_by_id:
                raise ValueError(f"column id {column_id!r} is used twice")
        else:
            column_id = self.new_column_id(board, kind)
        column = Column(column_id, spec["title"], kind, description=spec.get("description"))
        labels = spec.get("labels") or []
        if labels and kind not in ("status", "dropdown"):
            raise ValueError(f"column {spec['title']!r}: only status and dropdown columns have labels")
        for label in labels:
            if not isinstance(label, str) or not label:
                raise ValueError(f"column {spec['title']!r}: labels are non-empty strings")
            if column.label_id(label) is not None:
                raise ValueError(f"column {spec['title']!r}: label {label!r} appears twice")
            try:
                column.add_label(label)
            except MondayError as exc:  # the label limits, raised as monday errors for the API
                raise ValueError(f"column {spec['title']!r}: {exc}") from None
        return column

    # --- items ---------------------------------------------------------------------------------

    def add_item(self, board: Board, group_id: str, name: str, values: dict, parent: Item | None = None) -> Item:
        item = Item(
            self.new_item_id(), board.id, group_id, name, parent_id=parent.id if parent else None, values=values
        )
        self.items[item.id] = item
        numeric = int(item.id)
        if not board.item_ids or numeric > board.item_ids[-1]:
            board.item_ids.append(numeric)
        else:  # an id counter restored behind existing rows: keep the list sorted anyway
            bisect.insort(board.item_ids, numeric)
        board.live_items += 1
        if parent is not None:
            parent.subitem_ids.append(item.id)
            self.touch_item(parent)
        self.touch_item(item)
        for column_id in self._indexed(board.id):
            self._index_add(board, column_id, item)
        return item

    def update_item(self, item: Item, changes: dict[str, Any], name: str | None) -> None:
        """Apply validated column changes ({column id: stored value or None}) and a new name."""
        board = self.boards[item.board_id]
        indexed = [c for c in self._indexed(board.id) if c in changes or (c == "name" and name is not None)]
        for column_id in indexed:
            self._index_remove(board, column_id, item)
        for column_id, stored in changes.items():
            if stored is None:
                item.values.pop(column_id, None)
            else:
                item.values[column_id] = stored
        if name is not None:
            item.name = name
        for column_id in indexed:
            self._index_add(board, column_id, item)
        item.updated_at = now_iso()
        self.touch_item(item)

    # --- search index --------------------------------------------------------------------------

    @staticmethod
    def search_keys(column: Column | None, item: Item) -> list[str]:
        """What a search value must equal (after strip + lower) to match ``item`` on ``column``."""
        if column is None or column.type == "name":
            texts = [item.name]
        else:
            texts = column.match_texts(item.values.get(column.id))
            if column.type == "date":
                texts = [t[:10] for t in texts]
        return [t.strip().lower() for t in texts]

    def _indexed(self, board_id: str) -> list[str]:
        return [c for (b, c) in self._search if b == board_id]

    def _index_add(self, board: Board, column_id: str, item: Item) -> None:
        index = self._search[(board.id, column_id)]
        for key in self.search_keys(board.column_by_id.get(column_id), item):
            index.setdefault(key, set()).add(item.id)

    def _index_remove(self, board: Board, column_id: str, item: Item) -> None:
        index = self._search[(board.id, column_id)]
        for key in self.search_keys(board.column_by_id.get(column_id), item):
            bucket = index.get(key)
            if bucket is not None:
                bucket.discard(item.id)
                if not bucket:
                    del index[key]

    def search_index(self, board: Board, column_id: str) -> dict[str, set[str]]:
        key = (board.id, column_id)
        index = self._search.get(key)
        if index is None:
            index = self._search[key] = {}
            for numeric in board.item_ids:
                self._index_add(board, column_id, self.items[str(numeric)])
        return index

    def drop_index(self, board: Board, column_id: str) -> None:
        """Forget a column's index (its texts changed wholesale, e.g. a label was removed)."""
        self._search.pop((board.id, column_id), None)

    def set_state(self, item: Item, state: str) -> None:
        board = self.boards[item.board_id]
        if item.state != "deleted" and state == "deleted":
            board.live_items -= 1
        elif item.state == "deleted" and state != "deleted":
            board.live_items += 1
        item.state = state
        item.updated_at = now_iso()
        self.touch_item(item)

    def delete_item(self, item: Item) -> None:
        """Delete an item and its subitems (monday deletes them with it)."""
        for sub_id in item.subitem_ids:
            sub = self.items[sub_id]
            if sub.state != "deleted":
                self.set_state(sub, "deleted")
        self.set_state(item, "deleted")

    def is_active(self, item: Item) -> bool:
        """Active, and not the subitem of an item that is not: what ``exclude_nonactive`` keeps."""
        if item.state != "active":
            return False
        parent = self.items.get(item.parent_id) if item.parent_id is not None else None
        return parent is None or parent.state == "active"

    def add_job(self, kind: str, total: int, failed: list[str]) -> str:
        """A finished asynchronous job (what ``job_status`` reports); returns its id."""
        job_id = str(self._next("job"))
        stamp = now_iso()
        self.jobs[job_id] = {
            "id": job_id,
            "status": "COMPLETED",
            "created_at": stamp,
            "updated_at": stamp,
            "error": None,
            "kind": kind,
            "result": {
                "total": total,
                "succeeded": total - len(failed),
                "failed": len(failed),
                "details": {"failed_item_ids": failed} if failed else {},
            },
        }
        return job_id

    # --- dump ----------------------------------------------------------------------------------

    def board_dump(self, board_id: str) -> dict:
        board = self.boards.get(str(board_id))
        if board is None:
            raise KeyError(board_id)
        shown = [c for c in board.columns if c.type not in ("name", "subtasks")]
        groups = {g.id: g for g in board.groups}

        def values(item: Item) -> dict:
            return {c.title: (c.text(item.values.get(c.id)) or None) for c in shown}

        sub = self.boards.get(board.subitems_board_id) if board.subitems_board_id else None
        sub_shown = [c for c in sub.columns if c.type != "name"] if sub else []
        items, archived = [], []
        for numeric in board.item_ids:
            item = self.items[str(numeric)]
            if item.state == "archived":
                archived.append(item.id)
            if item.state != "active":
                continue
            entry: dict[str, Any] = {
                "id": item.id,
                "name": item.name,
                "group_id": item.group_id,
                "group_title": groups[item.group_id].title if item.group_id in groups else None,
                "column_values": values(item),
            }
            if board.kind == "sub_items_board":
                entry["parent_item_id"] = item.parent_id
            else:
                entry["subitems"] = [
                    {
                        "id": s.id,
                        "name": s.name,
                        "column_values": {c.title: (c.text(s.values.get(c.id)) or None) for c in sub_shown},
                    }
                    for s in (self.items[i] for i in item.subitem_ids)
                    if s.state == "active"
                ]
            items.append(entry)
        return {
            "id": board.id,
            "name": board.name,
            "kind": board.kind,
            "subitems_board_id": board.subitems_board_id,
            "groups": [{"id": g.id, "title": g.title} for g in board.groups],
            "columns": [{"id": c.id, "title": c.title, "type": c.type} for c in board.columns],
            "items": items,
            "archived_item_ids": archived,
        }
