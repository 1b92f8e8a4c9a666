"""MondayApiClient: the reads and the aliased mutation batches OrderSync sends to monday.

- Every GraphQL document the client sends is built here (tests/test_contract.py validates them all
  against monday's published schema); the transport underneath (``core.monday.transport``) sends
  it, classifies monday's answer and retries what may be retried.
- Every mutation request carries an ``Idempotency-Key``, so monday itself also replays a repeat.
- One mutation request in flight per board (monday asks for it); the rate governor decides how
  many mutations a request may carry.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import requests

from core.foundation.error_types import ErrorType
from core.foundation.logs import register_secret
from core.foundation.resources import program_command
from core.monday.columns import BoardMeta, Column, labels_of, subitem_board_ids
from core.monday.errors import AuthError, MondayError, classify
from core.monday.governor import RateGovernor
from core.monday.transport import DEFAULT_API_VERSION, MAX_ATTEMPTS, ClientStats, Transport, backoff, longest_retry_wait

# The transport's names that callers have always imported from here stay importable from here.
__all__ = [
    "DEFAULT_API_VERSION",
    "MAX_ATTEMPTS",
    "MUTATION_ARGS",
    "ClientStats",
    "MondayApiClient",
    "Mutation",
    "Outcome",
    "backoff",
    "build_mutation",
    "longest_retry_wait",
    "parse_outcomes",
]


PAGE_LIMIT = 500  # monday's maximum page of items_page_by_column_values / next_items_page
IDS_PER_QUERY = 100  # items(ids:) and a search's column values: at most 100 a query
COMPLEXITY_FIELD = "complexity { query before after reset_in_x_seconds }"

# Argument types of the mutations OrderSync sends.
MUTATION_ARGS: dict[str, dict[str, str]] = {
    "create_item": {
        "board_id": "ID!",
        "item_name": "String!",
        "group_id": "String",
        "column_values": "JSON",
        "create_labels_if_missing": "Boolean",
    },
    "create_subitem": {
        "parent_item_id": "ID!",
        "item_name": "String!",
        "column_values": "JSON",
        "create_labels_if_missing": "Boolean",
    },
    "change_multiple_column_values": {
        "item_id": "ID",
        "board_id": "ID!",
        "column_values": "JSON!",
        "create_labels_if_missing": "Boolean",
    },
    "create_group": {"board_id": "ID!", "group_name": "String!"},
    "move_item_to_group": {"item_id": "ID", "group_id": "String!"},
    "archive_item": {"item_id": "ID"},
    "delete_item": {"item_id": "ID"},
}


STATE_CHECKED = frozenset({"change_multiple_column_values", "move_item_to_group"})


@dataclass
class Mutation:
    """One aliased mutation; ``key`` is the caller's handle for its outcome."""

    key: Any
    field: str
    args: dict[str, Any]


@dataclass
class Outcome:
    key: Any
    id: str | None = None
    error: MondayError | None = None
    state: str | None = None  # the item's state, where the request asked for it

    @property
    def ok(self) -> bool:
        return self.error is None


