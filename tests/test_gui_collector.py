"""Garbage collection around a sync: no full collection during a run, nothing frozen, nothing left behind.

The runs are real (the bridge, the engine, the sandbox over HTTP, SQLite); what is checked is the
collector's state and which objects are still alive, never how long anything took. Last, what the
sandbox keeps per request text (the demo hosts it in the window's process, so every full
collection walks it): the parsed document with its locations, not the parser's tokens.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import asyncio
import gc
import time
import types

import pytest
import qasync
from graphql.language import Token
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication, QLineEdit

from core.monday.client import Mutation, build_mutation
from core.push.run import BatchProcessor
from gui.bridge import EngineBridge
from gui.collector import NO_AUTOMATIC_FULL_COLLECTION, RunCollector, run_collector
from sandbox.schema import Preparer
from tests.helpers import SANDBOX_TOKEN, engine_context, make_world, start_sandbox


@pytest.fixture
def qloop(qapp):
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture
def thresholds():
    """CPython's thresholds as the test found them, put back whatever happens."""
    saved = gc.get_threshold()
    yield saved
    gc.set_threshold(*saved)


async def until(predicate, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def test_runs_hold_full_collections_off_then_one_collection_frees_what_they_left(
    qloop, qapp, sqlite_engine, tmp_path, monkeypatch, thresholds
):
    """Three syncs in a row: during each, CPython starts no full collection and nothing is frozen;
    after each, the thresholds are CPython's again and the run's processor (held in reference cycles,
    so only a full collection frees it) is gone, but for the one the reused monday client still hooks."""
    make_world(sqlite_engine, n_orders=20, seed=4, hostile=False)
    server = start_sandbox(tmp_path / "sandbox.db", base_latency=0.005)
    monkeypatch.setenv("MONDAY_API_TOKEN", SANDBOX_TOKEN)
    collector = run_collector()
    monkeypatch.setattr(collector, "quiet_ms", 50)
    bridge = EngineBridge(engine_context(sqlite_engine, **{"monday.api_url": server.url}))
    seen_during: list[tuple] = []
    bridge.syncStarted.connect(lambda: seen_during.append((gc.get_threshold(), gc.get_freeze_count())))
    collections: list[int] = []
    collector.collected.connect(collections.append)

    async def scenario() -> list[int]:
        customers = [p["customer"] for p in await bridge.pending()]
        assert customers
        processors = []
        for run in range(3):
            results = await bridge.sync(customers)
            assert results and all(r.error is None for r in results)
            assert collector.holding  # the run is over; its collection waits for a quiet moment
            await until(lambda: len(collections) == run + 1, 30, "the collection after the run")  # noqa: B023
            assert not collector.holding
            assert gc.get_threshold() == thresholds
            assert gc.get_freeze_count() == 0
            processors.append(alive(BatchProcessor))
        return processors

    try:
        processors = qloop.run_until_complete(scenario())
    finally:
        collector.collected.disconnect(collections.append)
        bridge.close()
        server.stop()
    young, middle, _ = thresholds
    assert seen_during == [((young, middle, NO_AUTOMATIC_FULL_COLLECTION), 0)] * 3
    assert processors == [1, 1, 1]


def test_the_collection_waits_while_someone_types(qapp, thresholds):
    collector = RunCollector(quiet_ms=60_000, longest_wait_ms=600_000)
    field = QLineEdit()
    try:
        collector.hold()
        collector.release()
        assert collector.holding
        QApplication.sendEvent(field, QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_A, Qt.KeyboardModifier.NoModifier))
        collector._when_quiet()  # the timer's check: someone typed just now, so it waits
        assert collector.holding
        assert gc.get_threshold()[2] == NO_AUTOMATIC_FULL_COLLECTION
        collector.quiet_ms = 0  # quiet long enough
        collector._when_quiet()
        assert not collector.holding
        assert gc.get_threshold() == thresholds
    finally:
        collector.collect_now()
        field.deleteLater()


def test_a_run_starting_while_the_collection_is_due_keeps_it_off_until_that_run_ends(qapp, thresholds):
    collector = RunCollector(quiet_ms=0)
    try:
        collector.hold()
        collector.release()
        collector.hold()  # a retry starts before the quiet moment came
        assert collector.collect_now() == 0 and collector.holding
        collector._when_quiet()
        assert collector.holding
        collector.release()
        collector._when_quiet()
        assert not collector.holding
        assert gc.get_threshold() == thresholds
    finally:
        collector.collect_now()


def reachable(root: object) -> list[object]:
    """The objects a full collection walks from ``root`` (types, modules and functions excluded)."""
    seen: dict[int, object] = {}
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or not gc.is_tracked(obj) or isinstance(obj, (type, types.ModuleType, types.FunctionType)):
            continue
        seen[id(obj)] = obj
        stack.extend(gc.get_referents(obj))
    return list(seen.values())


def test_the_sandbox_caches_documents_with_their_locations_but_not_the_parsers_tokens():
    mutations = [
        Mutation(("sub", i, "create_subitem"), "create_subitem", {"parent_item_id": "1", "item_name": f"S{i}"})
        for i in range(20)
    ]
    query, _ = build_mutation(mutations)
    prepared = Preparer().prepare(query, None)
    assert not prepared.errors
    kept = reachable(prepared.document)
    assert not [o for o in kept if isinstance(o, Token)]
    field = prepared.operation.selection_set.selections[1]
    assert (field.loc.start, field.loc.source.body) == (query.index("a0:"), query)  # errors can still say where
