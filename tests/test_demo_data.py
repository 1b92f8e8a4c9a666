"""Tests for core.demo.data: the generated ORDERS_UNIFIED table."""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import statistics
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.demo import data as demo_data
from core.demo.data import (
    ORDER_COLUMNS_AFTER_SIZES,
    ORDER_COLUMNS_BEFORE_SIZES,
    SIZE_COLUMNS,
    create_orders_table,
    generate_rows,
    orders_table,
)

ROOT = Path(__file__).resolve().parents[1]

# The families of reference/orders-unified.md, recognised by the shape of the label, independently of
# how demo_data builds them.
FAMILY_PATTERNS = {
    "letters": re.compile(r"X{0,3}S|M|L|X{1,3}L|S/M|L/XL|[23]XL|2XL/3XL|[1-4]X"),
    "even numbers": re.compile(r"\d{1,2}"),
    "baby/toddler": re.compile(r"\d{1,2}-\d{1,2}M|[2-6]T"),
    "waist/inseam": re.compile(r"\d{2}(/\d{2}|X\d{2}|-\d{2}L)"),
    "bras": re.compile(r"3[2-8](C|D|DD|DDD)"),
    "one size": re.compile(r"OS|ONE SIZE"),
    "kids combined": re.compile(r"[SML]\(\d{1,2}-\d{1,2}\)"),
}

KEY = ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION")
DATES = ("ORDER DATE PO RECEIVED", "ETA CUSTOMER WAREHOUSE DATE", "EX FACTORY DATE")
REFERENCE_CUSTOMERS = {
    "GREYSON CLOTHIERS",
    "GREYSON",
    "MACK WELDON",
    "JOHNNIE O",
    "TITLE NINE",
    "TITLE 9",
    "RHYTHM (AU)",
    "LORNA JANE (NZ)",
    "WHITE FOX",
    "PELOTON",
    "SUMMERSALT",
    "BORN PRIMITIVE",
    "TRACKSMITH",
}
CUSTOMER_SEASONS = {"SPRING SUMMER 2026", "FW25", "SP26", "2025 Q2", "2025 HOLIDAY"}
SIXTY = SIZE_COLUMNS[:60]


def family_of(label: str) -> str:
    matches = [name for name, pattern in FAMILY_PATTERNS.items() if pattern.fullmatch(label)]
    assert len(matches) == 1, f"{label!r} matches {matches}"
    return matches[0]


def positive_sizes(row: dict, size_columns: list[str]) -> list[str]:
    return [label for label in size_columns if row[label] is not None and row[label] > 0]


def hostile_marks(rows: list[dict]) -> list[set[str]]:
    """For each row, the hostile traits it shows (found from the values, not from demo_data)."""
    seen_keys: set[tuple] = set()
    marks = []
    for row in rows:
        found = set()
        if '"' in (row["STYLE DESCRIPTION"] or ""):
            found.add("double quote")
        if "'" in (row["CUSTOMER NAME"] or ""):
            found.add("apostrophe")
        if "&" in (row["CUSTOMER COLOUR DESCRIPTION"] or ""):
            found.add("ampersand")
        if not (row["CUSTOMER NAME"] or "").isascii():
            found.add("non-ASCII customer")
        if row["CUSTOMER STYLE"] != row["CUSTOMER STYLE"].strip():
            found.add("padded style")
        if row["CUSTOMER SEASON"] == "":
            found.add("blank season")
        if row["CUSTOMER SEASON"] == "nan":
            found.add("nan season")
        if row["CUSTOMER PRICE"] == "N/A":
            found.add("N/A price")
        if row["US TARIFF RATE"] == "TRUE":
            found.add("TRUE tariff")
        if row["AAG ORDER NUMBER"] is None:
            found.add("NULL order number")
        else:
            key = tuple(row[c] for c in KEY)
            if key in seen_keys:
                found.add("duplicate key")
            seen_keys.add(key)
        marks.append(found)
    return marks


ALL_MARKS = {
    "double quote",
    "apostrophe",
    "ampersand",
    "non-ASCII customer",
    "padded style",
    "blank season",
    "nan season",
    "N/A price",
    "TRUE tariff",
    "NULL order number",
    "duplicate key",
}


_HOSTILE_ROWS: dict[int, list[dict]] = {}


def _hostile_rows(n: int) -> list[dict]:
    """generate_rows(n, seed=11), built once per size for the whole module."""
    if n not in _HOSTILE_ROWS:
        _HOSTILE_ROWS[n] = list(generate_rows(n, seed=11))
    return _HOSTILE_ROWS[n]


