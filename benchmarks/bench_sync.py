"""Benchmark: a full sync against the sandbox with monday's complexity budget enforced.

    .venv/bin/python benchmarks/bench_sync.py [--lines 2000] [--time-scale 60] [--latency 0.05]

2,000 order lines make about 9,600 mutations (items and size subitems). The sandbox enforces a
10,000,000-point budget per window and 30,000 points per mutation, so the bound is 333 mutations
per window; at --time-scale 20 a window lasts three real seconds, long enough that the budget and
not the request latency bounds the sync (at 60 the latency of 13 requests fills the window). Printed:

- mutations per full window ÷ the bound (target ≥ 0.9): how well the governor uses the budget;
- requests sent, 429s hit, seconds spent waiting;
- the same lines pushed by a plain one-mutation-per-request client (no batching, no pacing: it
  waits out each 429), measured in the same run on a sample, and the throughput ratio;
- the sandbox's own capacity (no budget, no latency), to show it is not what limits the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.batch import BatchProcessor  # noqa: E402
from core.db.engine import create_engine  # noqa: E402
from core.db.migrate import upgrade  # noqa: E402
from core.demo_data import SIZE_COLUMNS, create_orders_table  # noqa: E402
from tests.helpers import BOARD, SANDBOX_TOKEN, engine_context, monday_client, start_sandbox  # noqa: E402

BUDGET = 10_000_000
COST = 30_000


def build(folder: Path, lines: int):
    engine = create_engine(f"sqlite:///{(folder / 'bench.db').as_posix()}")
    with engine.begin() as conn:
        create_orders_table(conn, lines, seed=5, size_columns=SIZE_COLUMNS[:60], hostile=False)
    upgrade(engine)
    return engine


def windows_ratio(stats: dict) -> tuple[float, int]:
    """Mean mutations of the full windows (not the first and the last) over the bound."""
    counts = [w["mutations"] for w in stats["windows"]]
    full = counts[1:-1] if len(counts) > 2 else counts
    return (statistics.mean(full) / (BUDGET / COST) if full else 0.0), len(counts)


def plain_client(server, mutations: list[dict]) -> dict:
    """One create_item per request, no pacing: what the old pipeline did."""
    session = requests.Session()
    session.headers.update({"Authorization": SANDBOX_TOKEN, "API-Version": "2026-07"})
    sent = rejected = 0
    start = time.perf_counter()
    for mutation in mutations:
        while True:
            response = session.post(server.url, json=mutation, timeout=60)
            sent += 1
            if response.status_code == 429:
                rejected += 1
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            break
    return {"seconds": time.perf_counter() - start, "requests": sent, "rejected": rejected, "mutations": len(mutations)}


def capacity(folder: Path) -> dict:
    """The sandbox alone: aliased create_item requests with no budget and no latency."""
    server = start_sandbox(folder / "capacity.db", complexity_budget=2_000_000_000, time_scale=1.0)
    try:
        client = monday_client(server, max_batch=25)
        group = next(iter(client.board(BOARD).groups.values()))
        from core.monday.client import Mutation

        start = time.perf_counter()
        total = 0
        for n in range(40):
            client.mutate(BOARD, [Mutation(i, "create_item", {"board_id": BOARD, "item_name": f"c{n}-{i}",
                                                              "group_id": group}) for i in range(25)])
            total += 25
        seconds = time.perf_counter() - start
        return {"mutations_per_second": total / seconds, "requests_per_second": 40 / seconds}
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=2000)
    parser.add_argument("--time-scale", type=float, default=20.0,
                        help="how much faster than real time the budget windows run (20: a window lasts 3 s)")
    parser.add_argument("--latency", type=float, default=0.05, help="sandbox latency per request, real seconds")
    parser.add_argument("--plain-sample", type=int, default=300, help="mutations pushed by the plain client")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = build(folder, args.lines)
        server = start_sandbox(folder / "sandbox.db", complexity_budget=BUDGET, mutation_cost=COST,
                               time_scale=args.time_scale, base_latency=args.latency, mutation_latency=0.001)
        try:
            ctx = engine_context(engine)
            client = monday_client(server)
            start = time.perf_counter()
            results = BatchProcessor(ctx, client).run(ctx.customers())
            seconds = time.perf_counter() - start
            stats = server.stats
            ratio, windows = windows_ratio(stats)
            mutations = client.stats.mutations
            print(f"OrderSync: {args.lines} lines, {mutations} mutations in {client.stats.mutation_requests} "
                  f"mutation requests ({client.stats.requests} requests in all), {seconds:.1f} s, "
                  f"{mutations / seconds:.0f} mutations/s")
            print(f"  budget use: {ratio:.3f} of the bound ({BUDGET // COST} mutations per window) over {windows} "
                  f"windows; 429s: {client.stats.rate_limited}; waited {client.governor.waited:.1f} s for resets")
            print(f"  batches: {', '.join(sorted({r.status for r in results}))}")
            # The plain client, on a fresh board with the same budget, in the same run.
            group = next(iter(client.board(BOARD).groups.values()))
            sample = [{"query": "mutation ($b: ID!, $n: String!, $g: String) { create_item(board_id: $b, "
                                "item_name: $n, group_id: $g) { id } }",
                       "variables": {"b": BOARD, "n": f"plain {i}", "g": group}} for i in range(args.plain_sample)]
            time.sleep(60 / args.time_scale)  # start in a fresh window
            plain = plain_client(server, sample)
            plain_rate = plain["mutations"] / plain["seconds"]
            print(f"plain client: {plain['mutations']} mutations in {plain['requests']} requests, "
                  f"{plain['rejected']} answered 429, {plain['seconds']:.1f} s, {plain_rate:.0f} mutations/s")
            print(f"  OrderSync is {(mutations / seconds) / plain_rate:.1f}× faster and sends "
                  f"{plain['requests'] / plain['mutations'] / (client.stats.requests / mutations):.1f}× fewer "
                  f"requests per mutation")
        finally:
            server.stop()
        cap = capacity(folder)
        print(f"sandbox capacity: {cap['mutations_per_second']:.0f} mutations/s "
              f"({cap['requests_per_second']:.0f} requests/s of 25 mutations), no budget and no latency")
        print(json.dumps({"ratio": ratio, "mutations": mutations, "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
