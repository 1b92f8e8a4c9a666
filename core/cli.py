"""The command line (DESIGN.md §4): headless runs for planners, operators and schedulers.

Exit codes: 0 all rows synced (or nothing to do); 1 the run finished and some rows failed or are
invalid; 2 usage or settings error; 3 the database or the API could not be reached; 70 a bug in
OrderSync, including a request monday refused as invalid. A user error is one line on stderr, never
a traceback.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import os
import platform
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import sqlalchemy as sa

from core import __version__
from core.detect.report import dry_run_report, render_dry_run
from core.foundation.config import load_settings
from core.foundation.exceptions import EXIT_CODES, EXIT_INTERNAL, OrderSyncError
from core.foundation.logs import SHOWN, log_file, setup_logging
from core.foundation.resources import program_command
from core.monday.errors import AuthError, InvalidRequest, MondayError

if TYPE_CHECKING:
    from core.engine.context import EngineContext
    from core.push.run import BatchResult

log = logging.getLogger("ordersync")

PROG = "ordersync"
COMMANDS = ("sync", "retry", "status", "check", "cancel", "demo", "sandbox", "db", "token")
# Without -v, a wait for monday (a retry, a resend) is one short stderr line at most this often; the log
# file gets every one of them in full.
WAITING_EVERY = 10.0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # usage errors exit 2 with one line, as argparse does
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


# Options that work before or after the sub-command: `main.py -v status` and `main.py status -v` alike.
# Each is declared on the top parser and again on every sub-command that takes it, with SUPPRESS as the
# default everywhere, so a value given in either place survives the other parser.
FLAG_OPTIONS = ("-v", "--verbose", "--json")
VALUE_OPTIONS = ("--config",)
JSON_COMMANDS = ("sync", "retry", "status", "check")  # the sub-commands with machine-readable output
CONFIG_COMMANDS = ("sync", "retry", "status", "check", "cancel", "db")  # the sub-commands that read the settings


def split_leading_options(argv: Sequence[str]) -> tuple[list[str], str | None, list[str]]:
    """``argv`` as (the global options before the sub-command, the sub-command or None, the rest).

    ``main.py -v --config F status --json`` is (["-v", "--config", "F"], "status", ["--json"]);
    ``main.py --config F`` (the window) is (["--config", "F"], None, []).
    """
    argv = list(argv)
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in FLAG_OPTIONS or any(arg.startswith(f"{o}=") for o in VALUE_OPTIONS):
            i += 1
        elif arg in VALUE_OPTIONS:
            i += 2
        else:
            break
    if i >= len(argv):
        return argv, None, []
    return argv[:i], argv[i], argv[i + 1:]


def _global_options(p: argparse.ArgumentParser, *, config: bool = False, json_output: bool = False) -> None:
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="progress and log lines on stderr")
    if config:
        p.add_argument("--config", type=Path, default=argparse.SUPPRESS, metavar="F",
                       help="settings file (default: $ORDERSYNC_CONFIG, else the user's settings file)")
    if json_output:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Pushes ERP orders from ORDERS_UNIFIED onto a monday.com board.",
                     epilog="exit codes:\n" + "\n".join(
                         textwrap.fill(meaning, 100, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
                         for code, meaning in EXIT_CODES)
                     + "\n\n-v, --config F and --json work before or after the sub-command.",
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"OrderSync {__version__}")
    _global_options(parser, config=True, json_output=True)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def command(name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, **kwargs)
        _global_options(p, config=name in CONFIG_COMMANDS, json_output=name in JSON_COMMANDS)
        return p

    sync = command("sync", "one headless run")
    sync.add_argument("--customer", action="append", default=[], metavar="NAME", help="a customer (repeatable)")
    sync.add_argument("--all", action="store_true", help="every customer with pending work")
    sync.add_argument("--dry-run", action="store_true", help="report what would be sent, field by field; send nothing")

    retry = command("retry", "retry failed rows")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every open error")
    which.add_argument("--error", nargs="+", metavar="ID",
                       help="error ids as shown by status: I12 (an item), S7 (a subitem); a bare number is an item")

    sub.add_parser("sandbox", help="run the monday sandbox server alone (sandbox --help for its options)",
                   add_help=False)
    sub.add_parser("token", help="token set | token delete: the monday token in the OS keyring", add_help=False)

    cancel = command("cancel", "ask an active batch, on any workstation, to stop after the request in flight")
    cancel.add_argument("--batch", type=int, required=True, metavar="N", help="the batch (as status lists it)")

    command("check", "walk the chain: settings, database, tables, ORDERS_UNIFIED, token, board, columns, labels")

    command("status", "batches, pending customers, open errors")

    demo = command("demo", "the embedded demo")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    init = demo_sub.add_parser("init", help="write a settings file and a demo database")
    _global_options(init)
    init.add_argument("--dir", type=Path, default=None, help="folder for the demo (default: the user's data folder)")
    init.add_argument("--orders", type=int, default=None, help="order lines to generate (default: resources/demo.toml's, 600)")
    init.add_argument("--seed", type=int, default=None, help="random seed (default: resources/demo.toml's, 7)")
    _global_options(demo_sub.add_parser("run", help="the demo without the window: status, a dry run, a sync, status"))

    db = command("db", "OrderSync's own tables")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    _global_options(db_sub.add_parser("upgrade", help="create or upgrade the tables (never ORDERS_UNIFIED)"),
                    config=True)
    return parser


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; a global option given before a sub-command that does not take it is a usage error."""
    args = parser.parse_args(argv)
    leading, _, _ = split_leading_options(argv)
    for option, commands in (("--config", CONFIG_COMMANDS), ("--json", JSON_COMMANDS)):
        named = any(a == option or a.startswith(f"{option}=") for a in leading)
        if named and args.command is not None and args.command not in commands:
            parser.error(f"{option} does not apply to `{args.command}`")
    args.verbose = getattr(args, "verbose", False)
    args.config = getattr(args, "config", None)
    args.json = getattr(args, "json", False)
    return args


