"""Archiving many items with one mutation: ``bulk_archive_items``, a job monday runs asynchronously.

``archive_item`` costs a mutation (30,000 complexity points) per item; ``bulk_archive_items`` costs one
for the whole list and answers with a job id only. ``job_status`` tells when the job ended. Neither
says which item was archived, so the caller reads the items' states afterwards (``item_states``):
the board, not the job, confirms each item.

Both fields are in monday's published schema from API 2026-10 on. Where monday refuses them (an
older API version, a stand-in without them, an account without the feature), ``BulkArchiveUnavailable``
says so and the caller archives item by item. A revoked token or an unreachable monday is raised
as it is: it stops every other request too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

from core.foundation.error_types import ErrorType
from core.monday.client import COMPLEXITY_FIELD, MondayApiClient
from core.monday.errors import AuthError, InvalidRequest, MondayError, classify

BULK_ARCHIVE = (
    "mutation ($board: ID!, $ids: [ID!]!) { "
    + COMPLEXITY_FIELD
    + " bulk_archive_items(board_id: $board, item_ids: $ids) { job_id } }"
)
JOB_STATUS = "query ($job: ID!) { job_status(job_id: $job) { id status error } }"

ENDED = frozenset({"COMPLETED", "FAILED", "EXPIRED", "CANCELLED"})  # JobState values after which nothing changes
JOB_WAIT_SECONDS = 120.0  # how long the job is polled before its items' states are read anyway
FIRST_POLL_SECONDS = 0.25


class BulkArchiveUnavailable(MondayError):
    """monday refused ``bulk_archive_items`` or ``job_status`` as a document: archive item by item."""


def start_bulk_archive(client: MondayApiClient, board_id: str, item_ids: Sequence[str]) -> str | None:
    """Send one ``bulk_archive_items`` for ``item_ids``; returns the job id (None if monday gave none).

    Sent like every mutation: under an Idempotency-Key, one request in flight per board, priced by
    the governor as one mutation, retried only where monday certainly did not apply it. Archiving is
    idempotent, so an outcome left unknown is settled by reading the items' states, like an answer.
    """
    key = str(uuid.uuid4())
    variables = {"board": str(board_id), "ids": [str(i) for i in item_ids]}
    client.governor.reserve(1)
    sent_at = client.governor.clock()

    def send() -> dict[str, Any]:
        nonlocal sent_at
        sent_at = client.governor.clock()
        return client._post(BULK_ARCHIVE, variables, mutation=True, idempotency_key=key)

    try:
        with client.board_lock(board_id):
            body = client._with_retries(send, mutation=True, what=f"bulk archive of {len(item_ids)} items")
    except MondayError as exc:
        if _refused(exc):
            raise _unavailable("bulk_archive_items", exc) from None
        raise
    client.stats.mutation_requests += 1
    client.stats.mutations += 1
    data = body.get("data") or {}
    client.governor.observe(data.get("complexity"), body.get("_headers"), 1, sent_at=sent_at)
    errors = body.get("errors") or []
    answer = data.get("bulk_archive_items")
    if errors and not answer:
        first = errors[0]
        extensions = first.get("extensions") or {}
        error = classify(extensions.get("code"), first.get("message", "bulk archive failed"), 200, extensions)
        if isinstance(error, AuthError):
            raise error
        raise _unavailable("bulk_archive_items", error)  # refused (a 429 inside the answer too): one by one
    job_id = (answer or {}).get("job_id")
    return str(job_id) if job_id is not None else None


def wait_for_job(
    client: MondayApiClient,
    job_id: str,
    wait: Callable[[float, str], None],
    stop: Callable[[], bool] = lambda: False,
    limit: float = JOB_WAIT_SECONDS,
) -> str | None:
    """Poll ``job_status`` until the job ends; its final state, or None when it had not ended in time.

    The wait doubles from a quarter of a second. ``stop`` (a cancel) ends the polling early: the
    caller reads the states either way, so an unfinished job only leaves some items to archive later.
    A job monday no longer knows (it keeps them for a while) counts as not ended.
    """
    delay, waited = FIRST_POLL_SECONDS, 0.0
    while True:
        try:
            data = client.query(JOB_STATUS, {"job": job_id})
        except MondayError as exc:
            if exc.error_type == ErrorType.NOT_FOUND:
                return None
            if _refused(exc):
                raise _unavailable("job_status", exc) from None
            raise
        status = str((data.get("job_status") or {}).get("status") or "")
        if status in ENDED:
            return status
        if stop() or waited >= limit:
            return None
        wait(delay, f"monday is archiving items (job {job_id}, {status.lower() or 'queued'})")
        waited += delay
        delay = min(delay * 2, 8.0)


def _refused(exc: MondayError) -> bool:
    """monday refused the request itself, for a reason of its own: not the token, not an outage, and
    certainly not applied (a document an API version does not know, a feature the account lacks)."""
    if isinstance(exc, AuthError) or exc.outcome_unknown:
        return False
    return isinstance(exc, InvalidRequest) or not exc.retryable


def _unavailable(field: str, exc: MondayError) -> BulkArchiveUnavailable:
    return BulkArchiveUnavailable(
        f"monday refused {field} ({exc.describe()}); items are archived one by one",
        error_type=ErrorType.INVALID_REQUEST,
        code=exc.code,
        http_status=exc.http_status,
    )
