"""OrderSync's entry point: the window by default, command-line sub-commands for headless runs.

    ordersync [--config F]            the window, on the user's settings (the first run offers the demo)
    ordersync --demo                  the window on the embedded demo (database and sandbox board)
    ordersync <command> …             headless: sync, retry, status, demo, sandbox, db (see --help)

-v, --config F and --json may come before the command too (``ordersync -v --config F status``): a command
after the leading global options means the command line; ``ordersync --config F`` alone is the window.

This is the one place that wires the three packages together: ``core`` (the engine, which imports
neither of the others), ``gui`` (the window) and ``sandbox`` (the monday stand-in of the demo, run as
``ordersync sandbox …`` by the built executable). Qt is imported only when the window opens, so the
command line starts without it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def gui_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ordersync", description="OrderSync's window.")
    parser.add_argument("--demo", action="store_true", help="open on the embedded demo")
    parser.add_argument("--config", help="settings file")
    parser.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
    args = parser.parse_args(argv)
    from gui.app import run

    return run(args.config, demo=args.demo, quit_after_ms=args.quit_after)


def _sandbox(argv: list[str]) -> int:
    from sandbox.cli import run

    return run(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from core.cli import COMMANDS, split_leading_options
    from core.cli import main as cli_main
    from core.foundation.console import attach_parent_console, quiet_missing_streams

    args = list(sys.argv[1:] if argv is None else argv)
    _, command, _ = split_leading_options(args)
    if command in COMMANDS or command in ("-h", "--help", "--version"):
        attach_parent_console()  # the windowed Windows build: write to the console it was run from
        return cli_main(args, sandbox=_sandbox)
    quiet_missing_streams()
    return gui_main(args)


if __name__ == "__main__":
    sys.exit(main())
