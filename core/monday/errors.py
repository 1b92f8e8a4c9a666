"""monday's errors, classified where they arise.

Every failure the client sees becomes a ``MondayError`` with an ``error_type`` (the ERR tables'
vocabulary), monday's ``code``, the HTTP status, whether a retry can succeed, how long monday
asked us to wait, and whether the request may have been applied (``outcome_unknown``): a 500
after a mutation or a dropped connection can mean either, and only reconciliation can tell.
Nothing downstream parses message strings.
"""

from __future__ import annotations

import re
from typing import Any

from core.foundation.error_types import ErrorType
from core.foundation.exceptions import Bug

# monday codes that a retry will never fix.
NEVER_RETRY = {
    "ColumnValueException",
    "InvalidArgumentException",
    "InvalidColumnIdException",
    "InvalidBoardIdException",
    "InvalidUserIdException",
    "InvalidVersionException",
    "ItemNameTooLongException",
    "ItemsLimitationException",
    "CorrectedValueException",
    "CreateBoardException",
    "JsonParseException",
    "missingRequiredPermissions",
    "RecordInvalidException",
    "DeleteLastGroupException",
    "UserUnauthorizedException",
    "USER_ACCESS_DENIED",
    "ResourceNotFoundException",
    "UNAUTHORIZED",
    "Unauthorized",
    "DAILY_LIMIT_EXCEEDED",
}
RATE_LIMIT_CODES = {
    "COMPLEXITY_BUDGET_EXHAUSTED",
    "ComplexityException",
    "complexityBudgetExhausted",
    "RATE_LIMIT_EXCEEDED",
    "RateLimitExceeded",
    "Rate Limit Exceeded",
    "maxConcurrencyExceeded",
    "IP_RATE_LIMIT_EXCEEDED",
    "FIELD_LIMIT_EXCEEDED",
    "FIELD_MINUTE_RATE_LIMIT_EXCEEDED",
    "API_TEMPORARILY_BLOCKED",
}
COLUMN_VALUE_CODES = {"ColumnValueException", "CorrectedValueException", "ItemNameTooLongException"}
NOT_FOUND_CODES = {
    "ResourceNotFoundException",
    "InvalidBoardIdException",
    "InvalidColumnIdException",
    "InvalidArgumentException",
}
AUTH_CODES = {
    "UNAUTHORIZED",
    "Unauthorized",
    "UserUnauthorizedException",
    "USER_ACCESS_DENIED",
    "missingRequiredPermissions",
}
# A document monday refused before running anything: syntax, schema validation, variable types.
# graphql-ruby's static-validation codes (monday's server), the sandbox's, and generic GraphQL ones.
INVALID_REQUEST_CODES = {
    "ParseError",
    "undefinedField",
    "argumentNotAccepted",
    "missingRequiredArguments",
    "selectionMismatch",
    "validationError",
    "argumentLiteralsIncompatible",
    "variableMismatch",
    "variableNotUsed",
    "variableNotDefined",
    "undefinedType",
    "fragmentNotUsed",
    "undefinedFragment",
    "requiredInputObjectAttributes",
    "inputObjectFieldsNotAccepted",
    "invalidVariableValue",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "BadRequest",
    "BAD_REQUEST",
}
# The same, for answers without a code (the pre-2025 shape (a): errors[] with a message only).
_INVALID_REQUEST_MESSAGES = re.compile(
    r"^(Parse error on |Field '[^']+' doesn't exist on type|Field '[^']+' doesn't accept argument|"
    r"Field '[^']+' is missing required arguments|Variable \$\w+ (of type .+ was provided invalid value|"
    r"is declared by|is used by)|(Nullability|Type) mismatch on variable)"
)