def main(argv: Sequence[str] | None = None, *,
         sandbox: Callable[[list[str]], int] | None = None) -> int:
    """The command line; ``sandbox`` runs the ``sandbox`` sub-command (the entry point passes the sandbox
    package's, which core never imports: the sandbox stands beside the engine, not inside it)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    leading, command, rest = split_leading_options(argv)
    if command in ("sandbox", "token"):  # they parse their own options (and their own --help)
        if any(a not in ("-v", "--verbose") for a in leading):
            build_parser().error(f"`{command}` takes no --config or --json")
        verbose = bool(leading) or any(a in ("-v", "--verbose") for a in rest)
        rest = [a for a in rest if a not in ("-v", "--verbose")]
        if command == "sandbox":
            if sandbox is None:
                print(f"{PROG}: error: the sandbox is not part of this program", file=sys.stderr)
                return 2
            # The sandbox stands in for monday: its lines stay out of OrderSync's log file.
            setup_logging(console_level=_console_level(verbose), file=False)
            return sandbox(rest)
        from core.foundation.token import cli_token  # token set / token delete: reads the token without echo

        setup_logging(console_level=logging.INFO if verbose else logging.WARNING)
        return cli_token(rest)
    parser = build_parser()
    args = parse_args(parser, argv)
    setup_logging(console_level=_console_level(args.verbose), waiting_every=None if args.verbose else WAITING_EVERY)
    log.info("OrderSync %s: %s, by %s on %s (pid %s)", __version__, shlex.join(argv) or "(no command)",
             getpass.getuser(), platform.node(), os.getpid())
    code = _dispatch(parser, args, argv)
    log.info("exit code %s", code)
    return code


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace, argv: list[str]) -> int:
    try:
        if args.command == "sync":
            return cmd_sync(args)
        if args.command == "status":
            return cmd_status(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "retry":
            return cmd_retry(args)
        if args.command == "cancel":
            return cmd_cancel(args)
        if args.command == "demo":
            return cmd_headless_demo(args) if args.demo_command == "run" else cmd_demo_init(args)
        if args.command == "db":
            return cmd_db_upgrade(args)
        parser.print_help()
        return 0
    except OrderSyncError as exc:
        return _error(str(exc), exc.exit_code)
    except MondayError as exc:
        return _monday_failure(exc)
    except sa.exc.DBAPIError as exc:
        from core.db.errors import classify

        error = classify(exc)
        if error is not None:
            log.info("database error", exc_info=True)
            return _error(str(error), error.exit_code)
        return _bug(exc, argv)  # an integrity or programming error is OrderSync's, not the database's
    except KeyboardInterrupt:
        log.warning("interrupted", extra=SHOWN)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or a closed pager: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: the traceback goes to the log file, the user gets one line
        return _bug(exc, argv)


def _bug(exc: BaseException, argv: list[str]) -> int:
    log.critical("unexpected error in `%s`", " ".join(argv[:2]), exc_info=(type(exc), exc, exc.__traceback__),
                 extra=SHOWN)
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    print(f"{PROG}: unexpected error: {type(exc).__name__}: {detail[:300]}. This is a bug in OrderSync; the "
          f"details are in {log_file()}. Nothing already recorded is lost, and the next run resumes any batch "
          "this one left open.", file=sys.stderr)
    return EXIT_INTERNAL


def _error(message: str, code: int) -> int:
    """A user error: one line on stderr, and the same line in the log file for whoever reads it later."""
    log.error("%s", message, extra=SHOWN)
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _console_level(verbose: bool) -> int:
    return logging.INFO if verbose else logging.WARNING


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
        print(json.dumps({"exit_code": code, "checks": [c.as_dict() for c in checks.checks]}, indent=2,
                         ensure_ascii=False))
    else:
        print("\n".join(c.line() for c in checks.checks))
        failed = [c for c in checks.checks if c.state == "failed"]
        print(f"\n{len(checks.checks) - len(failed)} of {len(checks.checks)} checks passed"
              if failed else "\nEverything OrderSync needs is in place.")
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
    from core.staging.errors import ErrorHandler

    ctx = _open(args)
    try:
        pending = ctx.pending()
        with ctx.engine.connect() as conn:
            b = s.batches
            batches = [dict(r) for r in conn.execute(
                sa.select(b.c.batch_id, b.c.customer, b.c.status, b.c.total_items, b.c.total_subitems,
                          b.c.invalid_count, b.c.succeeded_count, b.c.failed_count, b.c.started_at,
                          b.c.finished_at, b.c.owner_user, b.c.owner_host, b.c.message)
                .order_by(b.c.batch_id.desc()).limit(10)).mappings()]
        report: dict[str, Any] = {
            "database": redact_url(str(ctx.engine.url)),
            "log_file": str(log_file()),
            "board_id": ctx.board_id,
            "size_columns": len(ctx.source.size_columns),
            "customers": [p.as_dict() for p in pending],
            "unknown_customers": _unknown_customers(ctx),
            "errors": [_error_entry(e) for e in ErrorHandler(ctx).open_errors()],
            "open_errors": sum(p.open_errors for p in pending),
            "batches": [{k: (v.isoformat(sep=" ", timespec="seconds") if hasattr(v, "isoformat") else v)
                         for k, v in row.items()} for row in batches],
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
    print(_table(["CUSTOMER", "NEW", "CHANGED", "REMOVED", "INVALID", "OPEN ERRORS", "LAST SYNC"],
                 [[p["customer"] or "(blank)", p["new"], p["changed"], p["removed"], p["invalid"],
                   p["open_errors"], p["last_sync"] or "never"] for p in report["customers"]]))
    if report["errors"]:
        shown = report["errors"][:OPEN_ERRORS_SHOWN]
        print(f"Open errors ({len(report['errors'])}; retry with `{program_command('retry --error ID')}` or --all):")
        print(_table(["ID", "CUSTOMER", "ORDER", "SIZE", "TYPE", "MESSAGE"],
                     [[e["id"], e["customer"], e["order_number"] or "", e["size"] or "", e["type"],
                       _clip(e["message"], 70)] for e in shown]))
        if len(report["errors"]) > len(shown):
            print(f"… and {len(report['errors']) - len(shown)} more (status --json lists them all)")
        print()
    if report["unknown_customers"]:
        print(f"Not in the mapping's customer table (kept as they are): {', '.join(report['unknown_customers'])}")
    print()
    if report["batches"]:
        print("Recent batches:")
        print(_table(["BATCH", "CUSTOMER", "STATUS", "ITEMS", "SUBITEMS", "OK", "FAILED", "STARTED", "OWNER"],
                     [[b["batch_id"], b["customer"], b["status"], b["total_items"], b["total_subitems"],
                       b["succeeded_count"], b["failed_count"], b["started_at"],
                       f"{b['owner_user']}@{b['owner_host']}"] for b in report["batches"]]))
    else:
        print("No batches yet.")
    return 0


OPEN_ERRORS_SHOWN = 20


def _error_entry(error: dict[str, Any]) -> dict[str, Any]:
    return {"id": error["ref"], "customer": error["customer"], "order_number": error["order_number"],
            "sync_key": error.get("sync_key") or error.get("parent_sync_key"), "size": error.get("size_label"),
            "type": error["error_type"], "code": error["error_code"], "message": error["message"],
            "retryable": error["retryable"], "retry_count": error["retry_count"],
            "last_failed_at": error["last_failed_at"].isoformat(sep=" ", timespec="seconds")}


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
        raise _usage("sync needs --customer NAME (repeatable) or --all")
    ctx = _open(args)
    try:
        customers = ctx.resolve_customers(args.customer, args.all)
        if args.dry_run:
            from core.push.run import worst_code

            report = [dry_run_report(r) for r in ctx.detect(customers)]
            if not args.json:
                print(render_dry_run(report))
            monday_code, monday = _check_monday_for_dry_run(ctx, args.json)
            if args.json:
                print(json.dumps({"dry_run": True, "customers": report, "monday_checks": monday}, indent=2,
                                 ensure_ascii=False))
            return worst_code([1 if any(r["invalid"] for r in report) else 0, monday_code])
        scope = list(customers)  # the customers the exit code speaks for
        if args.all:  # only customers with something to do get a batch
            pending = {p.customer for p in ctx.pending() if p.pending or p.invalid}
            customers = [c for c in customers if c in pending]
        return _run_batches(ctx, customers, None, args.json, scope=scope)
    finally:
        ctx.close()


def cmd_cancel(args: argparse.Namespace) -> int:
    """Set the batch's cancel flag; its owner, wherever it runs, stops after the request in flight."""
    ctx = _open(args)
    try:
        try:
            row = ctx.staging.batch(args.batch)
        except sa.exc.NoResultFound:
            raise _usage(f"there is no batch {args.batch}; `{program_command('status')}` lists them") from None
        owner = f"{row['owner_user']}@{row['owner_host']}"
        if not ctx.staging.request_cancel(args.batch):
            print(f"Batch {args.batch} ({row['customer']}) is not running: it ended {row['status']}. Nothing to cancel.")
            return 0
        print(f"Asked batch {args.batch} ({row['customer']}, run by {owner}) to stop after its request in flight; "
              "it ends CANCELLED, and the next sync of the customer resumes it.")
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
            _say_still_open(counts)
            return code
        handler.prepare(selection)
        return _run_batches(ctx, sorted(selection.keys), selection.keys, args.json, selection.duplicates,
                            scope=scope)
    finally:
        ctx.close()


