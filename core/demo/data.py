"""A realistic, deterministic ``ORDERS_UNIFIED`` table for the demo, the tests and the benchmarks.

(Over 400 lines because this docstring is the data's specification; the code is under 400. The
columns and reference values the generation draws from are in ``core.demo.catalog``.)

The shape follows ``reference/orders-unified.md``: one row per order line (order number x style x
colour), the non-size columns, then one INT column per size label, then ``TOTAL QTY``, about thirty
price and duty columns that hold numbers as text, and ``record_uuid`` last. No primary key, as in the
real table.

Data
----
Customers come from the reference with a skewed distribution (MACK WELDON, GREYSON CLOTHIERS and
JOHNNIE O make up more than half of the lines), including the aliases ``GREYSON``, ``TITLE 9``,
``RHYTHM (AU)`` and ``LORNA JANE (NZ)``. Each customer has a 3-letter order prefix (``MWE-00024``);
an order has 1 to 12 lines, each with a different (style, colour). A style keeps one size run of one
size family that suits its category (letters, even numbers, waist/inseam, bras, baby/toddler, kids'
combined or one size); a line orders a contiguous window of that run, on average about 3.8 sizes with
a quantity above zero. The other size columns are NULL, except that about one line in nine carries an
explicit ``0`` next to its window. ``TOTAL QTY`` is the sum of the sizes. ``CATEGORY`` is only MENS or
WOMENS: boys' styles are filed under MENS, girls' and baby styles under WOMENS (their descriptions
say BOYS, GIRLS, BABY). ``CUSTOMER SEASON`` is NULL for about a third of the lines (never ``''`` or
``'nan'`` unless hostile). Everything comes from ``random.Random(seed)``: the same arguments give
the same rows, ``record_uuid`` included.

Invented details (the reference does not give them): the column order before the sizes, the values
of ``ACTIVE`` (``'Y'``/``'N'``), ``DROP``, ``RANGE / COLLECTION``, ``INFOR COLOUR CODE``,
``CUSTOMER ALT PO`` and every price/duty column name other than ``CUSTOMER PRICE``,
``US TARIFF RATE``, ``FOB PRICE`` and ``DUTY RATE``.

Hostile rows (``hostile=True``)
-------------------------------
Each kind below is given to ``round(n_orders * rate)`` rows, at least one when ``n_orders >= 200``
and none below 200 rows. The rows are drawn from the seeded generator, one kind per row, never the
first row and never two hostile rows next to each other. Rates are per row; together 0.95 % of the
rows (at exactly 200 rows the one-of-each minimum makes it 11 rows, 5.5 %).

==================== ====== ===================================================================
kind                  rate   what the row looks like
==================== ====== ===================================================================
quoted_description   0.15 %  STYLE DESCRIPTION wrapped in double quotes: ``"POCKETED RUN SHORT"``
padded_style         0.15 %  CUSTOMER STYLE with spaces around it: ``'  M01Y09 '``
blank_season         0.10 %  CUSTOMER SEASON ``''``
nan_season           0.10 %  CUSTOMER SEASON ``'nan'``
ampersand_colour     0.10 %  CUSTOMER COLOUR DESCRIPTION with an ampersand: ``'NAVY & GOLD'``
tariff_true          0.10 %  US TARIFF RATE ``'TRUE'`` (means 0)
apostrophe_customer  0.05 %  a one-line order of customer ``O'NEILL`` (prefix ONL; not in the
                             alias table, so it is an unknown customer)
non_ascii_customer   0.05 %  a one-line order of customer ``CAFÉ CRÈME ÖSTERREICH`` (prefix CCO;
                             unknown customer too)
na_price             0.05 %  INVALID: CUSTOMER PRICE ``'N/A'`` (TOTAL CUSTOMER VALUE NULL)
duplicate_key        0.05 %  INVALID: repeats the key (AAG ORDER NUMBER, CUSTOMER STYLE,
                             CUSTOMER COLOUR DESCRIPTION) of the row just before it, with
                             different quantities and its own record_uuid
null_order_number    0.05 %  INVALID: AAG ORDER NUMBER is NULL
==================== ====== ===================================================================

The three INVALID kinds (0.15 % of the rows) are the ones a loader must reject; the others are valid
after cleaning. Apart from the ``duplicate_key`` rows every key is unique, also after trimming the
style. With ``hostile=False`` none of these values occur.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import timedelta
from random import Random
from typing import Any

import sqlalchemy as sa

from core.demo.catalog import (
    _COLOUR_CODES,
    _COLOURS,
    _CURVES,
    _CUSTOMER_KINDS,
    _DESCRIPTIONS,
    _FAMILY_WEIGHTS,
    _LINES_PER_ORDER,
    _QTY_BASE,
    _RUNS,
    _SEASONS,
    _SIZES_PER_LINE,
    _TARIFFS,
    _US_TARIFF_RATES,
    ORDER_COLUMNS_AFTER_SIZES,
    ORDER_COLUMNS_BEFORE_SIZES,
    SIZE_COLUMNS,
    _Account,
    _accounts,
    _all_columns,
    _hostile_accounts,
    _hostile_counts,
    _Style,
    _table,
    orders_table,
)

Row = dict[str, Any]  # one ORDERS_UNIFIED row: column name -> value

__all__ = [
    "ORDER_COLUMNS_AFTER_SIZES",
    "ORDER_COLUMNS_BEFORE_SIZES",
    "SIZE_COLUMNS",
    "create_orders_table",
    "generate_rows",
    "orders_table",
]


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def _make_code(rng: Random, pattern: str) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(
        letters[int(rng.random() * len(letters))] if ch == "L" else str(int(rng.random() * 10)) if ch == "D" else ch
        for ch in pattern
    )


class _Generator:
    """Holds the pools built once per call, so each row costs a few dict writes and draws."""

    def __init__(self, rng: Random, size_columns: list[str]):
        self.rng = rng
        available = set(size_columns)
        # Runs filtered to the size columns the caller asked for; families with nothing left drop out.
        self.runs: dict[str, dict[str, list[list[str]]]] = {}
        for category in ("MENS", "WOMENS"):
            for family, per_category in _RUNS.items():
                runs = [[s for s in run if s in available] for run in per_category.get(category, [])]
                runs = [run for run in runs if run]
                if runs:
                    self.runs.setdefault(category, {})[family] = runs
        any_runs = [(family, run) for per in self.runs.values() for family, rs in per.items() for run in rs]
        self.fallback_runs = any_runs
        self.family_tables = {
            category: _table([(f, w) for f, w in _FAMILY_WEIGHTS[category].items() if f in self.runs.get(category, {})])
            for category in ("MENS", "WOMENS")
        }
        self.accounts = _accounts()
        self.account_table = _table([(a, a.weight) for a in self.accounts])
        self.season_table = _table([(s, s[1]) for s in _SEASONS])
        self.hostile_accounts = _hostile_accounts()
        self.counters: dict[str, int] = {}
        for account in [*self.accounts, *self.hostile_accounts.values()]:
            account.styles = self._styles(account)
            account.names = _table(account.names)

    # ---- pools -------------------------------------------------------------------------------

    def _styles(self, account: _Account, count: int = 48) -> list[_Style]:
        rng = self.rng
        styles: list[_Style] = []
        seen: set[str] = set()
        family: str | None
        for code, description, category, family in account.fixed_styles:
            styles.append(self._style(code, description, category, family))
            seen.add(code)
        while len(styles) < count:
            code = _make_code(rng, account.style_pattern)
            if code in seen:
                continue
            seen.add(code)
            category = "MENS" if rng.random() < account.mens else "WOMENS"
            table = self.family_tables[category]
            family = table[int(rng.random() * len(table))] if table else None
            descriptions = _DESCRIPTIONS.get((family, category), ["BASIC TEE"]) if family else ["BASIC TEE"]
            description = descriptions[int(rng.random() * len(descriptions))]
            styles.append(self._style(code, description, category, family))
        return styles

    def _style(self, code: str, description: str, category: str, family: str | None) -> _Style:
        rng = self.rng
        runs = self.runs.get(category, {}).get(family or "", [])
        if runs:
            run = runs[int(rng.random() * len(runs))]
        elif self.fallback_runs:  # the caller's size columns do not fit this category: take any run
            family, run = self.fallback_runs[int(rng.random() * len(self.fallback_runs))]
        else:
            run = []
        (low, high), hts, duty_rate = _TARIFFS.get(family or "letters", _TARIFFS["letters"])
        price = round(low + (high - low) * rng.random(), 2)
        fob = round(price * (0.36 + 0.14 * rng.random()), 2)
        factory = round(fob * 0.92, 2)
        tariff = _US_TARIFF_RATES[int(rng.random() * len(_US_TARIFF_RATES))]
        duty = round(fob * float(duty_rate), 2)
        tariff_amount = round(fob * float(tariff), 2)
        mpf = round(fob * 0.003464, 4)
        freight = round(0.25 + 0.6 * rng.random(), 2)
        landed = round(fob + duty + tariff_amount + mpf + freight, 2)
        margin = round(price - landed, 2)
        prices = {
            "CUSTOMER PRICE": f"{price:.2f}",
            "FOB PRICE": f"{fob:.2f}",
            "FACTORY PRICE": f"{factory:.2f}",
            "AGENT COMMISSION RATE": "0.05",
            "AGENT COMMISSION": f"{factory * 0.05:.2f}",
            "HTS CODE": hts,
            "DUTY RATE": duty_rate,
            "DUTY AMOUNT": f"{duty:.2f}",
            "US TARIFF RATE": tariff,
            "US TARIFF AMOUNT": f"{tariff_amount:.2f}",
            "SECTION 301 RATE": "0",
            "MPF RATE": "0.003464",
            "MPF AMOUNT": f"{mpf:.4f}",
            "HMF RATE": "0.00125",
            "FREIGHT COST": f"{freight:.2f}",
            "LANDED COST": f"{landed:.2f}",
            "MARGIN": f"{margin:.2f}",
            "MARGIN PERCENT": f"{100 * margin / price:.1f}" if price else "0",
        }
        return _Style(code, description, category, tuple(run), price, fob, prices)

    # ---- orders and lines --------------------------------------------------------------------

    def new_order(self, account: _Account, n_lines: int) -> Row:
        rng = self.rng
        counter = self.counters.get(account.prefix, 0) + 1
        self.counters[account.prefix] = counter
        season, _, customer_seasons, first_po, window, (lead_lo, lead_hi) = self.season_table[
            int(rng.random() * len(self.season_table))
        ]
        po_received = first_po + timedelta(days=int(rng.random() * window))
        ex_factory = po_received + timedelta(days=lead_lo + int(rng.random() * (lead_hi - lead_lo)))
        eta = None if rng.random() < 0.03 else ex_factory + timedelta(days=24 + int(rng.random() * 22))
        digits = 1000 + int(rng.random() * 9000)
        if account.po_format == "4-00":
            po = f"{digits}-0{int(rng.random() * 3)}" if rng.random() < 0.15 else f"{digits}-00"
        elif account.po_format == "5":
            po = str(10000 + int(rng.random() * 90000))
        else:
            po = str(digits)
        cancelled = rng.random() < 0.04
        return {
            "account": account,
            "lines_left": n_lines,
            "used": set(),
            "style": None,
            "base": {
                "AAG ORDER NUMBER": f"{account.prefix}-{counter:05d}",
                "CUSTOMER NAME": account.names[int(rng.random() * len(account.names))],
                "PO NUMBER": po,
                "CUSTOMER ALT PO": str(400000 + int(rng.random() * 600000)) if rng.random() < 0.2 else None,
                "AAG SEASON": season,
                "CUSTOMER SEASON": None
                if rng.random() < account.season_blank
                else customer_seasons[int(rng.random() * len(customer_seasons))],
                "DROP": f"DROP {1 + int(rng.random() * 4)}" if rng.random() < 0.6 else None,
                "ORDER TYPE": "CANCELLED" if cancelled else "ACTIVE",
                "ACTIVE": "N" if cancelled else "Y",
                "ORDER DATE PO RECEIVED": po_received,
                "ETA CUSTOMER WAREHOUSE DATE": eta,
                "EX FACTORY DATE": ex_factory,
                "DESTINATION": account.destinations[int(rng.random() * len(account.destinations))],
                "DELIVERY TERMS": "FOB",
                "UNIT OF MEASURE": "PCE",
                "CUSTOMER CURRENCY": account.currency,
            },
        }

    def line(self, order: Row, row: Row) -> tuple[_Style, list[str]]:
        """Fill ``row`` (a copy of the all-NULL template) with the next line of ``order``."""
        rng = self.rng
        rand = rng.random
        account = order["account"]
        styles = account.styles
        used = order["used"]
        order["lines_left"] -= 1
        style = order["style"]
        while True:
            # Lines of one order often share a style in several colours.
            if style is None or rand() < 0.45:
                style = styles[int(rand() * len(styles))]
            colour = _COLOURS[int(rand() * len(_COLOURS))]
            if (style.code, colour) not in used:
                break
            style = None
        used.add((style.code, colour))
        order["style"] = style
        row.update(order["base"])
        row.update(style.prices)
        row["CUSTOMER STYLE"] = style.code
        row["STYLE DESCRIPTION"] = style.description
        row["CUSTOMER COLOUR DESCRIPTION"] = colour
        row["INFOR COLOUR CODE"] = _COLOUR_CODES[colour]
        row["CATEGORY"] = style.category
        row["RANGE / COLLECTION"] = "CORE" if rand() < 0.55 else "SEASONAL"
        if row["ORDER TYPE"] == "ACTIVE" and rand() < 0.02:
            row["ORDER TYPE"], row["ACTIVE"] = "CANCELLED", "N"
        positive = self.sizes(style.run, row)
        return style, positive

    def sizes(self, run: tuple[str, ...], row: Row) -> list[str]:
        rand = self.rng.random
        length = len(run)
        if not length:
            row["TOTAL QTY"] = 0
            return []
        k = min(_SIZES_PER_LINE[int(rand() * len(_SIZES_PER_LINE))], length)
        start = int(rand() * (length - k + 1))
        base = _QTY_BASE[int(rand() * len(_QTY_BASE))]
        total = 0
        labels = run[start : start + k]
        for label, weight in zip(labels, _CURVES[k], strict=True):
            qty = int(base * weight) + int(rand() * 4) or 1
            row[label] = qty
            total += qty
        if rand() < 0.2:  # an explicit zero next to the window (a size dropped from the order)
            if start > 0:
                row[run[start - 1]] = 0
            elif start + k < length:
                row[run[start + k]] = 0
        row["TOTAL QTY"] = total
        return list(labels)


def _totals(row: Row, price: float, fob: float) -> None:
    total = row["TOTAL QTY"]
    row["TOTAL CUSTOMER VALUE"] = f"{total * price:.2f}"
    row["TOTAL FOB VALUE"] = f"{total * fob:.2f}"


def generate_rows(
    n_orders: int, seed: int = 1, size_columns: list[str] = SIZE_COLUMNS, hostile: bool = True
) -> Iterator[Row]:
    """Yield ``n_orders`` order-line rows (dicts keyed by column name, every column present).

    Deterministic for ``seed``. Only labels in ``size_columns`` get quantities. With ``hostile`` a
    few rows carry the hostile values listed in the module docstring.
    """
    if n_orders < 0:
        raise ValueError("n_orders must not be negative")
    size_columns = list(size_columns)
    template = dict.fromkeys(_all_columns(size_columns))
    return _rows(n_orders, Random(seed), size_columns, hostile, template)


def _rows(n_orders: int, rng: Random, size_columns: list[str], hostile: bool, template: Row) -> Iterator[Row]:
    gen = _Generator(rng, size_columns)
    events: dict[int, str] = {}
    if hostile:
        counts = _hostile_counts(n_orders)
        kinds = [kind for kind, count in counts.items() for _ in range(count)]
        # Odd positions only: row 0 and the row before each hostile row are ordinary rows, so a
        # duplicate always copies an ordinary, unique key.
        positions = rng.sample(range(1, n_orders, 2), len(kinds)) if kinds else []
        events = dict(zip(positions, kinds, strict=True))
    accounts = gen.account_table
    rand = rng.random
    getrandbits = rng.getrandbits
    order: Row | None = None
    previous: Row | None = None
    previous_style: _Style | None = None
    previous_sizes: list[str] = []
    for index in range(n_orders):
        kind = events.get(index)
        if kind == "duplicate_key":
            # Hostile rows stand at odd positions only, so an ordinary row is always just before.
            assert previous is not None and previous_style is not None
            row = previous.copy()
            for label in previous_sizes:
                row[label] = previous[label] + 1 + int(rand() * 6)
            row["TOTAL QTY"] = sum(row[label] for label in previous_sizes)
            _totals(row, previous_style.price, previous_style.fob)
            row["record_uuid"] = str(uuid.UUID(int=getrandbits(128), version=4))
            yield row
            continue
        row = template.copy()
        if kind in _CUSTOMER_KINDS:
            # A one-line order of its own; the current order carries on afterwards.
            style, sizes = gen.line(gen.new_order(gen.hostile_accounts[kind], 1), row)
        else:
            if order is None or order["lines_left"] <= 0:
                account = accounts[int(rand() * len(accounts))]
                order = gen.new_order(account, _LINES_PER_ORDER[int(rand() * len(_LINES_PER_ORDER))])
            style, sizes = gen.line(order, row)
        _totals(row, style.price, style.fob)
        row["record_uuid"] = str(uuid.UUID(int=getrandbits(128), version=4))
        if kind is not None:
            _make_hostile(kind, row)
        previous, previous_style, previous_sizes = row, style, sizes
        yield row


def _make_hostile(kind: str, row: Row) -> None:
    if kind == "quoted_description":
        row["STYLE DESCRIPTION"] = f'"{row["STYLE DESCRIPTION"]}"'
    elif kind == "padded_style":
        row["CUSTOMER STYLE"] = f"  {row['CUSTOMER STYLE']} "
    elif kind == "blank_season":
        row["CUSTOMER SEASON"] = ""
    elif kind == "nan_season":
        row["CUSTOMER SEASON"] = "nan"
    elif kind == "ampersand_colour":
        row["CUSTOMER COLOUR DESCRIPTION"] = f"{row['CUSTOMER COLOUR DESCRIPTION']} & GOLD"
    elif kind == "tariff_true":
        row["US TARIFF RATE"] = "TRUE"
    elif kind == "na_price":
        row["CUSTOMER PRICE"] = "N/A"
        row["TOTAL CUSTOMER VALUE"] = None
    elif kind == "null_order_number":
        row["AAG ORDER NUMBER"] = None
    # apostrophe_customer and non_ascii_customer were built with their hostile account.


def create_orders_table(
    connection: sa.Connection | sa.Engine,
    n_orders: int,
    seed: int = 1,
    size_columns: list[str] = SIZE_COLUMNS,
    schema: str | None = None,
    hostile: bool = True,
    chunk: int = 5000,
) -> sa.Table:
    """Drop and create ``ORDERS_UNIFIED`` and bulk-insert ``generate_rows(n_orders, ...)`` into it.

    Rows go in with one executemany per ``chunk`` rows. With a Connection the work joins its
    transaction (the caller commits, e.g. ``with engine.begin() as conn``); with an Engine it runs
    in a transaction of its own. The same code serves SQLite and PostgreSQL.
    """
    if chunk < 1:
        raise ValueError("chunk must be at least 1")
    if isinstance(connection, sa.Engine):
        with connection.begin() as conn:
            return create_orders_table(conn, n_orders, seed, size_columns, schema, hostile, chunk)
    table = orders_table(sa.MetaData(), size_columns, schema=schema)
    table.drop(connection, checkfirst=True)
    table.create(connection)
    insert = table.insert()
    rows = generate_rows(n_orders, seed, size_columns, hostile)
    while batch := list(itertools.islice(rows, chunk)):
        connection.execute(insert, batch)
    return table
