"""A realistic, deterministic ``ORDERS_UNIFIED`` table for the demo, the tests and the benchmarks.

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
from datetime import date, timedelta
from random import Random

import sqlalchemy as sa

__all__ = [
    "ORDER_COLUMNS_AFTER_SIZES",
    "ORDER_COLUMNS_BEFORE_SIZES",
    "SIZE_COLUMNS",
    "create_orders_table",
    "generate_rows",
    "orders_table",
]

# --------------------------------------------------------------------------------------------
# Columns
# --------------------------------------------------------------------------------------------

ORDER_COLUMNS_BEFORE_SIZES: list[str] = [
    "AAG ORDER NUMBER",
    "CUSTOMER NAME",
    "PO NUMBER",
    "CUSTOMER ALT PO",
    "AAG SEASON",
    "CUSTOMER SEASON",
    "DROP",
    "RANGE / COLLECTION",
    "ORDER TYPE",
    "ACTIVE",
    "ORDER DATE PO RECEIVED",
    "ETA CUSTOMER WAREHOUSE DATE",
    "EX FACTORY DATE",
    "DESTINATION",
    "DELIVERY TERMS",
    "CUSTOMER STYLE",
    "STYLE DESCRIPTION",
    "CUSTOMER COLOUR DESCRIPTION",
    "CATEGORY",
    "INFOR COLOUR CODE",
    "UNIT OF MEASURE",
]

_DATE_COLUMNS = frozenset({"ORDER DATE PO RECEIVED", "ETA CUSTOMER WAREHOUSE DATE", "EX FACTORY DATE"})
_LONG_TEXT_BEFORE = frozenset({"STYLE DESCRIPTION"})  # NVARCHAR(MAX)-like

# Size families, in the order their columns stand in the table.
_LETTERS = ["XXXS", "XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL",
            "S/M", "L/XL", "2XL", "3XL", "2XL/3XL", "1X", "2X", "3X", "4X"]
_EVENS = [str(n) for n in range(0, 61, 2)]
_BABY = ["0-3M", "3-6M", "6-12M", "12-18M", "18-24M", "2T", "3T", "4T", "5T", "6T"]
_WAIST_INSEAM = (
    [f"{w}/{i}" for i in (30, 32, 34) for w in range(28, 41, 2)]
    + [f"{w}X{i}" for i in (30, 32) for w in range(30, 37, 2)]
    + [f"{w}-{i}L" for i in (32, 34) for w in range(30, 39, 2)]
)
_BRAS = [f"{band}{cup}" for band in (32, 34, 36, 38) for cup in ("C", "D", "DD", "DDD")]
_ONE_SIZE = ["OS", "ONE SIZE"]
_KIDS = ["S(6-8)", "M(8-10)"]

SIZE_COLUMNS: list[str] = _LETTERS + _EVENS + _BABY + _WAIST_INSEAM + _BRAS + _ONE_SIZE + _KIDS

_PRICE_DUTY_COLUMNS = [
    "CUSTOMER PRICE",
    "CUSTOMER CURRENCY",
    "FOB PRICE",
    "FACTORY PRICE",
    "AGENT COMMISSION RATE",
    "AGENT COMMISSION",
    "HTS CODE",
    "DUTY RATE",
    "DUTY AMOUNT",
    "US TARIFF RATE",
    "US TARIFF AMOUNT",
    "SECTION 301 RATE",
    "SECTION 301 AMOUNT",
    "RECIPROCAL TARIFF RATE",
    "MPF RATE",
    "MPF AMOUNT",
    "HMF RATE",
    "HMF AMOUNT",
    "FREIGHT COST",
    "INSURANCE COST",
    "CLEARANCE COST",
    "TESTING COST",
    "PACKAGING COST",
    "TRIM COST",
    "FABRIC COST",
    "CMT COST",
    "LANDED COST",
    "LDP PRICE",
    "DDP PRICE",
    "MARGIN",
    "MARGIN PERCENT",
    "TOTAL CUSTOMER VALUE",
    "TOTAL FOB VALUE",
]

ORDER_COLUMNS_AFTER_SIZES: list[str] = ["TOTAL QTY", *_PRICE_DUTY_COLUMNS, "record_uuid"]


def _column_type(name: str) -> sa.types.TypeEngine:
    if name in _DATE_COLUMNS:
        return sa.Date()
    if name == "TOTAL QTY":
        return sa.Integer()
    if name == "record_uuid":
        return sa.String(36)
    if name in _LONG_TEXT_BEFORE or name in _PRICE_DUTY_COLUMNS:
        return sa.UnicodeText()
    return sa.Unicode(200)


def _all_columns(size_columns: list[str]) -> list[str]:
    names = [*ORDER_COLUMNS_BEFORE_SIZES, *size_columns, *ORDER_COLUMNS_AFTER_SIZES]
    seen: set[str] = set()
    clashes = []
    for name in names:
        folded = name.upper()  # SQLite and SQL Server compare column names case-insensitively
        if folded in seen:
            clashes.append(name)
        seen.add(folded)
    if clashes:
        raise ValueError(f"size columns repeat or clash with other columns: {clashes}")
    return names


def orders_table(
    metadata: sa.MetaData,
    size_columns: list[str] = SIZE_COLUMNS,
    schema: str | None = None,
    name: str = "ORDERS_UNIFIED",
) -> sa.Table:
    """Return the ``ORDERS_UNIFIED`` table definition with the given size columns.

    Columns stand in the real order: the non-size columns up to ``UNIT OF MEASURE``, the size columns
    (INT), ``TOTAL QTY`` (INT), the price and duty columns (text) and ``record_uuid``. There is no
    primary key, as in the real table.
    """
    sizes = list(size_columns)
    columns = []
    for column in _all_columns(sizes):
        column_type = sa.Integer() if column in sizes else _column_type(column)
        columns.append(sa.Column(column, column_type, nullable=True))
    return sa.Table(name, metadata, *columns, schema=schema)


# --------------------------------------------------------------------------------------------
# Reference values
# --------------------------------------------------------------------------------------------

class _Account:
    """One customer account: its names as the ERP spells them, and how its orders look."""

    __slots__ = (
        "currency",
        "destinations",
        "fixed_styles",
        "mens",
        "names",
        "po_format",
        "prefix",
        "season_blank",
        "style_pattern",
        "styles",
        "weight",
    )

    def __init__(self, names, prefix, weight, mens, po_format, destinations, season_blank,
                 currency, style_pattern, fixed_styles=()):
        self.names = names                  # [(name as written, weight)]
        self.prefix = prefix
        self.weight = weight
        self.mens = mens                    # share of MENS styles, the rest WOMENS
        self.po_format = po_format          # "4", "4-00" or "5" digits
        self.destinations = destinations
        self.season_blank = season_blank    # probability that CUSTOMER SEASON is NULL
        self.currency = currency
        self.style_pattern = style_pattern  # L = letter, D = digit, anything else literal
        self.fixed_styles = fixed_styles    # (style, description, category, family)
        self.styles: list = []


def _accounts() -> list[_Account]:
    return [
        _Account([("MACK WELDON", 1)], "MWE", 23, 0.92, "4-00", ["MISSISSIPPI"], 0.15, "USD",
                 "MDDLDD",
                 [("M01Y09", "AIRKNIT POLO", "MENS", "letters"),
                  ("M01Z26", "POCKETED RUN SHORT", "MENS", "letters")]),
        _Account([("GREYSON CLOTHIERS", 4), ("GREYSON", 1)], "GRC", 18, 0.85, "4",
                 ["MISSISSIPPI", "NEW YORK"], 0.25, "USD", "GMLDDDD"),
        _Account([("JOHNNIE O", 1)], "JOO", 15, 0.8, "5", ["CALIFORNIA"], 0.6, "USD", "JLLLDDDDDD",
                 [("JWHD100120", "WOMENS LUNA HOODIE", "WOMENS", "letters")]),
        _Account([("PELOTON", 1)], "PEL", 9, 0.45, "4-00", ["NEW JERSEY", "TENNESSEE"], 0.3, "USD",
                 "PLDDDDD"),
        _Account([("TITLE NINE", 3), ("TITLE 9", 1)], "TNI", 7, 0.0, "5", ["CALIFORNIA"], 0.4, "USD",
                 "TDDDDDD"),
        _Account([("WHITE FOX", 1)], "WFX", 6, 0.0, "4", ["AUSTRALIA"], 0.5, "AUD", "WFLLDDDD"),
        _Account([("RHYTHM (AU)", 1)], "RHY", 5, 0.5, "4-00", ["AUSTRALIA"], 0.2, "AUD", "LDDDDLLL"),
        _Account([("SUMMERSALT", 1)], "SUM", 5, 0.0, "4", ["MISSOURI"], 0.35, "USD", "SSDDDDD"),
        _Account([("LORNA JANE (NZ)", 1)], "LJN", 4, 0.0, "5", ["NEW ZEALAND"], 0.1, "NZD", "LJDDDDDD"),
        _Account([("BORN PRIMITIVE", 1)], "BPR", 4, 0.5, "4", ["SOUTH CAROLINA"], 0.5, "USD",
                 "BPDDDDL"),
        _Account([("TRACKSMITH", 1)], "TRK", 4, 0.6, "4-00", ["MASSACHUSETTS"], 0.3, "USD",
                 "TSDDDDD"),
    ]


def _hostile_accounts() -> dict[str, _Account]:
    return {
        "apostrophe_customer": _Account([("O'NEILL", 1)], "ONL", 0, 0.5, "4", ["CALIFORNIA"], 0.3,
                                        "USD", "ONDDDDD"),
        "non_ascii_customer": _Account([("CAFÉ CRÈME ÖSTERREICH", 1)], "CCO", 0, 0.3, "5",
                                       ["AUSTRIA"], 0.3, "EUR", "CCDDDDD"),
    }


# AAG season -> (weight, customer seasons, first PO date, PO window in days, days to ex-factory)
_SEASONS = [
    ("2025 SPRING", 25, ["2025 Q2"], date(2025, 1, 6), 80, (85, 130)),
    ("2025 FALL", 40, ["FW25", "2025 HOLIDAY"], date(2025, 4, 1), 90, (100, 140)),
    ("2026 SPRING", 35, ["SPRING SUMMER 2026", "SP26"], date(2025, 8, 4), 100, (95, 150)),
]

_COLOURS = [
    "DEAN BLUE/WHITE", "TOTAL ECLIPSE/TRUE BLACK LINER", "WHITE", "TRUE BLACK", "NAVY",
    "HEATHER GREY", "SHEPHERD", "MALTESE BLUE", "ARCTIC", "BLACK/BLACK", "OATMEAL HEATHER", "SAGE",
    "CLAY", "OLIVE NIGHT", "STONE", "MAUVE", "SLATE BLUE", "CHALK", "CORAL REEF", "FOREST", "WINE",
    "SKY BLUE", "NAVY/WHITE STRIPE", "CHARCOAL HEATHER", "IVORY", "SAND", "COBALT", "LILAC", "MINT",
    "TERRACOTTA", "CAMEL", "PEACOCK", "BRICK", "DUSTY ROSE", "PEBBLE", "FOG", "SPRUCE", "CHERRY",
    "LAGOON", "COCOA", "SEA SALT", "MIDNIGHT", "LIGHT HEATHER GREY", "BLACK/ASPHALT", "KHAKI",
    "STORM/TRUE BLACK LINER",
]
_COLOUR_CODES = {colour: f"{101 + 7 * i:03d}" for i, colour in enumerate(_COLOURS)}

# family -> {category: [runs]}; a run is an ordered list of labels a line takes a window from.
_RUNS: dict[str, dict[str, list[list[str]]]] = {
    "letters": {
        "MENS": [["XS", "S", "M", "L", "XL", "XXL"], ["S", "M", "L", "XL", "XXL", "XXXL"],
                 ["S", "M", "L", "XL", "2XL", "3XL"], ["S/M", "L/XL", "2XL/3XL"]],
        "WOMENS": [["XXXS", "XXS", "XS", "S", "M", "L", "XL"], ["XXS", "XS", "S", "M", "L", "XL", "XXL"],
                   ["1X", "2X", "3X", "4X"], ["S/M", "L/XL"]],
    },
    "evens": {
        "MENS": [_EVENS[14:21], _EVENS[18:25], _EVENS[21:31]],   # waist 28-40, 36-48, 42-60
        "WOMENS": [_EVENS[0:9], _EVENS[12:18], _EVENS[7:13]],    # 0-16, 24-34, 14-24
    },
    "waist_inseam": {
        "MENS": [[f"{w}/{i}" for w in range(28, 41, 2)] for i in (30, 32, 34)]
        + [[f"{w}X{i}" for w in range(30, 37, 2)] for i in (30, 32)]
        + [[f"{w}-{i}L" for w in range(30, 39, 2)] for i in (32, 34)],
    },
    "bras": {"WOMENS": [_BRAS]},
    "baby": {"MENS": [_BABY[5:]], "WOMENS": [_BABY[:5], _BABY[5:]]},
    "kids": {"MENS": [_KIDS], "WOMENS": [_KIDS]},
    "one_size": {"MENS": [["OS"], ["ONE SIZE"]], "WOMENS": [["OS"], ["ONE SIZE"]]},
}

_FAMILY_WEIGHTS = {
    "MENS": {"letters": 64, "evens": 9, "waist_inseam": 14, "one_size": 5, "baby": 3, "kids": 5},
    "WOMENS": {"letters": 58, "evens": 14, "bras": 13, "one_size": 5, "baby": 6, "kids": 4},
}

_DESCRIPTIONS = {
    ("letters", "MENS"): ["AIRKNIT TEE", "PIMA POLO", "COMMUTER SHORT 7IN", "QUARTER ZIP PULLOVER",
                          "BOXER BRIEF", "WAFFLE HENLEY", "HYBRID RUN SHORT", "FLEECE HOODIE",
                          "LINEN BUTTON DOWN", "PERFORMANCE VEST"],
    ("letters", "WOMENS"): ["HIGH RISE LEGGING", "CROPPED TANK", "BIKER SHORT 6IN", "RUN SKIRT",
                            "OVERSIZED CREW", "RIBBED BODYSUIT", "WRAP DRESS", "ZIP JACKET",
                            "LOUNGE JOGGER", "LONG SLEEVE TOP"],
    ("evens", "MENS"): ["TAILORED TROUSER", "CHINO PANT", "GOLF PANT", "WOOL BLAZER"],
    ("evens", "WOMENS"): ["SHIFT DRESS", "WIDE LEG JEAN", "MIDI SKIRT", "STRAIGHT PANT"],
    ("waist_inseam", "MENS"): ["5 POCKET PANT", "STRETCH CHINO", "SLIM DENIM", "TRAVEL PANT"],
    ("bras", "WOMENS"): ["SPORTS BRA", "UNDERWIRE BRA", "BALCONETTE BRA", "SWIM TOP"],
    ("baby", "MENS"): ["BOYS TODDLER POLO", "BOYS TODDLER SHORT"],
    ("baby", "WOMENS"): ["BABY ONESIE", "BABY ROMPER", "GIRLS TODDLER DRESS"],
    ("kids", "MENS"): ["BOYS PERFORMANCE POLO", "BOYS SWIM TRUNK"],
    ("kids", "WOMENS"): ["GIRLS TENNIS DRESS", "GIRLS LEGGING"],
    ("one_size", "MENS"): ["5 PANEL CAP", "CREW SOCK 3 PACK", "BEANIE", "CANVAS BELT"],
    ("one_size", "WOMENS"): ["BUCKET HAT", "ANKLE SOCK 3 PACK", "HEADBAND", "TOTE BAG"],
}

# family -> (price range, HTS code, duty rate)
_TARIFFS = {
    "letters": ((14.0, 78.0), "6110.20.2079", "0.165"),
    "evens": ((38.0, 140.0), "6203.42.4011", "0.166"),
    "waist_inseam": ((42.0, 98.0), "6203.42.4016", "0.166"),
    "bras": ((22.0, 64.0), "6212.10.9020", "0.169"),
    "baby": ((9.0, 34.0), "6111.20.6070", "0.081"),
    "kids": ((12.0, 40.0), "6110.20.2079", "0.165"),
    "one_size": ((6.0, 32.0), "6505.00.9040", "0.075"),
}
_US_TARIFF_RATES = ["0.1", "0.1", "0.2", "0.3", "0"]

# Discrete distributions as lookup tables, indexed with int(rng.random() * len(table)).
_LINES_PER_ORDER = [n for n, w in zip(range(1, 13), (14, 12, 12, 11, 10, 9, 8, 7, 6, 5, 3, 3), strict=True) for _ in range(w)]
_SIZES_PER_LINE = [k for k, w in zip(range(1, 10), (2, 5, 15, 26, 24, 15, 7, 4, 2), strict=True) for _ in range(w)]
_QTY_BASE = [6, 12, 12, 18, 24, 24, 30, 36, 48, 48, 60, 72, 96, 120, 144, 200, 300]
_CURVES = {k: [0.45 if j in (0, k - 1) and k > 2 else 1.0 for j in range(k)] for k in range(1, 12)}

_HOSTILE_RATES = {
    "quoted_description": 0.0015,
    "padded_style": 0.0015,
    "blank_season": 0.0010,
    "nan_season": 0.0010,
    "ampersand_colour": 0.0010,
    "tariff_true": 0.0010,
    "apostrophe_customer": 0.0005,
    "non_ascii_customer": 0.0005,
    "na_price": 0.0005,
    "duplicate_key": 0.0005,
    "null_order_number": 0.0005,
}
_INVALID_KINDS = frozenset({"na_price", "duplicate_key", "null_order_number"})
_CUSTOMER_KINDS = frozenset({"apostrophe_customer", "non_ascii_customer"})
_HOSTILE_MIN_ROWS = 200


def _hostile_counts(n_orders: int) -> dict[str, int]:
    """How many rows of each hostile kind ``generate_rows(n_orders, hostile=True)`` yields."""
    if n_orders < _HOSTILE_MIN_ROWS:
        return dict.fromkeys(_HOSTILE_RATES, 0)
    return {kind: max(1, int(n_orders * rate + 0.5)) for kind, rate in _HOSTILE_RATES.items()}


def _table(weighted: list[tuple[object, int]]) -> list:
    return [value for value, weight in weighted for _ in range(weight)]


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------

class _Style:
    __slots__ = ("category", "code", "description", "fob", "price", "prices", "run")

    def __init__(self, code, description, category, run, price, fob, prices):
        self.code = code
        self.description = description
        self.category = category
        self.run = run
        self.price = price
        self.fob = fob
        self.prices = prices


def _make_code(rng: Random, pattern: str) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return "".join(
        letters[int(rng.random() * len(letters))] if ch == "L"
        else str(int(rng.random() * 10)) if ch == "D" else ch
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
            category: _table([(f, w) for f, w in _FAMILY_WEIGHTS[category].items()
                              if f in self.runs.get(category, {})])
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
        styles, seen = [], set()
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
            descriptions = _DESCRIPTIONS.get((family, category), ["BASIC TEE"])
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

    def new_order(self, account: _Account, n_lines: int) -> dict:
        rng = self.rng
        counter = self.counters.get(account.prefix, 0) + 1
        self.counters[account.prefix] = counter
        season, _, customer_seasons, first_po, window, (lead_lo, lead_hi) = (
            self.season_table[int(rng.random() * len(self.season_table))])
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
                "CUSTOMER SEASON": None if rng.random() < account.season_blank
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

    def line(self, order: dict, row: dict) -> tuple[_Style, list[str]]:
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

    def sizes(self, run: tuple, row: dict) -> list[str]:
        rand = self.rng.random
        length = len(run)
        if not length:
            row["TOTAL QTY"] = 0
            return []
        k = min(_SIZES_PER_LINE[int(rand() * len(_SIZES_PER_LINE))], length)
        start = int(rand() * (length - k + 1))
        base = _QTY_BASE[int(rand() * len(_QTY_BASE))]
        total = 0
        labels = run[start:start + k]
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


def _totals(row: dict, price: float, fob: float) -> None:
    total = row["TOTAL QTY"]
    row["TOTAL CUSTOMER VALUE"] = f"{total * price:.2f}"
    row["TOTAL FOB VALUE"] = f"{total * fob:.2f}"


def generate_rows(
    n_orders: int,
    seed: int = 1,
    size_columns: list[str] = SIZE_COLUMNS,
    hostile: bool = True,
) -> Iterator[dict]:
    """Yield ``n_orders`` order-line rows (dicts keyed by column name, every column present).

    Deterministic for ``seed``. Only labels in ``size_columns`` get quantities. With ``hostile`` a
    few rows carry the hostile values listed in the module docstring.
    """
    if n_orders < 0:
        raise ValueError("n_orders must not be negative")
    size_columns = list(size_columns)
    template = dict.fromkeys(_all_columns(size_columns))
    return _rows(n_orders, Random(seed), size_columns, hostile, template)


def _rows(n_orders: int, rng: Random, size_columns: list[str], hostile: bool,
          template: dict) -> Iterator[dict]:
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
    order = None
    previous = previous_style = previous_sizes = None
    for index in range(n_orders):
        kind = events.get(index)
        if kind == "duplicate_key":
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


def _make_hostile(kind: str, row: dict) -> None:
    if kind == "quoted_description":
        row["STYLE DESCRIPTION"] = f'"{row["STYLE DESCRIPTION"]}"'
    elif kind == "padded_style":
        row["CUSTOMER STYLE"] = f'  {row["CUSTOMER STYLE"]} '
    elif kind == "blank_season":
        row["CUSTOMER SEASON"] = ""
    elif kind == "nan_season":
        row["CUSTOMER SEASON"] = "nan"
    elif kind == "ampersand_colour":
        row["CUSTOMER COLOUR DESCRIPTION"] = f'{row["CUSTOMER COLOUR DESCRIPTION"]} & GOLD'
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
