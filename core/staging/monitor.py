"""What the window shows of batches: read from MON_BatchProcessing, so it also shows batches that
another workstation or a scheduled headless run started, with live progress from their staged rows."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from core.db import schema as s
from core.db.clock import database_now
from core.staging.operations import Owner

DONE_STATES = (s.API_SUCCESS, s.PROMOTED, s.API_FAILED)


def batch_overview(
    engine: Engine, owner: Owner | None = None, limit: int = 50, stale_seconds: float = 120
) -> list[dict[str, Any]]:
    """The newest batches (all active ones included), each with done/total, throughput and ETA.

    A live batch whose heartbeat is older than ``stale_seconds`` by the database's clock is marked stale.

    A batch that ended COMPLETED_WITH_ERRORS keeps that status (its history: lines failed in it), and
    ``errors_open`` says whether any of them may still be open: False once every failed line of its
    customer recorded by it or a later batch is resolved (a retry that sent them, or the ERP fixed).
    An error row names the last batch its line failed in, which is never older than this one, so
    False never hides a line of this batch that is still open; the window then shows it as done.
    """
    b = s.batches
    with engine.connect() as conn:
        now = database_now(conn)
        rows = [
            dict(r)
            for r in conn.execute(
                sa.select(b)
                .where(
                    sa.or_(
                        b.c.status.in_(s.ACTIVE_BATCH_STATES),
                        b.c.batch_id.in_(
                            sa.select(b.c.batch_id).order_by(b.c.batch_id.desc()).limit(limit).scalar_subquery()
                        ),
                    )
                )
                .order_by(b.c.batch_id.desc())
            ).mappings()
        ]
        live = [r["batch_id"] for r in rows if r["status"] in s.ACTIVE_BATCH_STATES + (s.CANCELLED, s.FAILED)]
        staged: dict[int, dict[str, int]] = {}
        if live:
            for table in (s.stg_items, s.stg_subitems):
                query = (
                    sa.select(table.c.batch_id, table.c.state, sa.func.count())
                    .where(table.c.batch_id.in_(live), table.c.state != s.INVALID)
                    .group_by(table.c.batch_id, table.c.state)
                )
                for batch_id, state, n in conn.execute(query):
                    counts = staged.setdefault(batch_id, {"done": 0, "failed": 0, "succeeded": 0, "sent": 0})
                    if state in DONE_STATES:
                        counts["done"] += n
                    if state == s.API_FAILED:
                        counts["failed"] += n
                    elif state in (s.API_SUCCESS, s.PROMOTED):
                        counts["succeeded"] += n
                    if state != s.PENDING and state != s.WAITING_PARENT:
                        counts["sent"] += n
        with_errors = [(r["batch_id"], r["customer"]) for r in rows if r["status"] == s.COMPLETED_WITH_ERRORS]
        still_open = _errors_still_open(conn, with_errors)
    result = []
    for r in rows:
        extra = staged.get(r["batch_id"], {"done": 0, "failed": 0, "succeeded": 0, "sent": 0})
        succeeded = r["succeeded_count"] + extra["succeeded"]
        failed = r["failed_count"] + extra["failed"]
        done = succeeded + failed
        total = max(r["total_items"] + r["total_subitems"], done)
        if r["status"] in (s.COMPLETED, s.COMPLETED_WITH_ERRORS, s.NO_CHANGES):
            done = total
        started = r["push_started_at"] or r["started_at"]
        end = r["finished_at"] or now
        seconds = max((end - started).total_seconds(), 0.001) if started else None
        throughput = done / seconds if seconds and done else None
        active = r["status"] in s.ACTIVE_BATCH_STATES
        eta = (total - done) / throughput if active and throughput and total > done else None
        result.append(
            {
                "batch_id": r["batch_id"],
                "customer": r["customer"],
                "status": r["status"],
                "done": done,
                "total": total,
                "sent": r["sent_count"] + extra["sent"],
                "succeeded": succeeded,
                "failed": failed,
                "items": r["total_items"],
                "subitems": r["total_subitems"],
                "throughput": throughput,
                "eta_seconds": eta,
                "started_at": r["started_at"],
                "finished_at": r["finished_at"],
                "owner": f"{r['owner_user']}@{r['owner_host']}",
                "mine": bool(owner and r["owner_host"] == owner.host and r["owner_pid"] == owner.pid),
                "message": r["message"],
                "heartbeat_at": r["heartbeat_at"],
                "stale": active and r["heartbeat_at"] < now - dt.timedelta(seconds=stale_seconds),
                "errors_open": (r["batch_id"] in still_open) if r["status"] == s.COMPLETED_WITH_ERRORS else None,
            }
        )
    return result


def _errors_still_open(conn: sa.Connection, batches: list[tuple[int, str]]) -> set[int]:
    """Of (batch, customer), the batches with an open error of their customer recorded by them or later.

    One EXISTS per batch and table: it stops at the first open error of the customer (the customer
    and resolved_at index), so a grid of 100,000 open errors costs no scan of them every second.
    """
    if not batches:
        return set()
    tests = []
    for batch_id, customer in batches:
        open_in = [
            sa.exists().where(e.c.customer == customer, e.c.resolved_at.is_(None), e.c.batch_id >= batch_id)
            for e in (s.err_items, s.err_subitems)
        ]
        tests.append(sa.select(sa.literal(batch_id)).where(sa.or_(*open_in)))
    return {batch_id for (batch_id,) in conn.execute(sa.union_all(*tests))}
