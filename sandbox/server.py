"""The sandbox HTTP server: monday's ``POST /v2`` on loopback, plus ``/sandbox/*`` control endpoints.

Order of the checks a ``POST /v2`` request meets (the first that answers wins):

1. ``Authorization`` must equal the token (raw, no "Bearer") → 401.
2. Concurrency: more than ``concurrency_limit`` requests in flight → 429 ``maxConcurrencyExceeded``.
3. The body must be JSON with a ``query`` string → 400 ``JsonParseException`` / ``BadRequest``. With
   ``journal=True`` the request is recorded here (``journal``, ``GET /sandbox/journal``).
4. Minute limit → 429 ``RATE_LIMIT_EXCEEDED`` ("Minute limit rate exceeded").
5. A running 429 storm → 429 ``RATE_LIMIT_EXCEEDED``.
6. Parse and validate against the schema, then coerce the variables → HTTP 200 with ``errors[]``
   (``ParseError``, ``undefinedField``, ``argumentNotAccepted``, ``missingRequiredArguments``,
   ``selectionMismatch``, ``variableMismatch``, ``variableNotUsed``, ``variableNotDefined``,
   ``undefinedType``, ``validationError``; a variable value that does not coerce:
   ``argumentLiteralsIncompatible``); nothing runs, nothing is charged. With a reference schema
   (``reference_schema=PATH`` or ``$ORDERSYNC_MONDAY_SDL``, see ``reference.py``) the document and its
   variables are also checked against monday's published SDL, and refused the same way.
7. Fault draw (``faults.py``; targeted faults first): 500/502/504/423 answer here, unapplied; ``storm``
   starts a storm; ``hold`` waits here before going on; ``late`` answers 504 (or drops the connection)
   here and goes on in the background after ``late_seconds``.
8. ``Idempotency-Key`` (mutations only): a completed key replays its first answer with
   ``Idempotency-Replayed: true``; a key still in flight gets 409 ``IDEMPOTENCY_CONFLICT``.
9. Complexity: a request over 5,000,000 points is refused (HTTP 200, ``maxComplexityExceeded``); one
   over the budget left → 429 ``COMPLEXITY_BUDGET_EXHAUSTED``. Rejected requests cost nothing, and a
   failed mutation field is refunded.
10. Latency (``base_latency + mutation_latency × mutation fields``, real seconds), then execution under
    the state lock and one SQLite commit; then the ``after500``/``drop``/``slow`` faults.

Longer than 400 lines on purpose: the request path above reads top to bottom in one class; the board
edits are ``edits.py``, monday's reference schema ``reference.py``, the GraphQL side ``schema.py``
and ``resolvers.py``.

Writes to items a person deleted answer ``ResourceNotFoundException`` ("Item not found in board");
writes to archived items are applied, as monday applies them (see ``resolvers._item``). The board
edits a person makes (delete, archive, restore, change a value, add an item) are ``edits.py``.

Headers on every ``/v2`` answer::

    RateLimit-Policy: "minuteRate";q=<minute_limit>;w=<W>, "concurrency";q=<n>;qu="concurrent-requests",
                      "complexityMinute";q=<budget>;w=<W>
    RateLimit: "minuteRate";r=<left>, "concurrency";r=<left>, "complexityMinute";r=<left>;t=<T>

``w`` and ``t`` are **real** seconds: the window ``W = 60 / time_scale`` and ``T`` the real seconds
until the complexity window resets (so a client that paces itself from the headers runs at the scaled
speed without knowing the scale). Likewise ``retry_in_seconds`` in every rate-limit error is in real
seconds (an integer when ``time_scale == 1`` as on monday, a float with millisecond precision
otherwise) and ``Retry-After`` is its ceiling in whole seconds, at least 1.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import socket
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import reference, resolvers, schema
from .cost import MAX_QUERY_COMPLEXITY, request_cost
from .edits import BoardEdits, edit_endpoint
from .faults import Fault, FaultInjector, FaultSpec, as_spec
from .limits import Limits
from .store import Store
from .views import Context

log = logging.getLogger(__name__)

# monday replays a key's first answer for 30 minutes. Real seconds, not scaled: the time scale speeds up
# the rate-limit windows, while a client reasons about the replay window by the clock on the wall.
IDEMPOTENCY_TTL = 30 * 60.0
CONFLICT_RETRY_NOMINAL = 1.0
CONCURRENCY_RETRY_NOMINAL = 1.0
ACCOUNT_ID = 12345678
_GATEWAY_HTML = ("<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}"
                 "</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n")


@dataclass
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json; charset=utf-8"
    close: bool = False


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def _num(value: float) -> str:
    """A structured-field number: an integer when whole, else up to three decimals."""
    if abs(value - round(value)) < 1e-9:
        return str(int(round(value)))
    return f"{value:.3f}".rstrip("0").rstrip(".")


class _Idempotency:
    """First answers by ``Idempotency-Key``; a key is ``None`` while its request is in flight."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Response | None, str]] = {}
        self._sweep_at = 0.0

    def claim(self, key: str, fingerprint: str) -> tuple[str, Response | None, bool]:
        """("replay", answer, same body?) | ("conflict", None, _) | ("claimed", None, _)."""
        now = time.monotonic()
        with self._lock:
            if now >= self._sweep_at:
                self._entries = {k: v for k, v in self._entries.items() if v[0] > now or v[1] is None}
                self._sweep_at = now + min(self.ttl, 60.0)
            entry = self._entries.get(key)
            if entry is not None and entry[1] is not None and entry[0] <= now:
                entry = None
            if entry is None:
                self._entries[key] = (now + self.ttl, None, fingerprint)
                return "claimed", None, True
            if entry[1] is None:
                return "conflict", None, entry[2] == fingerprint
            return "replay", entry[1], entry[2] == fingerprint

    def complete(self, key: str, response: Response) -> None:
        with self._lock:
            fingerprint = self._entries.get(key, (0, None, ""))[2]
            self._entries[key] = (time.monotonic() + self.ttl, response, fingerprint)

    def release(self, key: str) -> None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[1] is None:
                del self._entries[key]


