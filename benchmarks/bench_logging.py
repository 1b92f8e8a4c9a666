"""What the log file costs: records per second through OrderSync's logging, redaction included.

    .venv/bin/python benchmarks/bench_logging.py [--records 100000]

Every record is redacted when it is made (registered secrets, URL and ODBC passwords,
Authorization values, JWT shapes) and written to the rotating file with its batch tag. A sync
logs a few lines per batch and per retry, so this only matters if it is slow; it prints the cost
per record against a plain logging setup writing the same lines to a file.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.foundation import logs


def run(records: int, logger: logging.Logger) -> float:
    started = time.perf_counter()
    for i in range(records):
        logger.info(
            "batch %s: request %d of 25 mutations answered in %.2f s (%s)", 12, i, 0.051, "http://127.0.0.1:8765/v2"
        )
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="ordersync-bench-logging-"))

    # Plain: the standard factory and a FileHandler, the same format.
    plain = logging.getLogger("bench.plain")
    plain.propagate = False
    plain.setLevel(logging.INFO)
    handler = logging.FileHandler(folder / "plain.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter(logs.FILE_FORMAT.replace("%(batch_tag)s", "")))
    plain.addHandler(handler)
    baseline = run(args.records, plain)
    plain.removeHandler(handler)
    handler.close()

    # OrderSync's: the redacting record factory, a batch tag, the rotating file; ten secrets registered.
    os.environ[logs.LOG_DIR_ENV] = str(folder / "ordersync")
    for n in range(10):
        logs.register_secret(f"secret-token-{n:02d}-" + "x" * 30)
    logs.setup_logging(console_level=None)
    ours = logging.getLogger("bench.ordersync")
    with logs.batch_context(12):
        measured = run(args.records, ours)
    logs.remove_handlers()

    size = (folder / "ordersync" / logs.LOG_FILE_NAME).stat().st_size
    print(f"{args.records:,} records")
    print(f"  plain logging to a file:      {baseline:6.2f} s  {baseline / args.records * 1e6:6.1f} µs/record")
    print(
        f"  OrderSync (redacted, tagged): {measured:6.2f} s  {measured / args.records * 1e6:6.1f} µs/record "
        f"({measured / baseline:.2f}x)"
    )
    print(
        f"  log written: {size / 1e6:.1f} MB (rotates at {logs.MAX_BYTES / 1e6:.0f} MB, "
        f"{logs.BACKUP_COUNT} old files kept)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
