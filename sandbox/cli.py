"""``sandbox [--port P] [--state FILE] [--time-scale X] [--faults SPEC] [--reference-schema FILE] ...``.

The sandbox alone. ``--reference-schema FILE`` (default: ``$ORDERSYNC_MONDAY_SDL`` if set) also
validates every request against monday's published SDL (see ``reference.py``).

Prints the URL (``http://127.0.0.1:<port>/v2``) on the first line of standard output, then serves
until Ctrl+C or SIGTERM; exit code 0 on a clean stop, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .faults import parse_faults
from .server import SandboxServer


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sandbox", description="Run the monday-compatible sandbox server.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument("--state", metavar="FILE", help="SQLite state file (default: in memory only)")
    p.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="60 makes a 60 s rate-limit window last 1 real second (default 1)",
    )
    p.add_argument("--faults", metavar="SPEC", help='fault rates, e.g. "500=0.05,drop=0.02,slow_seconds=3"')
    p.add_argument("--seed", type=int, default=0, help="seed of the fault sequence and generated ids")
    p.add_argument("--budget", type=int, default=10_000_000, metavar="N", help="complexity points per minute")
    p.add_argument("--mutation-cost", type=int, default=30_000, metavar="N", help="complexity of one mutation")
    p.add_argument("--minute-limit", type=int, default=5_000, metavar="N", help="requests per minute")
    p.add_argument("--concurrency", type=int, default=40, metavar="N", help="requests in flight")
    p.add_argument("--latency", type=float, default=0.0, metavar="S", help="real seconds added to each request")
    p.add_argument(
        "--mutation-latency", type=float, default=0.0, metavar="S", help="real seconds added per mutation field"
    )
    p.add_argument("--legacy-errors", action="store_true", help="answer errors in the pre-2025 top-level shape")
    p.add_argument("--no-idempotency", action="store_true", help="ignore Idempotency-Key")
    p.add_argument(
        "--reference-schema",
        metavar="FILE",
        help="monday's published SDL: refuse what it refuses too (default: $ORDERSYNC_MONDAY_SDL)",
    )
    p.add_argument(
        "--token",
        default="sandbox-token",
        help='the Authorization value required (default "sandbox-token"; "" accepts any)',
    )
    p.add_argument(
        "--exit-with-stdin",
        action="store_true",
        help="stop when standard input closes (a parent process that dies closes it)",
    )
    return p


def _watch_stdin(stop: threading.Event) -> None:
    """Set ``stop`` when standard input reaches its end: the parent closed it or went away."""

    def watch() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        stop.set()

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def run(argv: list[str]) -> int:
    """Parse ``argv``, serve until interrupted; the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        faults = parse_faults(args.faults) if args.faults else None
        server = SandboxServer(
            args.state,
            host=args.host,
            port=args.port,
            time_scale=args.time_scale,
            faults=faults,
            seed=args.seed,
            complexity_budget=args.budget,
            mutation_cost=args.mutation_cost,
            minute_limit=args.minute_limit,
            concurrency_limit=args.concurrency,
            base_latency=args.latency,
            mutation_latency=args.mutation_latency,
            legacy_errors=args.legacy_errors,
            idempotency=not args.no_idempotency,
            token=args.token or None,
            reference_schema=args.reference_schema,
        )
    except (ValueError, OSError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if args.exit_with_stdin:
        _watch_stdin(stop)
    try:
        url = server.start()
        print(url, flush=True)
        boards = ", ".join(f"{b['id']} ({b['name']})" for b in server.board_ids() if b["kind"] == "board")
        print(
            f"boards: {boards or 'none yet (POST /sandbox/boards)'}; token: {args.token or 'any'}; Ctrl+C stops",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(sys.argv[1:] if argv is None else argv)
