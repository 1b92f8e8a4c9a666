"""Removals archived in bulk (``core.push.archive``): one ``bulk_archive_items`` for many items, each
confirmed by its state on the board, audited once; and the ways back to one ``archive_item`` each.

Every test runs real syncs and undos over real HTTP against the sandbox (which judges each document
by monday's published schema), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from core.db import schema as s
from core.push.forecast import plan_of
from tests.helpers import BOARD, monday_sdl, order_row, start_sandbox
from tests.test_board_edits import mapping_with, run, world
from tests.test_exactly_once import board_by_key
from tests.test_undo import CUSTOMER, board_state, lines, production, undo

BULK = re.compile(r"\bbulk_archive_items\(")
ONE = re.compile(r"\barchive_item\(")


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db", journal=True)
    yield server
    server.stop()


def sent(server, pattern: re.Pattern) -> int:
    """How many mutations matching ``pattern`` the sandbox received (aliases counted)."""
    return sum(len(pattern.findall(request["query"])) for request in server.journal)


def a_batch_of_six_new_lines(engine, server):
    """Two lines synced, then a batch that creates six more: the batch an undo takes back."""
    table, ctx = world(engine, lines(1, 2))
    (first,) = run(ctx, server)
    board, prod = board_state(server), production(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [order_row(table, **row) for row in lines(3, 4, 5, 6, 7, 8)])
    (second,) = run(ctx, server)
    assert first.status == second.status == s.COMPLETED
    created = {key: item["id"] for key, item in board_by_key(server).items() if key not in board}
    assert len(created) == 6
    return ctx, second.batch_id, board, prod, created


def audited(engine, batch_id: int) -> list[tuple[str, str]]:
    a = s.audit_log
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(a.c.monday_item_id, a.c.kind).where(a.c.batch_id == batch_id)).all())


def undo_batch_of(engine, batch_id: int) -> int:
    b = s.batches
    with engine.connect() as conn:
        return conn.scalar(sa.select(b.c.batch_id).where(b.c.undo_of_batch == batch_id))


def test_an_undo_archives_what_its_batch_created_with_one_bulk_mutation(engine, sandbox):
    ctx, batch_id, board, prod, created = a_batch_of_six_new_lines(engine, sandbox)
    sandbox.clear_journal()
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    assert (sent(sandbox, BULK), sent(sandbox, ONE)) == (1, 0)
    assert board_state(sandbox) == board and production(engine) == prod
    archived = sandbox.board_dump(BOARD)["archived_item_ids"]
    assert set(created.values()) <= set(archived)
    assert audited(engine, undo_batch_of(engine, batch_id)) == sorted((i, s.ARCHIVED) for i in created.values())


def test_a_bulk_archive_whose_answer_is_lost_is_settled_by_the_items_states(engine, sandbox):
    """monday applied it and the answer was a 500: nothing is archived twice, each item audited once."""
    ctx, batch_id, board, prod, created = a_batch_of_six_new_lines(engine, sandbox)
    sandbox.fail_next("after500", field="bulk_archive_items")
    sandbox.clear_journal()
    _, result = undo(ctx, sandbox, batch_id)
    assert result.status == s.COMPLETED, result.message
    assert sandbox.stats["faults_injected"] == {"after500": 1}
    assert (sent(sandbox, BULK), sent(sandbox, ONE)) == (1, 0)
    assert board_state(sandbox) == board and production(engine) == prod
    assert audited(engine, undo_batch_of(engine, batch_id)) == sorted((i, s.ARCHIVED) for i in created.values())


def older_schema(tmp_path, field: str):
    """monday's published schema without ``field``: what a version (or a stand-in) without it answers."""
    sdl = monday_sdl()
    if sdl is None:
        pytest.skip("monday's published schema is not beside the checkout")
    path = tmp_path / f"without-{field}.graphql"
    path.write_text(sdl.read_text(encoding="utf-8").replace(f"{field}(", f"{field}_gone("), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("field", "bulk", "one"),
    [
        ("bulk_archive_items", 1, 6),  # the bulk mutation refused once, then one archive_item each
        ("job_status", 1, 0),  # the job cannot be polled: the items' states confirm it all the same
    ],
)
def test_an_api_without_the_bulk_fields_still_archives_each_item_once(engine, tmp_path, field, bulk, one):
    server = start_sandbox(tmp_path / "sandbox.db", journal=True, reference_schema=older_schema(tmp_path, field))
    try:
        ctx, batch_id, board, prod, created = a_batch_of_six_new_lines(engine, server)
        server.clear_journal()
        _, result = undo(ctx, server, batch_id)
        assert result.status == s.COMPLETED, result.message
        assert (sent(server, BULK), sent(server, ONE)) == (bulk, one)
        assert sent(server, re.compile(rf"\b{field}\(")) >= 1  # it was asked, and refused
        assert board_state(server) == board and production(engine) == prod
        assert audited(engine, undo_batch_of(engine, batch_id)) == sorted((i, s.ARCHIVED) for i in created.values())
    finally:
        server.stop()


def test_a_sync_archives_lines_gone_from_the_source_in_bulk(engine, sandbox, tmp_path):
    table, ctx = world(engine, lines(1, 2, 3, 4, 5, 6, 7))
    ctx.mapping = mapping_with(tmp_path, "archive")
    (first,) = run(ctx, sandbox)
    assert first.status == s.COMPLETED
    ids = {key: item["id"] for key, item in board_by_key(sandbox).items()}
    gone = [f"MWE-{n:05d}" for n in range(2, 8)]
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"].in_(gone)))
    (detected,) = ctx.detect([CUSTOMER])  # the forecast counts the mutations the run will send
    assert (plan_of([detected], archive_in_bulk=True)[0].changes, plan_of([detected])[0].changes) == (1, 6)
    sandbox.clear_journal()
    (second,) = run(ctx, sandbox)
    assert second.status == s.COMPLETED, second.message
    assert (sent(sandbox, BULK), sent(sandbox, ONE)) == (1, 0)
    archived = set(sandbox.board_dump(BOARD)["archived_item_ids"])
    expected = {i for key, i in ids.items() if key.split("|")[0] in gone or any(key.startswith(g) for g in gone)}
    assert len(expected) == 6 and expected <= archived
    assert [key for key in board_by_key(sandbox)] == [key for key in ids if ids[key] not in expected]
    assert audited(engine, second.batch_id) == sorted((i, s.ARCHIVED) for i in expected)


def test_five_removals_is_where_bulk_starts(engine, sandbox, tmp_path):
    """Four removals go out with archive_item in one aliased request: a job would cost more round trips."""
    table, ctx = world(engine, lines(1, 2, 3, 4, 5))
    ctx.mapping = mapping_with(tmp_path, "archive")
    run(ctx, sandbox)
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] != "MWE-00001"))
    sandbox.clear_journal()
    (second,) = run(ctx, sandbox)
    assert second.status == s.COMPLETED, second.message
    assert (sent(sandbox, BULK), sent(sandbox, ONE)) == (0, 4)
