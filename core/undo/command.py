"""The ``undo`` sub-command: the preview (``--dry-run``), or the undo run as a batch, and its exit code.

Exit codes are the sync's (``core.push.progress.run_exit_code``): 0 when everything planned was undone,
1 when a conflict was left alone or the undo ended cancelled, failed or with errors (run it again to
resume), 4 when the customer is busy with another batch. The first Ctrl+C cancels after the request
in flight, as a sync does; the undo is resumed by ``undo --batch N`` again.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from core.failures import PROG
from core.push.progress import NullProgress, PrintProgress, run_exit_code, worst_code
from core.undo.plan import render_plan
from core.undo.processor import UndoProcessor


def cmd_undo(args: argparse.Namespace) -> int:
    from core.commands import _open

    cancel = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        print(f"{PROG}: cancelling the undo after the request in flight (Ctrl+C again to abort)", file=sys.stderr)
        cancel.set()

    ctx = _open(args)
    try:
        client = ctx.monday_client()
        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_interrupt) if on_main_thread and not args.dry_run else None
        try:
            progress = NullProgress() if args.json or args.dry_run else PrintProgress()
            processor = UndoProcessor(ctx, client, progress, cancel)
            if args.dry_run:
                preview = processor.plan(args.batch)
                if args.json:
                    print(json.dumps(preview.as_dict(), indent=2, ensure_ascii=False))
                else:
                    print(render_plan(preview))
                    print(f"Nothing was changed (a preview); `undo --batch {args.batch}` does it.")
                return 0
            plan, result = processor.undo(args.batch)
        finally:
            client.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    finally:
        ctx.close()
    code = worst_code([run_exit_code([result]), 1 if plan is not None and plan.conflicts else 0])
    if args.json:
        body = {"exit_code": code, "undo_batch": result.batch_id, "status": result.status, "message": result.message}
        print(json.dumps({**body, **(plan.as_dict() if plan else {})}, indent=2, ensure_ascii=False))
    else:
        if plan is not None:
            print(render_plan(plan))
        else:
            print(f"Undo of batch {args.batch}: resumed what an earlier run left unfinished.")
        print(f"Undo batch {result.batch_id}: {result.status}" + (f" ({result.message})" if result.message else ""))
    return code
