"""The ``decide`` sub-command, and the decision list ``status`` shows.

A protected column with ``policy = "ask"`` holds a cell a person changed on the board when the ERP
changed it too; the cell waits in the decision list with both values (``core.staging.decisions``).
``decide (--key K | --order N) --column C --keep-board`` keeps the board's value (OrderSync records it as its own,
so the line is not asked again); ``--use-erp`` sends the ERP's value on the next sync. Either is
refused, changing nothing, while a sync of the cell's customer runs or is left unfinished (exit 1, the
message naming the customer and the batch: ``core.staging.decisions.refuse_while_syncing``).
"""

from __future__ import annotations

import argparse
from typing import Any

from core.staging.decisions import KEEP_BOARD, USE_ERP, decide, key_of_order, waiting

VALUE_WIDTH = 30  # characters of a value shown in the table (--json shows it whole)


def cmd_decide(args: argparse.Namespace) -> int:
    from core.commands import _open

    choice = KEEP_BOARD if args.keep_board else USE_ERP
    ctx = _open(args)
    try:
        key = args.key or key_of_order(ctx.engine, ctx.board_id, args.order, args.column)
        row = decide(ctx.engine, ctx.board_id, key, args.column, choice)
    finally:
        ctx.close()
    line = row["order_number"] or row["sync_key"]
    if choice == KEEP_BOARD:
        print(f"{line}, {row['column_label']}: the board's value {_shown(row['board_value'])} is kept.")
    else:
        print(
            f"{line}, {row['column_label']}: the ERP's value {_shown(row['erp_value'])} is sent on the next sync "
            f"(the board shows {_shown(row['board_value'])})."
        )
    return 0


def decision_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A waiting cell as ``status --json`` lists it."""
    return {
        "customer": row["customer"],
        "sync_key": row["sync_key"],
        "order_number": row["order_number"],
        "monday_item_id": row["monday_item_id"],
        "column": row["column_label"],
        "board": row["board_value"],
        "erp": row["erp_value"],
        "written": row["written_value"],
        "since": row["since"].isoformat(sep=" ", timespec="seconds"),
    }


def waiting_entries(engine: Any, board_id: str) -> list[dict[str, Any]]:
    return [decision_entry(r) for r in waiting(engine, board_id)]


def _shown(value: str | None) -> str:
    return repr(value) if value else "(blank)"


def _clip(value: str | None) -> str:
    text = _shown(value).replace("\n", " ")
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 1] + "…"


def render_decisions(entries: list[dict[str, Any]]) -> str:
    """The decision list as ``status`` prints it."""
    from core.commands import _table
    from core.foundation.resources import program_command

    head = (
        f"Need a decision ({len(entries)}; a person changed these cells on the board and the ERP changed them too; "
        f"choose with `{program_command('decide --order N --column C --keep-board')}` or --use-erp; "
        "--key K names one line of an order with several):"
    )
    table = _table(
        ["CUSTOMER", "ORDER", "COLUMN", "ON THE BOARD", "FROM THE ERP", "SINCE", "SYNC KEY"],
        [
            [
                e["customer"],
                e["order_number"] or "",
                e["column"],
                _clip(e["board"]),
                _clip(e["erp"]),
                e["since"],
                e["sync_key"],
            ]
            for e in entries
        ],
    )
    return f"{head}\n{table}"


def add_parser(command: Any) -> None:
    """The ``decide`` sub-command's arguments (``command`` makes a sub-parser, as in ``core.cli``)."""
    parser = command("decide", "a planner's choice for a cell that waits: keep the board's value or send the ERP's")
    line = parser.add_mutually_exclusive_group(required=True)
    line.add_argument("--key", metavar="K", help="the line's SYNC KEY (as status lists it)")
    line.add_argument("--order", metavar="N", help="the order number, when one line of it waits in the column")
    parser.add_argument("--column", required=True, metavar="C", help="the board column (as status lists it)")
    choice = parser.add_mutually_exclusive_group(required=True)
    choice.add_argument("--keep-board", action="store_true", help="keep the value a person typed on the board")
    choice.add_argument("--use-erp", action="store_true", help="send the ERP's value on the next sync")


__all__ = ["add_parser", "cmd_decide", "decision_entry", "render_decisions", "waiting_entries"]
