"""Benchmark: how much of monday's complexity budget a full sync uses, against a slow sandbox.

    .venv/bin/python benchmarks/bench_sync.py [--lines 250] [--time-scale 6] [--budget 3000000]
                                              [--base-latency 0.3] [--mutation-latency 0.05]

The sandbox answers a request in ``base_latency + mutation_latency × mutations`` real seconds (0.3 s
plus 0.05 s per mutation by default, like monday under load) and enforces a complexity budget per
window of ``60 / time_scale`` real seconds (10 s by default), 30,000 points per mutation. 3,000,000
points are 99 mutations per window; a request of 25 takes 1.55 s, so the four requests a window
allows take about 6 s of its 10: the budget, not the latency, bounds the sync, and 250 order lines
(about 1,200 mutations) take about two minutes.

A window opens with the first call after the previous one expired, so a perfect pacer spends the whole
budget in every window and opens the next one the moment the previous one expires: in ``T`` seconds it
spends ``budget × T / window``. That is the bound. Printed, for the budget-bound span (from the
opening of the first window to the opening of the last one; the last window holds only what was
left of the work) and for the whole sync (from its start to its end, setup included):

- time, mutations, complexity spent, the bound, used ÷ bound;
- the count of 429s (there must be none), requests, seconds waited for resets.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.db.engine import create_engine
from core.db.migrate import upgrade
from core.demo.data import SIZE_COLUMNS, create_orders_table
from core.push.run import BatchProcessor
from tests.helpers import engine_context, monday_client, start_sandbox

COST = 30_000


def build(folder: Path, lines: int):
    engine = create_engine(f"sqlite:///{(folder / 'bench.db').as_posix()}")
    with engine.begin() as conn:
        create_orders_table(conn, lines, seed=5, size_columns=SIZE_COLUMNS[:60], hostile=False)
    upgrade(engine)
    return engine


def span_figures(windows: list[dict], budget: int, window: float) -> dict:
    """The windows before the last one: their complexity against what a perfect pacer spends from the
    opening of the first to the opening of the last."""
    if len(windows) < 2:
        return {"seconds": 0.0, "mutations": 0, "complexity": 0, "bound": 0.0, "ratio": 0.0, "windows": len(windows)}
    full = windows[:-1]
    seconds = windows[-1]["start"] - windows[0]["start"]
    bound = budget * seconds / window
    complexity = sum(w["complexity"] for w in full)
    return {
        "seconds": seconds,
        "mutations": sum(w["mutations"] for w in full),
        "complexity": complexity,
        "bound": bound,
        "ratio": complexity / bound if bound else 0.0,
        "windows": len(full),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=250)
    parser.add_argument(
        "--time-scale",
        type=float,
        default=6.0,
        help="how much faster than real time the budget windows run (6: a window lasts 10 s)",
    )
    parser.add_argument("--budget", type=int, default=3_000_000, help="complexity points per window")
    parser.add_argument("--base-latency", type=float, default=0.3, help="sandbox latency per request, real seconds")
    parser.add_argument(
        "--mutation-latency", type=float, default=0.05, help="sandbox latency per mutation of a request, real seconds"
    )
    args = parser.parse_args()
    window = 60.0 / args.time_scale
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine = build(folder, args.lines)
        server = start_sandbox(
            folder / "sandbox.db",
            complexity_budget=args.budget,
            mutation_cost=COST,
            time_scale=args.time_scale,
            base_latency=args.base_latency,
            mutation_latency=args.mutation_latency,
        )
        try:
            ctx = engine_context(engine)
            client = monday_client(server)
            start = time.monotonic()
            results = BatchProcessor(ctx, client).run(ctx.customers())
            seconds = time.monotonic() - start
            stats = server.stats
        finally:
            server.stop()
    rejected = stats["rejected_429"]
    four29 = sum(rejected.values())
    span = span_figures(stats["windows"], args.budget, window)
    whole_bound = args.budget * seconds / window
    whole = {
        "seconds": seconds,
        "mutations": stats["mutations"],
        "complexity": stats["complexity_used_total"],
        "bound": whole_bound,
        "ratio": stats["complexity_used_total"] / whole_bound,
    }
    print(
        f"sandbox: {args.base_latency:g} s + {args.mutation_latency:g} s per mutation; budget {args.budget:,} "
        f"points per {window:g} s window ({args.budget // COST} mutations)"
    )
    for name, fig in (("budget-bound span", span), ("whole sync", whole)):
        print(
            f"{name:>17}: {fig['seconds']:6.1f} s, {fig['mutations']:5d} mutations, complexity "
            f"{fig['complexity']:,} of a bound of {fig['bound']:,.0f}: ratio {fig['ratio']:.3f}"
        )
    print(
        f"{'':>17}  {span['windows']} windows before the last; 429s: {four29} ({rejected}); requests: "
        f"{client.stats.requests} ({client.stats.mutation_requests} mutation requests); waited "
        f"{client.governor.waited:.1f} s for resets; batches: {', '.join(sorted({r.status for r in results}))}"
    )
    print(
        json.dumps(
            {
                "span_ratio": round(span["ratio"], 4),
                "whole_ratio": round(whole["ratio"], 4),
                "mutations": whole["mutations"],
                "seconds": round(seconds, 2),
                "429s": four29,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
