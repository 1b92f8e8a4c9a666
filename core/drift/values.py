"""The cell comparison lives in ``core.monday.values`` (the push's protection of board edits uses it too)."""

from core.monday.values import board_form, ordersync_form, shown

__all__ = ["board_form", "ordersync_form", "shown"]
