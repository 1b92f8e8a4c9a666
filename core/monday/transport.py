"""The transport of the monday client: one HTTP round trip, its classification, and the retries.

- One ``requests.Session``; the raw token in ``Authorization``; a pinned ``API-Version``;
  connect and read timeouts; every value in GraphQL variables, never spliced into the query.
- Errors are classified where they arise (``core.monday.errors``). Reads are retried on every
  retryable error. A mutation request is retried only when monday certainly did not apply it
  (429 of every kind, 423, 409, a connection that never opened); when the outcome is unknown
  (5xx, a dropped connection, a read timeout) it raises ``MondayError(outcome_unknown=True)`` and
  the orchestrator reconciles with the board before anything is sent again. A document monday
  refuses as invalid (syntax, schema, variable types) is ``InvalidRequest``: OrderSync's bug, never
  retried, nothing of it applied.
- Waits honour ``retry_in_seconds`` / ``Retry-After``, with exponential backoff and jitter, and
  each wait is logged: in full in the log file, as one short line (``core.foundation.logs.waiting``) on a console
  without --verbose. Without a stated wait, a request that never gets through waits at most
  ``longest_retry_wait(max_attempts)`` in all before the client gives up (61.5 s for 8 tries).

``Transport`` is the base of ``core.monday.client.MondayApiClient``, which builds the documents.
"""

from __future__ import annotations

import http.client
import json
import logging
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import tenacity
import urllib3

from core.foundation.error_types import ErrorType
from core.foundation.logs import SHOWN, waiting
from core.monday.errors import InvalidRequest, MondayError, NetworkError, classify, clip_words
from core.monday.governor import RateGovernor

log = logging.getLogger("core.monday.client")  # one name for every line of the client, as before the split

DEFAULT_API_VERSION = "2026-07"  # the current version in December 2026
MAX_ATTEMPTS = 8  # tries of one request (monday.max_attempts)
BACKOFF_BASE = 0.5  # seconds before the first retry; doubled for each further one ...
BACKOFF_CAP = 30.0  # ... up to this; jitter takes each wait down to half of it, never above


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


class Transport:
    """One request to monday at a time, classified and retried; the client's reads and writes use it."""

    url: str
    timeout: tuple[float, float]
    max_attempts: int
    sleep: Callable[[float], None]
    governor: RateGovernor
    stats: ClientStats
    session: requests.Session

    def close(self) -> None:
        self.session.close()

    # == transport ==================================================================================

    def _post(
        self, query: str, variables: dict[str, Any], *, mutation: bool, idempotency_key: str | None
    ) -> dict[str, Any]:
        """One HTTP round trip; returns the parsed body or raises a classified MondayError."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        self.stats.requests += 1
        try:
            response = self.session.post(
                self.url, json={"query": query, "variables": variables}, headers=headers, timeout=self.timeout
            )
        except requests.exceptions.ConnectTimeout as exc:
            reason = f"no connection within {self.timeout[0]:g} s"
            raise NetworkError(
                f"cannot connect to monday at {self.url}: {reason}",
                error_type=ErrorType.NETWORK,
                retryable=True,
                reason=reason,
                detail=str(exc),
            ) from None
        except requests.exceptions.SSLError as exc:
            reason = "TLS handshake failed"
            raise NetworkError(
                f"cannot connect to monday at {self.url}: {reason}",
                error_type=ErrorType.NETWORK,
                retryable=True,
                reason=reason,
                detail=str(exc),
            ) from None
        except requests.exceptions.ReadTimeout as exc:
            reason = f"no answer within {self.timeout[1]:g} s"
            raise MondayError(
                f"monday did not answer in {self.timeout[1]:.0f} s",
                error_type=ErrorType.TIMEOUT,
                retryable=True,
                outcome_unknown=mutation,
                reason=reason,
                detail=str(exc),
            ) from None
        except requests.exceptions.ConnectionError as exc:
            # A refused connection never carried the request; a broken one may have been applied.
            never_sent = _never_sent(exc)
            reason = _reason(exc)
            raise NetworkError(
                f"connection to monday at {self.url} failed: {reason}",
                error_type=ErrorType.NETWORK,
                retryable=True,
                outcome_unknown=mutation and not never_sent,
                reason=reason,
                detail=str(exc),
            ) from None
        except requests.exceptions.RequestException as exc:
            reason = _reason(exc)
            raise NetworkError(
                f"request to monday at {self.url} failed: {reason}",
                error_type=ErrorType.NETWORK,
                retryable=True,
                outcome_unknown=mutation,
                reason=reason,
                detail=str(exc),
            ) from None
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
            error = self._noted(
                classify(code, message, legacy_status, {"retry_in_seconds": _legacy_retry(message, body)}), retry_after
            )
            if error.error_type == ErrorType.RATE_LIMIT or not body.get("data"):
                raise error
        errors = body.get("errors") or []
        if errors and body.get("data") is None:
            self._refused_as_invalid(errors, query, variables)
        if not any((body.get("data") or {}).values()):
            # Nothing was executed: a request-wide rate limit or conflict answered with HTTP 200.
            for entry in body.get("errors") or []:
                extensions = entry.get("extensions") or {}
                error = classify(extensions.get("code"), entry.get("message", ""), 200, extensions)
                if error.error_type in (ErrorType.RATE_LIMIT, ErrorType.CONFLICT):
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
        log.error(
            "monday refused a request OrderSync built as invalid: %s\nerrors: %s\ndocument: %s\nvariables: %s",
            error.describe(),
            json.dumps(errors, ensure_ascii=False),
            query,
            shown if len(shown) <= 4000 else shown[:4000] + "…",
            extra=SHOWN,
        )  # the caller shows one line
        raise error

    def _noted(self, error: MondayError, retry_after: float | None) -> MondayError:
        """Fill in the header's wait; a rate limit also tells the governor and the stats."""
        if error.retry_after is None:
            error.retry_after = retry_after
        if error.error_type == ErrorType.RATE_LIMIT:
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
            log.warning(
                "%s: %s; retry %d of %d in %.2f s%s",
                what,
                described,
                state.attempt_number,
                self.max_attempts - 1,
                delay,
                f" ({detail})" if detail else "",
                extra=waiting(f"{brief}; try {state.attempt_number + 1} of {self.max_attempts} in {_seconds(delay)}"),
            )

        attempts = 0

        def counted() -> dict[str, Any]:
            nonlocal attempts
            attempts += 1
            return send()

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(retryable),
            wait=wait,
            sleep=self.sleep,
            stop=tenacity.stop_after_attempt(self.max_attempts),
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(counted)
        except MondayError as exc:
            exc.attempts = attempts
            raise


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


_NOT_CONNECTED = (
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    requests.exceptions.ConnectTimeout,
    ConnectionRefusedError,
    socket.gaierror,
)


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
        todo += [
            error.__cause__,
            error.__context__,
            getattr(error, "reason", None),
            *(a for a in error.args if isinstance(a, BaseException)),
        ]
    for error in (exc.__cause__, exc.__context__, exc):  # an OSError of another kind: its own words
        if isinstance(error, OSError) and error.strerror:
            return error.strerror.lower()
    return clip_words(str(exc), 80) or type(exc).__name__
