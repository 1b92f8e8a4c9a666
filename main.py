"""OrderSync: the window by default, command-line sub-commands for headless runs.

    main.py [--config F]              the window, on the user's settings (the first run offers the demo)
    main.py --demo                    the window on the embedded demo (database and sandbox board)
    main.py <command> …               headless: sync, retry, status, demo, sandbox, db (see --help)

-v, --config F and --json may come before the command too (`main.py -v --config F status`): a command
after the leading global options means the command line; `main.py --config F` alone is the window.
"""

import argparse
import sys

from core.cli import COMMANDS, main as cli_main, split_leading_options


def gui_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ordersync", description="OrderSync's window.")
    parser.add_argument("--demo", action="store_true", help="open on the embedded demo")
    parser.add_argument("--config", help="settings file")
    parser.add_argument("--quit-after", type=int, metavar="MS", help=argparse.SUPPRESS)  # smoke tests
    args = parser.parse_args(argv)
    from gui.app import run

    return run(args.config, demo=args.demo, quit_after_ms=args.quit_after)


def main(argv: list[str]) -> int:
    from core.console import attach_parent_console, quiet_missing_streams

    _, command, _ = split_leading_options(argv)
    wants_cli = command in COMMANDS or command in ("-h", "--help", "--version")
    if wants_cli:
        attach_parent_console()  # the windowed Windows build: write to the console it was run from
        return cli_main(argv)
    quiet_missing_streams()
    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