class MondayApiClient(Transport):
    """The one way OrderSync talks to monday (or the sandbox)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        api_version: str = DEFAULT_API_VERSION,
        timeout: tuple[float, float] = (10.0, 60.0),
        max_batch: int = 25,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        governor: RateGovernor | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        page_limit: int = PAGE_LIMIT,
    ):
        if not token:
            raise AuthError(
                f"no monday API token: set MONDAY_API_TOKEN or store one with `{program_command('token set')}`",
                error_type=ErrorType.AUTH,
            )
        register_secret(token)  # no log line of this process can carry it from here on
        self.url = url
        self.timeout = timeout
        self.max_batch = max_batch
        self.max_attempts = max_attempts
        if not 1 <= page_limit <= PAGE_LIMIT:
            raise ValueError(f"page_limit must be between 1 and {PAGE_LIMIT}")
        self.page_limit = page_limit
        self.sleep = sleep
        self.governor = governor or RateGovernor(sleep=sleep)
        self.stats = ClientStats()
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": token,
                "API-Version": api_version,
                "Content-Type": "application/json",
                "User-Agent": "OrderSync",
            }
        )
        self._board_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # == reads ======================================================================================

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read; retried on every retryable error. Returns ``data``; raises on any error."""
        body = self._with_retries(
            lambda: self._post(query, variables or {}, mutation=False, idempotency_key=None),
            mutation=False,
            what="monday query",
        )
        errors = body.get("errors") or []
        if errors:
            first = errors[0]
            extensions = first.get("extensions") or {}
            raise classify(extensions.get("code"), first.get("message", "query failed"), 200, extensions)
        data: dict[str, Any] = body.get("data") or {}
        self.governor.observe(data.get("complexity"), body.get("_headers"), 0)
        return data

    def me(self) -> dict[str, Any]:
        me: dict[str, Any] = self.query("query { me { id name } }")["me"]
        return me

    def board_name(self, board_id: str) -> str:
        """The board's name as planners know it (the window's title), in one small query."""
        boards = self.query("query ($ids: [ID!]) { boards(ids: $ids) { name } }", {"ids": [str(board_id)]}).get(
            "boards"
        )
        if not boards:
            raise MondayError(
                f"board {board_id} does not exist or the token cannot see it",
                error_type=ErrorType.NOT_FOUND,
                code="InvalidBoardIdException",
            )
        name: str = boards[0]["name"]
        return name

    def board(self, board_id: str) -> BoardMeta:
        """Columns, labels, groups and the subitems board of ``board_id``, read once.

        Column settings come from ``settings`` (JSON; ``settings_str`` is deprecated from 2025-10).
        """
        data = self.query(
            "query ($ids: [ID!]) { boards(ids: $ids) { id name columns { id title type settings } "
            "groups { id title } } }",
            {"ids": [str(board_id)]},
        )
        boards = data.get("boards") or []
        if not boards:
            raise MondayError(
                f"board {board_id} does not exist or the token cannot see it",
                error_type=ErrorType.NOT_FOUND,
                code="InvalidBoardIdException",
            )
        raw = boards[0]
        columns = [
            Column(c["id"], c["title"], c["type"], labels_of(c["type"], c.get("settings"))) for c in raw["columns"]
        ]
        meta = BoardMeta(str(raw["id"]), raw["name"], columns, {g["title"]: g["id"] for g in raw["groups"]})
        for column in raw["columns"]:
            if column["type"] in ("subtasks", "subitems"):
                ids = subitem_board_ids(column.get("settings"))
                if ids:
                    meta.subitem_board_id = ids[0]
        if meta.subitem_board_id:
            sub = (
                self.query(
                    "query ($ids: [ID!]) { boards(ids: $ids) { id columns { id title type settings } } }",
                    {"ids": [meta.subitem_board_id]},
                ).get("boards")
                or []
            )
            if sub:
                meta.subitem_columns = [
                    Column(c["id"], c["title"], c["type"], labels_of(c["type"], c.get("settings")))
                    for c in sub[0]["columns"]
                ]
        return meta

    def find_items(self, board_id: str, column_id: str, values: Sequence[str]) -> dict[str, list[str]]:
        """Item ids whose ``column_id`` text equals one of ``values`` EXACTLY: ``{value: [item ids]}``.

        monday's search (``items_page_by_column_values``) matches text case-insensitively, so its
        answer is only a list of candidates: a candidate counts for a value only when its text is
        that value, character for character (keys that differ in case are different keys). Values
        go 100 a query; pages of ``page_limit`` items are followed through ``next_items_page``.
        Values with no exact match are absent from the result.
        """
        wanted = set(values)
        found: dict[str, list[str]] = {}
        unique = list(dict.fromkeys(values))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            data = self.query(
                "query ($board: ID!, $columns: [ItemsPageByColumnValuesQuery!], $limit: Int!, $ids: [String!]) { "
                "items_page_by_column_values(board_id: $board, columns: $columns, limit: $limit) { cursor "
                "items { id column_values(ids: $ids) { id text } } } }",
                {
                    "board": str(board_id),
                    "columns": [{"column_id": column_id, "column_values": chunk}],
                    "limit": self.page_limit,
                    "ids": [column_id],
                },
            )
            page = data.get("items_page_by_column_values") or {}
            while True:
                for item in page.get("items") or []:
                    text = next(
                        (cv.get("text") for cv in item.get("column_values") or [] if cv.get("id") == column_id), None
                    )
                    if text in wanted:
                        ids = found.setdefault(text, [])
                        if str(item["id"]) not in ids:
                            ids.append(str(item["id"]))
                cursor = page.get("cursor")
                if not cursor:
                    break
                page = (
                    self.query(
                        "query ($cursor: String!, $limit: Int!, $ids: [String!]) { next_items_page(cursor: $cursor, "
                        "limit: $limit) { cursor items { id column_values(ids: $ids) { id text } } } }",
                        {"cursor": cursor, "limit": self.page_limit, "ids": [column_id]},
                    ).get("next_items_page")
                    or {}
                )
        return found

    def subitems_of(self, item_ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """Subitem ids by name, per parent item: how a lost subitem is found again.

        ``items(ids:)`` answers a page of 25 unless told otherwise: ``limit`` is always explicit.
        """
        result: dict[str, dict[str, list[str]]] = {}
        ids = list(dict.fromkeys(str(i) for i in item_ids))
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start : start + IDS_PER_QUERY]
            data = self.query(
                "query ($ids: [ID!], $limit: Int) { items(ids: $ids, limit: $limit) { id subitems { id name } } }",
                {"ids": chunk, "limit": len(chunk)},
            )
            for item in data.get("items") or []:
                names: dict[str, list[str]] = {}
                for sub in item.get("subitems") or []:
                    names.setdefault(sub["name"], []).append(str(sub["id"]))
                result[str(item["id"])] = names
        return result

    def item_states(self, ids: Iterable[str]) -> dict[str, str]:
        """``{item id: state}`` ("active" | "archived" | "deleted") of the items (or subitems) asked for.

        ``items(ids:)`` returns archived and deleted items too unless ``exclude_nonactive`` is set,
        which this lookup does not set. An id absent from the result is unknown to monday (never
        existed, or deleted for good): treat it as deleted. 100 ids a query, ``limit`` explicit.
        """
        states: dict[str, str] = {}
        unique = list(dict.fromkeys(str(i) for i in ids))
        for start in range(0, len(unique), IDS_PER_QUERY):
            chunk = unique[start : start + IDS_PER_QUERY]
            data = self.query(
                "query ($ids: [ID!], $limit: Int) { items(ids: $ids, limit: $limit) { id state } }",
                {"ids": chunk, "limit": len(chunk)},
            )
            for item in data.get("items") or []:
                states[str(item["id"])] = item.get("state") or "active"
        return states

    # == mutations ==================================================================================

    def board_lock(self, board_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._board_locks.setdefault(str(board_id), threading.Lock())

    def mutate(self, board_id: str, mutations: Sequence[Mutation], idempotency_key: str | None = None) -> list[Outcome]:
        """Send ``mutations`` as one aliased request; an outcome per mutation (partial success is normal).

        Raises MondayError for a failure of the whole request: with ``outcome_unknown`` when it
        may have been applied (settle it before sending again), AuthError when the token is bad.
        """
        if not mutations:
            return []
        query, variables = build_mutation(mutations)
        outcomes = self.send_mutations(board_id, query, variables, len(mutations), idempotency_key or str(uuid.uuid4()))
        return [Outcome(m.key, o.id, o.error) for m, o in zip(mutations, outcomes, strict=True)]

    def send_mutations(
        self, board_id: str, query: str, variables: dict[str, Any], count: int, idempotency_key: str
    ) -> list[Outcome]:
        """Send one stored aliased request (``a0`` … ``a{count-1}``) as it is, under its key.

        Each outcome's ``key`` is its alias index. Retried only where monday certainly did not apply
        it (429s, 423, 409, a connection that never opened), always with the same key.
        """
        self.governor.reserve(count)
        sent_at = self.governor.clock()

        def send() -> dict[str, Any]:
            nonlocal sent_at
            sent_at = self.governor.clock()  # the round trip of the try that was answered
            return self._post(query, variables, mutation=True, idempotency_key=idempotency_key)

        with self.board_lock(board_id):
            body = self._with_retries(send, mutation=True, what=f"mutation request ({count} mutations)")
        self.stats.mutation_requests += 1
        self.stats.mutations += count
        data = body.get("data") or {}
        if str((body.get("_headers") or {}).get("Idempotency-Replayed", "")).lower() == "true":
            # monday's cached first answer: its complexity and timing are of an earlier send, nothing to learn
            self.stats.replays += 1
        else:
            self.governor.observe(data.get("complexity"), body.get("_headers"), count, sent_at=sent_at)
        return parse_outcomes(count, data, body.get("errors") or [])


def build_mutation(mutations: Sequence[Mutation]) -> tuple[str, dict[str, Any]]:
    """``mutation (...) { complexity {...} a0: create_item(...) { id } ... }`` with every value a variable."""
    declarations: list[str] = []
    fields: list[str] = [COMPLEXITY_FIELD]
    variables: dict[str, Any] = {}
    for index, mutation in enumerate(mutations):
        types = MUTATION_ARGS[mutation.field]
        arguments = []
        for name, value in mutation.args.items():
            if value is None:
                continue
            variable = f"a{index}_{name}"
            declarations.append(f"${variable}: {types[name]}")
            if name == "column_values" and not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            variables[variable] = value
            arguments.append(f"{name}: ${variable}")
        # An update also asks for the item's state: a write that landed in the archive is noticed.
        selection = "id state" if mutation.field in STATE_CHECKED else "id"
        fields.append(f"a{index}: {mutation.field}({', '.join(arguments)}) {{ {selection} }}")
    header = f"mutation ({', '.join(declarations)})" if declarations else "mutation"
    return f"{header} {{ {' '.join(fields)} }}", variables


def parse_outcomes(count: int, data: dict[str, Any], errors: list[dict[str, Any]]) -> list[Outcome]:
    """One outcome per alias ``a0`` … ``a{count-1}``, keyed by its index."""
    by_alias: dict[str, dict[str, Any]] = {}
    general: list[dict[str, Any]] = []
    for error in errors:
        path = error.get("path") or []
        if path and isinstance(path[0], str) and path[0].startswith("a"):
            by_alias.setdefault(path[0], error)
        else:
            general.append(error)
    outcomes = []
    for index in range(count):
        alias = f"a{index}"
        value = data.get(alias)
        if isinstance(value, dict) and value.get("id") is not None:
            outcomes.append(Outcome(index, id=str(value["id"]), state=value.get("state")))
            continue
        found = by_alias.get(alias) or (general[0] if general else None)
        if found is None:
            outcomes.append(
                Outcome(
                    index,
                    error=MondayError(
                        "monday returned no result for this mutation",
                        error_type=ErrorType.UNKNOWN,
                        outcome_unknown=True,
                    ),
                )
            )
            continue
        extensions = found.get("extensions") or {}
        outcomes.append(
            Outcome(index, error=classify(extensions.get("code"), found.get("message", "failed"), 200, extensions))
        )
    return outcomes