@pytest.fixture(scope="module")
def rows_2000() -> list[dict]:
    return _hostile_rows(2000)


@pytest.fixture(scope="module")
def clean_2000() -> list[dict]:
    return list(generate_rows(2000, seed=11, hostile=False))


@pytest.fixture
def engine():
    engine = sa.create_engine("sqlite://")
    yield engine
    engine.dispose()


# ---- determinism -------------------------------------------------------------------------------


def test_same_seed_gives_same_rows_and_another_seed_other_rows():
    first = list(generate_rows(600, seed=5))
    again = list(generate_rows(600, seed=5))
    other = list(generate_rows(600, seed=6))
    assert first == again
    assert [r["record_uuid"] for r in first] != [r["record_uuid"] for r in other]
    assert [r["AAG ORDER NUMBER"] for r in first] != [r["AAG ORDER NUMBER"] for r in other]
    uuids = [r["record_uuid"] for r in first]
    assert len(set(uuids)) == len(uuids)
    assert all(str(uuid.UUID(u)) == u and uuid.UUID(u).version == 4 for u in uuids)


def test_generation_does_not_touch_the_global_random():
    import random

    random.seed(1234)
    expected = random.random()
    random.seed(1234)
    list(generate_rows(300, seed=2))
    assert random.random() == expected