class MondayError(Exception):
    """A classified failure of a monday request (or of one alias in it)."""

    def __init__(
        self,
        message: str,
        *,
        error_type: ErrorType = ErrorType.UNKNOWN,
        code: str | None = None,
        http_status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        outcome_unknown: bool = False,
        data: Any = None,
        reason: str | None = None,
        detail: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.error_type = error_type
        self.code = code
        self.http_status = http_status
        self.retryable = retryable
        self.retry_after = retry_after
        self.outcome_unknown = outcome_unknown
        self.data = data
        self.reason = reason  # a few whole words for a console line ("connection refused"), where known
        self.detail = detail  # the transport's own text, for the log file only
        self.attempts = 1  # how many times the client sent the request before giving up

    def __str__(self) -> str:
        return self.message

    def describe(self) -> str:
        parts = [self.message]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.http_status and self.http_status != 200:
            parts.append(f"(HTTP {self.http_status})")
        return " ".join(parts)

    def brief(self) -> str:
        """What went wrong in a few whole words, for a console line: never cut mid-word."""
        if self.reason:
            return self.reason
        if self.http_status and self.http_status >= 500:
            return f"monday answered HTTP {self.http_status}"
        if self.error_type == ErrorType.RATE_LIMIT:
            return "monday asked to wait (rate limit)"
        return clip_words(self.message, 80)


def clip_words(text: str, width: int) -> str:
    """``text``'s first line, cut at a word boundary to at most ``width`` characters (then "…")."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    if len(line) <= width:
        return line
    cut = line[: width - 1].rsplit(" ", 1)[0].rstrip(" ,;:")
    return f"{cut} …"


class AuthError(MondayError):
    """The token is missing, wrong or revoked: nothing can succeed until it is fixed."""


class NetworkError(MondayError):
    """monday could not be reached or the connection broke."""


class InvalidRequest(MondayError, Bug):
    """monday refused the document itself (syntax, schema validation, variable types): a bug in
    OrderSync, not an outage. Never retried; nothing of the request was applied (monday validates the
    whole document before it runs any of it)."""

    def __init__(self, message: str, **kwargs: Any):
        kwargs.setdefault("error_type", ErrorType.INVALID_REQUEST)
        kwargs["retryable"] = False
        kwargs["outcome_unknown"] = False
        super().__init__(message, **kwargs)


def is_invalid_request(code: str | None, message: str) -> bool:
    return code in INVALID_REQUEST_CODES or (code is None and bool(_INVALID_REQUEST_MESSAGES.match(message or "")))


def classify(
    code: str | None, message: str, http_status: int | None, extensions: dict[str, Any] | None = None
) -> MondayError:
    """One monday error (a GraphQL ``errors[]`` entry, a legacy top-level error or an HTTP status)."""
    extensions = extensions or {}
    retry_in = extensions.get("retry_in_seconds")
    if retry_in is None:
        retry_in = (
            (extensions.get("error_data") or {}).get("retry_in_seconds")
            if isinstance(extensions.get("error_data"), dict)
            else None
        )
    status = extensions.get("status_code") or http_status
    kwargs: dict[str, Any] = {
        "code": code,
        "http_status": http_status,
        "retry_after": float(retry_in) if retry_in is not None else None,
    }
    if is_invalid_request(code, message):
        return InvalidRequest(message or "invalid request", **kwargs)
    if code in AUTH_CODES or status in (401, 403):
        return AuthError(message or "not authorised", error_type=ErrorType.AUTH, **kwargs)
    if code in RATE_LIMIT_CODES or status == 429:
        return MondayError(message or "rate limited", error_type=ErrorType.RATE_LIMIT, retryable=True, **kwargs)
    if code == "IDEMPOTENCY_CONFLICT" or status == 409:
        return MondayError(message or "conflict", error_type=ErrorType.CONFLICT, retryable=True, **kwargs)
    if status == 423:
        return MondayError(message or "resource locked", error_type=ErrorType.SERVER, retryable=True, **kwargs)
    if code in COLUMN_VALUE_CODES:
        return MondayError(message, error_type=ErrorType.COLUMN_VALUE, **kwargs)
    if code in NOT_FOUND_CODES or status == 404:
        return MondayError(message, error_type=ErrorType.NOT_FOUND, **kwargs)
    if code in NEVER_RETRY:
        return MondayError(message, error_type=ErrorType.UNKNOWN, **kwargs)
    if status is not None and int(status) >= 500:
        return MondayError(message or f"server error {status}", error_type=ErrorType.SERVER, retryable=True, **kwargs)
    return MondayError(message or "unknown error", error_type=ErrorType.UNKNOWN, **kwargs)
