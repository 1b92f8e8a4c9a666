"""The request stream: store a request, send it, resend it under the same key, settle it.

Every mutation request is stored in the ledger (``core.staging.ledger``) with its Idempotency-Key in the
fenced transaction that marks its rows SENDING, and every resend reuses the stored text and key:

- an answer settles it (per alias: ids, failures, rows to send again);
- an unknown outcome (a 5xx after sending, a dropped connection, a read timeout) or a 409 for a
  key still in flight is resent under the same key while monday can still replay it
  (``key_window`` after the first send): monday answers a repeat from its cache, never twice;
- when the key cannot be honoured (``idempotency_keys`` off, or too old), the rows are looked up
  on the board, only after monday could no longer apply the request (``core.push.reconcile``);
- a send monday certainly did not apply (a 429 after its retries, a revoked token, an invalid
  document) drops the request only if no earlier send of it may have been applied.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from core.foundation.error_types import ErrorType
from core.foundation.exceptions import OrderSyncError
from core.foundation.logs import waiting
from core.monday.client import MondayApiClient, Mutation, Outcome, backoff, build_mutation, longest_retry_wait
from core.monday.errors import AuthError, InvalidRequest, MondayError
from core.staging.ledger import GROUP, ITEM, MOVE, SUB, RequestLedger, Settlement, StoredRequest
from core.staging.operations import Failure

log = logging.getLogger(__name__)

MONDAY_REPLAY_SECONDS = 30 * 60  # how long monday answers a repeated Idempotency-Key from its cache
MAX_UNKNOWN_RESENDS = 5  # resends of one request in one run whose outcome stays unknown


def longest_resend_wait() -> float:
    """The most ``deliver`` waits between the resends of one request whose outcome stays unknown."""
    return sum(backoff(resend) for resend in range(1, MAX_UNKNOWN_RESENDS + 1))


def unreachable_wait_bound(max_attempts: int) -> float:
    """The most a run waits between tries once monday cannot be reached (refused connections, 5xx
    answers without a stated wait), before it gives up with exit 3.

    The run ends at the first request that fails for good. A read, or a mutation request that never
    got through, fails after the client's ``max_attempts`` tries (``longest_retry_wait``). A mutation
    request answered 5xx has an unknown outcome and is resent under its key, at most
    ``MAX_UNKNOWN_RESENDS`` times (``longest_resend_wait``); each of its sends may itself be tried
    ``max_attempts`` times when connections are refused in between. The bound is that longest way:
    every send of the request tried to the end. Each try's own time comes on top: nothing for a
    refused connection, at most the connect or read timeout for one that hangs.
    """
    return (MAX_UNKNOWN_RESENDS + 1) * longest_retry_wait(max_attempts) + longest_resend_wait()


class MondayNoAnswer(MondayError):
    """monday kept answering a stored request with an unknown outcome; it stays stored and resumes later."""


@dataclass
class StreamSettings:
    idempotency_keys: bool = True  # monday honours Idempotency-Key
    key_window: float = MONDAY_REPLAY_SECONDS - 5 * 60  # resend under the same key only this long after the first send
    late_apply: float = 120.0  # how long after a send monday could still apply it


@dataclass
class Answer:
    """A request's answer, alias by alias."""

    request: StoredRequest
    outcomes: list[Outcome]

    def by_row(self) -> dict[tuple[str, Any], list[tuple[str, str, Outcome]]]:
        """(table kind, staged id) -> [(alias kind, field, outcome)], items and their moves together."""
        rows: dict[tuple[str, Any], list[tuple[str, str, Outcome]]] = {}
        for (kind, ref, field), outcome in zip(self.request.aliases, self.outcomes, strict=True):
            table = ITEM if kind in (ITEM, MOVE) else kind
            rows.setdefault((table, ref), []).append((kind, field, outcome))
        return rows


