"""Asking the board: rows whose request can no longer be replayed, and what people did on the board.

**Look-up.** When a request's Idempotency-Key can no longer be honoured (older than monday's
replay window, or a board that ignores keys), its rows are looked up on the board, but only after
monday could no longer apply the request (``late_apply`` seconds after its last send, by the
database's clock): created items by their SYNC KEY, matched exactly in our code (monday's text search
is case-insensitive, so it only gives candidates); created subitems by parent and name. Found ids
are adopted; updates, moves and removals are idempotent and are sent again; the rest is sent again
in a new request under a new key.

**People on the board.** Before a staged line writes to an item that exists, the items' states are
read in bulk. An item deleted on the board is re-created with all its current sizes (or, with
``sync.deleted_items = "report"``, held back with an open error that says so); an archived item is
never written silently: it is held back with an open error naming the choice; a deleted subitem is
re-created. A removal that finds its item already gone or archived is done.

Longer than 400 lines: the look-up and the board edits ask the board the same question (what it
holds for a sync key) with the same reads, and change together.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.db.clock import db_utcnow
from core.detect.changes import _chunks
from core.foundation.error_types import ErrorType
from core.monday.client import MondayApiClient
from core.staging.ledger import GROUP, ITEM, MOVE, SUB, RequestLedger, Settlement, StoredRequest
from core.staging.operations import STALE_LINE_HASH, Failure, StagingOperations

log = logging.getLogger(__name__)

ACTIVE, ARCHIVED, DELETED = "active", "archived", "deleted"
RECREATE, REPORT = "recreate", "report"


def lowest_id(ids: Iterable[str]) -> str:
    """The oldest of several monday ids (they grow with time)."""
    return min(ids, key=lambda i: (len(str(i)), str(i)))


# == what people did on the board ===================================================================


@dataclass
class BoardEdits:
    """What a state check found, decided per staged row; applied in one fenced transaction."""

    recreate_lines: list[int] = field(default_factory=list)  # stg_id: re-create the item and all its sizes
    recreate_subs: list[int] = field(default_factory=list)  # stg_sub_id: re-create the subitem
    # nothing left to do (a removal already done)
    items_done: list[tuple[int, str | None]] = field(default_factory=list)
    subs_done: list[tuple[int, str | None]] = field(default_factory=list)
    held: dict[int, tuple[str, str]] = field(default_factory=dict)  # stg_id -> (board state, message)
    subs_held: dict[int, str] = field(default_factory=dict)  # stg_sub_id -> message

    def __bool__(self) -> bool:
        return bool(
            self.recreate_lines
            or self.recreate_subs
            or self.items_done
            or self.subs_done
            or self.held
            or self.subs_held
        )

    def describe(self) -> str:
        parts = []
        if self.recreate_lines:
            parts.append(f"{len(self.recreate_lines)} items deleted on the board are re-created")
        if self.recreate_subs:
            parts.append(f"{len(self.recreate_subs)} subitems deleted on the board are re-created")
        deleted = sum(1 for state, _ in self.held.values() if state == s.BOARD_DELETED)
        if deleted:
            parts.append(f"{deleted} items deleted on the board are reported")
        archived = len(self.held) - deleted
        if archived:
            parts.append(f"{archived} items archived on the board are held back")
        if self.subs_held:
            parts.append(f"{len(self.subs_held)} subitems archived on the board are held back")
        return "; ".join(parts)


def decide_items(
    rows: Iterable[dict[str, Any]], states: dict[str, str], removal_policy: str, deleted_policy: str, edits: BoardEdits
) -> None:
    """Staged item rows whose monday item is not active any more."""
    for row in rows:
        item_id = row["monday_item_id"]
        state = states.get(str(item_id), DELETED)  # not returned at all: gone
        if state == ACTIVE:
            continue
        stg_id = row["stg_id"]
        if row["action"] == s.REMOVE:
            # The line left the source and the item is gone or archived already: nothing to write.
            if state == DELETED or removal_policy != "delete":
                edits.items_done.append((stg_id, item_id))
            continue
        if state == DELETED and deleted_policy == RECREATE:
            edits.recreate_lines.append(stg_id)
        elif state == DELETED:
            edits.held[stg_id] = (
                s.BOARD_DELETED,
                (
                    f"item {item_id} was deleted on the board; OrderSync did not re-create it because "
                    'sync.deleted_items = "report". To put the line back on the board, retry this error: '
                    "the item is created again with all its sizes"
                ),
            )
        else:
            edits.held[stg_id] = (
                s.BOARD_ARCHIVED,
                (
                    f"item {item_id} is archived on the board, so OrderSync did not write into it. Restore it "
                    "from the board's archive and retry this error to update it, or delete it on the board and "
                    "retry to create it anew"
                ),
            )


def decide_subitems(rows: Iterable[dict[str, Any]], states: dict[str, str], edits: BoardEdits) -> None:
    """Staged subitem rows whose monday subitem is not active any more (their parent is)."""
    for row in rows:
        sub_id = row["monday_subitem_id"]
        state = states.get(str(sub_id), DELETED)
        if state == ACTIVE:
            continue
        stg_sub_id = row["stg_sub_id"]
        if row["action"] == s.REMOVE:
            edits.subs_done.append((stg_sub_id, sub_id))
        elif state == DELETED:
            edits.recreate_subs.append(stg_sub_id)
        else:
            edits.subs_held[stg_sub_id] = (
                f"subitem {sub_id} is archived on the board, so OrderSync did not write into it; restore it "
                "from the archive and retry, or delete it on the board and retry to create it anew"
            )


def apply_board_edits(
    ops: StagingOperations, conn: Connection, batch_id: int, board_id: str, edits: BoardEdits
) -> None:
    """The decisions of ``edits`` inside the caller's fenced transaction, set-based."""
    if not edits:
        return
    t, st, p, ps = s.stg_items, s.stg_subitems, s.items, s.subitems
    ops._record_item_ids(conn, edits.items_done)
    ops._record_subitem_ids(conn, edits.subs_done)
    if edits.recreate_lines:
        _recreate_lines(conn, batch_id, board_id, edits.recreate_lines)
    if edits.recreate_subs:
        for chunk in _chunks(edits.recreate_subs):
            keys = conn.execute(
                sa.select(st.c.parent_sync_key, st.c.size_label).where(st.c.stg_sub_id.in_(chunk))
            ).all()
            conn.execute(
                sa.update(st)
                .where(st.c.stg_sub_id.in_(chunk))
                .values(
                    action=s.CREATE,
                    state=s.PENDING,
                    monday_subitem_id=None,
                    changed_columns=None,
                    recreate=True,
                    request_id=None,
                )
            )
            if keys:  # one executemany, not a statement per size
                conn.execute(
                    sa.delete(ps).where(
                        ps.c.board_id == board_id,
                        ps.c.parent_sync_key == sa.bindparam("b_key"),
                        ps.c.size_label == sa.bindparam("b_size"),
                    ),
                    [{"b_key": key, "b_size": size} for key, size in keys],
                )
    if edits.held:
        # The line's sizes wait with it: its one error says why, so no error is recorded per size.
        for chunk in _chunks(list(edits.held)):
            conn.execute(
                sa.update(st)
                .where(st.c.parent_stg_id.in_(chunk), st.c.state.in_((s.PENDING, s.WAITING_PARENT, s.SENDING)))
                .values(
                    state=s.API_FAILED, request_id=None, last_error="held back with its item (see the item's error)"
                )
            )
        failures = [
            Failure(
                stg_id,
                ErrorType.DELETED_ON_BOARD if state == s.BOARD_DELETED else ErrorType.ARCHIVED_ON_BOARD,
                message,
                True,
            )
            for stg_id, (state, message) in edits.held.items()
        ]
        ops._record_failures(conn, batch_id, t, failures)
        for state in (s.BOARD_DELETED, s.BOARD_ARCHIVED):
            ids = [stg_id for stg_id, (st_, _) in edits.held.items() if st_ == state]
            for chunk in _chunks(ids):
                held_keys = sa.select(t.c.sync_key).where(t.c.stg_id.in_(chunk)).scalar_subquery()
                # What the item holds now is unknown: the next sync of the line sends every column.
                conn.execute(
                    sa.update(p)
                    .where(p.c.board_id == board_id, p.c.sync_key.in_(held_keys))
                    .values(board_state=state, line_hash=STALE_LINE_HASH, source_hash=None, values_json="{}")
                )
    if edits.subs_held:
        ops._record_failures(
            conn,
            batch_id,
            st,
            [
                Failure(stg_sub_id, ErrorType.ARCHIVED_ON_BOARD, message, True)
                for stg_sub_id, message in edits.subs_held.items()
            ],
        )


