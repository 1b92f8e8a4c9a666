"""The sub-commands of the command line: check, db upgrade, status, sync, cancel, retry, drift and demo.

``core.cli`` parses the arguments and dispatches here; each command returns its exit code and leaves
the one-line failure messages to ``core.failures``.

Longer than 400 lines: one short function per sub-command, read side by side; each is its own unit.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from core.detect.report import dry_run_report, render_dry_run
from core.failures import PROG, report_failures, say_still_open, usage_error
from core.foundation.config import load_settings
from core.foundation.error_types import cause_of, error_kind
from core.foundation.logs import log_file
from core.foundation.resources import program_command

if TYPE_CHECKING:
    from core.engine.context import EngineContext


def _open(args: argparse.Namespace, check_schema: bool = True) -> EngineContext:
    from core.engine.context import EngineContext

    # No silent defaults: without --config, $ORDERSYNC_CONFIG or the user's settings file the run stops
    # (exit 2), naming where it looked, instead of building tables in whatever folder it was started from.
    settings = load_settings(args.config, required=True)
    return EngineContext.open(settings, check_schema=check_schema)


# --- check ------------------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    from core.engine.check import run_checks

    checks = run_checks(args.config)
    code = checks.exit_code
    if args.json:
        print(
            json.dumps(
                {"exit_code": code, "checks": [c.as_dict() for c in checks.checks]}, indent=2, ensure_ascii=False
            )
        )
    else:
        print("\n".join(c.line() for c in checks.checks))
        failed = [c for c in checks.checks if c.state == "failed"]
        print(
            f"\n{len(checks.checks) - len(failed)} of {len(checks.checks)} checks passed"
            if failed
            else "\nEverything OrderSync needs is in place."
        )
    return code


def _check_monday_for_dry_run(ctx: EngineContext, as_json: bool) -> tuple[int, list[dict[str, Any]] | None]:
    """The board checks of `check`, when a token is available; otherwise a line that says they were not run."""
    from core.engine.check import Checklist, monday_checks
    from core.foundation.token import get_token

    if ctx.settings["monday.api_url"] != "sandbox" and not get_token():
        if not as_json:  # part of the report, not an error: the JSON says it as "monday_checks": null
            print(f"\nmonday not checked: no token (set MONDAY_API_TOKEN or `{program_command('token set')}`)")
        return 0, None
    checks = Checklist()
    monday_checks(ctx, checks)
    if not as_json:
        print("\nmonday:\n" + "\n".join(c.line() for c in checks.checks))
    return checks.exit_code, [c.as_dict() for c in checks.checks]


# --- db upgrade -------------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from core.db.migrate import upgrade

    ctx = _open(args, check_schema=False)
    try:
        before, after = upgrade(ctx.engine)
    finally:
        ctx.close()
    if before == after:
        print(f"OrderSync's tables are up to date (version {after}).")
    else:
        print(f"OrderSync's tables upgraded from {before or 'nothing'} to version {after}.")
    return 0


# --- status -----------------------------------------------------------------------------------------


def cmd_status(args: argparse.Namespace) -> int:
    from core.db import schema as s
    from core.db.engine import redact_url
    from core.decide import render_decisions, waiting_entries
    from core.staging.errors import ErrorHandler

    ctx = _open(args)
    try:
        pending = ctx.pending()
        with ctx.engine.connect() as conn:
            b = s.batches
            batches = [
                dict(r)
                for r in conn.execute(
                    sa.select(
                        b.c.batch_id,
                        b.c.customer,
                        b.c.status,
                        b.c.total_items,
                        b.c.total_subitems,
                        b.c.invalid_count,
                        b.c.succeeded_count,
                        b.c.failed_count,
                        b.c.started_at,
                        b.c.finished_at,
                        b.c.owner_user,
                        b.c.owner_host,
                        b.c.message,
                    )
                    .order_by(b.c.batch_id.desc())
                    .limit(10)
                ).mappings()
            ]
        report: dict[str, Any] = {
            "database": redact_url(str(ctx.engine.url)),
            "log_file": str(log_file()),
            "board_id": ctx.board_id,
            "size_columns": len(ctx.source.size_columns),
            "customers": [p.as_dict() for p in pending],
            "unknown_customers": _unknown_customers(ctx),
            "errors": [_error_entry(e) for e in ErrorHandler(ctx).open_errors()],
            "open_errors": sum(p.open_errors for p in pending),
            "decisions": waiting_entries(ctx.engine, ctx.board_id),
            "batches": [
                {
                    k: (v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "isoformat") else v)
                    for k, v in row.items()
                }
                for row in batches
            ],
        }
    finally:
        ctx.close()
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    print(f"Database: {report['database']}")
    print(f"Board:    {report['board_id'] or '(not set)'}")
    print(f"Source:   {report['size_columns']} size columns")
    print(f"Log:      {report['log_file']}")
    print()
    print(
        _table(
            ["CUSTOMER", "NEW", "CHANGED", "REMOVED", "INVALID", "OPEN ERRORS", "LAST SYNC"],
            [
                [
                    p["customer"] or "(blank)",
                    p["new"],
                    p["changed"],
                    p["removed"],
                    p["invalid"],
                    p["open_errors"],
                    p["last_sync"] or "never",
                ]
                for p in report["customers"]
            ],
        )
    )
    if report["errors"]:
        shown = report["errors"][:OPEN_ERRORS_SHOWN]
        print(f"Open errors ({len(report['errors'])}; retry with `{program_command('retry --error ID')}` or --all):")
        print(
            _table(
                ["ID", "CUSTOMER", "ORDER", "SIZE", "WHAT FAILED", "MESSAGE"],
                [
                    [
                        e["id"],
                        e["customer"],
                        e["order_number"] or "",
                        e["size"] or "",
                        e["kind"],
                        _clip(e["message"], 70),
                    ]
                    for e in shown
                ],
            )
        )
        if len(report["errors"]) > len(shown):
            print(f"… and {len(report['errors']) - len(shown)} more (status --json lists them all)")
        print()
    if report["decisions"]:
        print(render_decisions(report["decisions"]))
        print()
    if report["unknown_customers"]:
        print(f"Not in the mapping's customer table (kept as they are): {', '.join(report['unknown_customers'])}")
    print()
    if report["batches"]:
        print("Recent batches:")
        print(
            _table(
                ["BATCH", "CUSTOMER", "STATUS", "ITEMS", "SUBITEMS", "OK", "FAILED", "STARTED", "OWNER"],
                [
                    [
                        b["batch_id"],
                        b["customer"],
                        b["status"],
                        b["total_items"],
                        b["total_subitems"],
                        b["succeeded_count"],
                        b["failed_count"],
                        b["started_at"],
                        f"{b['owner_user']}@{b['owner_host']}",
                    ]
                    for b in report["batches"]
                ],
            )
        )
    else:
        print("No batches yet.")
    return 0


OPEN_ERRORS_SHOWN = 20


def _error_entry(error: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": error["ref"],
        "customer": error["customer"],
        "order_number": error["order_number"],
        "sync_key": error.get("sync_key") or error.get("parent_sync_key"),
        "size": error.get("size_label"),
        "type": error["error_type"],
        "kind": error_kind(error["error_type"]).name,  # the plain words the window shows too
        "fix": cause_of(error["error_type"], error["message"]).fix,
        "code": error["error_code"],
        "message": error["message"],
        "retryable": error["retryable"],
        "retry_count": error["retry_count"],
        "last_failed_at": error["last_failed_at"].isoformat(sep=" ", timespec="seconds"),
    }


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _unknown_customers(ctx: EngineContext) -> list[str]:
    with ctx.engine.connect() as conn:
        return ctx.source.unknown_customers(conn)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


# --- sync -------------------------------------------------------------------------------------------


def cmd_sync(args: argparse.Namespace) -> int:
    if not args.customer and not args.all:
        raise usage_error("sync needs --customer NAME (repeatable) or --all")
    ctx = _open(args)
    try:
        customers = ctx.resolve_customers(args.customer, args.all)
        if args.dry_run:
            from core.push.run import worst_code

            report = [dry_run_report(r, ctx.mapping.protected()) for r in ctx.detect(customers)]
            if not args.json:
                print(render_dry_run(report))
            monday_code, monday = _check_monday_for_dry_run(ctx, args.json)
            if args.json:
                print(
                    json.dumps(
                        {"dry_run": True, "customers": report, "monday_checks": monday}, indent=2, ensure_ascii=False
                    )
                )
            return worst_code([1 if any(r["invalid"] for r in report) else 0, monday_code])
        scope = list(customers)  # the customers the exit code speaks for
        if args.all:  # only customers with something to do get a batch
            pending = {p.customer for p in ctx.pending() if p.pending or p.invalid}
            customers = [c for c in customers if c in pending]
        code = _run_batches(ctx, customers, None, args.json, scope=scope)
        if not args.json and ctx.mapping.protected():
            from core.staging.decisions import waiting

            count = len(waiting(ctx.engine, ctx.board_id, customers))
            if count:
                print(
                    f"{count} cell{'s' if count != 1 else ''} a person changed on the board "
                    f"wait{'s' if count == 1 else ''} for a decision; `{program_command('status')}` lists "
                    f"{'them' if count != 1 else 'it'}",
                    file=sys.stderr,
                )
        return code
    finally:
        ctx.close()


def cmd_cancel(args: argparse.Namespace) -> int:
    """Set the batch's cancel flag; its owner, wherever it runs, stops after the request in flight."""
    ctx = _open(args)
    try:
        try:
            row = ctx.staging.batch(args.batch)
        except sa.exc.NoResultFound:
            raise usage_error(f"there is no batch {args.batch}; `{program_command('status')}` lists them") from None
        owner = f"{row['owner_user']}@{row['owner_host']}"
        if not ctx.staging.request_cancel(args.batch):
            print(
                f"Batch {args.batch} ({row['customer']}) is not running: it ended {row['status']}. Nothing to cancel."
            )
            return 0
        print(
            f"Asked batch {args.batch} ({row['customer']}, run by {owner}) to stop after its request in flight; "
            "it ends CANCELLED, and the next sync of the customer resumes it."
        )
        return 0
    finally:
        ctx.close()