class SandboxServer(BoardEdits):
    """A monday-compatible GraphQL server on loopback; see the module docstring for the request path.

    The board state lives in memory and, with ``state_path``, in a SQLite file written before each
    mutation request is answered. ``stats`` is a fresh snapshot of the live counters on each access.
    """

    def __init__(self, state_path: str | Path | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 time_scale: float = 1.0, faults: FaultSpec | str | None = None, seed: int = 0,
                 complexity_budget: int = 10_000_000, mutation_cost: int = 30_000, minute_limit: int = 5_000,
                 concurrency_limit: int = 40, base_latency: float = 0.0, mutation_latency: float = 0.0,
                 legacy_errors: bool = False, idempotency: bool = True, idempotency_ttl: float = IDEMPOTENCY_TTL,
                 token: str | None = "sandbox-token",
                 items_limit: int = resolvers.ITEMS_PER_BOARD, reference_schema: str | Path | bool | None = None,
                 journal: bool = False) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        for name, value in (("complexity_budget", complexity_budget), ("minute_limit", minute_limit),
                            ("concurrency_limit", concurrency_limit), ("items_limit", items_limit)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1")
        if mutation_cost < 0 or base_latency < 0 or mutation_latency < 0:
            raise ValueError("mutation_cost and the latencies must not be negative")
        self.host, self.port = host, port
        self.time_scale = float(time_scale)
        self.seed = seed
        self.mutation_cost = mutation_cost
        self.base_latency, self.mutation_latency = base_latency, mutation_latency
        self.legacy_errors = legacy_errors
        self.idempotency = idempotency
        self.token = token
        self.items_limit = items_limit
        self.url = ""
        self._store = Store(state_path, seed)
        self._state_lock = threading.RLock()
        self._limits = Limits(time_scale=self.time_scale, complexity_budget=complexity_budget,
                              minute_limit=minute_limit, concurrency_limit=concurrency_limit)
        self._faults = FaultInjector(as_spec(faults), seed)
        self._idem = _Idempotency(idempotency_ttl)
        self._preparer = schema.Preparer()
        # monday's published SDL as a second judge (reference.py); None: the sandbox's own SDL only
        self.reference_schema = reference.resolve(reference_schema)
        self._reference = reference.check_for(self.reference_schema) if self.reference_schema else None
        self.journal_enabled = journal
        self._journal: list[dict] = []
        self._journal_lock = threading.Lock()
        self._stopping = threading.Event()
        self._late: set[threading.Thread] = set()
        self._late_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._stats: dict[str, Any] = {
            "requests": 0, "queries": 0, "mutation_requests": 0, "mutations": 0, "mutation_errors": 0,
            "error_responses": 0, "rejected_401": 0,
            "rejected_429": {"complexity": 0, "minute": 0, "concurrency": 0, "storm": 0},
            "faults_injected": {}, "idempotent_replays": 0, "idempotency_conflicts": 0,
            "idempotency_key_mismatches": 0, "complexity_used_total": 0, "reference_refusals": 0,
            "held": 0, "late_applied": 0, "late_not_applied": 0,
        }
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._running = False

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> str:
        """Serve in a daemon thread; returns ``self.url`` ("http://127.0.0.1:<port>/v2")."""
        if self._running:
            return self.url
        if self._store.path is not None and self._store._db is None:
            self._store = Store(self._store.path, self.seed)
        self._stopping.clear()
        httpd = _HTTPServer((self.host, self.port), _Handler)
        httpd.sandbox = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}/v2"
        self._running = True
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"sandbox:{self.port}", daemon=True)
        self._thread.start()
        log.info("sandbox serving at %s", self.url)
        return self.url

    def stop(self) -> None:
        """Stop serving, cut open connections, close the state file (every commit is already in it)."""
        httpd = self._httpd
        self._running = False
        self._stopping.set()  # held requests give up, late ones are never applied
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
            httpd.cut_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._state_lock:
            self._store.close()

    def __enter__(self) -> SandboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- boards and faults ---------------------------------------------------------------------

    def create_board(self, name: str, columns: list[dict], subitem_columns: list[dict],
                     board_id: str | None = None) -> str:
        """A board with its subitems board and the group "Topics"; returns the board id.

        ``columns``: ``[{"title": "ORDER TYPE", "type": "status", "labels": ["RECEIVED"]}, ...]``
        (optionally ``"id"``); column ids are generated monday-style, never equal to titles.
        """
        with self._state_lock:
            if self._store.path is not None and self._store._db is None:
                self._store = Store(self._store.path, self.seed)
            board = self._store.create_board(name, columns, subitem_columns, board_id)
            self._store.commit()
            return board.id

    def board_dump(self, board_id: str) -> dict:
        """The board's groups, columns, active items (values by column title, as text) and subitems."""
        with self._state_lock:
            return self._store.board_dump(str(board_id))

    def _column(self, board_id: str, column: str):
        board = self._store.boards.get(str(board_id))
        if board is None:
            raise KeyError(f"no board {board_id}")
        target = board.column_by_id.get(column)
        if target is None:
            matches = [c for c in board.columns if c.title == column]
            if len(matches) != 1:
                raise KeyError(f"board {board_id} has {len(matches)} columns titled {column!r}")
            target = matches[0]
        return board, target

    def add_label(self, board_id: str, column: str, label: str) -> None:
        """Add a status or dropdown label, as a board owner does in monday's column settings."""
        with self._state_lock:
            board, target = self._column(board_id, column)
            if target.label_id(label) is None:
                target.add_label(label)
                self._store.touch_board(board)
                self._store.commit()

    def remove_label(self, board_id: str, column: str, label: str) -> None:
        """Delete a status or dropdown label, as a board owner might behind OrderSync's back.

        ``column`` is a column id or title. Items that held the label keep its id and show no text.
        """
        with self._state_lock:
            board, target = self._column(board_id, column)
            label_id = target.label_id(label)
            if label_id is None:
                raise KeyError(f"column {target.title!r} has no label {label!r}")
            del target.labels[label_id]
            self._store.drop_index(board, target.id)
            self._store.touch_board(board)
            self._store.commit()

    def board_ids(self) -> list[dict]:
        with self._state_lock:
            return [{"id": b.id, "name": b.name, "kind": b.kind, "subitems_board_id": b.subitems_board_id}
                    for b in self._store.boards.values()]

    def set_faults(self, faults: FaultSpec | str | None) -> None:
        """Install a fault spec (or none); the seeded sequence restarts from here."""
        self._faults.set(as_spec(faults))

    def fail_next(self, kind: str, count: int = 1, *, field: str | None = None, on: str = "mutation",
                  seconds: float | None = None, answer: str = "504") -> dict:
        """The next ``count`` mutation requests (``on="query"``: queries; ``"any"``: both), optionally
        only those holding root field ``field`` (e.g. ``"create_subitem"``), meet fault ``kind``.

        ``seconds`` overrides the kind's parameter (late_seconds, hold_seconds, slow_seconds, ...,
        real seconds except storm's); ``answer`` ("504" | "drop") is how a ``late`` request is answered.
        Returns the target as a dict. The seeded rates keep working beside it.
        """
        return self._faults.target(kind, count, field=field, on=on, seconds=seconds, answer=answer).as_dict()

    def targeted_faults(self) -> list[dict]:
        """The targeted faults still waiting for their requests."""
        return self._faults.targets()

    def clear_targeted_faults(self) -> None:
        self._faults.clear_targets()

    def wait_for_late(self, timeout: float | None = None) -> bool:
        """Wait until every ``late`` request so far has been applied (or given up); True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._late_lock:
                pending = list(self._late)
            if not pending:
                return True
            for thread in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(left)
            if deadline is not None and time.monotonic() >= deadline:
                with self._late_lock:
                    return not self._late

    @property
    def journal(self) -> list[dict]:
        """With ``journal=True``: every request ``POST /v2`` received (query, variables, operation name,
        Idempotency-Key, API-Version), in arrival order."""
        with self._journal_lock:
            return copy.deepcopy(self._journal)

    def clear_journal(self) -> None:
        with self._journal_lock:
            self._journal.clear()

    @property
    def faults(self) -> FaultSpec:
        return self._faults.spec

    @property
    def stats(self) -> dict:
        with self._stats_lock:
            out = copy.deepcopy(self._stats)
        out["windows"] = self._limits.windows_copy()
        out["limits"] = self._limits.snapshot()
        return out

    def _count(self, key: str, sub: str | None = None, n: int = 1) -> None:
        with self._stats_lock:
            if sub is None:
                self._stats[key] += n
            else:
                bucket = self._stats[key]
                bucket[sub] = bucket.get(sub, 0) + n

    # --- answers -------------------------------------------------------------------------------

    def _retry(self, real_seconds: float) -> tuple[float | int, str]:
        """(retry_in_seconds, Retry-After) for a wait of ``real_seconds``."""
        after = str(max(1, math.ceil(real_seconds - 1e-9)))
        if self.time_scale == 1.0:
            return max(1, math.ceil(real_seconds - 1e-9)), after
        return round(max(real_seconds, 0.001), 3), after

    def _rate_headers(self) -> list[tuple[str, str]]:
        snap = self._limits.snapshot()
        lim = self._limits
        w = _num(lim.window)
        return [
            ("RateLimit-Policy", f'"minuteRate";q={lim.minute_limit};w={w}, "concurrency";q={lim.concurrency_limit};'
                                 f'qu="concurrent-requests", "complexityMinute";q={lim.complexity_budget};w={w}'),
            ("RateLimit", f'"minuteRate";r={snap["minute_left"]}, "concurrency";r={snap["concurrency_left"]}, '
                          f'"complexityMinute";r={snap["complexity_left"]};t={_num(snap["reset_in"])}'),
        ]

    def _error(self, status: int, code: str, message: str, *, retry: float | None = None,
               error_data: dict | None = None, legacy_code: str | None = None, http_status: int | None = None,
               legacy_message: str | None = None) -> Response:
        headers: list[tuple[str, str]] = []
        extensions: dict[str, Any] = {"code": code, "status_code": status}
        if error_data is not None:
            extensions["error_data"] = error_data
        if retry is not None:
            retry_in, after = self._retry(retry)
            extensions["retry_in_seconds"] = retry_in
            headers.append(("Retry-After", after))
        if self.legacy_errors:
            body: dict[str, Any] = {"error_code": legacy_code or code, "status_code": status,
                                    "error_message": legacy_message or message,
                                    "error_data": dict(error_data or {}), "account_id": ACCOUNT_ID}
            if retry is not None:
                body["error_data"]["retry_in_seconds"] = extensions["retry_in_seconds"]
        else:
            body = {"errors": [{"message": message, "extensions": extensions}]}
        return Response(http_status or status, _json(body), headers)

    def _rate_limited(self, kind: str, retry: float) -> Response:
        self._count("rejected_429", kind)
        if kind == "concurrency":
            return self._error(429, "maxConcurrencyExceeded", "Concurrency limit exceeded", retry=retry,
                               legacy_code="maxConcurrencyExceeded")
        if kind == "minute":
            return self._error(429, "RATE_LIMIT_EXCEEDED", "Minute limit rate exceeded", retry=retry,
                               legacy_code="RateLimitExceeded")
        return self._error(429, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded, please retry later", retry=retry,
                           legacy_code="RateLimitExceeded")

    def _complexity_exhausted(self, cost: int, left: int, reset_in: float) -> Response:
        self._count("rejected_429", "complexity")
        retry_in, after = self._retry(reset_in)
        budget = self._limits.complexity_budget
        message = (f"Complexity budget exhausted, query cost {cost} budget remaining {left} out of {budget} "
                   f"reset in {math.ceil(reset_in)} seconds")
        if self.legacy_errors:  # the pre-2025 shape, delivered with HTTP 200 (airbyte#31539)
            body = {"error_code": "ComplexityException", "status_code": 429, "error_message": message,
                    "error_data": {"complexity": cost, "complexity_budget_left": left,
                                   "complexity_budget_limit": budget, "retry_in_seconds": retry_in},
                    "account_id": ACCOUNT_ID}
            return Response(200, _json(body), [("Retry-After", after)])
        body = {"errors": [{"message": message, "extensions": {
            "code": "COMPLEXITY_BUDGET_EXHAUSTED", "status_code": 429, "retry_in_seconds": retry_in}}]}
        return Response(429, _json(body), [("Retry-After", after)])

    def _fault(self, kind: str, fault: Fault | None = None) -> Response:
        if kind == "500":
            if self.legacy_errors:
                return Response(500, _json({"error_message": "Internal server error", "status_code": 500}))
            return self._error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        if kind in ("502", "504"):
            code = int(kind)
            reason = HTTPStatus(code).phrase
            return Response(code, _GATEWAY_HTML.format(code=code, reason=reason).encode(),
                            content_type="text/html; charset=utf-8")
        if kind == "locked":
            seconds = self._faults.seconds(fault) if fault is not None else self._faults.spec.lock_seconds
            return self._error(423, "RESOURCE_LOCKED", "Resource is currently locked",
                               retry=self._limits.real(seconds), legacy_code="ResourceLocked")
        raise AssertionError(kind)

    # --- POST /v2 ------------------------------------------------------------------------------

    def handle_graphql(self, headers, body: bytes) -> Response | None:
        """The answer to one ``POST /v2``; ``None`` means: close the connection without one."""
        self._count("requests")
        if self.token is not None and headers.get("Authorization") != self.token:
            self._count("rejected_401")
            if self.legacy_errors:
                return Response(401, _json({"error_code": "Unauthorized", "error_message": "Not Authenticated",
                                            "status_code": 401}))
            return Response(401, _json({"errors": [{"message": "Unauthorized",
                                                    "extensions": {"code": "UNAUTHORIZED", "status_code": 401}}]}))
        if not self._limits.enter():
            response = self._rate_limited("concurrency", self._limits.real(CONCURRENCY_RETRY_NOMINAL))
            return replace(response, headers=[*response.headers, *self._rate_headers()])
        try:
            response = self._graphql(headers, body)
            # RateLimit as seen while this request is still in flight (it counts against concurrency)
            return None if response is None else replace(response, headers=[*response.headers, *self._rate_headers()])
        finally:
            self._limits.leave()

    def _graphql(self, headers, body: bytes) -> Response | None:
        try:
            payload = json.loads(body.decode("utf-8") if body else "")
        except (ValueError, UnicodeDecodeError):
            return self._error(400, "JsonParseException", "Syntax error in JSON input",
                               error_data={"json": body[:2000].decode("utf-8", "replace")})
        variables = payload.get("variables") if isinstance(payload, dict) else None
        if isinstance(variables, str):
            try:
                variables = json.loads(variables) if variables.strip() else None
            except ValueError:
                return self._error(400, "JsonParseException", "Syntax error in JSON input (variables)",
                                   error_data={"json": variables[:2000]})
        query = payload.get("query") if isinstance(payload, dict) else None
        operation_name = payload.get("operationName") if isinstance(payload, dict) else None
        if not isinstance(query, str) or not query.strip() or (variables is not None and not isinstance(variables, dict)) \
                or (operation_name is not None and not isinstance(operation_name, str)):
            return self._error(400, "BadRequest", "Bad request: POST a JSON body with the GraphQL text under "
                                                  "\"query\" and an optional \"variables\" object")
        variables = variables or {}
        if self.journal_enabled:
            with self._journal_lock:
                self._journal.append({"query": query, "variables": copy.deepcopy(variables),
                                      "operation_name": operation_name,
                                      "idempotency_key": headers.get("Idempotency-Key"),
                                      "api_version": headers.get("API-Version")})

        retry = self._limits.count_request()
        if retry is not None:
            return self._rate_limited("minute", retry)
        storm = self._limits.storm_left()
        if storm > 0:
            return self._rate_limited("storm", storm)

        prepared = self._preparer.prepare(query, operation_name)
        if prepared.errors:
            self._count("error_responses")
            return self._graphql_errors(prepared.errors)
        errors = schema.variable_errors(schema.SCHEMA, prepared.operation, variables)
        if not errors and self._reference is not None:
            errors = (self._reference.document_errors(query, operation_name)
                      or self._reference.variable_errors(prepared.document, operation_name, variables))
            if errors:
                self._count("reference_refusals")
        if errors:
            self._count("error_responses")
            return self._graphql_errors(errors)

        key = headers.get("Idempotency-Key") if (self.idempotency and prepared.is_mutation) else None
        fault = self._faults.draw(prepared.is_mutation, prepared.root_fields)
        kind = fault.kind if fault is not None else None
        if fault is not None:
            self._count("faults_injected", kind)
            if kind == "storm":
                seconds = self._limits.real(self._faults.seconds(fault))
                self._limits.start_storm(seconds)
                return self._rate_limited("storm", seconds)
            if kind in ("500", "502", "504", "locked"):
                return self._fault(kind, fault)
            if kind == "hold":  # the network holds the request; nothing of it has reached monday yet
                self._count("held")
                if self._stopping.wait(self._faults.seconds(fault)):
                    return None
            if kind == "late":  # lost on the way back, as it seems; it reaches monday later
                self._apply_late(prepared, variables, key, query, self._faults.seconds(fault))
                return None if fault.answer == "drop" else self._fault("504")

        response = self._claim_and_execute(prepared, variables, key, query)
        if kind == "after500":
            return self._fault("500")
        if kind == "drop":
            return None
        if kind == "slow":
            time.sleep(self._faults.seconds(fault))
        return response

    def _claim_and_execute(self, prepared: schema.Prepared, variables: dict, key: str | None,
                           query: str) -> Response:
        """The Idempotency-Key step, then execution: what happens once a request has reached monday."""
        if key:
            fingerprint = f"{hash((query, json.dumps(variables, sort_keys=True, default=str)))}"
            state, cached, same = self._idem.claim(key, fingerprint)
            if state == "replay":
                assert cached is not None
                self._count("idempotent_replays")
                if not same:
                    self._count("idempotency_key_mismatches")
                if self.base_latency:
                    time.sleep(self.base_latency)
                return Response(cached.status, cached.body, [*cached.headers, ("Idempotency-Replayed", "true")],
                                cached.content_type)
            if state == "conflict":
                self._count("idempotency_conflicts")
                return self._error(409, "IDEMPOTENCY_CONFLICT",
                                   "A request with this Idempotency-Key is still being processed",
                                   retry=self._limits.real(CONFLICT_RETRY_NOMINAL), legacy_code="IdempotencyConflict")
        try:
            response = self._execute(prepared, variables)
        except BaseException:
            if key:
                self._idem.release(key)
            raise
        if key:
            if response.status == 200:
                self._idem.complete(key, response)
            else:
                self._idem.release(key)
        return response

    def _apply_late(self, prepared: schema.Prepared, variables: dict, key: str | None, query: str,
                    seconds: float) -> None:
        """Apply the request ``seconds`` real seconds from now, in the background (the ``late`` fault)."""

        def run() -> None:
            try:
                if self._stopping.wait(seconds):
                    log.info("sandbox stopped before a late request was applied")
                    self._count("late_not_applied")
                    return
                response = self._claim_and_execute(prepared, variables, key, query)
                replayed = any(name == "Idempotency-Replayed" for name, _ in response.headers)
                applied = response.status == 200 and not replayed
                self._count("late_applied" if applied else "late_not_applied")
                log.info("sandbox: a late request %s (HTTP %s%s)", "was applied" if applied else "was not applied",
                         response.status, ", a replay of its key" if replayed else "")
            finally:
                with self._late_lock:
                    self._late.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="sandbox-late", daemon=True)
        with self._late_lock:
            self._late.add(thread)
        thread.start()

    def _execute(self, prepared: schema.Prepared, variables: dict) -> Response:
        cost, per_key = request_cost(prepared, variables, self.mutation_cost)
        if cost > MAX_QUERY_COMPLEXITY:
            self._count("error_responses")
            return self._graphql_errors([{
                "message": f"Query has complexity of {cost}, which exceeds max complexity of "
                           f"{MAX_QUERY_COMPLEXITY}",
                "extensions": {"code": "maxComplexityExceeded", "status_code": 200,
                               "error_data": {"complexity": cost, "max_complexity": MAX_QUERY_COMPLEXITY}}}])
        taken, before, reset_in = self._limits.charge(cost)
        if not taken:
            return self._complexity_exhausted(cost, before, reset_in)

        delay = self.base_latency + self.mutation_latency * prepared.mutation_fields
        if delay:
            time.sleep(delay)
        ctx = Context(self._store, self.time_scale, self.items_limit, self.legacy_errors,
                             cost=cost, costs=per_key, before=before, reset_in=reset_in)
        with self._state_lock:
            ctx.store = self._store
            if not self._running:
                self._limits.refund(cost)
                return self._error(503, "SERVICE_UNAVAILABLE", "The sandbox is shutting down")
            try:
                result = resolvers.run(prepared, variables, ctx)
            finally:
                self._store.commit()

        if result.data is None and result.errors:  # variables did not coerce: nothing ran
            ctx.refund = cost
        self._limits.refund(ctx.refund)
        self._limits.record_mutations(ctx.applied)
        with self._stats_lock:
            stats = self._stats
            stats["complexity_used_total"] += cost - ctx.refund
            if prepared.is_mutation:
                stats["mutation_requests"] += 1
            else:
                stats["queries"] += 1
            stats["mutations"] += ctx.applied
            stats["mutation_errors"] += ctx.failed
            if result.errors:
                stats["error_responses"] += 1
        errors = [self._format_error(e) for e in result.errors or ()]
        request_id = uuid.uuid4().hex
        if errors and self.legacy_errors:
            return self._legacy_errors(errors)
        body: dict[str, Any] = {"data": result.data}
        if errors:
            body["errors"] = errors
        body["extensions"] = {"request_id": request_id}
        return Response(200, _json(body), [("x-request-id", request_id)])

    @staticmethod
    def _format_error(error) -> dict:
        out = error.formatted
        extensions = out.get("extensions")
        if not extensions or "code" not in extensions:
            original = error.original_error
            if original is not None:
                log.error("sandbox resolver failed", exc_info=original)
                out["extensions"] = {"code": "INTERNAL_SERVER_ERROR", "status_code": 500, "error_data": {}}
            else:
                out["extensions"] = {"code": "argumentLiteralsIncompatible", "status_code": 200, "error_data": {}}
        return out

    def _graphql_errors(self, errors: list[dict]) -> Response:
        if self.legacy_errors:
            # up to 2024-10, syntax and validation errors came as errors[] alone (shape (a))
            return Response(200, _json({"errors": [{k: v for k, v in e.items() if k in ("message", "locations")}
                                                   for e in errors], "account_id": ACCOUNT_ID}))
        return Response(200, _json({"errors": errors, "extensions": {"request_id": uuid.uuid4().hex}}))

    def _legacy_errors(self, errors: list[dict]) -> Response:
        first = errors[0]
        extensions = first.get("extensions") or {}
        status = extensions.get("status_code", 200)
        body = {"error_code": extensions.get("code"), "status_code": status, "error_message": first["message"],
                "error_data": extensions.get("error_data") or {}, "account_id": ACCOUNT_ID}
        return Response(500 if status == 500 else 200, _json(body))

    # --- control endpoints ---------------------------------------------------------------------

    def handle_control(self, method: str, path: str, body: bytes) -> Response:
        parts = [p for p in path.split("/") if p][1:]  # after "sandbox"
        try:
            if method == "GET" and parts == ["health"]:
                return Response(200, _json({"status": "ok", "url": self.url, "boards": len(self.board_ids())}))
            if method == "GET" and parts == ["stats"]:
                return Response(200, _json(self.stats))
            if method == "GET" and parts == ["journal"]:
                return Response(200, _json(self.journal))
            if parts == ["faults", "next"]:
                # {"kind": "late", "count": 1, "field": "create_subitem", "on": "mutation", "seconds": 2,
                #  "answer": "504"} targets the next requests; {"clear": true} drops what is waiting
                if method == "POST":
                    data = json.loads(body or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError('the body is {"kind": ..., "count": ..., ...} or {"clear": true}')
                    if data.get("clear"):
                        self.clear_targeted_faults()
                    else:
                        self.fail_next(str(data.get("kind")), data.get("count", 1), field=data.get("field"),
                                       on=data.get("on", "mutation"), seconds=data.get("seconds"),
                                       answer=str(data.get("answer", "504")))
                return Response(200, _json({"targets": self.targeted_faults()}))
            if method == "GET" and parts == ["boards"]:
                return Response(200, _json(self.board_ids()))
            if method == "GET" and len(parts) == 2 and parts[0] == "boards":
                try:
                    return Response(200, _json(self.board_dump(parts[1])))
                except KeyError:
                    return Response(404, _json({"error": f"no board {parts[1]}"}))
            if method == "POST" and parts == ["faults"]:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("the body is {\"spec\": \"...\"} or {\"spec\": null}")
                self.set_faults(data.get("spec"))
                return Response(200, _json({"spec": str(self.faults)}))
            if method == "POST" and len(parts) == 3 and parts[0] == "boards" and parts[2] == "labels":
                # {"column": id or title, "label": "...", "present": true|false}: a board owner's edit
                data = json.loads(body or b"{}")
                if not isinstance(data, dict) or not isinstance(data.get("present"), bool):
                    raise ValueError('the body is {"column": ..., "label": ..., "present": true|false}')
                change = self.add_label if data["present"] else self.remove_label
                try:
                    change(parts[1], str(data.get("column", "")), str(data.get("label", "")))
                except KeyError as exc:
                    return Response(404, _json({"error": str(exc.args[0] if exc.args else exc)}))
                return Response(200, _json({"column": data.get("column"), "label": data.get("label"),
                                            "present": data["present"]}))
            if method == "POST" and parts == ["boards"]:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("the body is a JSON object")
                board_id = self.create_board(data.get("name", ""), data.get("columns") or [],
                                             data.get("subitem_columns") or [], data.get("board_id"))
                sub = self._store.boards[board_id].subitems_board_id
                return Response(200, _json({"id": board_id, "subitems_board_id": sub}))
            edited = edit_endpoint(self, method, parts, body)
            if edited is not None:
                return Response(edited[0], _json(edited[1]))
        except KeyError as exc:
            return Response(404, _json({"error": str(exc.args[0] if exc.args else exc)}))
        except (ValueError, TypeError) as exc:
            return Response(400, _json({"error": str(exc)}))
        return Response(404, _json({"error": f"no such endpoint: {method} {path}"}))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 128
    sandbox: SandboxServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (it timed out, or a test cut it) is routine, not a traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("sandbox: client %s went away: %s", client_address, exc)
        else:
            log.exception("sandbox: request from %s failed", client_address)

    def track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def cut_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "monday-sandbox"
    sys_version = ""
    timeout = 300
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        log.debug("sandbox %s - %s", self.address_string(), format % args)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, response: Response) -> None:
        sandbox = self.server.sandbox
        headers = [("Content-Type", response.content_type), ("Content-Length", str(len(response.body))),
                   *response.headers]
        if self.path.split("?")[0].rstrip("/") == "/v2":
            names = {h[0].lower() for h in headers}
            headers += [h for h in sandbox._rate_headers() if h[0].lower() not in names]
        if response.close:
            self.close_connection = True
        head = [f"{self.protocol_version} {response.status} {HTTPStatus(response.status).phrase}\r\n",
                f"Server: {self.server_version}\r\n", f"Date: {self.date_time_string()}\r\n"]
        head += [f"{name}: {value}\r\n" for name, value in headers]
        if self.close_connection:
            head.append("Connection: close\r\n")
        head.append("\r\n")
        self.wfile.write("".join(head).encode("latin-1") + response.body)
        self.log_request(response.status, len(response.body))

    def do_POST(self) -> None:  # noqa: N802 - the base class's naming
        path = self.path.split("?")[0].rstrip("/")
        body = self._body()
        sandbox = self.server.sandbox
        if path == "/v2":
            response = sandbox.handle_graphql(self.headers, body)
            if response is None:  # the "drop" fault: applied, and no answer at all
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                return
            self._send(response)
        elif path.startswith("/sandbox/"):
            self._send(sandbox.handle_control("POST", path, body))
        else:
            self._send(Response(404, _json({"error": f"no such endpoint: POST {path}"})))

    def do_GET(self) -> None:  # noqa: N802
        path = self.path.split("?")[0].rstrip("/")
        if path.startswith("/sandbox/"):
            self._send(self.server.sandbox.handle_control("GET", path, b""))
        elif path == "/v2":
            self._send(Response(405, _json({"errors": [{"message": "Use POST with a JSON body",
                                                        "extensions": {"code": "BadRequest", "status_code": 405}}]}),
                                [("Allow", "POST")]))
        else:
            self._send(Response(404, _json({"error": f"no such endpoint: GET {path}"})))
