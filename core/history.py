"""The ``history`` sub-command: the audit trail of what OrderSync changed on the board.

``core.cli`` parses and dispatches here; the rows are read by ``core.staging.audit.history``. The
table is for people (plain words, long values clipped); ``--json`` gives every row in full.

A KEPT row ("kept the board's value") sent nothing: the table shows its SENT as nothing, with the
board's value kept beside it, and the ERP's value under NOT SENT (a column shown only when such a
row is listed); ``--json`` gives ``sent`` as null with ``kept`` and ``not_sent``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from core.db import schema as s
from core.staging.audit import KIND_WORDS, HistoryFilter, history

VALUE_WIDTH = 30  # characters of a value shown in the table (--json shows it whole)


def cmd_history(args: argparse.Namespace) -> int:
    from core.commands import _open

    wanted = HistoryFilter(order_number=args.order, sync_key=args.key, batch_id=args.batch, customer=args.customer_name)
    ctx = _open(args)
    try:
        rows = history(ctx.engine, wanted)
    finally:
        ctx.close()
    if args.json:
        print(json.dumps({"changes": [_entry(r) for r in rows]}, indent=2, ensure_ascii=False))
        return 0
    if not rows:
        print("No changes recorded" + (" for this selection." if _any(wanted) else " yet."))
        return 0
    print(render_history(rows))
    print(f"\n{len(rows)} change{'s' if len(rows) != 1 else ''}")
    return 0


def _any(wanted: HistoryFilter) -> bool:
    return any(v is not None for v in vars(wanted).values())


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    kept = row["kind"] == s.KEPT
    return {
        "audit_id": row["audit_id"],
        "batch_id": row["batch_id"],
        "customer": row["customer"],
        "sync_key": row["sync_key"],
        "order_number": row["order_number"],
        "size": row["size_label"],
        "monday_item_id": row["monday_item_id"],
        "monday_subitem_id": row["monday_subitem_id"],
        "column_id": row["column_id"],
        "column_title": row["column_title"],
        "before": row["value_before"],
        "sent": None if kept else row["value_sent"],
        "kept": row["value_sent"] if kept else None,  # the board's value, kept (nothing sent)
        "not_sent": row.get("value_not_sent"),
        "kind": KIND_WORDS.get(row["kind"], row["kind"]),
        "user": row["changed_by_user"],
        "workstation": row["changed_by_host"],
        "changed_at": row["changed_at"].isoformat(sep=" ", timespec="seconds"),
    }


def _clip(value: str | None) -> str:
    if value is None:
        return "—"
    value = value.replace("\n", " ")
    return value if len(value) <= VALUE_WIDTH else value[: VALUE_WIDTH - 1] + "…"


def render_history(rows: list[dict[str, Any]]) -> str:
    """The rows as a table people read: when, batch, what happened to which cell of which line."""
    from core.commands import _table

    not_sent = any(r["kind"] == s.KEPT for r in rows)
    return _table(
        [
            "WHEN",
            "BATCH",
            "ORDER",
            "SIZE",
            "WHAT",
            "COLUMN",
            "BEFORE",
            "SENT",
            *(["NOT SENT"] if not_sent else []),
            "BY",
        ],
        [
            [
                r["changed_at"].isoformat(sep=" ", timespec="seconds"),
                r["batch_id"],
                r["order_number"] or r["sync_key"],
                r["size_label"] or "",
                KIND_WORDS.get(r["kind"], r["kind"]),
                r["column_title"] or "(the whole item)",
                _clip(r["value_before"]),
                _sent(r),
                *([_clip(r.get("value_not_sent")) if r["kind"] == s.KEPT else ""] if not_sent else []),
                f"{r['changed_by_user']}@{r['changed_by_host']}",
            ]
            for r in rows
        ],
    )


def _sent(row: dict[str, Any]) -> str:
    """What was sent; for a KEPT row nothing, and the board's value kept."""
    if row["kind"] != s.KEPT:
        return _clip(row["value_sent"])
    kept = row["value_sent"]
    return "— (kept " + (_clip(kept) if kept not in (None, "") else "blank") + ")"
