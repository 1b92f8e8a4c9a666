"""MondayApiClient: transport, classification, retry, pacing and aliased mutation batches.

- One ``requests.Session``; the raw token in ``Authorization``; a pinned ``API-Version``;
  connect and read timeouts; every value in GraphQL variables, never spliced into the query.
- Errors are classified where they arise (``core.monday.errors``). Reads are retried on every
  retryable error. A mutation request is retried only when monday certainly did not apply it
  (429 of every kind, 423, 409, a connection that never opened); when the outcome is unknown
  (5xx, a dropped connection, a read timeout) it raises ``MondayError(outcome_unknown=True)`` and
  the orchestrator reconciles with the board before anything is sent again. Every mutation
  request carries an ``Idempotency-Key``, so monday itself also replays a repeat. A document
  monday refuses as invalid (syntax, schema, variable types) is ``InvalidRequest``: OrderSync's
  bug, never retried, nothing of it applied.
- Waits honour ``retry_in_seconds`` / ``Retry-After``, with exponential backoff and jitter, and
  each wait is logged: in full in the log file, as one short line (``core.foundation.logs.waiting``) on a console
  without --verbose. Without a stated wait, a request that never gets through waits at most
  ``longest_retry_wait(max_attempts)`` in all before the client gives up (61.5 s for 8 tries).
- One mutation request in flight per board (monday asks for it); the rate governor decides how
  many mutations a request may carry.

Longer than 400 lines on purpose: every GraphQL document the client sends is built here, next to
the transport that classifies monday's answer to it (tests/test_contract.py validates them all
against monday's published schema).
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity
import urllib3

from core.foundation.logs import SHOWN, register_secret, waiting
from core.foundation.resources import program_command
from core.monday.columns import BoardMeta, Column, labels_of, subitem_board_ids
from core.monday.errors import AuthError, InvalidRequest, MondayError, NetworkError, classify, clip_words
from core.monday.governor import RateGovernor

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-07"  # the current version in December 2026
MAX_ATTEMPTS = 8  # tries of one request (monday.max_attempts)
BACKOFF_BASE = 0.5  # seconds before the first retry; doubled for each further one ...
BACKOFF_CAP = 30.0  # ... up to this; jitter takes each wait down to half of it, never above
PAGE_LIMIT = 500  # monday's maximum page of items_page_by_column_values / next_items_page
IDS_PER_QUERY = 100  # items(ids:) and a search's column values: at most 100 a query
COMPLEXITY_FIELD = "complexity { query before after reset_in_x_seconds }"

# Argument types of the mutations OrderSync sends.
MUTATION_ARGS: dict[str, dict[str, str]] = {
    "create_item": {"board_id": "ID!", "item_name": "String!", "group_id": "String", "column_values": "JSON",
                    "create_labels_if_missing": "Boolean"},
    "create_subitem": {"parent_item_id": "ID!", "item_name": "String!", "column_values": "JSON",
                       "create_labels_if_missing": "Boolean"},
    "change_multiple_column_values": {"item_id": "ID", "board_id": "ID!", "column_values": "JSON!",
                                      "create_labels_if_missing": "Boolean"},
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


@dataclass
class ClientStats:
    requests: int = 0
    mutation_requests: int = 0
    mutations: int = 0
    retries: int = 0
    rate_limited: int = 0
    replays: int = 0  # answers monday gave from its Idempotency-Key cache
    waits_seconds: float = 0.0
    by_status: dict[int, int] = field(default_factory=dict)


class MondayApiClient:
    """The one way OrderSync talks to monday (or the sandbox)."""

    def __init__(self, url: str, token: str, *, api_version: str = DEFAULT_API_VERSION,
                 timeout: tuple[float, float] = (10.0, 60.0), max_batch: int = 25,
                 session: requests.Session | None = None, sleep: Callable[[float], None] = time.sleep,
                 governor: RateGovernor | None = None, max_attempts: int = MAX_ATTEMPTS,
                 page_limit: int = PAGE_LIMIT):
        if not token:
            raise AuthError(f"no monday API token: set MONDAY_API_TOKEN or store one with "
                            f"`{program_command('token set')}`",
                            error_type="AUTH")
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
        self.session.headers.update({
            "Authorization": token, "API-Version": api_version, "Content-Type": "application/json",
            "User-Agent": "OrderSync",
        })
        self._board_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def close(self) -> None:
        self.session.close()

    # == transport ==================================================================================

    def _post(self, query: str, variables: dict[str, Any], *, mutation: bool,
              idempotency_key: str | None) -> dict[str, Any]:
        """One HTTP round trip; returns the parsed body or raises a classified MondayError."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        self.stats.requests += 1
        try:
            response = self.session.post(self.url, json={"query": query, "variables": variables},
                                         headers=headers, timeout=self.timeout)
        except requests.exceptions.ConnectTimeout as exc:
            reason = f"no connection within {self.timeout[0]:g} s"
            raise NetworkError(f"cannot connect to monday at {self.url}: {reason}", error_type="NETWORK",
                               retryable=True, reason=reason, detail=str(exc)) from None
        except requests.exceptions.SSLError as exc:
            reason = "TLS handshake failed"
            raise NetworkError(f"cannot connect to monday at {self.url}: {reason}", error_type="NETWORK",
                               retryable=True, reason=reason, detail=str(exc)) from None
        except requests.exceptions.ReadTimeout as exc:
            reason = f"no answer within {self.timeout[1]:g} s"
            raise MondayError(f"monday did not answer in {self.timeout[1]:.0f} s", error_type="TIMEOUT",
                              retryable=True, outcome_unknown=mutation, reason=reason, detail=str(exc)) from None
        except requests.exceptions.ConnectionError as exc:
            # A refused connection never carried the request; a broken one may have been applied.
            never_sent = _never_sent(exc)
            reason = _reason(exc)
            raise NetworkError(f"connection to monday at {self.url} failed: {reason}", error_type="NETWORK",
                               retryable=True, outcome_unknown=mutation and not never_sent, reason=reason,
                               detail=str(exc)) from None
        except requests.exceptions.RequestException as exc:
            reason = _reason(exc)
            raise NetworkError(f"request to monday at {self.url} failed: {reason}", error_type="NETWORK",
                               retryable=True, outcome_unknown=mutation, reason=reason, detail=str(exc)) from None
        status = response.status_code
        self.stats.by_status[status] = self.stats.by_status.get(status, 0) + 1
        try:
            body = response.json()
        except ValueError:
            body = None
        retry_after = _retry_after(response.headers)
        if status != 200 or not isinstance(body, dict):
            raise self._noted(self._http_error(status, body, retry_after, mutation), retry_after)
        legacy = _legacy_error(body)
        if legacy is not None:
            code, message, legacy_status = legacy
            error = self._noted(classify(code, message, legacy_status,
                                         {"retry_in_seconds": _legacy_retry(message, body)}), retry_after)
            if error.error_type == "RATE_LIMIT" or not body.get("data"):
                raise error
        errors = body.get("errors") or []
        if errors and body.get("data") is None:
            self._refused_as_invalid(errors, query, variables)
        if not any((body.get("data") or {}).values()):
            # Nothing was executed: a request-wide rate limit or conflict answered with HTTP 200.
            for entry in body.get("errors") or []:
                extensions = entry.get("extensions") or {}
                error = classify(extensions.get("code"), entry.get("message", ""), 200, extensions)
                if error.error_type in ("RATE_LIMIT", "CONFLICT"):
                    raise self._noted(error, retry_after)
        body["_headers"] = dict(response.headers)
        return body

    @staticmethod
    def _refused_as_invalid(errors: list[Any], query: str, variables: dict[str, Any]) -> None:
        """Raise InvalidRequest when monday refused the document itself (nothing of it ran)."""
        first: dict[str, Any] = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
        extensions: dict[str, Any] = first.get("extensions") or {}
        error = classify(extensions.get("code"), str(first.get("message") or ""), 200, extensions)
        if not isinstance(error, InvalidRequest):
            return
        error.data = {"errors": errors, "query": query}
        shown = json.dumps(variables, ensure_ascii=False, default=str)
        log.error("monday refused a request OrderSync built as invalid: %s\nerrors: %s\ndocument: %s\nvariables: %s",
                  error.describe(), json.dumps(errors, ensure_ascii=False), query,
                  shown if len(shown) <= 4000 else shown[:4000] + "…", extra=SHOWN)  # the caller shows one line
        raise error

    def _noted(self, error: MondayError, retry_after: float | None) -> MondayError:
        """Fill in the header's wait; a rate limit also tells the governor and the stats."""
        if error.retry_after is None:
            error.retry_after = retry_after
        if error.error_type == "RATE_LIMIT":
            self.stats.rate_limited += 1
            self.governor.rate_limited(error.retry_after)
        return error

    def _http_error(self, status: int, body: Any, retry_after: float | None, mutation: bool) -> MondayError:
        message, code = f"HTTP {status}", None
        extensions: dict[str, Any] = {}
        if isinstance(body, dict):
            errors = body.get("errors") or []
            if errors and isinstance(errors[0], dict):
                message = errors[0].get("message") or message
                extensions = errors[0].get("extensions") or {}
                code = extensions.get("code")
            elif body.get("error_message"):
                message, code = body["error_message"], body.get("error_code")
        error = classify(code, message, status, extensions)
        if status == 400 and not isinstance(error, InvalidRequest):
            # The body itself was refused (not JSON, no query): what OrderSync sent is malformed.
            error = InvalidRequest(message, code=code, http_status=status)
        if error.retry_after is None:
            error.retry_after = retry_after
        # A 5xx answer to a mutation may come after monday applied it.
        if status >= 500 and mutation:
            error.outcome_unknown = True
        return error

    def _with_retries(self, send: Callable[[], dict[str, Any]], *, mutation: bool, what: str) -> dict[str, Any]:
        def retryable(exc: BaseException) -> bool:
            return isinstance(exc, MondayError) and exc.retryable and not exc.outcome_unknown

        def wait(state: tenacity.RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            jittered = backoff(state.attempt_number) * (0.5 + random.random() / 2)
            stated = getattr(exc, "retry_after", None)
            return max(jittered, float(stated) + random.uniform(0, 0.1)) if stated is not None else jittered

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.next_action.sleep if state.next_action else 0.0
            self.stats.retries += 1
            self.stats.waits_seconds += delay
            described = exc.describe() if isinstance(exc, MondayError) else str(exc)
            detail = getattr(exc, "detail", None)
            brief = exc.brief() if isinstance(exc, MondayError) else str(exc)
            log.warning("%s: %s; retry %d of %d in %.2f s%s", what, described, state.attempt_number,
                        self.max_attempts - 1, delay, f" ({detail})" if detail else "",
                        extra=waiting(f"{brief}; try {state.attempt_number + 1} of {self.max_attempts} "
                                      f"in {_seconds(delay)}"))

        attempts = 0

        def counted() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            return send()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(retryable), wait=wait, sleep=self.sleep,
            stop=tenacity.stop_after_attempt(self.max_attempts), before_sleep=before_sleep, reraise=True,
        )
        try:
            return retrying(counted)
        except MondayError as exc:
            exc.attempts = attempts
            raise

    # == reads ======================================================================================

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """A read; retried on every retryable error. Returns ``data``; raises on any error."""
        body = self._with_retries(lambda: self._post(query, variables or {}, mutation=False, idempotency_key=None),
                                  mutation=False, what="monday query")
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

    def board(self, board_id: str) -> BoardMeta:
        """Columns, labels, groups and the subitems board of ``board_id``, read once.

        Column settings come from ``settings`` (JSON; ``settings_str`` is deprecated from 2025-10).
        """
        data = self.query(
            "query ($ids: [ID!]) { boards(ids: $ids) { id name columns { id title type settings } "
            "groups { id title } } }", {"ids": [str(board_id)]},
        )
        boards = data.get("boards") or []
        if not boards:
            raise MondayError(f"board {board_id} does not exist or the token cannot see it", error_type="NOT_FOUND",
                              code="InvalidBoardIdException")
        raw = boards[0]
        columns = [Column(c["id"], c["title"], c["type"], labels_of(c["type"], c.get("settings")))
                   for c in raw["columns"]]
        meta = BoardMeta(str(raw["id"]), raw["name"], columns, {g["title"]: g["id"] for g in raw["groups"]})
        for column in raw["columns"]:
            if column["type"] in ("subtasks", "subitems"):
                ids = subitem_board_ids(column.get("settings"))
                if ids:
                    meta.subitem_board_id = ids[0]
        if meta.subitem_board_id:
            sub = self.query(
                "query ($ids: [ID!]) { boards(ids: $ids) { id columns { id title type settings } } }",
                {"ids": [meta.subitem_board_id]},
            ).get("boards") or []
            if sub:
                meta.subitem_columns = [Column(c["id"], c["title"], c["type"], labels_of(c["type"], c.get("settings")))
                                        for c in sub[0]["columns"]]
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
            chunk = unique[start:start + IDS_PER_QUERY]
            data = self.query(
                "query ($board: ID!, $columns: [ItemsPageByColumnValuesQuery!], $limit: Int!, $ids: [String!]) { "
                "items_page_by_column_values(board_id: $board, columns: $columns, limit: $limit) { cursor "
                "items { id column_values(ids: $ids) { id text } } } }",
                {"board": str(board_id), "columns": [{"column_id": column_id, "column_values": chunk}],
                 "limit": self.page_limit, "ids": [column_id]},
            )
            page = data.get("items_page_by_column_values") or {}
            while True:
                for item in page.get("items") or []:
                    text = next((cv.get("text") for cv in item.get("column_values") or [] if cv.get("id") == column_id),
                                None)
                    if text in wanted:
                        ids = found.setdefault(text, [])
                        if str(item["id"]) not in ids:
                            ids.append(str(item["id"]))
                cursor = page.get("cursor")
                if not cursor:
                    break
                page = self.query(
                    "query ($cursor: String!, $limit: Int!, $ids: [String!]) { next_items_page(cursor: $cursor, "
                    "limit: $limit) { cursor items { id column_values(ids: $ids) { id text } } } }",
                    {"cursor": cursor, "limit": self.page_limit, "ids": [column_id]},
                ).get("next_items_page") or {}
        return found

    def subitems_of(self, item_ids: Iterable[str]) -> dict[str, dict[str, list[str]]]:
        """Subitem ids by name, per parent item: how a lost subitem is found again.

        ``items(ids:)`` answers a page of 25 unless told otherwise: ``limit`` is always explicit.
        """
        result: dict[str, dict[str, list[str]]] = {}
        ids = list(dict.fromkeys(str(i) for i in item_ids))
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            data = self.query("query ($ids: [ID!], $limit: Int) { items(ids: $ids, limit: $limit) "
                              "{ id subitems { id name } } }", {"ids": chunk, "limit": len(chunk)})
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
            chunk = unique[start:start + IDS_PER_QUERY]
            data = self.query("query ($ids: [ID!], $limit: Int) { items(ids: $ids, limit: $limit) { id state } }",
                              {"ids": chunk, "limit": len(chunk)})
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
        outcomes = self.send_mutations(board_id, query, variables, len(mutations),
                                       idempotency_key or str(uuid.uuid4()))
        return [Outcome(m.key, o.id, o.error) for m, o in zip(mutations, outcomes, strict=True)]

    def send_mutations(self, board_id: str, query: str, variables: dict[str, Any], count: int,
                       idempotency_key: str) -> list[Outcome]:
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
            outcomes.append(Outcome(index, error=MondayError(
                "monday returned no result for this mutation", error_type="UNKNOWN", outcome_unknown=True)))
            continue
        extensions = found.get("extensions") or {}
        outcomes.append(Outcome(index, error=classify(
            extensions.get("code"), found.get("message", "failed"), 200, extensions)))
    return outcomes


