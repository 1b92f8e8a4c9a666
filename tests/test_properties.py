"""Properties that must hold for every input, found by hypothesis:

* value conversion: a value typed for its board column converts to the same text again (what OrderSync
  stores is what it would send), numbers keep their value, dates their day;
* hashing: the fast hash of a line's fields and the general content hash agree for every input, and the
  line mapper's hashes are the general ones (change detection compares hashes made both ways);
* change detection is idempotent after promotion: once a run is promoted, the same source shows no
  NEW, CHANGED or REMOVED line, also after random edits and a second run.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db.engine import create_engine
from core.source.mapping import ColumnMap, ValueError_, content_hash, fields_hash, load_mapping, to_board_value
from core.staging.operations import StagingOperations
from tests.helpers import World, empty_orders, order_row

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
FIELD_TEXT = st.text(st.characters(), max_size=12)  # surrogates and separators included: hashing must not care


def _column(kind: str, **options) -> ColumnMap:
    return ColumnMap(source="X", title="X", type=kind, **options)


@given(
    st.one_of(
        st.integers(-(10**12), 10**12),
        st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**9), max_value=10**9),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
    )
)
def test_a_number_converts_to_text_that_converts_to_itself_and_keeps_its_value(value):
    column = _column("numbers")
    text = to_board_value(value, column)
    assert text is not None and to_board_value(text, column) == text
    original = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    assert Decimal(text) == original


@given(
    st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31)),
    st.sampled_from(["date", "datetime", "text", "text-time"]),
)
def test_a_date_in_any_accepted_form_is_its_day(day, form):
    value = {
        "date": day,
        "datetime": dt.datetime.combine(day, dt.time(13, 5, 7)),
        "text": day.isoformat(),
        "text-time": f"{day.isoformat()} 23:59:59",
    }[form]
    text = to_board_value(value, _column("date"))
    assert text == day.isoformat() and to_board_value(text, _column("date")) == text


@given(TEXT, st.sampled_from(["text", "dropdown", "status", "long_text"]))
def test_text_converts_to_itself_or_is_refused_with_a_reason(value, kind):
    column = _column(kind)
    try:
        text = to_board_value(value, column)
    except ValueError_ as exc:
        assert str(exc)  # refused, and says why
        return
    assert to_board_value(text, column) == text


@given(st.dictionaries(FIELD_TEXT, st.one_of(st.none(), FIELD_TEXT), max_size=8))
def test_the_fast_field_hash_is_the_content_hash(fields):
    assert fields_hash(fields) == content_hash(fields.items())


@given(st.dictionaries(FIELD_TEXT, st.one_of(st.none(), FIELD_TEXT), min_size=1, max_size=8))
def test_a_none_and_the_text_none_hash_differently(fields):
    key = next(iter(fields))
    assert content_hash({**fields, key: None}.items()) != content_hash({**fields, key: "None"}.items())


# --- the line mapper and change detection over a real database ------------------------------------

CUSTOMERS = ("MACK WELDON", "TITLE NINE")
_line = st.fixed_dictionaries(
    {
        "CUSTOMER NAME": st.sampled_from(CUSTOMERS),
        "CUSTOMER STYLE": st.text("ABCXYZ019-", min_size=1, max_size=8),
        "CUSTOMER COLOUR DESCRIPTION": st.text(st.characters(min_codepoint=32, max_codepoint=0x2FF), max_size=20),
        "PO NUMBER": st.text("0123456789", min_size=1, max_size=6),
        "CUSTOMER PRICE": st.decimals(min_value=0, max_value=9999, places=2).map(str),
        "S": st.integers(0, 500),
        "M": st.integers(0, 500),
        "L": st.integers(0, 500),
    }
)
_edit = st.fixed_dictionaries(
    {"pick": st.integers(0, 1000), "S": st.integers(0, 500), "CUSTOMER COLOUR DESCRIPTION": st.text("abc ", max_size=6)}
)


def _world(folder: Path) -> tuple[World, sa.Table]:
    engine = create_engine(f"sqlite:///{(folder / 'orders.db').as_posix()}")
    table = empty_orders(engine)
    return World(engine, load_mapping(), StagingOperations(engine)), table


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(_line, min_size=1, max_size=12), edits=st.lists(_edit, max_size=6))
def test_detection_finds_nothing_after_promotion_also_after_edits(lines, edits):
    with tempfile.TemporaryDirectory(prefix="ordersync-prop-") as folder:
        world, table = _world(Path(folder))
        try:
            rows = [order_row(table, **{"AAG ORDER NUMBER": f"P-{i:04d}", **line}) for i, line in enumerate(lines)]
            world.execute(table.insert(), rows)
            source = world.source
            valid = 0
            with world.engine.connect() as conn:
                for row in source.iter_rows(conn):
                    mapped = source.mapper.map_row(row)
                    if mapped.valid:  # the mapper's fast hashes are the general ones
                        valid += 1
                        assert mapped.content_hash == content_hash(mapped.item_fields.items())
                        for size in mapped.sizes:
                            assert size.hash == content_hash([size.name, *size.values.items()])
            # Not vacuous: before the first run, every valid line is NEW.
            assert sum(len(world.detect(c).new) for c in CUSTOMERS) == valid
            for round_ in range(2):
                for customer in CUSTOMERS:
                    world.sync(customer)
                for customer in CUSTOMERS:
                    changes = world.detect(customer)
                    assert (len(changes.new), len(changes.changed), len(changes.removed)) == (0, 0, 0), (
                        round_,
                        customer,
                    )
                for edit in edits:  # then the source moves on, and the next round must settle it again
                    row = rows[edit["pick"] % len(rows)]
                    world.execute(
                        sa.update(table)
                        .where(table.c["AAG ORDER NUMBER"] == row["AAG ORDER NUMBER"])
                        .values(S=edit["S"], **{"CUSTOMER COLOUR DESCRIPTION": edit["CUSTOMER COLOUR DESCRIPTION"]})
                    )
        finally:
            world.engine.dispose()
