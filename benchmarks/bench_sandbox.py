"""Benchmark: how fast the sandbox itself applies mutations (it must never be what bounds a sync).

    .venv/bin/python benchmarks/bench_sandbox.py                 # state file in a temporary folder
    .venv/bin/python benchmarks/bench_sandbox.py --memory        # state in memory only
    .venv/bin/python benchmarks/bench_sandbox.py --requests 400 --batch 25 --clients 1,4

Each request carries ``--batch`` aliased ``create_item`` mutations with four column values (text,
status, dropdown, numbers), sent through ``requests`` over loopback with no latency, an unlimited
budget and no faults. Then a 10,000-item board is searched with ``items_page_by_column_values``.
Prints mutations/s and requests/s per number of concurrent clients. No assertion: figures for notes.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox import SandboxServer

COLUMNS = [
    {"title": "SYNC KEY", "type": "text"},
    {"title": "ORDER TYPE", "type": "status", "labels": ["RECEIVED", "CANCELLED"]},
    {"title": "CUSTOMER", "type": "dropdown", "labels": ["TITLE NINE", "PELOTON"]},
    {"title": "TOTAL QTY", "type": "numbers"},
]


def _columns(session: requests.Session, url: str, board: str) -> dict[str, str]:
    body = session.post(
        url, json={"query": "query($b:[ID!]){boards(ids:$b){columns{id title}}}", "variables": {"b": [board]}}
    ).json()
    return {c["title"]: c["id"] for c in body["data"]["boards"][0]["columns"]}


def _mutation(batch: int) -> str:
    declared = ", ".join(f"$v{i}: JSON" for i in range(batch))
    fields = " ".join(
        f'a{i}: create_item(board_id: $b, item_name: "item", column_values: $v{i}) {{ id }}' for i in range(batch)
    )
    return f"mutation ($b: ID!, {declared}) {{ {fields} }}"


def run_writers(server: SandboxServer, board: str, requests_total: int, batch: int, clients: int) -> tuple[float, int]:
    query = _mutation(batch)
    counter = iter(range(requests_total))
    lock = threading.Lock()
    failures: list[str] = []

    def worker() -> None:
        session = requests.Session()
        session.headers["Authorization"] = server.token or ""
        cols = _columns(session, server.url, board)
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            variables = {"b": board}
            for i in range(batch):
                variables[f"v{i}"] = json.dumps(
                    {
                        cols["SYNC KEY"]: f"K{n}-{i}",
                        cols["ORDER TYPE"]: {"label": "RECEIVED"},
                        cols["CUSTOMER"]: {"labels": ["PELOTON"]},
                        cols["TOTAL QTY"]: str(i),
                    }
                )
            response = session.post(server.url, json={"query": query, "variables": variables})
            if response.status_code != 200 or "errors" in response.json():
                failures.append(response.text[:300])
        session.close()

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return seconds, requests_total * batch


def run_search(server: SandboxServer, board: str, searches: int, batch: int) -> float:
    session = requests.Session()
    session.headers["Authorization"] = server.token or ""
    cols = _columns(session, server.url, board)
    query = (
        "query($b: ID!, $c: [ItemsPageByColumnValuesQuery!]) { items_page_by_column_values(board_id: $b, "
        "columns: $c, limit: 50) { cursor items { id name } } }"
    )
    started = time.perf_counter()
    for n in range(searches):
        body = session.post(
            server.url,
            json={
                "query": query,
                "variables": {
                    "b": board,
                    "c": [{"column_id": cols["SYNC KEY"], "column_values": [f"k{n}-{batch - 1}"]}],
                },
            },
        ).json()
        assert len(body["data"]["items_page_by_column_values"]["items"]) == 1, body
    session.close()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="mutation requests per run (default 400)")
    parser.add_argument("--batch", type=int, default=25, help="aliased create_item per request (default 25)")
    parser.add_argument("--clients", default="1,4", help="comma-separated numbers of concurrent clients")
    parser.add_argument("--memory", action="store_true", help="keep the state in memory (no SQLite file)")
    args = parser.parse_args()
    clients = [int(c) for c in args.clients.split(",")]
    with tempfile.TemporaryDirectory() as folder:
        for n_clients in clients:
            state = None if args.memory else Path(folder) / f"bench-{n_clients}.db"
            with SandboxServer(
                state, complexity_budget=10**15, minute_limit=10**9, concurrency_limit=1000, items_limit=10**9
            ) as server:
                board = server.create_board("Bench", COLUMNS, [])
                seconds, mutations = run_writers(server, board, args.requests, args.batch, n_clients)
                print(
                    f"{'memory' if args.memory else 'sqlite'} state, {n_clients} client(s): {mutations} create_item "
                    f"in {args.requests} requests of {args.batch}: {seconds:.2f} s -> "
                    f"{mutations / seconds:,.0f} mutations/s, {args.requests / seconds:,.1f} requests/s"
                )
                if n_clients == clients[0]:
                    searches = 200
                    took = run_search(server, board, searches, args.batch)
                    print(
                        f"  items_page_by_column_values on a board of {mutations:,} items: "
                        f"{searches / took:,.0f} searches/s"
                    )
                dump_started = time.perf_counter()
                dump = server.board_dump(board)
                print(f"  board_dump of {len(dump['items']):,} items: {time.perf_counter() - dump_started:.2f} s")


if __name__ == "__main__":
    main()