def _legacy_error(body: dict[str, Any]) -> tuple[str | None, str, int | None] | None:
    """The pre-2025-01 top-level shape: error_code / error_message / status_code."""
    if "error_message" in body or "error_code" in body:
        return body.get("error_code"), str(body.get("error_message") or body.get("error_code")), body.get("status_code")
    return None


def _legacy_retry(message: str, body: dict[str, Any]) -> float | None:
    data = body.get("error_data") or {}
    if isinstance(data, dict) and data.get("retry_in_seconds") is not None:
        return float(data["retry_in_seconds"])
    marker = "reset in "
    if marker in message:
        try:
            return float(message.split(marker, 1)[1].split()[0])
        except (ValueError, IndexError):
            return None
    return None


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


_NOT_CONNECTED = (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError,
                  requests.exceptions.ConnectTimeout, ConnectionRefusedError, socket.gaierror)


def _never_sent(exc: BaseException) -> bool:
    """Whether the connection never opened, so the request cannot have reached monday: by the types in
    the exception's chain (requests wraps urllib3, which wraps the socket's error), never by its text."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _NOT_CONNECTED):
            return True
        stack += [getattr(current, "reason", None), current.__cause__, current.__context__]
        stack += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    return False


def backoff(attempt: int) -> float:
    """The longest wait after try number ``attempt`` (1, 2, …) when monday stated none: 0.5, 1, 2, … 30 s."""
    return min(BACKOFF_BASE * 2.0 ** (attempt - 1), BACKOFF_CAP)


def longest_retry_wait(max_attempts: int = MAX_ATTEMPTS) -> float:
    """The most the client waits between the tries of one request before it gives up (no stated wait)."""
    return sum(backoff(attempt) for attempt in range(1, max_attempts))


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 10 else f"{delay:.0f} s"


def _reason(exc: BaseException) -> str:
    """Why a connection failed, in a few whole words ("connection refused"); the raw text goes to the log.

    requests wraps the socket's error in urllib3's (MaxRetryError → NewConnectionError → the OSError),
    so the chain is searched for the first error with a plain meaning.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop(0)
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        if isinstance(error, ConnectionRefusedError):
            return "connection refused"
        if isinstance(error, ConnectionResetError):
            return "connection reset"
        if isinstance(error, ConnectionAbortedError):
            return "connection aborted"
        if isinstance(error, socket.gaierror):
            return "host name not found"
        if isinstance(error, http.client.RemoteDisconnected):
            return "connection closed without an answer"
        if isinstance(error, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(error, TimeoutError):
            return "timed out"
        todo += [error.__cause__, error.__context__, getattr(error, "reason", None),
                 *(a for a in error.args if isinstance(a, BaseException))]
    for error in (exc.__cause__, exc.__context__, exc):  # an OSError of another kind: its own words
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
    return clip_words(str(exc), 80) or type(exc).__name__
