"""The mapping's building blocks: board columns, storage limits, name templates and their constants."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MONDAY_TYPES = ("text", "long_text", "numbers", "date", "status", "dropdown", "email", "phone", "link")
REMOVAL_POLICIES = ("mark", "report", "archive", "delete")
# Who wins when a person changed a cell on the board and the ERP changed it too (a column's `policy`):
# the ERP (the default: no extra read), the board (the person's value is kept and the keeping recorded),
# or a planner (the line waits in the decision list with both values).
SOURCE_WINS, BOARD_WINS, ASK = "source_wins", "board_wins", "ask"
EDIT_POLICIES = (SOURCE_WINS, BOARD_WINS, ASK)
DERIVED = ("$key", "$customer", "$season")
SUBITEM_DERIVED = ("$size", "$quantity")
TEMPLATE_DERIVED = ("customer", "season", "key")
ITEM_NAME_MAX = 255
STATUS_LABEL_MAX = 30
LONG_TEXT_MAX = 2000
NUMBER_DIGITS = 20  # a numbers value with more digits is not a quantity or a price, whatever the source says
_TEMPLATE_FIELD = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class StorageLimits:
    """The longest text (characters) and the largest quantity OrderSync's tables hold per mapped value.

    ``None`` means unbounded. ``core.source.limits.storage_limits`` reads them off the table definitions.
    """

    key: int | None = None
    customer: int | None = None
    order_number: int | None = None
    po_number: int | None = None
    item_name: int | None = None
    group_name: int | None = None
    size_label: int | None = None
    subitem_name: int | None = None
    quantity: int | None = None


UNBOUNDED = StorageLimits()


@dataclass(frozen=True)
class ColumnMap:
    """One board column: where its value comes from and how it is transformed and typed."""

    source: str
    type: str
    title: str | None = None
    id: str | None = None
    value_map: dict[str, str] = field(default_factory=dict)
    whole: bool = False
    min: float | None = None
    policy: str = SOURCE_WINS  # EDIT_POLICIES: what a person's edit of this cell on the board is worth

    @property
    def label(self) -> str:
        """How the column is named to people and in payloads until its id is resolved."""
        return self.title or self.id or ""


def template_fields(template: str) -> list[str]:
    return _TEMPLATE_FIELD.findall(template)


def render_template(template: str, values: dict[str, str]) -> str:
    return _render(_compile_template(template), values)


def _compile_template(template: str) -> list[tuple[bool, str]]:
    """[(is_field, text)]: literal text and field names, in order."""
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TEMPLATE_FIELD.finditer(template):
        if match.start() > position:
            parts.append((False, template[position : match.start()]))
        parts.append((True, match.group(1)))
        position = match.end()
    if position < len(template):
        parts.append((False, template[position:]))
    return parts


def _render(parts: list[tuple[bool, str]], values: dict[str, str]) -> str:
    return "".join(values.get(text, "") if is_field else text for is_field, text in parts)
