"""StagingOperations: batches, staging, and every state transition of a staged row, in one object.

The work is done in four parts, each a module of its own, composed here so that callers keep one
object (``ctx.staging``) and one import:

- ``batches`` (``StagingBatches``): claim or resume a customer's batch, its fence (``owned``),
  heartbeat, status and counts; the base of the other parts;
- ``errors`` (``StagingErrors``): the ERR writes — VALIDATION errors, failed rows, duplicates on the
  board, resolution — beside the ERR reads (``ErrorHandler``);
- ``rows`` (``StagingRows``): ``stage`` loads the detected changes in bulk, and the transitions the
  push (``core.push.run``) moves rows through: PENDING → SENDING → API_SUCCESS or API_FAILED, each
  one statement per step, never one per row;
- ``promote`` (``StagingPromotion``): ``promote`` upserts what monday confirmed into the production
  tables and deletes those staging rows; ``cleanup`` removes the rest of the finished rows.
"""

from __future__ import annotations

from core.staging.batches import UNFINISHED_ROW_STATES, Batch, Owner, StagingBatches, utcnow
from core.staging.errors import Failure, StagingErrors
from core.staging.promote import STALE_LINE_HASH, STATISTICS_THRESHOLD, TERMINAL_ROW_STATES, StagingPromotion
from core.staging.rows import StageResult, StagingRows

__all__ = [
    "STALE_LINE_HASH",
    "STATISTICS_THRESHOLD",
    "TERMINAL_ROW_STATES",
    "UNFINISHED_ROW_STATES",
    "Batch",
    "Failure",
    "Owner",
    "StageResult",
    "StagingBatches",
    "StagingErrors",
    "StagingOperations",
    "StagingPromotion",
    "StagingRows",
    "utcnow",
]


class StagingOperations(StagingRows, StagingPromotion):
    """All reads and writes of the staging, error, batch and production tables."""