class RequestStream:
    """Sends the stored requests of one batch to one board."""

    def __init__(
        self,
        client: MondayApiClient,
        ledger: RequestLedger,
        board_id: str,
        settings: StreamSettings,
        wait: Callable[[float, str], None],
    ):
        self.client = client
        self.ledger = ledger
        self.board_id = board_id
        self.settings = settings
        self.wait = wait

    def open(self, batch_id: int, mutations: list[Mutation]) -> tuple[StoredRequest, bool]:
        """Store a request for ``mutations`` (keys ``(kind, ref, field)``); returns it and the cancel flag."""
        query, variables = build_mutation(mutations)
        return self.ledger.open(batch_id, query, variables, [m.key for m in mutations])

    def can_replay(self, request: StoredRequest) -> bool:
        """Whether a resend under the request's key is answered from monday's cache if it was applied."""
        if not self.settings.idempotency_keys:
            return False
        since_first, _ = self.ledger.seconds_since(request)
        return since_first < self.settings.key_window

    def deliver(self, request: StoredRequest) -> Answer | None:
        """Send the request until monday answers it; None when only a look-up on the board can settle it.

        Raises MondayError when monday refused it as a whole or could not be reached; the request
        stays stored if a send of it may have been applied, so the next run settles it first.
        """
        unknown = 0
        while True:
            self.ledger.note_send(request)
            try:
                outcomes = self.client.send_mutations(
                    self.board_id, request.query, request.variables, request.count, request.key
                )
                return Answer(request, outcomes)
            except MondayError as exc:
                if exc.outcome_unknown or exc.error_type == ErrorType.CONFLICT:
                    unknown += 1
                    if not self.can_replay(request):
                        log.warning(
                            "request %s (%d mutations): %s; its Idempotency-Key cannot be replayed, so its "
                            "rows are looked up on the board",
                            request.request_id,
                            request.count,
                            exc.describe(),
                        )
                        return None
                    if unknown > MAX_UNKNOWN_RESENDS:
                        raise MondayNoAnswer(
                            f"monday did not answer request {request.request_id} after {unknown} sends "
                            f"({exc.describe()}); it is kept and settled by the next run",
                            error_type=ErrorType.TIMEOUT,
                            retryable=True,
                        ) from None
                    delay = backoff(unknown)
                    log.warning(
                        "request %s (%d mutations): %s; sending it again under the same Idempotency-Key "
                        "in %.1f s (resend %d of %d)",
                        request.request_id,
                        request.count,
                        exc.describe(),
                        delay,
                        unknown,
                        MAX_UNKNOWN_RESENDS,
                        extra=waiting(
                            f"{exc.brief()}; sending again in {delay:.1f} s (resend {unknown} of {MAX_UNKNOWN_RESENDS})"
                        ),
                    )
                    self.client.stats.retries += 1  # a resend is a retry in the batch's counts
                    self.client.stats.waits_seconds += delay
                    self.wait(delay, "before resending a request whose outcome is unknown")
                    continue
                self.ledger.note_refused(request)
                if request.maybe_applied:
                    raise  # an earlier send may have been applied: it stays stored, the next run settles it
                if exc.retryable or isinstance(exc, (AuthError, InvalidRequest)):
                    self.ledger.release(request)  # nothing of it was applied: its rows go back to PENDING
                    raise
                # Refused as a whole for a reason of its own (HTTP 400, say): each row fails with it.
                return Answer(request, [Outcome(i, error=exc) for i in range(request.count)])


def classify_answer(answer: Answer) -> tuple[Settlement, dict[tuple[str, Any], str], list[tuple[str, int]]]:
    """Split an answer into a settlement, rows to check on the board, and rows without a result.

    Returns (settlement, {(table kind, staged id): why the board must be asked}, rows to look up).
    A NOT_FOUND answer to a write, or an update that reports its item archived, is checked on
    the board before it is recorded; a removal that meets "not found" is done.
    """
    settlement = Settlement()
    check: dict[tuple[str, Any], str] = {}
    look_up: list[tuple[str, int]] = []
    for (table, ref), results in answer.by_row().items():
        if table == GROUP:
            ((_, _, outcome),) = results
            if outcome.error is None:
                if outcome.id is None:  # never: monday answers create_group with the group's id
                    raise OrderSyncError(f"monday created the group {ref!r} without telling its id")
                settlement.groups[ref] = outcome.id
            elif outcome.error.error_type in (ErrorType.RATE_LIMIT, ErrorType.CONFLICT):
                continue  # not created: created again by the next request
            else:
                raise OrderSyncError(f"monday refused to create the group {ref!r}: {outcome.error.describe()}")
            continue
        errors = [(field, o.error) for _, field, o in results if o.error is not None]
        archived = [o for _, field, o in results if o.ok and o.state in ("archived", "deleted")]
        if not errors and not archived:
            first = next(o.id for kind, _, o in results if kind in (ITEM, SUB))
            (settlement.items_ok if table == ITEM else settlement.subs_ok).append((ref, first))
            continue
        if archived and not errors:
            check[(table, ref)] = "the item it wrote to is not active on the board"
            continue
        field, error = errors[0]
        if error.error_type == ErrorType.NOT_FOUND and field in ("delete_item", "archive_item"):
            # Sent again after an unknown outcome, or removed on the board meanwhile: done (an item
            # settles as an item, a size as a size).
            (settlement.items_ok if table == ITEM else settlement.subs_ok).append((ref, None))
        elif error.error_type == ErrorType.NOT_FOUND:
            check[(table, ref)] = error.describe()
        elif error.outcome_unknown:
            look_up.append((table, ref))
        elif error.error_type in (ErrorType.RATE_LIMIT, ErrorType.CONFLICT):
            (settlement.items_again if table == ITEM else settlement.subs_again).append(ref)
        else:
            failure = Failure(ref, error.error_type, error.describe(), error.retryable, error.code, error.http_status)
            (settlement.item_failures if table == ITEM else settlement.sub_failures).append(failure)
    return settlement, check, look_up
