"""The request ledger: one mutation request, one Idempotency-Key, until its outcome is settled.

A request is stored (``MON_Requests``: its exact text, variables, key and what each alias stands
for) in the same fenced transaction that marks its rows SENDING. Every resend reuses the stored
text and key, so monday answers a repeat from its replay cache (30 minutes) and a concurrent
duplicate with 409; nothing a request covers is ever sent under a fresh key while the request
might still be applied. A request is settled in one transaction: ids, failures and rows to send
again are recorded and its ledger row is deleted.

Send accounting: ``sends`` counts the sends that left (or may have left) and ``refused`` those
monday certainly did not apply (a 429, an invalid document, a refused connection). While every
send was refused, the request can be dropped and its rows sent again in a new one; once a single
send may have been applied, only a replay of the same key, or a look-up on the board after monday
can no longer apply it, settles it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from core.db import schema as s
from core.db.clock import database_now, db_utcnow
from core.staging.audit import AuditTrail
from core.staging.batches import inserted_id
from core.staging.operations import Failure, StagingOperations

log = logging.getLogger(__name__)

# What an alias stands for: a staged item, an item's move to its group, a staged subitem, a group.
ITEM, MOVE, SUB, GROUP = "item", "move", "sub", "group"


@dataclass
class StoredRequest:
    """A mutation request as the ledger keeps it."""

    request_id: int
    batch_id: int
    key: str
    query: str
    variables: dict[str, Any]
    aliases: list[tuple[str, Any, str]]  # (kind, staged row id or group name, mutation field) per alias
    sends: int = 0
    refused: int = 0
    first_sent_at: dt.datetime | None = None
    last_sent_at: dt.datetime | None = None

    @property
    def count(self) -> int:
        return len(self.aliases)

    @property
    def maybe_applied(self) -> bool:
        """Whether some send of it may have reached monday and been applied."""
        return self.sends > self.refused

    def rows(self, kind: str) -> list[Any]:
        return [ref for k, ref, _ in self.aliases if k == kind]


@dataclass
class Settlement:
    """What one request came to, recorded in one transaction."""

    # (stg_id, monday item id); an id of None keeps the row's own (a removal that found its item gone)
    items_ok: list[tuple[int, str | None]] = field(default_factory=list)
    subs_ok: list[tuple[int, str | None]] = field(default_factory=list)
    item_failures: list[Failure] = field(default_factory=list)
    sub_failures: list[Failure] = field(default_factory=list)
    items_again: list[int] = field(default_factory=list)  # refused, not applied: send in a new request
    subs_again: list[int] = field(default_factory=list)
    groups: dict[str, str] = field(default_factory=dict)  # created group title -> id


class RequestLedger:
    """Stores, accounts for and settles the mutation requests of the batches this process owns."""

    def __init__(self, staging: StagingOperations):
        self.staging = staging
        self.engine = staging.engine
        # Every settlement writes the audit rows of what monday confirmed (the push sets the board's).
        self.audit: AuditTrail | None = None

    # -- opening ----------------------------------------------------------------------------------

    def open(
        self, batch_id: int, query: str, variables: dict[str, Any], aliases: Sequence[tuple[str, Any, str]]
    ) -> tuple[StoredRequest, bool]:
        """Store a request and mark its rows SENDING, fenced, in one transaction.

        Returns the request and whether a cancel of the batch was requested meanwhile.
        """
        r = s.requests
        key = str(uuid.uuid4())
        variables_json = json.dumps(variables, ensure_ascii=False, separators=(",", ":"))
        with self.staging.owned(batch_id) as conn:
            request_id = inserted_id(
                conn.execute(
                    sa.insert(r).values(
                        batch_id=batch_id,
                        idempotency_key=key,
                        query=query,
                        variables_json=variables_json,
                        aliases_json=json.dumps([list(a) for a in aliases], ensure_ascii=False),
                        mutations=len(aliases),
                        sends=0,
                        refused=0,
                        created_at=database_now(conn),
                    )
                )
            )
            items = sorted({ref for kind, ref, _ in aliases if kind in (ITEM, MOVE)})
            subs = sorted({ref for kind, ref, _ in aliases if kind == SUB})
            self.staging._mark_sending(conn, s.stg_items, items, request_id)
            self.staging._mark_sending(conn, s.stg_subitems, subs, request_id)
            cancel = self.staging.cancel_requested(conn, batch_id)
        request = StoredRequest(request_id, batch_id, key, query, variables, [tuple(a) for a in aliases])
        return request, cancel

    def open_requests(self, batch_id: int) -> list[StoredRequest]:
        """The batch's requests whose outcome is not settled, oldest first."""
        r = s.requests
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(r).where(r.c.batch_id == batch_id).order_by(r.c.request_id)).mappings().all()
        return [
            StoredRequest(
                row["request_id"],
                row["batch_id"],
                row["idempotency_key"],
                row["query"],
                json.loads(row["variables_json"]),
                [tuple(a) for a in json.loads(row["aliases_json"])],
                row["sends"],
                row["refused"],
                row["first_sent_at"],
                row["last_sent_at"],
            )
            for row in rows
        ]

    def unrequested_sending(self, batch_id: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """SENDING rows that belong to no stored request (left by a version before the ledger)."""
        out = []
        with self.engine.connect() as conn:
            for table in (s.stg_items, s.stg_subitems):
                out.append(
                    [
                        dict(row)
                        for row in conn.execute(
                            sa.select(table).where(
                                table.c.batch_id == batch_id, table.c.state == s.SENDING, table.c.request_id.is_(None)
                            )
                        ).mappings()
                    ]
                )
        return out[0], out[1]

    # -- sending ----------------------------------------------------------------------------------

    def note_send(self, request: StoredRequest) -> None:
        """Count a send before it leaves (fenced: a process that lost its batch never sends again)."""
        r = s.requests
        with self.staging.owned(request.batch_id) as conn:
            conn.execute(
                sa.update(r)
                .where(r.c.request_id == request.request_id)
                .values(
                    sends=r.c.sends + 1,
                    last_sent_at=db_utcnow(),
                    first_sent_at=sa.func.coalesce(r.c.first_sent_at, db_utcnow()),
                )
            )
            row = conn.execute(
                sa.select(r.c.first_sent_at, r.c.last_sent_at).where(r.c.request_id == request.request_id)
            ).one()
        request.sends += 1
        request.first_sent_at, request.last_sent_at = row.first_sent_at, row.last_sent_at

    def note_refused(self, request: StoredRequest) -> None:
        """The last send was certainly not applied (refused before monday ran anything)."""
        r = s.requests
        with self.staging.owned(request.batch_id) as conn:
            conn.execute(sa.update(r).where(r.c.request_id == request.request_id).values(refused=r.c.refused + 1))
        request.refused += 1

    def seconds_since(self, request: StoredRequest) -> tuple[float, float]:
        """Seconds since the request's first and last send, by the database's clock."""
        with self.engine.connect() as conn:
            now = database_now(conn)
        first = request.first_sent_at or now
        last = request.last_sent_at or now
        return (now - first).total_seconds(), (now - last).total_seconds()

    # -- settling ---------------------------------------------------------------------------------

    def release(self, request: StoredRequest) -> None:
        """Drop a request no send of which was applied: its rows are sent again in a new request."""
        assert not request.maybe_applied, "a request that may have been applied is settled, never dropped"
        with self.staging.owned(request.batch_id) as conn:
            self._release_rows(conn, request.request_id)
            conn.execute(sa.delete(s.requests).where(s.requests.c.request_id == request.request_id))

    def settle(self, request: StoredRequest, settlement: Settlement, before: Any = None) -> None:
        """Record what the request came to and forget it, in one fenced transaction.

        ``before(conn)`` runs first in the same transaction (board edits found while settling).
        """
        ops = self.staging
        with ops.owned(request.batch_id) as conn:
            if before is not None:
                before(conn)
            apply_settlement(ops, conn, request.batch_id, settlement, self.audit)
            # Whatever the answer did not account for is sent again (in a new request).
            self._release_rows(conn, request.request_id)
            conn.execute(sa.delete(s.requests).where(s.requests.c.request_id == request.request_id))
        log.debug("batch %s: request %s settled", request.batch_id, request.request_id)

    @staticmethod
    def _release_rows(conn: Connection, request_id: int) -> None:
        for table in (s.stg_items, s.stg_subitems):
            conn.execute(
                sa.update(table)
                .where(table.c.request_id == request_id, table.c.state == s.SENDING)
                .values(state=s.PENDING, request_id=None)
            )
            conn.execute(sa.update(table).where(table.c.request_id == request_id).values(request_id=None))


def apply_settlement(
    ops: StagingOperations, conn: Connection, batch_id: int, settlement: Settlement, audit: AuditTrail | None = None
) -> None:
    """Ids, failures and rows to send again, set-based, inside the caller's fenced transaction.

    With ``audit``, the cells of the confirmed rows that went out in a request are audited first, in
    the same transaction (before their state leaves SENDING: each row is audited once).
    """
    if audit is not None and (settlement.items_ok or settlement.subs_ok):
        audit.record(conn, ops.owner.user, ops.owner.host, settlement.items_ok, settlement.subs_ok)
    ops._record_item_ids(conn, settlement.items_ok)
    ops._record_subitem_ids(conn, settlement.subs_ok)
    ops._record_failures(conn, batch_id, s.stg_items, settlement.item_failures)
    ops._record_failures(conn, batch_id, s.stg_subitems, settlement.sub_failures)
    ops._reset_to_pending(conn, s.stg_items, settlement.items_again)
    ops._reset_to_pending(conn, s.stg_subitems, settlement.subs_again)
    if settlement.groups:
        t = s.stg_items
        conn.execute(
            sa.update(t)
            .where(t.c.batch_id == batch_id, t.c.group_name == sa.bindparam("b_name"))
            .values(group_id=sa.bindparam("b_group")),
            [{"b_name": name, "b_group": gid} for name, gid in settlement.groups.items()],
        )
