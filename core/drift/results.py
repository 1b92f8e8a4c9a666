"""What the drift check found, per customer, with its forecast and what its reads cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.foundation.exceptions import OrderSyncError


@dataclass
class Forecast:
    reads: int
    points: int
    seconds: float
    budget: int
    window: float
    groups: int
    items: int
    subitems: int
    board_reads: int = 0  # read before the forecast: the board's columns and groups, and its subitems board's

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class CustomerDrift:
    customer: str
    items_checked: int = 0
    subitems_checked: int = 0
    changed: list[dict[str, Any]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)

    @property
    def found(self) -> int:
        return len(self.changed) + len(self.gone) + len(self.unknown) + len(self.duplicates)

    def as_dict(self) -> dict[str, Any]:
        return {
            "customer": self.customer,
            "items_checked": self.items_checked,
            "subitems_checked": self.subitems_checked,
            "drift": self.found,
            "changed": self.changed,
            "gone": self.gone,
            "unknown": self.unknown,
            "duplicates": self.duplicates,
        }


@dataclass
class DriftReport:
    board_id: str
    forecast: Forecast
    customers: list[CustomerDrift]
    reads: dict[str, Any]
    subitems: bool

    @property
    def found(self) -> int:
        return sum(c.found for c in self.customers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "board_id": self.board_id,
            "forecast": self.forecast.as_dict(),
            "reads": self.reads,
            "subitems_checked": self.subitems,
            "drift": self.found,
            "customers": [c.as_dict() for c in self.customers],
        }


class DriftCancelled(OrderSyncError):
    """The check was stopped before it had read the whole board: no result, only how far it got.

    Exit code 1, as a cancelled sync: the board was not found as OrderSync left it, nor shown to differ.
    """

    exit_code = 1

    def __init__(self, requests: int, planned: int | None) -> None:
        self.requests = requests  # read requests sent and answered by the check itself, before it stopped
        self.planned = planned  # the forecast's, when it was made
        of = f" of about {planned}" if planned else ""
        super().__init__(
            f"the check of the board was stopped after {requests}{of} read "
            f"{'request' if requests == 1 and not planned else 'requests'}; nothing is reported, as the board "
            "was not read in full. Nothing was changed."
        )