def _recreate_lines(conn: Connection, batch_id: int, board_id: str, stg_ids: list[int]) -> None:
    """Re-stage lines whose item a person deleted: the item and every current size, created anew."""
    t, st, p, ps = s.stg_items, s.stg_subitems, s.items, s.subitems
    for chunk in _chunks(stg_ids):
        lines = conn.execute(sa.select(t.c.stg_id, t.c.sync_key, t.c.customer).where(t.c.stg_id.in_(chunk))).all()
        conn.execute(
            sa.update(t)
            .where(t.c.stg_id.in_(chunk))
            .values(
                action=s.CREATE,
                state=s.PENDING,
                monday_item_id=None,
                changed_columns=None,
                recreate=True,
                request_id=None,
            )
        )
        # A size that left the source has nothing to re-create; the others are created under the new item.
        conn.execute(sa.delete(st).where(st.c.parent_stg_id.in_(chunk), st.c.action == s.REMOVE))
        conn.execute(
            sa.update(st)
            .where(st.c.parent_stg_id.in_(chunk), st.c.state != s.INVALID)
            .values(
                action=s.CREATE,
                state=s.WAITING_PARENT,
                monday_subitem_id=None,
                parent_monday_item_id=None,
                changed_columns=None,
                recreate=True,
                request_id=None,
            )
        )
        now = db_utcnow()
        # Set-based over the chunk's lines, never a statement per line: the line's staging row is
        # joined to its production sizes by key.
        staged = (
            sa.select(st.c.size_label)
            .where(st.c.parent_stg_id == t.c.stg_id, st.c.size_label == ps.c.size_label)
            .exists()
        )
        # Unchanged sizes were not staged: they come from production, where they were last written.
        conn.execute(
            sa.insert(st).from_select(
                [
                    "batch_id",
                    "parent_stg_id",
                    "customer",
                    "parent_sync_key",
                    "size_label",
                    "size_position",
                    "action",
                    "state",
                    "subitem_name",
                    "quantity",
                    "values_json",
                    "content_hash",
                    "attempts",
                    "created_at",
                    "recreate",
                ],
                sa.select(
                    sa.literal(batch_id, sa.Integer),
                    t.c.stg_id,
                    ps.c.customer,
                    ps.c.parent_sync_key,
                    ps.c.size_label,
                    sa.literal(0, sa.Integer),
                    sa.literal(s.CREATE, sa.String),
                    sa.literal(s.WAITING_PARENT, sa.String),
                    ps.c.subitem_name,
                    ps.c.quantity,
                    ps.c.values_json,
                    ps.c.content_hash,
                    sa.literal(0, sa.Integer),
                    now,
                    sa.true(),
                )
                .select_from(ps.join(t, ps.c.parent_sync_key == t.c.sync_key))
                .where(t.c.stg_id.in_(chunk), ps.c.board_id == board_id, ps.c.is_removed == sa.false(), ~staged),
            )
        )
        keys = sa.select(t.c.sync_key).where(t.c.stg_id.in_(chunk))
        conn.execute(sa.delete(ps).where(ps.c.board_id == board_id, ps.c.parent_sync_key.in_(keys)))
        conn.execute(sa.delete(p).where(p.c.board_id == board_id, p.c.sync_key.in_(keys)))
        log.warning(
            "batch %s: %d items were deleted on the board; they are created again with all their sizes",
            batch_id,
            len(lines),
        )


