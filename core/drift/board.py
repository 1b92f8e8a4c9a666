"""The board's reads live in ``core.monday.reads`` (the push's protection of board edits reads by ids too)."""

from core.monday.reads import (
    BOARD_PAGE_POINTS,
    SUBITEM_POINTS,
    BoardItem,
    BoardReader,
    ReadCounts,
    by_ids_points,
    groups_plan,
    read_plan,
)

__all__ = [
    "BOARD_PAGE_POINTS",
    "SUBITEM_POINTS",
    "BoardItem",
    "BoardReader",
    "ReadCounts",
    "by_ids_points",
    "groups_plan",
    "read_plan",
]