def _run_batches(ctx: EngineContext, customers: list[str], keys: dict[str, set[str]] | None, as_json: bool,
                 duplicates: set[str] | None = None,
                 scope: list[str] | None = None) -> int:
    import signal
    import threading

    from core.push.run import BatchProcessor, NullProgress, PrintProgress, run_exit_code

    cancel = threading.Event()

    def on_interrupt(signum: int, frame: FrameType | None) -> None:  # first Ctrl+C: finish the request in flight, record it, stop
        if cancel.is_set():
            raise KeyboardInterrupt
        print(f"{PROG}: cancelling after the request in flight (Ctrl+C again to abort)", file=sys.stderr)
        cancel.set()

    previous = signal.signal(signal.SIGINT, on_interrupt) if threading.current_thread() is threading.main_thread() else None
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
        print(json.dumps({"exit_code": code, "open_errors": still_open, "batches": [
            {"batch_id": r.batch_id, "customer": r.customer, "status": r.status, "message": r.message,
             **r.counts} for r in results]}, indent=2, ensure_ascii=False))
    elif not results:
        print("Nothing to sync.")
    _report_failures(results)
    _say_still_open(still_open)
    return code


# What each kind of open error asks of the person who reads it.
_TO_DO = {
    "VALIDATION": "fix them in ORDERS_UNIFIED; the next sync sends them",
    "DUPLICATE_ON_BOARD": "delete the extra items on the board, then retry",
    "DELETED_ON_BOARD": "retry to create them again, or leave them",
    "ARCHIVED_ON_BOARD": "restore them on the board and retry, or leave them",
}


