"""The answers the request path gives besides a result: monday's error shapes (current and legacy),
rate-limit refusals, the injected HTTP faults, and the rate-limit headers.

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

import logging
import math
import threading
import uuid
from http import HTTPStatus
from typing import Any

from .faults import Fault, FaultInjector
from .limits import Limits
from .transport import Response, json_bytes

log = logging.getLogger(__name__)

ACCOUNT_ID = 12345678
_GATEWAY_HTML = (
    "<html>\r\n<head><title>{code} {reason}</title></head>\r\n<body>\r\n<center><h1>{code} {reason}"
    "</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


def _num(value: float) -> str:
    """A structured-field number: an integer when whole, else up to three decimals."""
    if abs(value - round(value)) < 1e-9:
        return str(round(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


class Answers:
    """The answers, mixed into ``SandboxServer`` (which sets the attributes below), and its counters."""

    time_scale: float
    legacy_errors: bool
    _limits: Limits
    _faults: FaultInjector
    _stats: dict[str, Any]
    _stats_lock: threading.Lock

    def _count(self, key: str, sub: str | None = None, n: int = 1) -> None:
        with self._stats_lock:
            if sub is None:
                self._stats[key] += n
            else:
                bucket = self._stats[key]
                bucket[sub] = bucket.get(sub, 0) + n

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
            (
                "RateLimit-Policy",
                (
                    f'"minuteRate";q={lim.minute_limit};w={w}, "concurrency";q={lim.concurrency_limit};'
                    f'qu="concurrent-requests", "complexityMinute";q={lim.complexity_budget};w={w}'
                ),
            ),
            (
                "RateLimit",
                (
                    f'"minuteRate";r={snap["minute_left"]}, "concurrency";r={snap["concurrency_left"]}, '
                    f'"complexityMinute";r={snap["complexity_left"]};t={_num(snap["reset_in"])}'
                ),
            ),
        ]

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retry: float | None = None,
        error_data: dict | None = None,
        legacy_code: str | None = None,
        http_status: int | None = None,
        legacy_message: str | None = None,
    ) -> Response:
        headers: list[tuple[str, str]] = []
        extensions: dict[str, Any] = {"code": code, "status_code": status}
        if error_data is not None:
            extensions["error_data"] = error_data
        if retry is not None:
            retry_in, after = self._retry(retry)
            extensions["retry_in_seconds"] = retry_in
            headers.append(("Retry-After", after))
        if self.legacy_errors:
            body: dict[str, Any] = {
                "error_code": legacy_code or code,
                "status_code": status,
                "error_message": legacy_message or message,
                "error_data": dict(error_data or {}),
                "account_id": ACCOUNT_ID,
            }
            if retry is not None:
                body["error_data"]["retry_in_seconds"] = extensions["retry_in_seconds"]
        else:
            body = {"errors": [{"message": message, "extensions": extensions}]}
        return Response(http_status or status, json_bytes(body), headers)

    def _rate_limited(self, kind: str, retry: float) -> Response:
        self._count("rejected_429", kind)
        if kind == "concurrency":
            return self._error(
                429,
                "maxConcurrencyExceeded",
                "Concurrency limit exceeded",
                retry=retry,
                legacy_code="maxConcurrencyExceeded",
            )
        if kind == "minute":
            return self._error(
                429, "RATE_LIMIT_EXCEEDED", "Minute limit rate exceeded", retry=retry, legacy_code="RateLimitExceeded"
            )
        return self._error(
            429,
            "RATE_LIMIT_EXCEEDED",
            "Rate limit exceeded, please retry later",
            retry=retry,
            legacy_code="RateLimitExceeded",
        )

    def _complexity_exhausted(self, cost: int, left: int, reset_in: float) -> Response:
        self._count("rejected_429", "complexity")
        retry_in, after = self._retry(reset_in)
        budget = self._limits.complexity_budget
        message = (
            f"Complexity budget exhausted, query cost {cost} budget remaining {left} out of {budget} "
            f"reset in {math.ceil(reset_in)} seconds"
        )
        if self.legacy_errors:  # the pre-2025 shape, delivered with HTTP 200 (airbyte#31539)
            body = {
                "error_code": "ComplexityException",
                "status_code": 429,
                "error_message": message,
                "error_data": {
                    "complexity": cost,
                    "complexity_budget_left": left,
                    "complexity_budget_limit": budget,
                    "retry_in_seconds": retry_in,
                },
                "account_id": ACCOUNT_ID,
            }
            return Response(200, json_bytes(body), [("Retry-After", after)])
        body = {
            "errors": [
                {
                    "message": message,
                    "extensions": {
                        "code": "COMPLEXITY_BUDGET_EXHAUSTED",
                        "status_code": 429,
                        "retry_in_seconds": retry_in,
                    },
                }
            ]
        }
        return Response(429, json_bytes(body), [("Retry-After", after)])

    def _fault(self, kind: str, fault: Fault | None = None) -> Response:
        if kind == "500":
            if self.legacy_errors:
                return Response(500, json_bytes({"error_message": "Internal server error", "status_code": 500}))
            return self._error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        if kind in ("502", "504"):
            code = int(kind)
            reason = HTTPStatus(code).phrase
            return Response(
                code, _GATEWAY_HTML.format(code=code, reason=reason).encode(), content_type="text/html; charset=utf-8"
            )
        if kind == "locked":
            seconds = self._faults.seconds(fault) if fault is not None else self._faults.spec.lock_seconds
            return self._error(
                423,
                "RESOURCE_LOCKED",
                "Resource is currently locked",
                retry=self._limits.real(seconds),
                legacy_code="ResourceLocked",
            )
        raise AssertionError(kind)

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
            return Response(
                200,
                json_bytes(
                    {
                        "errors": [{k: v for k, v in e.items() if k in ("message", "locations")} for e in errors],
                        "account_id": ACCOUNT_ID,
                    }
                ),
            )
        return Response(200, json_bytes({"errors": errors, "extensions": {"request_id": uuid.uuid4().hex}}))

    def _legacy_errors(self, errors: list[dict]) -> Response:
        first = errors[0]
        extensions = first.get("extensions") or {}
        status = extensions.get("status_code", 200)
        body = {
            "error_code": extensions.get("code"),
            "status_code": status,
            "error_message": first["message"],
            "error_data": extensions.get("error_data") or {},
            "account_id": ACCOUNT_ID,
        }
        return Response(500 if status == 500 else 200, json_bytes(body))