def cmd_retry(args: argparse.Namespace) -> int:
    from core.staging.errors import ErrorHandler

    ctx = _open(args)
    try:
        handler = ErrorHandler(ctx)
        selection = handler.select(None if args.all else args.error)
        for note in selection.notes:
            print(note, file=sys.stderr)
        # The exit code speaks for the customers of the errors: with --all, every customer with one open.
        scope = sorted(set(selection.keys) | selection.customers)
        if not selection.keys:
            counts = _open_counts(ctx, scope)
            code = 1 if counts else 0
            if args.json:
                print(json.dumps({"exit_code": code, "open_errors": counts, "batches": []}, indent=2))
            elif not scope:
                print("No open errors to retry." if args.all else "None of these errors is open.")
            say_still_open(counts)
            return code
        handler.prepare(selection)
        return _run_batches(ctx, sorted(selection.keys), selection.keys, args.json, selection.duplicates, scope=scope)
    finally:
        ctx.close()


def _run_batches(
    ctx: EngineContext,
    customers: list[str],
    keys: dict[str, set[str]] | None,
    as_json: bool,
    duplicates: set[str] | None = None,
    scope: list[str] | None = None,
) -> int:
    import signal
    import threading

    from core.push.run import BatchProcessor, NullProgress, PrintProgress, run_exit_code

    cancel = threading.Event()

    # First Ctrl+C: finish the request in flight, record it, stop.
    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        print(f"{PROG}: cancelling after the request in flight (Ctrl+C again to abort)", file=sys.stderr)
        cancel.set()

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_interrupt) if on_main_thread else None
    client = ctx.monday_client()
    try:
        processor = BatchProcessor(ctx, client, NullProgress() if as_json else PrintProgress(), cancel)
        if duplicates:
            processor.recheck_duplicates(duplicates)
        results = processor.run(customers, keys)
    finally:
        client.close()
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    code = run_exit_code(results)
    scope = customers if scope is None else scope
    still_open = _open_counts(ctx, scope) if code in (0, 1) else {}
    if still_open and code == 0:
        code = 1  # nothing failed in this run, but lines of its customers are held back or failed before
    if as_json:
        print(
            json.dumps(
                {
                    "exit_code": code,
                    "open_errors": still_open,
                    "batches": [
                        {
                            "batch_id": r.batch_id,
                            "customer": r.customer,
                            "status": r.status,
                            "message": r.message,
                            **r.counts,
                        }
                        for r in results
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    elif not results:
        print("Nothing to sync.")
    report_failures(results)
    say_still_open(still_open)
    return code


def _open_counts(ctx: EngineContext, customers: list[str]) -> dict[str, int]:
    from core.staging.errors import ErrorHandler

    return ErrorHandler(ctx).open_counts(customers) if customers else {}


# --- drift ------------------------------------------------------------------------------------------


def cmd_drift(args: argparse.Namespace) -> int:
    """What people changed on the board since OrderSync wrote it; the forecast first. Changes nothing."""
    import signal
    import threading

    from core.drift.check import DriftCheck
    from core.drift.known import customers_on_board
    from core.drift.report import forecast_line, render
    from core.drift.results import DriftCancelled

    if not args.customer and not args.all:
        raise usage_error("drift needs --customer NAME (repeatable) or --all")
    ctx = _open(args)
    try:
        customers = ctx.resolve_customers(args.customer, args.all)
        if args.all:  # lines gone from the source are still on the board
            limit = ctx.settings["sync.customers"]
            customers += [c for c in customers_on_board(ctx.engine, ctx.board_id) if c not in customers]
            customers = [c for c in customers if not limit or c in limit]
        cancel = threading.Event()

        # First Ctrl+C: the read in flight is the last one; a second one aborts (exit 130), as for a sync.
        def on_interrupt(signum: int, frame: FrameType | None) -> None:
            if cancel.is_set():
                raise KeyboardInterrupt
            print(f"{PROG}: stopping the check after the read in flight (Ctrl+C again to abort)", file=sys.stderr)
            cancel.set()

        on_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, on_interrupt) if on_main_thread else None
        client = ctx.monday_client()
        try:
            check = DriftCheck(
                ctx.engine, ctx.mapping, ctx.board_id, client, customers, subitems=not args.items_only, cancel=cancel
            )
            forecast = check.forecast()
            if not args.json:
                print(forecast_line(forecast), flush=True)
            report = check.run()
        except DriftCancelled as stopped:
            if args.json:
                body = {"exit_code": stopped.exit_code, "cancelled": True, "message": stopped.message}
                print(json.dumps({**body, "requests": stopped.requests, "planned": stopped.planned}, indent=2))
            print(f"{PROG}: {stopped.message}", file=sys.stderr)
            return stopped.exit_code
        finally:
            client.close()
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    finally:
        ctx.close()
    code = 1 if report.found else 0
    if args.json:
        print(json.dumps({"exit_code": code, **report.as_dict()}, indent=2, ensure_ascii=False))
    else:
        print(render(report))
    return code


# --- demo -------------------------------------------------------------------------------------------


def cmd_demo_init(args: argparse.Namespace) -> int:
    from core.demo.setup import init_demo

    if args.orders is not None and args.orders < 1:
        raise usage_error("--orders must be at least 1")
    paths = init_demo(args.dir, orders=args.orders, seed=args.seed)
    print(f"Demo ready in {paths.folder}")
    print(f"  settings: {paths.settings}")
    print(f"  database: {paths.database} ({paths.orders} order lines)")
    print("Try: " + program_command(f'status --config "{paths.settings}"'))
    return 0


def cmd_headless_demo(args: argparse.Namespace) -> int:
    """``demo run``: the demo without the window, synced against the embedded sandbox."""
    from core.cli import main  # the demo runs the very commands a person would type
    from core.demo.setup import init_demo

    paths = init_demo(None, keep_existing=True)
    config = str(paths.settings)
    print(f"Demo in {paths.folder} (headless; `main.py --demo` opens the window).")
    print("The board is the embedded monday sandbox; its rate limits run 20 times faster than monday's.")
    print()
    for step in (
        ["status", "--config", config],
        ["sync", "--config", config, "--customer", "TITLE 9", "--dry-run"],
        ["sync", "--config", config, "--all"],
        ["status", "--config", config],
    ):
        print(f"$ ordersync {shlex.join(step)}", flush=True)
        code = main(step)
        print()
        # The demo data holds a few invalid lines on purpose: exit 1 shows them being caught.
        if code not in (0, 1):
            return code
    return 0
