"""The source hash of a raw row keeps its one spelling, whatever shortcut computes it.

Production rows store the hash a line was confirmed from; a run that spelt the same row another
way would take every line for changed and map it again, and never store the new hash of a line
whose mapped content did not change. A date, which marshal cannot take, is spelt as
(marker, type name, repr) however often it repeats, and a value equal to a date but of another
type never reads alike.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import marshal
from decimal import Decimal

import sqlalchemy as sa

from core.demo.data import orders_table
from core.source.limits import storage_limits
from core.source.mapping import load_mapping

SOURCE_COLUMNS = [c.name for c in orders_table(sa.MetaData(), ["S", "M", "L"]).columns]


def _mapper():
    return load_mapping().bind(SOURCE_COLUMNS, storage_limits())


def _spelt(mapper, row: list) -> str:
    """The definition: marshal format 0 of the row, a value marshal cannot take as (NUL, type, repr)."""
    values = [
        v if v is None or type(v) in (str, int, float, bool, bytes) else ("\x00", type(v).__name__, repr(v))
        for v in row
    ]
    return hashlib.sha1(mapper.fingerprint.encode("ascii") + marshal.dumps(values, 0)).hexdigest()


def _row(mapper, **values) -> list:
    row: list = [f"text {i}" for i in range(len(mapper.select_columns))]
    for name, value in values.items():
        row[mapper.select_columns.index(name)] = value
    return row


def test_a_date_is_spelt_alike_the_first_time_and_every_time_after():
    mapper = _mapper()
    rows = [
        _row(mapper, **{"EX FACTORY DATE": dt.date(2025, 8, 2)}),
        _row(mapper, **{"EX FACTORY DATE": dt.date(2025, 8, 2)}),  # an equal date, another object
        _row(mapper, **{"EX FACTORY DATE": dt.date(2025, 8, 3)}),
        _row(mapper, **{"EX FACTORY DATE": None}),
    ]
    hashes = [mapper.source_hash(row) for row in rows]
    assert hashes == [_spelt(mapper, row) for row in rows]
    assert hashes[0] == hashes[1] and len(set(hashes)) == 3
    # once the date's position is known, the shortcut still spells each row as the definition does
    again = [mapper.source_hash(row) for row in rows]
    assert again == hashes


def test_values_equal_to_a_date_or_to_each_other_but_of_other_types_never_read_alike():
    mapper = _mapper()
    date = _row(mapper, **{"EX FACTORY DATE": dt.date(2025, 8, 2)})
    mapper.source_hash(date)  # the position is learnt
    others = [
        _row(mapper, **{"EX FACTORY DATE": dt.datetime(2025, 8, 2)}),
        _row(mapper, **{"EX FACTORY DATE": "2025-08-02"}),
        _row(mapper, **{"EX FACTORY DATE": Decimal(1)}),
        _row(mapper, **{"EX FACTORY DATE": Decimal("1.0")}),
    ]
    hashes = [mapper.source_hash(date), *[mapper.source_hash(row) for row in others]]
    assert hashes == [_spelt(mapper, row) for row in (date, *others)]
    assert len(set(hashes)) == len(hashes)
