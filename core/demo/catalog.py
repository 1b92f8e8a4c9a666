"""The demo generator's tables: the columns of ``ORDERS_UNIFIED`` and the reference values.

What the rows are made of, with no randomness of its own: the column layout (``orders_table``), the
customer accounts, seasons, colours, size runs and descriptions, and the discrete distributions and
hostile-row rates the generation in ``core.demo.data`` draws from (its docstring describes the data).

Longer than 400 lines: it is data (the demo's columns, accounts, styles and distributions), not
logic.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa

T = TypeVar("T")

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
_LETTERS = [
    "XXXS",
    "XXS",
    "XS",
    "S",
    "M",
    "L",
    "XL",
    "XXL",
    "XXXL",
    "S/M",
    "L/XL",
    "2XL",
    "3XL",
    "2XL/3XL",
    "1X",
    "2X",
    "3X",
    "4X",
]
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


def _column_type(name: str) -> sa.types.TypeEngine[Any]:
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


class _Style:
    """One style of an account: its code, description, category, size run and prices."""

    __slots__ = ("category", "code", "description", "fob", "price", "prices", "run")

    def __init__(
        self,
        code: str,
        description: str,
        category: str,
        run: tuple[str, ...],
        price: float,
        fob: float,
        prices: dict[str, str],
    ):
        self.code = code
        self.description = description
        self.category = category
        self.run = run
        self.price = price
        self.fob = fob
        self.prices = prices


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

    def __init__(
        self,
        names: list[tuple[str, int]],
        prefix: str,
        weight: int,
        mens: float,
        po_format: str,
        destinations: list[str],
        season_blank: float,
        currency: str,
        style_pattern: str,
        fixed_styles: Sequence[tuple[str, str, str, str]] = (),
    ):
        # [(name as written, weight)]; the generator turns it into its lookup table of names
        self.names: list[Any] = names
        self.prefix = prefix
        self.weight = weight
        self.mens = mens  # share of MENS styles, the rest WOMENS
        self.po_format = po_format  # "4", "4-00" or "5" digits
        self.destinations = destinations
        self.season_blank = season_blank  # probability that CUSTOMER SEASON is NULL
        self.currency = currency
        self.style_pattern = style_pattern  # L = letter, D = digit, anything else literal
        self.fixed_styles = fixed_styles  # (style, description, category, family)
        self.styles: list[_Style] = []


def _accounts() -> list[_Account]:
    return [
        _Account(
            [("MACK WELDON", 1)],
            "MWE",
            23,
            0.92,
            "4-00",
            ["MISSISSIPPI"],
            0.15,
            "USD",
            "MDDLDD",
            [("M01Y09", "AIRKNIT POLO", "MENS", "letters"), ("M01Z26", "POCKETED RUN SHORT", "MENS", "letters")],
        ),
        _Account(
            [("GREYSON CLOTHIERS", 4), ("GREYSON", 1)],
            "GRC",
            18,
            0.85,
            "4",
            ["MISSISSIPPI", "NEW YORK"],
            0.25,
            "USD",
            "GMLDDDD",
        ),
        _Account(
            [("JOHNNIE O", 1)],
            "JOO",
            15,
            0.8,
            "5",
            ["CALIFORNIA"],
            0.6,
            "USD",
            "JLLLDDDDDD",
            [("JWHD100120", "WOMENS LUNA HOODIE", "WOMENS", "letters")],
        ),
        _Account([("PELOTON", 1)], "PEL", 9, 0.45, "4-00", ["NEW JERSEY", "TENNESSEE"], 0.3, "USD", "PLDDDDD"),
        _Account([("TITLE NINE", 3), ("TITLE 9", 1)], "TNI", 7, 0.0, "5", ["CALIFORNIA"], 0.4, "USD", "TDDDDDD"),
        _Account([("WHITE FOX", 1)], "WFX", 6, 0.0, "4", ["AUSTRALIA"], 0.5, "AUD", "WFLLDDDD"),
        _Account([("RHYTHM (AU)", 1)], "RHY", 5, 0.5, "4-00", ["AUSTRALIA"], 0.2, "AUD", "LDDDDLLL"),
        _Account([("SUMMERSALT", 1)], "SUM", 5, 0.0, "4", ["MISSOURI"], 0.35, "USD", "SSDDDDD"),
        _Account([("LORNA JANE (NZ)", 1)], "LJN", 4, 0.0, "5", ["NEW ZEALAND"], 0.1, "NZD", "LJDDDDDD"),
        _Account([("BORN PRIMITIVE", 1)], "BPR", 4, 0.5, "4", ["SOUTH CAROLINA"], 0.5, "USD", "BPDDDDL"),
        _Account([("TRACKSMITH", 1)], "TRK", 4, 0.6, "4-00", ["MASSACHUSETTS"], 0.3, "USD", "TSDDDDD"),
    ]


def _hostile_accounts() -> dict[str, _Account]:
    return {
        "apostrophe_customer": _Account([("O'NEILL", 1)], "ONL", 0, 0.5, "4", ["CALIFORNIA"], 0.3, "USD", "ONDDDDD"),
        "non_ascii_customer": _Account(
            [("CAFÉ CRÈME ÖSTERREICH", 1)], "CCO", 0, 0.3, "5", ["AUSTRIA"], 0.3, "EUR", "CCDDDDD"
        ),
    }


# AAG season -> (weight, customer seasons, first PO date, PO window in days, days to ex-factory)
_SEASONS = [
    ("2025 SPRING", 25, ["2025 Q2"], date(2025, 1, 6), 80, (85, 130)),
    ("2025 FALL", 40, ["FW25", "2025 HOLIDAY"], date(2025, 4, 1), 90, (100, 140)),
    ("2026 SPRING", 35, ["SPRING SUMMER 2026", "SP26"], date(2025, 8, 4), 100, (95, 150)),
]

_COLOURS = [
    "DEAN BLUE/WHITE",
    "TOTAL ECLIPSE/TRUE BLACK LINER",
    "WHITE",
    "TRUE BLACK",
    "NAVY",
    "HEATHER GREY",
    "SHEPHERD",
    "MALTESE BLUE",
    "ARCTIC",
    "BLACK/BLACK",
    "OATMEAL HEATHER",
    "SAGE",
    "CLAY",
    "OLIVE NIGHT",
    "STONE",
    "MAUVE",
    "SLATE BLUE",
    "CHALK",
    "CORAL REEF",
    "FOREST",
    "WINE",
    "SKY BLUE",
    "NAVY/WHITE STRIPE",
    "CHARCOAL HEATHER",
    "IVORY",
    "SAND",
    "COBALT",
    "LILAC",
    "MINT",
    "TERRACOTTA",
    "CAMEL",
    "PEACOCK",
    "BRICK",
    "DUSTY ROSE",
    "PEBBLE",
    "FOG",
    "SPRUCE",
    "CHERRY",
    "LAGOON",
    "COCOA",
    "SEA SALT",
    "MIDNIGHT",
    "LIGHT HEATHER GREY",
    "BLACK/ASPHALT",
    "KHAKI",
    "STORM/TRUE BLACK LINER",
]
_COLOUR_CODES = {colour: f"{101 + 7 * i:03d}" for i, colour in enumerate(_COLOURS)}

# family -> {category: [runs]}; a run is an ordered list of labels a line takes a window from.
_RUNS: dict[str, dict[str, list[list[str]]]] = {
    "letters": {
        "MENS": [
            ["XS", "S", "M", "L", "XL", "XXL"],
            ["S", "M", "L", "XL", "XXL", "XXXL"],
            ["S", "M", "L", "XL", "2XL", "3XL"],
            ["S/M", "L/XL", "2XL/3XL"],
        ],
        "WOMENS": [
            ["XXXS", "XXS", "XS", "S", "M", "L", "XL"],
            ["XXS", "XS", "S", "M", "L", "XL", "XXL"],
            ["1X", "2X", "3X", "4X"],
            ["S/M", "L/XL"],
        ],
    },
    "evens": {
        "MENS": [_EVENS[14:21], _EVENS[18:25], _EVENS[21:31]],  # waist 28-40, 36-48, 42-60
        "WOMENS": [_EVENS[0:9], _EVENS[12:18], _EVENS[7:13]],  # 0-16, 24-34, 14-24
    },
    "waist_inseam": {
        "MENS": [[f"{w}/{i}" for w in range(28, 41, 2)] for i in (30, 32, 34)]
        + [[f"{w}X{i}" for w in range(30, 37, 2)] for i in (30, 32)]
        + [[f"{w}-{i}L" for w in range(30, 39, 2)] for i in (32, 34)]
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

_DESCRIPTIONS: dict[tuple[str, str], list[str]] = {
    ("letters", "MENS"): [
        "AIRKNIT TEE",
        "PIMA POLO",
        "COMMUTER SHORT 7IN",
        "QUARTER ZIP PULLOVER",
        "BOXER BRIEF",
        "WAFFLE HENLEY",
        "HYBRID RUN SHORT",
        "FLEECE HOODIE",
        "LINEN BUTTON DOWN",
        "PERFORMANCE VEST",
    ],
    ("letters", "WOMENS"): [
        "HIGH RISE LEGGING",
        "CROPPED TANK",
        "BIKER SHORT 6IN",
        "RUN SKIRT",
        "OVERSIZED CREW",
        "RIBBED BODYSUIT",
        "WRAP DRESS",
        "ZIP JACKET",
        "LOUNGE JOGGER",
        "LONG SLEEVE TOP",
    ],
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
_LINES_PER_ORDER = [
    n for n, w in zip(range(1, 13), (14, 12, 12, 11, 10, 9, 8, 7, 6, 5, 3, 3), strict=True) for _ in range(w)
]
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


def _table(weighted: list[tuple[T, int]]) -> list[T]:
    return [value for value, weight in weighted for _ in range(weight)]