def test_rows_do_not_depend_on_hash_seed_and_no_qt_or_pandas_is_imported():
    script = (
        "import hashlib, sys\n"
        "from core.demo.data import generate_rows\n"
        "h = hashlib.sha256(repr(list(generate_rows(400, seed=3))).encode()).hexdigest()\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('PySide6', 'pandas', 'numpy')]\n"
        "print(h, bad)\n"
    )
    outputs = set()
    for hash_seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(ROOT)}
        result = subprocess.run(
            [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        outputs.add(result.stdout.strip())
    here = hashlib.sha256(repr(list(generate_rows(400, seed=3))).encode()).hexdigest()
    assert outputs == {f"{here} []"}


# ---- shape ---------------------------------------------------------------------------------------


def test_column_lists():
    assert ORDER_COLUMNS_BEFORE_SIZES[-1] == "UNIT OF MEASURE"
    assert ORDER_COLUMNS_AFTER_SIZES[0] == "TOTAL QTY"
    assert ORDER_COLUMNS_AFTER_SIZES[-1] == "record_uuid"
    for name in (
        "AAG ORDER NUMBER",
        "CUSTOMER NAME",
        "PO NUMBER",
        "CUSTOMER STYLE",
        "CUSTOMER SEASON",
        "AAG SEASON",
        "ORDER TYPE",
        "CATEGORY",
        "DESTINATION",
        "DELIVERY TERMS",
        *DATES,
    ):
        assert name in ORDER_COLUMNS_BEFORE_SIZES
    for name in ("CUSTOMER PRICE", "US TARIFF RATE", "FOB PRICE", "DUTY RATE"):
        assert name in ORDER_COLUMNS_AFTER_SIZES
    assert 25 <= len(ORDER_COLUMNS_AFTER_SIZES) - 2 <= 40  # about 30 price and duty columns
    every = ORDER_COLUMNS_BEFORE_SIZES + SIZE_COLUMNS + ORDER_COLUMNS_AFTER_SIZES
    assert len({c.upper() for c in every}) == len(every)


def test_table_column_order_and_types():
    table = orders_table(sa.MetaData())
    names = [c.name for c in table.columns]
    assert names == ORDER_COLUMNS_BEFORE_SIZES + SIZE_COLUMNS + ORDER_COLUMNS_AFTER_SIZES
    first_size = names.index("UNIT OF MEASURE") + 1
    assert names[first_size : names.index("TOTAL QTY")] == SIZE_COLUMNS
    assert not table.primary_key.columns
    for name in DATES:
        assert isinstance(table.c[name].type, sa.Date)
    for name in [*SIZE_COLUMNS, "TOTAL QTY"]:
        assert isinstance(table.c[name].type, sa.Integer)
    for name in ("AAG ORDER NUMBER", "CUSTOMER STYLE", "CUSTOMER COLOUR DESCRIPTION"):
        assert isinstance(table.c[name].type, sa.Unicode) and table.c[name].type.length == 200
    for name in ORDER_COLUMNS_AFTER_SIZES[1:-1]:
        assert isinstance(table.c[name].type, sa.UnicodeText), name
    assert isinstance(table.c.record_uuid.type, sa.String) and table.c.record_uuid.type.length == 36


def test_table_name_schema_and_clashing_sizes():
    table = orders_table(sa.MetaData(), ["S", "M"], schema="dbo", name="OU")
    assert table.fullname == "dbo.OU"
    assert [c.name for c in table.columns][len(ORDER_COLUMNS_BEFORE_SIZES) :][:3] == ["S", "M", "TOTAL QTY"]
    with pytest.raises(ValueError):
        orders_table(sa.MetaData(), ["S", "S"])
    with pytest.raises(ValueError):
        orders_table(sa.MetaData(), ["TOTAL QTY"])


def test_every_row_has_every_column_in_order(rows_2000):
    expected = ORDER_COLUMNS_BEFORE_SIZES + SIZE_COLUMNS + ORDER_COLUMNS_AFTER_SIZES
    assert len(rows_2000) == 2000
    assert all(list(row) == expected for row in rows_2000)


# ---- sizes ---------------------------------------------------------------------------------------


def test_every_size_family_is_present():
    assert 90 <= len(SIZE_COLUMNS) <= 170
    assert len(set(SIZE_COLUMNS)) == len(SIZE_COLUMNS)
    families = Counter(family_of(label) for label in SIZE_COLUMNS)
    assert set(families) == set(FAMILY_PATTERNS)
    evens = [label for label in SIZE_COLUMNS if family_of(label) == "even numbers"]
    assert evens == [str(n) for n in range(0, 61, 2)]
    for label in (
        "XXXS",
        "XS",
        "S",
        "M",
        "L",
        "XL",
        "XXXL",
        "S/M",
        "L/XL",
        "2XL",
        "3XL",
        "2XL/3XL",
        "1X",
        "4X",
        "0-3M",
        "18-24M",
        "2T",
        "6T",
        "30/32",
        "32X30",
        "34-32L",
        "32C",
        "34DD",
        "38DDD",
        "OS",
        "ONE SIZE",
        "S(6-8)",
        "M(8-10)",
    ):
        assert label in SIZE_COLUMNS, label


def test_average_sizes_per_line_and_total_qty(rows_2000):
    counts = []
    for row in rows_2000:
        positive = positive_sizes(row, SIZE_COLUMNS)
        counts.append(len(positive))
        assert row["TOTAL QTY"] == sum(row[label] for label in positive)
        assert all(row[label] is None or row[label] == 0 for label in SIZE_COLUMNS if label not in positive)
    assert 3.3 <= statistics.mean(counts) <= 4.3
    assert min(counts) >= 1 and max(counts) > 5
    assert any(row[label] == 0 for row in rows_2000 for label in SIZE_COLUMNS)  # explicit zeros occur


def test_each_line_uses_one_family_that_suits_its_category(rows_2000):
    used = Counter()
    for row in rows_2000:
        families = {family_of(label) for label in positive_sizes(row, SIZE_COLUMNS)}
        assert len(families) == 1, (row["CUSTOMER STYLE"], families)
        family = families.pop()
        used[family] += 1
        if family == "bras":
            assert row["CATEGORY"] == "WOMENS"
        if family == "waist/inseam":
            assert row["CATEGORY"] == "MENS"
    assert set(used) == set(FAMILY_PATTERNS)
    assert used["letters"] > len(rows_2000) / 2


def test_a_subset_of_size_columns_is_honoured():
    subset = SIZE_COLUMNS[:60]
    rows = list(generate_rows(1000, seed=4, size_columns=subset))
    expected = ORDER_COLUMNS_BEFORE_SIZES + subset + ORDER_COLUMNS_AFTER_SIZES
    assert all(list(row) == expected for row in rows)
    counts = [len(positive_sizes(row, subset)) for row in rows]
    assert 3.3 <= statistics.mean(counts) <= 4.3
    assert all(row["TOTAL QTY"] == sum(row[s] for s in positive_sizes(row, subset)) for row in rows)

    scattered = ["XS", "M", "XL", "4", "32", "2T", "34DD", "OS"]
    rows = list(generate_rows(500, seed=4, size_columns=scattered))
    assert all(list(row) == ORDER_COLUMNS_BEFORE_SIZES + scattered + ORDER_COLUMNS_AFTER_SIZES for row in rows)
    used = {label for row in rows for label in positive_sizes(row, scattered)}
    assert used == set(scattered)


def test_no_size_columns_at_all():
    rows = list(generate_rows(50, seed=1, size_columns=[]))
    assert len(rows) == 50 and all(row["TOTAL QTY"] == 0 for row in rows)


# ---- realistic values ---------------------------------------------------------------------------


def test_values_look_like_the_reference(clean_2000):
    rows = clean_2000
    customers = Counter(row["CUSTOMER NAME"] for row in rows)
    assert set(customers) == REFERENCE_CUSTOMERS
    top, *_, bottom = [n for _, n in customers.most_common()]
    assert top > 5 * bottom  # skewed, aliases rarer than the main spelling
    assert customers["GREYSON CLOTHIERS"] > customers["GREYSON"]

    orders = defaultdict(list)
    for row in rows:
        assert re.fullmatch(r"[A-Z]{3}-\d{5}", row["AAG ORDER NUMBER"])
        assert re.fullmatch(r"\d{4}(-\d{2})?|\d{5}", row["PO NUMBER"])
        assert row["AAG SEASON"] in {"2025 FALL", "2025 SPRING", "2026 SPRING"}
        assert row["CUSTOMER SEASON"] is None or row["CUSTOMER SEASON"] in CUSTOMER_SEASONS
        assert row["ORDER TYPE"] in {"ACTIVE", "CANCELLED"}
        assert row["CATEGORY"] in {"MENS", "WOMENS"}
        assert row["UNIT OF MEASURE"] == "PCE" and row["DELIVERY TERMS"] == "FOB"
        assert re.fullmatch(r"\d+\.\d{2}", row["CUSTOMER PRICE"])
        for column in DATES:
            value = row[column]
            assert value is None or (type(value) is date and date(2025, 1, 1) <= value <= date(2026, 12, 31))
        assert row["EX FACTORY DATE"] > row["ORDER DATE PO RECEIVED"]
        orders[row["AAG ORDER NUMBER"]].append(row)
    sizes = Counter(len(lines) for lines in orders.values())
    assert max(sizes) <= 12 and sizes[1] > 0 and max(sizes) >= 10
    for lines in orders.values():
        assert len({(r["CUSTOMER NAME"], r["PO NUMBER"], r["AAG SEASON"]) for r in lines}) == 1
    types = Counter(row["ORDER TYPE"] for row in rows)
    assert 0 < types["CANCELLED"] < types["ACTIVE"] / 5
    blank = sum(row["CUSTOMER SEASON"] is None for row in rows)
    assert 0.15 * len(rows) < blank < 0.6 * len(rows)
    assert {row["CATEGORY"] for row in rows} == {"MENS", "WOMENS"}


def test_reference_examples_occur():
    rows = list(generate_rows(5000, seed=1, hostile=False))
    styles = {(r["CUSTOMER STYLE"], r["CUSTOMER NAME"]) for r in rows}
    assert ("M01Y09", "MACK WELDON") in styles
    assert ("M01Z26", "MACK WELDON") in styles
    assert ("JWHD100120", "JOHNNIE O") in styles
    assert "MWE-00024" in {r["AAG ORDER NUMBER"] for r in rows}
    assert "DEAN BLUE/WHITE" in {r["CUSTOMER COLOUR DESCRIPTION"] for r in rows}


# ---- keys and hostile rows ----------------------------------------------------------------------


def test_keys_unique_apart_from_the_intended_duplicate(rows_2000):
    keyed = [tuple(row[c] for c in KEY) for row in rows_2000 if row["AAG ORDER NUMBER"] is not None]
    counts = Counter(keyed)
    repeated = {key: n for key, n in counts.items() if n > 1}
    # 2000 rows x 0.05 % = exactly one intended duplicate, seen twice.
    assert demo_data._hostile_counts(2000)["duplicate_key"] == 1
    assert list(repeated.values()) == [2]
    (key,) = repeated
    pair = [row for row in rows_2000 if tuple(row[c] for c in KEY) == key]
    assert pair[0]["record_uuid"] != pair[1]["record_uuid"]
    assert pair[0]["TOTAL QTY"] != pair[1]["TOTAL QTY"]  # a conflicting duplicate, not a harmless copy
    # Trimming the style creates no new clash.
    trimmed = Counter((k[0], k[1].strip(), k[2]) for k in keyed)
    assert {k: n for k, n in trimmed.items() if n > 1}.keys() == {(k[0], k[1].strip(), k[2]) for k in repeated}


def test_keys_unique_without_hostile(clean_2000):
    keys = [tuple(row[c] for c in KEY) for row in clean_2000]
    assert all(key[0] is not None for key in keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("n", [200, 2000, 20000])
def test_hostile_values_present_and_rare(n):
    rows = _hostile_rows(n)
    marks = hostile_marks(rows)
    found = Counter(mark for row_marks in marks for mark in row_marks)
    assert set(found) == ALL_MARKS
    hostile_rows = sum(1 for m in marks if m)
    if n >= 2000:
        assert hostile_rows / n < 0.02
        invalid = found["N/A price"] + found["duplicate key"] + found["NULL order number"]
        assert invalid / n < 0.003
    else:
        assert hostile_rows == len(ALL_MARKS)  # exactly one of each
    assert all(len(m) <= 1 for m in marks)  # one hostile trait per row
    assert not marks[0] and all(not (a and b) for a, b in itertools.pairwise(marks))
    quoted = [r["STYLE DESCRIPTION"] for r in rows if '"' in r["STYLE DESCRIPTION"]]
    assert all(re.fullmatch(r'"[A-Z0-9 ]+"', d) for d in quoted)
    assert {r["CUSTOMER NAME"] for r in rows} >= {"O'NEILL", "CAFÉ CRÈME ÖSTERREICH"}


def test_no_hostile_rows_below_200():
    assert not any(hostile_marks(list(generate_rows(199, seed=11))))


def test_hostile_values_absent_when_disabled(clean_2000):
    assert not any(hostile_marks(clean_2000))
    for row in clean_2000:
        for column in ORDER_COLUMNS_BEFORE_SIZES + ORDER_COLUMNS_AFTER_SIZES:
            value = row[column]
            if isinstance(value, str):
                assert value.isascii() and value == value.strip(), (column, value)
                assert not set(value) & set("\"'&"), (column, value)
        float(row["CUSTOMER PRICE"])
        float(row["US TARIFF RATE"])
        assert row["CUSTOMER SEASON"] not in ("", "nan")


# ---- the database -------------------------------------------------------------------------------


def test_create_orders_table_round_trips_on_sqlite(engine):
    with engine.begin() as conn:
        table = create_orders_table(conn, 700, seed=9, size_columns=SIXTY, chunk=64)
    inspector = sa.inspect(engine)
    reflected = [c["name"] for c in inspector.get_columns("ORDERS_UNIFIED")]
    assert reflected == ORDER_COLUMNS_BEFORE_SIZES + SIXTY + ORDER_COLUMNS_AFTER_SIZES
    with engine.connect() as conn:
        stored = [dict(r) for r in conn.execute(sa.select(table).order_by(sa.text("rowid"))).mappings()]
    assert stored == list(generate_rows(700, seed=9, size_columns=SIXTY))
    assert any(not row["CUSTOMER NAME"].isascii() for row in stored)


def test_create_orders_table_drops_an_existing_table(engine):
    create_orders_table(engine, 300, seed=1)
    table = create_orders_table(engine, 120, seed=2, size_columns=["S", "M", "L"], hostile=False)
    with engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
        total = conn.execute(sa.select(sa.func.sum(table.c["TOTAL QTY"]))).scalar_one()
        sizes = conn.execute(
            sa.select(
                sa.func.sum(
                    sa.func.coalesce(table.c.S, 0) + sa.func.coalesce(table.c.M, 0) + sa.func.coalesce(table.c.L, 0)
                )
            )
        ).scalar_one()
    assert count == 120
    columns = [c["name"] for c in sa.inspect(engine).get_columns("ORDERS_UNIFIED")]
    assert columns == ORDER_COLUMNS_BEFORE_SIZES + ["S", "M", "L"] + ORDER_COLUMNS_AFTER_SIZES
    assert total == sum(r["TOTAL QTY"] for r in generate_rows(120, seed=2, size_columns=["S", "M", "L"], hostile=False))
    assert sizes == total > 0


def test_create_orders_table_uses_executemany_per_chunk(engine):
    statements = []

    @sa.event.listens_for(engine, "before_cursor_execute")
    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("INSERT"):
            statements.append((executemany, len(parameters)))

    create_orders_table(engine, 1100, seed=1, size_columns=SIXTY, chunk=500)
    assert statements == [(True, 500), (True, 500), (True, 100)]


def test_create_orders_table_rejects_a_bad_chunk(engine):
    with pytest.raises(ValueError):
        create_orders_table(engine, 10, chunk=0)