class BoardWatch:
    """Reads item states in bulk and turns what people did on the board into decisions."""

    def __init__(
        self,
        client: MondayApiClient,
        staging: StagingOperations,
        board_id: str,
        removal_policy: str,
        deleted_policy: str,
    ):
        self.client = client
        self.staging = staging
        self.board_id = board_id
        self.removal_policy = removal_policy
        self.deleted_policy = deleted_policy

    def before_push(self, batch_id: int) -> BoardEdits:
        """States of every existing item and subitem the batch is about to write, read in bulk."""
        t, st = s.stg_items, s.stg_subitems
        with self.staging.engine.connect() as conn:
            item_rows = [
                dict(r)
                for r in conn.execute(
                    sa.select(t).where(
                        t.c.batch_id == batch_id,
                        t.c.monday_item_id.is_not(None),
                        sa.or_(t.c.state == s.PENDING, sa.and_(t.c.action == s.NONE, t.c.state == s.API_SUCCESS)),
                    )
                ).mappings()
            ]
            sub_rows = [
                dict(r)
                for r in conn.execute(
                    sa.select(st).where(
                        st.c.batch_id == batch_id,
                        st.c.state == s.PENDING,
                        st.c.monday_subitem_id.is_not(None),
                        st.c.action != s.CREATE,
                    )
                ).mappings()
            ]
        return self.decide(item_rows, sub_rows)

    def decide(self, item_rows: list[dict[str, Any]], sub_rows: list[dict[str, Any]]) -> BoardEdits:
        edits = BoardEdits()
        ids = {str(r["monday_item_id"]) for r in item_rows} | {str(r["monday_subitem_id"]) for r in sub_rows}
        if not ids:
            return edits
        states = self.client.item_states(sorted(ids))
        decide_items(item_rows, states, self.removal_policy, self.deleted_policy, edits)
        gone = {r["stg_id"] for r in item_rows if states.get(str(r["monday_item_id"]), DELETED) != ACTIVE}
        decide_subitems([r for r in sub_rows if r["parent_stg_id"] not in gone], states, edits)
        if edits:
            log.warning("changes made on the board: %s", edits.describe())
        return edits

    def apply(self, batch_id: int, edits: BoardEdits) -> None:
        with self.staging.owned(batch_id) as conn:
            apply_board_edits(self.staging, conn, batch_id, self.board_id, edits)