def _open_counts(ctx: EngineContext, customers: list[str]) -> dict[str, int]:
    from core.staging.errors import ErrorHandler

    return ErrorHandler(ctx).open_counts(customers) if customers else {}


def _say_still_open(counts: dict[str, int]) -> None:
    """One stderr line: what stays open for the run's customers, grouped by what to do."""
    if not counts:
        return
    groups: dict[str, int] = {}
    for error_type, n in counts.items():
        todo = _TO_DO.get(error_type, f"see `{program_command('status')}`, then retry with "
                                      f"`{program_command('retry --all')}`")
        groups[todo] = groups.get(todo, 0) + n
    parts = [f"{n} {'error' if n == 1 else 'errors'} ({todo})" for todo, n in sorted(groups.items())]
    print(f"{PROG}: still open for the customers of this run: {'; '.join(parts)}", file=sys.stderr)


def _report_failures(results: list[BatchResult]) -> None:
    """One line per customer that failed on its own, then the run's worst failure as the last line.

    A failure that ended the run (the token, monday or the database, a request monday refused as
    invalid) is said once, in that last line, with the customers it kept from running.
    """
    from core.push.run import BUSY, NOT_RUN, TAKEN_OVER, exit_code_of, is_global

    worst = None
    batch = None  # the batch the worst failure stopped, when it stopped one
    for r in results:
        if r.error is None and r.status not in (BUSY, TAKEN_OVER):
            continue
        if r.error is not None and exit_code_of(r.error) == EXIT_INTERNAL and r.status != NOT_RUN:
            log.critical("batch %s (%s) failed on a bug", r.batch_id, r.customer,
                         exc_info=(type(r.error), r.error, r.error.__traceback__), extra=SHOWN)
        if r.status != NOT_RUN and not (r.error is not None and is_global(r.error)):
            log.warning("%s: %s", r.customer, r.message, extra=SHOWN)
            print(f"{PROG}: {r.customer}: {r.message}", file=sys.stderr)
        if (r.error is not None
                and (worst is None or is_global(r.error) or exit_code_of(r.error) == EXIT_INTERNAL)
                and (worst is None or not is_global(worst))):
            worst = r.error
            batch = f"Batch {r.batch_id} ({r.customer})" if r.batch_id is not None else None
    not_run = [r.customer for r in results if r.status == NOT_RUN]
    if worst is not None:
        _failure_line(worst, f" Not run: {', '.join(not_run)}." if not_run else "", batch)
    elif not_run:
        print(f"{PROG}: not run: {', '.join(not_run)}", file=sys.stderr)


