"""The ``undo`` sub-command: the preview (``--dry-run``), or the undo run as a batch, and its exit code."""

from __future__ import annotations

import argparse
import json
import sys

from core.db import schema as s
from core.undo.plan import render_plan
from core.undo.processor import UndoProcessor


def cmd_undo(args: argparse.Namespace) -> int:
    from core.commands import _open

    ctx = _open(args)
    try:
        client = ctx.monday_client()
        try:
            processor = UndoProcessor(ctx, client)
            if args.dry_run:
                preview = processor.plan(args.batch)
                print(
                    json.dumps(preview.as_dict(), indent=2, ensure_ascii=False) if args.json else render_plan(preview)
                )
                return 0
            plan, result = processor.undo(args.batch)
        finally:
            client.close()
    finally:
        ctx.close()
    if plan is not None and not args.json:
        print(render_plan(plan))
    code = 0 if result.status in (s.COMPLETED, s.NO_CHANGES) else 1
    if plan is not None and plan.conflicts:
        code = max(code, 1)
    if args.json:
        print(
            json.dumps(
                {
                    "exit_code": code,
                    "undo_batch": result.batch_id,
                    "status": result.status,
                    **(plan.as_dict() if plan else {}),
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        print(f"Undo batch {result.batch_id}: {result.status}" + (f" ({result.message})" if result.message else ""))
    sys.stdout.flush()
    return code