# == rows whose request can no longer be replayed ==================================================


class Lookup:
    """Settles a request by asking the board what it holds, once monday can no longer apply it."""

    def __init__(
        self,
        client: MondayApiClient,
        staging: StagingOperations,
        ledger: RequestLedger,
        board_id: str,
        sync_key_column: Callable[[], str],
        late_apply: float,
        wait: Callable[[float, str], None],
        board_groups: Callable[[], dict[str, str]],
    ):
        self.client = client
        self.staging = staging
        self.ledger = ledger
        self.board_id = board_id
        self.sync_key_column = sync_key_column
        self.late_apply = late_apply
        self.wait = wait
        self.board_groups = board_groups
        self.duplicates: list[tuple[str, list[str]]] = []  # (sync key, ids) found more than once
        self.removal_policy = "mark"  # set with the board's payloads: what a removal row sends

    def settle(self, request: StoredRequest, why: str) -> None:
        _, since_last = self.ledger.seconds_since(request)
        remaining = self.late_apply - since_last
        if remaining > 0 and request.sends:
            self.wait(
                remaining,
                f"{why}: monday could still apply request {request.request_id} "
                f"(last sent {since_last:.0f} s ago); looking its rows up on the board after that",
            )
        rows = self._rows(request)
        settlement = self.look_up(rows[0], rows[1], request.rows(GROUP))
        self.ledger.settle(request, settlement)

    def _rows(self, request: StoredRequest) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        t, st = s.stg_items, s.stg_subitems
        with self.staging.engine.connect() as conn:
            items = [dict(r) for r in conn.execute(sa.select(t).where(t.c.request_id == request.request_id)).mappings()]
            subs = [
                dict(r) for r in conn.execute(sa.select(st).where(st.c.request_id == request.request_id)).mappings()
            ]
        return items, subs

    def look_up(self, items: list[dict[str, Any]], subs: list[dict[str, Any]], groups: list[str]) -> Settlement:
        """Created rows found on the board are adopted; everything else is sent again."""
        settlement = Settlement()
        creates = [r for r in items if r["action"] == s.CREATE]
        if creates:
            found = self.client.find_items(self.board_id, self.sync_key_column(), [r["sync_key"] for r in creates])
            for r in creates:
                ids = found.get(r["sync_key"]) or []
                if len(ids) > 1:
                    self.duplicates.append((r["sync_key"], sorted(ids)))
                if ids:
                    settlement.items_ok.append((r["stg_id"], lowest_id(ids)))
                else:
                    settlement.items_again.append(r["stg_id"])
        removals = self._removals(items)
        if removals:  # archived (or deleted) already: done, and audited as what it was sent to do
            states = self.client.item_states(str(r["monday_item_id"]) for r in removals)
            for r in removals:
                state = states.get(str(r["monday_item_id"]), DELETED)
                if state == DELETED or (state == ARCHIVED and self.removal_policy == "archive"):
                    settlement.items_ok.append((r["stg_id"], str(r["monday_item_id"])))
                else:
                    settlement.items_again.append(r["stg_id"])
        # Updates, moves and removals are idempotent: sending them again is safe once nothing is in flight.
        looked = {r["stg_id"] for r in removals}
        settlement.items_again += [r["stg_id"] for r in items if r["action"] != s.CREATE and r["stg_id"] not in looked]
        sub_creates = [r for r in subs if r["action"] == s.CREATE]
        if sub_creates:
            existing = self.client.subitems_of(sorted({str(r["parent_monday_item_id"]) for r in sub_creates}))
            for r in sub_creates:
                ids = existing.get(str(r["parent_monday_item_id"]), {}).get(r["subitem_name"]) or []
                if ids:
                    settlement.subs_ok.append((r["stg_sub_id"], lowest_id(ids)))
                else:
                    settlement.subs_again.append(r["stg_sub_id"])
        settlement.subs_again += [r["stg_sub_id"] for r in subs if r["action"] != s.CREATE]
        if groups:
            on_board = self.board_groups()
            settlement.groups = {name: on_board[name] for name in groups if name in on_board}
        log.info(
            "looked up %d items and %d subitems on the board: %d and %d found",
            len(creates),
            len(sub_creates),
            sum(1 for stg_id, _ in settlement.items_ok),
            len(settlement.subs_ok),
        )
        return settlement

    def _removals(self, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Removal rows that archive or delete their item: the item's state says whether it was done."""
        if self.removal_policy not in ("archive", "delete"):
            return []
        return [r for r in items if r["action"] == s.REMOVE and r["monday_item_id"]]


def describe_kinds(aliases: Iterable[tuple[str, Any, str]]) -> str:
    kinds = {ITEM: "items", MOVE: "moves", SUB: "subitems", GROUP: "groups"}
    counts: dict[str, int] = {}
    for kind, _, _ in aliases:
        counts[kinds[kind]] = counts.get(kinds[kind], 0) + 1
    return ", ".join(f"{n} {name}" for name, n in counts.items())
