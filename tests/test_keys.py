"""Keys are exact (issue 9): one definition of key equality, and keys that differ only in letter case held back.

A database with a case-insensitive collation (SQL Server's default) would take 'MWE-1 | m01 | Blue'
and 'MWE-1 | M01 | Blue' for one key, and so could monday's text search; OrderSync never guesses
which line is meant: every line with such a key is a VALIDATION error that names the other key(s),
as for a key that appears twice. The key census that decides it is one pass over the whole table,
and also gives every key of the source. On SQLite and PostgreSQL, through the staging and promotion
the lines really go through; the property-based tests add every kind of letter Unicode folds.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import schema as s
from core.demo.data import orders_table
from core.detect.changes import ChangeDetector
from core.monday.client import Mutation
from core.push.run import BatchProcessor
from core.source.keys import MAX_NAMED, KeyCensus, key_fold, same_key
from core.source.mapping import load_mapping
from core.staging.operations import StagingOperations
from tests.helpers import (
    BOARD,
    World,
    confirm_all,
    count,
    empty_orders,
    engine_context,
    make_world,
    monday_client,
    order_row,
    start_sandbox,
)

CUSTOMER = "MACK WELDON"
UPPER = "MWE-1 | M01 | Blue"
LOWER = "MWE-1 | m01 | Blue"
FIXED = "MWE-1 | M02 | Blue"
OTHER = "MWE-2 | M01Y09 | DEAN BLUE/WHITE"


def line_row(order: str, style: str, colour: str, **values) -> dict:
    return {"AAG ORDER NUMBER": order, "CUSTOMER STYLE": style, "CUSTOMER COLOUR DESCRIPTION": colour, **values}


def world_of(engine, rows: list[dict]) -> World:
    table = empty_orders(engine)
    if rows:
        with engine.begin() as conn:
            conn.execute(table.insert(), [order_row(table, **r) for r in rows])
    return World(engine, load_mapping(), StagingOperations(engine))


def case_message(key: str, *others: str) -> str:
    named = ", ".join(repr(o) for o in others)
    return f"key {key!r} differs only in letter case from {named}; every line with these keys is held back"


def dup_message(key: str) -> str:
    return f"key {key!r} appears more than once in ORDERS_UNIFIED; every line with this key is held back"


def open_validation_errors(world: World) -> dict[str, str]:
    e = s.err_items
    rows = world.execute(sa.select(e.c.sync_key, e.c.message, e.c.error_type).where(e.c.resolved_at.is_(None)))
    found = {}
    for key, message, error_type in rows:
        assert error_type == "VALIDATION"
        found[key] = message
    return found


# --- the definition ----------------------------------------------------------------------------------


def test_key_equality_is_exact_and_a_missing_key_matches_nothing():
    assert same_key(UPPER, "MWE-1 | M01 | Blue")
    assert not same_key(UPPER, LOWER)
    assert not same_key("MWE-1 | M01 | Blue ", UPPER)
    assert not same_key("STRASSE", "STRAẞE")
    assert not same_key("e\u0301", "\u00e9")  # no Unicode normalisation either
    assert not same_key(None, None) and not same_key(None, UPPER)
    # The fold finds what a case-insensitive database could confuse; it is no equality.
    assert key_fold(UPPER) == key_fold(LOWER)
    assert key_fold("STRASSE") == key_fold("straße") == key_fold("STRAẞE")
    assert key_fold("ǅ") == key_fold("Ǆ") == key_fold("ǆ")
    assert key_fold("A  ") == key_fold("a")  # SQL Server's = ignores trailing spaces
    assert key_fold(" A") != key_fold("A") and key_fold("A B") != key_fold("AB")


# --- lines that differ only in case, end to end through staging and promotion -------------------------


def test_keys_that_differ_only_in_case_are_held_back_naming_each_other(engine):
    world = world_of(
        engine,
        [
            line_row("MWE-1", "M01", "Blue"),
            line_row("MWE-1", "m01", "Blue", S=5),
            line_row("MWE-2", "M01Y09", "DEAN BLUE/WHITE"),
        ],
    )
    changes = world.detect(CUSTOMER)
    assert {line.sync_key: line.errors for line in changes.invalid} == {
        UPPER: [case_message(UPPER, LOWER)],
        LOWER: [case_message(LOWER, UPPER)],
    }
    assert [c.sync_key for c in changes.new] == [OTHER]  # the other line goes on

    batch, result = world.stage(CUSTOMER)
    assert (result.invalid, result.items) == (2, 1)
    assert open_validation_errors(world) == {UPPER: case_message(UPPER, LOWER), LOWER: case_message(LOWER, UPPER)}
    # Nothing of either line is offered to the push: no item, no subitem.
    assert [r["sync_key"] for r in world.staging.pending_rows(batch.batch_id, s.stg_items)] == [OTHER]
    st = s.stg_subitems
    subs = world.execute(sa.select(st.c.parent_sync_key).where(st.c.batch_id == batch.batch_id)).scalars().all()
    assert subs and set(subs) == {OTHER}
    confirm_all(world.staging, batch.batch_id)
    world.staging.promote(batch.batch_id, world.board_id)
    world.staging.cleanup(batch.batch_id)
    world.staging.set_status(batch.batch_id, s.COMPLETED_WITH_ERRORS)
    assert world.execute(sa.select(s.items.c.sync_key)).scalars().all() == [OTHER]
    assert count(engine, s.subitems, s.subitems.c.parent_sync_key.in_([UPPER, LOWER])) == 0

    # Fixed at the source (the lower-case style was a typo of another style): both lines are valid now.
    orders = world.orders()
    world.execute(sa.update(orders).where(orders.c["CUSTOMER STYLE"] == "m01").values({"CUSTOMER STYLE": "M02"}))
    changes = world.detect(CUSTOMER)
    assert not changes.invalid
    assert sorted(c.sync_key for c in changes.new) == sorted([FIXED, UPPER])
    world.sync(CUSTOMER)
    assert sorted(world.execute(sa.select(s.items.c.sync_key)).scalars()) == sorted([FIXED, UPPER, OTHER])
    assert open_validation_errors(world) == {}  # both errors resolved, neither deleted
    assert count(engine, s.err_items, s.err_items.c.resolved_at.is_not(None)) == 2


def test_deleting_one_of_the_two_lines_makes_the_other_valid(engine):
    world = world_of(engine, [line_row("MWE-1", "M01", "Blue"), line_row("MWE-1", "m01", "Blue")])
    world.sync(CUSTOMER)
    assert count(engine, s.items) == 0
    orders = world.orders()
    world.execute(sa.delete(orders).where(orders.c["CUSTOMER STYLE"] == "M01"))
    changes = world.detect(CUSTOMER)
    assert not changes.invalid and [c.sync_key for c in changes.new] == [LOWER]
    world.sync(CUSTOMER)
    assert world.execute(sa.select(s.items.c.sync_key)).scalars().all() == [LOWER]
    assert open_validation_errors(world) == {}


def test_a_case_twin_in_another_customer_holds_back_a_line_already_on_the_board(engine):
    """The census spans the whole table; the line on the board is neither sent nor removed meanwhile."""
    world = world_of(engine, [line_row("MWE-1", "M01", "Blue")])
    world.sync(CUSTOMER)
    assert world.execute(sa.select(s.items.c.sync_key)).scalars().all() == [UPPER]
    orders = world.orders()
    world.execute(
        orders.insert(), order_row(orders, **line_row("MWE-1", "m01", "Blue", **{"CUSTOMER NAME": "JOHNNIE O"}))
    )

    changes = world.detect(CUSTOMER)
    assert [(line.sync_key, line.errors) for line in changes.invalid] == [(UPPER, [case_message(UPPER, LOWER)])]
    assert changes.changes == []  # not REMOVED: its key is still in the source
    johnnie = world.detect("JOHNNIE O")
    assert [(line.sync_key, line.errors) for line in johnnie.invalid] == [(LOWER, [case_message(LOWER, UPPER)])]
    pending = world.pending()
    assert (pending[CUSTOMER].invalid, pending[CUSTOMER].removed, pending[CUSTOMER].unchanged) == (1, 0, 0)
    assert (pending["JOHNNIE O"].invalid, pending["JOHNNIE O"].new) == (1, 0)
    batch, result = world.stage(CUSTOMER)
    assert (result.items, result.invalid) == (0, 1)
    assert world.staging.pending_rows(batch.batch_id, s.stg_items) == []
    world.staging.set_status(batch.batch_id, s.COMPLETED_WITH_ERRORS)

    world.execute(sa.delete(orders).where(orders.c["CUSTOMER NAME"] == "JOHNNIE O"))
    changes = world.detect(CUSTOMER)
    assert (changes.changes, changes.invalid, changes.unchanged) == ([], [], 1)  # nothing to send again


def test_exact_duplicates_keep_their_message(engine):
    dup = "MWE-4 | DUP | DEAN BLUE/WHITE"
    world = world_of(
        engine,
        [
            line_row("MWE-4", "DUP", "DEAN BLUE/WHITE"),
            line_row("MWE-4", "DUP", "DEAN BLUE/WHITE"),
            line_row("MWE-5", "X", "Red"),
            line_row("MWE-5", "X", "Red"),
            line_row("MWE-5", "x", "Red"),
            line_row("MWE-2", "M01Y09", "DEAN BLUE/WHITE"),
        ],
    )
    changes = world.detect(CUSTOMER)
    errors = [(line.sync_key, line.errors) for line in changes.invalid]
    assert errors.count((dup, [dup_message(dup)])) == 2
    # A key that is both repeated and has a case twin says both.
    both = (
        "key 'MWE-5 | X | Red' appears more than once in ORDERS_UNIFIED and differs only in letter case "
        "from 'MWE-5 | x | Red'; every line with these keys is held back"
    )
    assert errors.count(("MWE-5 | X | Red", [both])) == 2
    assert errors.count(("MWE-5 | x | Red", [case_message("MWE-5 | x | Red", "MWE-5 | X | Red")])) == 1
    assert len(errors) == 5 and [c.sync_key for c in changes.new] == [OTHER]


# --- reconciliation: monday's search is a candidate list, matched exactly ---------------------------


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def items_on_the_board(server, keys: list[str]) -> tuple[dict[str, str], str]:
    """Create one item per key (as a person, or an earlier spelling of a line, left them); ids by key."""
    client = monday_client(server)
    try:
        meta = client.board(BOARD)
        column = meta.resolve(load_mapping().columns)["SYNC KEY"].id
        group = next(iter(meta.groups.values()))
        outcomes = client.mutate(
            BOARD,
            [
                Mutation(
                    key,
                    "create_item",
                    {"board_id": BOARD, "item_name": key, "group_id": group, "column_values": {column: key}},
                )
                for key in keys
            ],
        )
    finally:
        client.close()
    assert all(o.ok for o in outcomes)
    return {o.key: o.id for o in outcomes}, column


def test_find_items_matches_the_sync_key_exactly(sandbox):
    ids, column = items_on_the_board(sandbox, [UPPER, LOWER, UPPER.lower()])
    client = monday_client(sandbox)
    try:
        # The sandbox, like monday, finds all three for any of them; only the exact key is the item.
        assert client.find_items(BOARD, column, [UPPER, "MWE-1 | M01 | BLUE"]) == {UPPER: [ids[UPPER]]}
        assert client.find_items(BOARD, column, [LOWER, UPPER.lower()]) == {
            LOWER: [ids[LOWER]],
            UPPER.lower(): [ids[UPPER.lower()]],
        }
    finally:
        client.close()


def test_a_sending_row_is_not_adopted_by_an_item_whose_key_differs_in_case(engine, sandbox):
    """After a crash mid-send, reconciliation must not take a case twin on the board for the line."""
    world_of(engine, [line_row("MWE-1", "M01", "Blue")])
    twin_ids, _ = items_on_the_board(sandbox, [LOWER])
    ctx = engine_context(engine)
    ops = ctx.staging
    batch = ops.claim(CUSTOMER, BOARD)
    ops.stage(batch.batch_id, ctx.detect([CUSTOMER])[0])
    ops.mark_sending(batch.batch_id, s.stg_items, [r["stg_id"] for r in ops.pending_rows(batch.batch_id, s.stg_items)])
    # ... and the process died before the request left.

    client = monday_client(sandbox)
    try:
        (result,) = BatchProcessor(ctx, client).run([CUSTOMER])
    finally:
        client.close()

    assert result.status == s.COMPLETED
    items = {item["column_values"]["SYNC KEY"]: item for item in sandbox.board_dump(BOARD)["items"]}
    assert sorted(items) == sorted([UPPER, LOWER])
    assert items[LOWER]["id"] == twin_ids[LOWER] and not items[LOWER]["subitems"]  # left alone
    assert len(items[UPPER]["subitems"]) == 3
    with engine.connect() as conn:
        promoted = dict(conn.execute(sa.select(s.items.c.sync_key, s.items.c.monday_item_id)).all())
    assert promoted == {UPPER: items[UPPER]["id"]}


def test_case_twins_stay_off_the_board_until_one_is_fixed(engine, sandbox):
    """Over real HTTP: the board gets neither twin, then the one left once the other is fixed."""
    world = world_of(
        engine,
        [
            line_row("MWE-1", "M01", "Blue"),
            line_row("MWE-1", "m01", "Blue"),
            line_row("MWE-2", "M01Y09", "DEAN BLUE/WHITE"),
        ],
    )
    ctx = engine_context(engine)

    def run() -> str:
        client = monday_client(sandbox)
        try:
            (result,) = BatchProcessor(ctx, client).run([CUSTOMER])
        finally:
            client.close()
        return result.status

    def board() -> list[str]:
        return sorted(item["column_values"]["SYNC KEY"] for item in sandbox.board_dump(BOARD)["items"])

    assert run() == s.COMPLETED_WITH_ERRORS
    assert board() == [OTHER]
    assert set(open_validation_errors(world)) == {UPPER, LOWER}
    orders = world.orders()
    world.execute(sa.update(orders).where(orders.c["CUSTOMER STYLE"] == "m01").values({"CUSTOMER STYLE": "M02"}))
    assert run() == s.COMPLETED
    assert board() == sorted([UPPER, FIXED, OTHER])
    assert open_validation_errors(world) == {}


# --- the census: every key of the source -------------------------------------------------------------


def test_the_census_keys_are_the_keys_of_every_valid_and_invalid_line(engine):
    world = make_world(engine, n_orders=300, seed=7, hostile=True)
    orders = world.orders()
    twins = [
        line_row(f"TWN-{n}", style, "Red", **{"CUSTOMER NAME": customer})
        for n, customer in enumerate(("MACK WELDON", "JOHNNIE O", "PELOTON"))
        for style in ("abc", "ABC")
    ]
    world.execute(orders.insert(), [order_row(orders, **row) for row in twins])
    with engine.connect() as conn:
        detector = ChangeDetector(conn, world.source, world.board_id)
        census = detector.census
        lines = [
            line
            for customer in detector.source.customer_names(conn)
            for changes in [detector.detect(customer)]
            for line in [*(c.line for c in changes.changes), *changes.invalid]
        ]
        mapped = list(world.source.iter_lines(conn))
    assert len(lines) == len(mapped) == count(engine, orders)
    assert census.keys == {line.sync_key for line in lines if line.sync_key is not None}
    assert census.keys == {line.sync_key for line in mapped if line.sync_key is not None}
    assert any(line.sync_key is None for line in mapped)  # the hostile data has lines without a key
    # Every conflict holds back its lines and only they carry a key-conflict reason.
    assert {k for k, why in census.conflicts.items() if "differs only in letter case" in why} >= {
        f"TWN-{n} | {style} | Red" for n in range(3) for style in ("abc", "ABC")
    }
    for line in mapped:
        reason = census.reason(line.sync_key)
        assert (reason in line.errors) if reason else not any("every line with th" in e for e in line.errors)


# --- property-based: every letter Unicode folds -----------------------------------------------------

# Letters whose case behaves unusually, so that collisions are frequent and hard: ß/ẞ fold to ss,
# İ to i + combining dot, ǅ/Ǆ/ǆ are one letter in three cases, Σ has two lower-case forms, K has a
# Kelvin sign; and a few characters that do not fold at all.
TRICKY = "aAsSßẞİiIıǅǄǆΣσςKk\u212aéÉ1- |"
tricky_text = st.text(alphabet=st.sampled_from(TRICKY), max_size=4)
any_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=6)
key_text = st.one_of(tricky_text, tricky_text, any_text)
# A key part that survives the mapping's cleaning most of the time (not blank, so the line has a key).
_nonblank = st.one_of(tricky_text, tricky_text, any_text).filter(lambda text: text.strip() != "")
key_part = st.one_of(*[_nonblank] * 8, st.just(""))


@st.composite
def spelled(draw, base: str) -> str:
    """``base`` with each character in a case of its own (upper, lower, title, folded), sometimes padded."""
    text = "".join(draw(st.sampled_from((c, c.upper(), c.lower(), c.title(), c.casefold()))) for c in base)
    return text + draw(st.sampled_from(("", "", "", " ")))


def spellings(words: st.SearchStrategy[str], size: int) -> st.SearchStrategy[list[str]]:
    """A few words, each spelled several ways: exact repeats and case twins are common, not rare."""
    return st.lists(words, min_size=1, max_size=4).flatmap(
        lambda bases: st.lists(st.sampled_from(bases).flatmap(spelled), max_size=size)
    )


def folded_equal(a: str, b: str) -> bool:
    """The independent statement of the rule: equal after case folding (trailing spaces aside)."""
    return a.rstrip(" ").casefold() == b.rstrip(" ").casefold()


@settings(max_examples=400, deadline=None)
@given(
    st.tuples(spellings(key_text, 12), st.lists(st.one_of(st.none(), key_text), max_size=4))
    .map(lambda drawn: drawn[0] + drawn[1])
    .flatmap(st.permutations)
)
def test_census_of_any_keys(keys):
    census = KeyCensus.of(keys, "ORDERS_UNIFIED")
    present = [k for k in keys if k is not None]
    assert census.keys == set(present)
    for key in set(present):
        others = sorted({o for o in present if o != key and folded_equal(o, key)})
        held = present.count(key) > 1 or bool(others)
        assert (key in census.conflicts) == held, (key, census.conflicts)
        if held:
            reason = census.conflicts[key]
            assert reason.startswith(f"key {key!r} ") and reason.endswith("held back")
            assert ("appears more than once in ORDERS_UNIFIED" in reason) == (present.count(key) > 1)
            for other in others[:MAX_NAMED]:
                assert repr(other) in reason
            if len(others) > MAX_NAMED:
                assert f"and {len(others) - MAX_NAMED} more" in reason
    assert set(census.conflicts) <= census.keys
    assert census.reason(None) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(key_part, key_part, key_part), min_size=1, max_size=3).flatmap(
        lambda bases: st.lists(
            st.sampled_from(bases).flatmap(lambda base: st.tuples(*(spelled(part) for part in base))),
            min_size=1,
            max_size=8,
        )
    )
)
def test_census_over_the_source_table(engine, rows):
    """Through the database (SQLite, PostgreSQL) and the mapping's cleaning: held back exactly when
    another line's key is equal after case folding (or the same key stands twice)."""
    table = _source_table(engine)
    with engine.begin() as conn:
        conn.execute(table.delete())
        conn.execute(table.insert(), [order_row(table, **line_row(*parts)) for parts in rows])
    world = World(engine, load_mapping(), StagingOperations(engine))
    source = world.source
    with engine.connect() as conn:
        census = source.key_census(conn)
        lines = list(source.iter_lines(conn, census=census))
    keys = [line.sync_key for line in lines]
    assert len(lines) == len(rows)
    assert census.keys == {k for k in keys if k is not None}
    for line in lines:
        if line.sync_key is None:
            assert not any("held back" in e for e in line.errors)
            continue
        key = line.sync_key
        others = {o for o in keys if o is not None and o != key and o.casefold() == key.casefold()}
        held = keys.count(key) > 1 or bool(others)
        assert any("held back" in e for e in line.errors) == held, (key, line.errors)
        if held:
            (reason,) = [e for e in line.errors if "held back" in e]
            assert reason == census.conflicts[key]
            assert all(repr(o) in reason for o in sorted(others)[:MAX_NAMED])


def _source_table(engine) -> sa.Table:
    """ORDERS_UNIFIED (and OrderSync's tables), created by the first example and emptied by each."""
    if not sa.inspect(engine).has_table("ORDERS_UNIFIED"):
        return empty_orders(engine)
    return orders_table(sa.MetaData())


@pytest.mark.parametrize("keys", [[], [None, None], ["a"], ["a", "b", "c"]])
def test_census_without_conflicts(keys):
    census = KeyCensus.of(keys)
    assert census.conflicts == {} and census.keys == {k for k in keys if k is not None}
