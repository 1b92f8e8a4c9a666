"""The command line (DESIGN.md §4): headless runs for planners, operators and schedulers.

Exit codes: 0 all rows synced (or nothing to do); 1 the run finished and some rows failed or are
invalid; 2 usage or settings error; 3 the database or the API could not be reached; 70 a bug in
OrderSync, including a request monday refused as invalid. A user error is one line on stderr, never
a traceback.

This module parses and dispatches; the sub-commands are in ``core.commands`` and the one-line failure
messages in ``core.failures``.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import platform
import shlex
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa

from core import __version__
from core.commands import (
    cmd_cancel,
    cmd_check,
    cmd_db_upgrade,
    cmd_demo_init,
    cmd_drift,
    cmd_headless_demo,
    cmd_retry,
    cmd_status,
    cmd_sync,
)
from core.decide import add_parser as add_decide_parser
from core.decide import cmd_decide
from core.failures import PROG, monday_failure, report_bug, user_error
from core.foundation.exceptions import EXIT_CODES, OrderSyncError
from core.foundation.logs import SHOWN, setup_logging
from core.history import cmd_history
from core.monday.errors import MondayError

log = logging.getLogger("ordersync")

COMMANDS = (
    "sync",
    "retry",
    "status",
    "check",
    "drift",
    "cancel",
    "history",
    "decide",
    "undo",
    "demo",
    "sandbox",
    "db",
    "token",
)
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
JSON_COMMANDS = (
    "sync",
    "retry",
    "status",
    "check",
    "drift",
    "history",
    "undo",
)  # the sub-commands with machine-readable output
# the sub-commands that read the settings
CONFIG_COMMANDS = ("sync", "retry", "status", "check", "drift", "cancel", "history", "decide", "undo", "db")


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
    return argv[:i], argv[i], argv[i + 1 :]


def _global_options(p: argparse.ArgumentParser, *, config: bool = False, json_output: bool = False) -> None:
    p.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="progress and log lines on stderr"
    )
    if config:
        p.add_argument(
            "--config",
            type=Path,
            default=argparse.SUPPRESS,
            metavar="F",
            help="settings file (default: $ORDERSYNC_CONFIG, else the user's settings file)",
        )
    if json_output:
        p.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="Pushes ERP orders from ORDERS_UNIFIED onto a monday.com board.",
        epilog="exit codes:\n"
        + "\n".join(
            textwrap.fill(meaning, 100, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
            for code, meaning in EXIT_CODES
        )
        + "\n\n-v, --config F and --json work before or after the sub-command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    which.add_argument(
        "--error",
        nargs="+",
        metavar="ID",
        help="error ids as shown by status: I12 (an item), S7 (a subitem); a bare number is an item",
    )

    drift = command("drift", "compare the board with what OrderSync last wrote there; changes nothing")
    drift.add_argument("--customer", action="append", default=[], metavar="NAME", help="a customer (repeatable)")
    drift.add_argument("--all", action="store_true", help="every customer")
    drift.add_argument("--items-only", action="store_true", help="leave the sizes (subitems) out: fewer reads")

    sub.add_parser(
        "sandbox", help="run the monday sandbox server alone (sandbox --help for its options)", add_help=False
    )
    sub.add_parser("token", help="token set | token delete: the monday token in the OS keyring", add_help=False)

    cancel = command("cancel", "ask an active batch, on any workstation, to stop after the request in flight")
    cancel.add_argument("--batch", type=int, required=True, metavar="N", help="the batch (as status lists it)")

    history = command("history", "the audit trail: every cell OrderSync changed on the board, before and sent")
    line = history.add_mutually_exclusive_group()
    line.add_argument("--order", metavar="N", help="an order number (AAG ORDER NUMBER)")
    line.add_argument("--key", metavar="K", help="a line's SYNC KEY")
    line.add_argument("--batch", type=int, metavar="B", help="a batch (as status lists it)")
    line.add_argument("--customer", dest="customer_name", metavar="C", help="a customer")

    add_decide_parser(command)
    undo = command("undo", "take back what a batch changed on the board (a batch of its own); --dry-run previews")
    undo.add_argument("--batch", type=int, required=True, metavar="N", help="the batch to undo (as status lists it)")
    undo.add_argument(
        "--dry-run", action="store_true", help="show what would be undone and the conflicts; change nothing"
    )

    command("check", "walk the chain: settings, database, tables, ORDERS_UNIFIED, token, board, columns, labels")

    command("status", "batches, pending customers, open errors, cells that need a decision")

    demo = command("demo", "the embedded demo")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, parser_class=_Parser)
    init = demo_sub.add_parser("init", help="write a settings file and a demo database")
    _global_options(init)
    init.add_argument("--dir", type=Path, default=None, help="folder for the demo (default: the user's data folder)")
    init.add_argument(
        "--orders", type=int, default=None, help="order lines to generate (default: resources/demo.toml's, 600)"
    )
    init.add_argument("--seed", type=int, default=None, help="random seed (default: resources/demo.toml's, 7)")
    _global_options(demo_sub.add_parser("run", help="the demo without the window: status, a dry run, a sync, status"))

    db = command("db", "OrderSync's own tables")
    db_sub = db.add_subparsers(dest="db_command", required=True, parser_class=_Parser)
    _global_options(
        db_sub.add_parser("upgrade", help="create or upgrade the tables (never ORDERS_UNIFIED)"), config=True
    )
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


def main(argv: Sequence[str] | None = None, *, sandbox: Callable[[list[str]], int] | None = None) -> int:
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
    log.info(
        "OrderSync %s: %s, by %s on %s (pid %s)",
        __version__,
        shlex.join(argv) or "(no command)",
        getpass.getuser(),
        platform.node(),
        os.getpid(),
    )
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
        if args.command == "drift":
            return cmd_drift(args)
        if args.command == "cancel":
            return cmd_cancel(args)
        if args.command == "history":
            return cmd_history(args)
        if args.command == "decide":
            return cmd_decide(args)
        if args.command == "undo":
            from core.undo.command import cmd_undo

            return cmd_undo(args)
        if args.command == "demo":
            return cmd_headless_demo(args) if args.demo_command == "run" else cmd_demo_init(args)
        if args.command == "db":
            return cmd_db_upgrade(args)
        parser.print_help()
        return 0
    except OrderSyncError as exc:
        return user_error(str(exc), exc.exit_code)
    except MondayError as exc:
        return monday_failure(exc)
    except sa.exc.DBAPIError as exc:
        from core.db.errors import classify

        error = classify(exc)
        if error is not None:
            log.info("database error", exc_info=True)
            return user_error(str(error), error.exit_code)
        return report_bug(exc, argv)  # an integrity or programming error is OrderSync's, not the database's
    except KeyboardInterrupt:
        log.warning("interrupted", extra=SHOWN)
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` or a closed pager: not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:  # noqa: BLE001 - a bug: the traceback goes to the log file, the user gets one line
        return report_bug(exc, argv)


def _console_level(verbose: bool) -> int:
    return logging.INFO if verbose else logging.WARNING
