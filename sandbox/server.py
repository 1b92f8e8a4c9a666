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

The request path above reads top to bottom in ``SandboxServer``; its error shapes and rate-limit headers
are ``answers.py``, the control methods and ``/sandbox/*`` endpoints ``control.py``, the HTTP handler
``transport.py``, monday's reference schema ``reference.py``, the GraphQL side ``schema.py`` and
``resolvers.py``.

Writes to items a person deleted answer ``ResourceNotFoundException`` ("Item not found in board");
writes to archived items are applied, as monday applies them (see ``resolvers._item``). The board
edits a person makes (delete, archive, restore, change a value, add an item) are ``edits.py``.

Longer than 400 lines: the request path is one sequence of monday's checks in monday's order
(numbered above), read top to bottom.
"""

from __future__ import annotations

import copy
import json
import logging
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any, Self

from . import reference, resolvers, schema
from .answers import Answers
from .control import Control
from .cost import MAX_QUERY_COMPLEXITY, request_cost
from .faults import FaultInjector, FaultSpec, as_spec
from .idempotency import CONFLICT_RETRY_NOMINAL, IDEMPOTENCY_TTL, Idempotency
from .limits import Limits
from .store import Store
from .transport import Handler, Response, SandboxHTTPServer, json_bytes
from .views import Context

log = logging.getLogger(__name__)

CONCURRENCY_RETRY_NOMINAL = 1.0


class SandboxServer(Control, Answers):
    """A monday-compatible GraphQL server on loopback; see the module docstring for the request path.

    The board state lives in memory and, with ``state_path``, in a SQLite file written before each
    mutation request is answered. ``stats`` is a fresh snapshot of the live counters on each access.
    """

    def __init__(
        self,
        state_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        time_scale: float = 1.0,
        faults: FaultSpec | str | None = None,
        seed: int = 0,
        complexity_budget: int = 10_000_000,
        mutation_cost: int = 30_000,
        minute_limit: int = 5_000,
        concurrency_limit: int = 40,
        base_latency: float = 0.0,
        mutation_latency: float = 0.0,
        legacy_errors: bool = False,
        idempotency: bool = True,
        idempotency_ttl: float = IDEMPOTENCY_TTL,
        token: str | None = "sandbox-token",
        items_limit: int = resolvers.ITEMS_PER_BOARD,
        reference_schema: str | Path | bool | None = None,
        journal: bool = False,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        for name, value in (
            ("complexity_budget", complexity_budget),
            ("minute_limit", minute_limit),
            ("concurrency_limit", concurrency_limit),
            ("items_limit", items_limit),
        ):
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
        self._limits = Limits(
            time_scale=self.time_scale,
            complexity_budget=complexity_budget,
            minute_limit=minute_limit,
            concurrency_limit=concurrency_limit,
        )
        self._faults = FaultInjector(as_spec(faults), seed)
        self._idem = Idempotency(idempotency_ttl)
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
            "requests": 0,
            "queries": 0,
            "mutation_requests": 0,
            "mutations": 0,
            "mutation_errors": 0,
            "error_responses": 0,
            "rejected_401": 0,
            "rejected_429": {"complexity": 0, "minute": 0, "concurrency": 0, "storm": 0},
            "faults_injected": {},
            "idempotent_replays": 0,
            "idempotency_conflicts": 0,
            "idempotency_key_mismatches": 0,
            "complexity_used_total": 0,
            "reference_refusals": 0,
            "held": 0,
            "late_applied": 0,
            "late_not_applied": 0,
        }
        self._httpd: SandboxHTTPServer | None = None
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
        httpd = SandboxHTTPServer((self.host, self.port), Handler)
        httpd.sandbox = self
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self.url = f"http://{self.host}:{self.port}/v2"
        self._running = True
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"sandbox:{self.port}", daemon=True
        )
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

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- POST /v2 ------------------------------------------------------------------------------

    def handle_graphql(self, headers, body: bytes) -> Response | None:
        """The answer to one ``POST /v2``; ``None`` means: close the connection without one."""
        self._count("requests")
        if self.token is not None and headers.get("Authorization") != self.token:
            self._count("rejected_401")
            if self.legacy_errors:
                return Response(
                    401,
                    json_bytes(
                        {"error_code": "Unauthorized", "error_message": "Not Authenticated", "status_code": 401}
                    ),
                )
            return Response(
                401,
                json_bytes(
                    {
                        "errors": [
                            {"message": "Unauthorized", "extensions": {"code": "UNAUTHORIZED", "status_code": 401}}
                        ]
                    }
                ),
            )
        if not self._limits.enter():
            response = self._rate_limited("concurrency", self._limits.real(CONCURRENCY_RETRY_NOMINAL))
            return replace(response, headers=[*response.headers, *self._rate_headers()])
        try:
            answer = self._graphql(headers, body)
            # RateLimit as seen while this request is still in flight (it counts against concurrency)
            return None if answer is None else replace(answer, headers=[*answer.headers, *self._rate_headers()])
        finally:
            self._limits.leave()

    def _graphql(self, headers, body: bytes) -> Response | None:
        try:
            payload = json.loads(body.decode("utf-8") if body else "")
        except (ValueError, UnicodeDecodeError):
            return self._error(
                400,
                "JsonParseException",
                "Syntax error in JSON input",
                error_data={"json": body[:2000].decode("utf-8", "replace")},
            )
        variables = payload.get("variables") if isinstance(payload, dict) else None
        if isinstance(variables, str):
            text = variables
            try:
                variables = json.loads(text) if text.strip() else None
            except ValueError:
                return self._error(
                    400,
                    "JsonParseException",
                    "Syntax error in JSON input (variables)",
                    error_data={"json": text[:2000]},
                )
        query = payload.get("query") if isinstance(payload, dict) else None
        operation_name = payload.get("operationName") if isinstance(payload, dict) else None
        if (
            not isinstance(query, str)
            or not query.strip()
            or (variables is not None and not isinstance(variables, dict))
            or (operation_name is not None and not isinstance(operation_name, str))
        ):
            return self._error(
                400,
                "BadRequest",
                'Bad request: POST a JSON body with the GraphQL text under "query" and an optional "variables" object',
            )
        variables = variables or {}
        if self.journal_enabled:
            with self._journal_lock:
                self._journal.append(
                    {
                        "query": query,
                        "variables": copy.deepcopy(variables),
                        "operation_name": operation_name,
                        "idempotency_key": headers.get("Idempotency-Key"),
                        "api_version": headers.get("API-Version"),
                    }
                )

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
            errors = self._reference.document_errors(query, operation_name) or self._reference.variable_errors(
                prepared.document, operation_name, variables
            )
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
        if kind == "slow" and fault is not None:
            time.sleep(self._faults.seconds(fault))
        return response

    def _claim_and_execute(self, prepared: schema.Prepared, variables: dict, key: str | None, query: str) -> Response:
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
                return Response(
                    cached.status, cached.body, [*cached.headers, ("Idempotency-Replayed", "true")], cached.content_type
                )
            if state == "conflict":
                self._count("idempotency_conflicts")
                return self._error(
                    409,
                    "IDEMPOTENCY_CONFLICT",
                    "A request with this Idempotency-Key is still being processed",
                    retry=self._limits.real(CONFLICT_RETRY_NOMINAL),
                    legacy_code="IdempotencyConflict",
                )
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

    def _apply_late(
        self, prepared: schema.Prepared, variables: dict, key: str | None, query: str, seconds: float
    ) -> None:
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
                log.info(
                    "sandbox: a late request %s (HTTP %s%s)",
                    "was applied" if applied else "was not applied",
                    response.status,
                    ", a replay of its key" if replayed else "",
                )
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
            return self._graphql_errors(
                [
                    {
                        "message": f"Query has complexity of {cost}, which exceeds max complexity of "
                        f"{MAX_QUERY_COMPLEXITY}",
                        "extensions": {
                            "code": "maxComplexityExceeded",
                            "status_code": 200,
                            "error_data": {"complexity": cost, "max_complexity": MAX_QUERY_COMPLEXITY},
                        },
                    }
                ]
            )
        taken, before, reset_in = self._limits.charge(cost)
        if not taken:
            return self._complexity_exhausted(cost, before, reset_in)

        delay = self.base_latency + self.mutation_latency * prepared.mutation_fields
        if delay:
            time.sleep(delay)
        ctx = Context(
            self._store,
            self.time_scale,
            self.items_limit,
            self.legacy_errors,
            cost=cost,
            costs=per_key,
            before=before,
            reset_in=reset_in,
        )
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
        return Response(200, json_bytes(body), [("x-request-id", request_id)])