def _failure_line(exc: BaseException, suffix: str = "", batch: str | None = None) -> int:
    if isinstance(exc, MondayError):
        return _monday_failure(exc, suffix, batch)
    if isinstance(exc, OrderSyncError):
        return _error(f"{exc}{suffix}", exc.exit_code)
    return _error(f"unexpected error: {type(exc).__name__}: {exc}. The details are in {log_file()}{suffix}",
                  EXIT_INTERNAL)


def _monday_failure(exc: MondayError, suffix: str = "", batch: str | None = None) -> int:
    kept = f"{batch or 'The batch'} is kept and resumes on the next run."
    if isinstance(exc, InvalidRequest):  # our bug, not an outage: the client logged the document
        log.critical("monday refused a request OrderSync built: %s", exc.describe(),
                     exc_info=(type(exc), exc, exc.__traceback__), extra=SHOWN)
        print(f"{PROG}: OrderSync built a request monday refused as invalid ({exc.describe()}). This is a bug "
              f"in OrderSync, not an outage; the details are in {log_file()}. Nothing of that request was "
              f"applied, and the batch resumes on the next run.{suffix}", file=sys.stderr)
        return EXIT_INTERNAL
    if isinstance(exc, AuthError):
        return _error(f"monday refused the API token ({exc.describe()}); set a valid one with "
                      f"`{program_command('token set')}` or MONDAY_API_TOKEN. {kept}{suffix}", 3)
    if not exc.retryable:
        return _error(f"monday refused the run: {exc.describe()}{suffix}", 2)
    tries = f" ({exc.attempts} tries)" if exc.attempts > 1 else ""
    return _error(f"monday could not be reached: {exc.describe()}{tries}. {kept}{suffix}", 3)


def _usage(message: str) -> OrderSyncError:
    from core.foundation.exceptions import SettingsError

    return SettingsError(message)


# --- demo -------------------------------------------------------------------------------------------


def cmd_demo_init(args: argparse.Namespace) -> int:
    from core.demo.setup import init_demo

    if args.orders is not None and args.orders < 1:
        raise _usage("--orders must be at least 1")
    paths = init_demo(args.dir, orders=args.orders, seed=args.seed)
    print(f"Demo ready in {paths.folder}")
    print(f"  settings: {paths.settings}")
    print(f"  database: {paths.database} ({paths.orders} order lines)")
    print("Try: " + program_command(f'status --config "{paths.settings}"'))
    return 0


def cmd_headless_demo(args: argparse.Namespace) -> int:
    """``demo run``: the demo without the window, synced against the embedded sandbox."""
    from core.demo.setup import init_demo

    paths = init_demo(None, keep_existing=True)
    config = str(paths.settings)
    print(f"Demo in {paths.folder} (headless; `main.py --demo` opens the window).")
    print("The board is the embedded monday sandbox; its rate limits run 20 times faster than monday's.")
    print()
    for step in (["status", "--config", config],
                 ["sync", "--config", config, "--customer", "TITLE 9", "--dry-run"],
                 ["sync", "--config", config, "--all"],
                 ["status", "--config", config]):
        print(f"$ ordersync {shlex.join(step)}", flush=True)
        code = main(step)
        print()
        # The demo data holds a few invalid lines on purpose: exit 1 shows them being caught.
        if code not in (0, 1):
            return code
    return 0
