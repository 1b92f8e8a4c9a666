"""How long sending a number of changes takes at the monday budget, and what a run will send.

A change is one mutation: an item created, updated or marked removed, or one size (subitem); five or
more items archived in a batch are one change for every 500 (``core.push.archive``). The
time is set by monday's complexity budget: the client's governor (``core.monday.governor``) learns
the price of a mutation and the budget per window from monday's answers, and paces the requests to
it. ``forecast_seconds`` is the same arithmetic done ahead: what the budget left now pays for goes at
once, the rest at the budget's rate, and every request also takes its round trip. Before monday has
answered once, the governor's prior price (monday's published 30,000 points a mutation) and monday's
default budget for a personal token (10 million points a minute) stand in.

``plan_of`` counts what a run will send per customer, from the same detection the run stages, so the
window can show the whole run's total before the first batch starts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from core.detect.changes import CHANGED, REMOVED, CustomerChanges
from core.detect.report import protected_lines, protected_reads
from core.push.archive import BULK_FROM, BULK_IDS

DEFAULT_BUDGET = 10_000_000.0  # monday's complexity points per minute for a personal token
DEFAULT_WINDOW = 60.0


@dataclass(frozen=True)
class Pace:
    """What the time of a run depends on, as the monday client knows it now."""

    cost_per_mutation: float = 30_000.0
    budget: float = DEFAULT_BUDGET  # points per window
    window: float = DEFAULT_WINDOW  # seconds
    budget_left: float | None = None  # points left in the current window (None: a full window)
    per_request: int = 25  # mutations one request carries at most
    round_trip: float = 0.0  # seconds from a request to its answer
    measured: bool = False  # monday has charged at least one request of this client


def pace_of(client: Any) -> Pace:
    """The pace of a ``MondayApiClient`` (``None``: the defaults, nothing measured yet)."""
    if client is None:
        return Pace()
    governor = client.governor
    budget = governor.budget_limit or DEFAULT_BUDGET
    window = governor.window or DEFAULT_WINDOW
    per_request = max(int(client.max_batch), 1)
    return Pace(
        cost_per_mutation=float(governor.cost_per_mutation),
        budget=float(budget),
        window=float(window),
        budget_left=governor.budget_left,
        per_request=per_request,
        round_trip=governor.round_trip(per_request),
        measured=governor.calibrated,
    )


def forecast_seconds(changes: int, pace: Pace) -> float:
    """Seconds to send ``changes`` mutations at ``pace``: budget-bound waits plus the requests' round trips."""
    if changes <= 0:
        return 0.0
    points = changes * pace.cost_per_mutation
    ready = pace.budget if pace.budget_left is None else max(min(pace.budget_left, pace.budget), 0.0)
    waiting = max(points - ready, 0.0) / max(pace.budget, 1.0) * pace.window
    requests = math.ceil(changes / max(pace.per_request, 1))
    return waiting + requests * pace.round_trip


def describe_duration(seconds: float) -> str:
    """A duration as a planner says it: "under a minute", "about 3 minutes", "about 1 hour 20 minutes"."""
    if seconds < 45:
        return "under a minute"
    minutes = max(round(seconds / 60), 1)
    if minutes < 60:
        return f"about {minutes} minute{'' if minutes == 1 else 's'}"
    hours, rest = divmod(minutes, 60)
    hour_text = f"{hours} hour{'' if hours == 1 else 's'}"
    if rest < 5:
        return f"about {hour_text}"
    return f"about {hour_text} {rest} minutes"


def describe_forecast(changes: int, pace: Pace, reads: int = 0) -> str:
    """ "about 980 changes, about 3 minutes at your monday budget" (the words the window shows).

    ``reads``: the board reads made first for protected columns (``PlannedCustomer.reads``), named
    when there are any; each costs a round trip.
    """
    if changes <= 0:
        return "nothing to send"
    noun = "change" if changes == 1 else "changes"
    seconds = forecast_seconds(changes, pace) + reads * pace.round_trip
    first = f" (and {reads:,} read{'' if reads == 1 else 's'} of the board first)" if reads > 0 else ""
    return f"about {changes:,} {noun}{first}, {describe_duration(seconds)} at your monday budget"


@dataclass(frozen=True)
class PlannedCustomer:
    """What a run will stage and send for one customer: lines (items), sizes (subitems), changes (mutations)."""

    customer: str
    lines: int
    sizes: int
    changes: int
    reads: int = 0  # board reads before sending: CHANGED lines in protected columns (``core.push.protect``)

    @property
    def rows(self) -> int:
        """Staged rows, the unit a batch's progress counts: its lines and its sizes."""
        return self.lines + self.sizes


def changes_of(
    result: CustomerChanges,
    only_keys: set[str] | None = None,
    protected: dict[str, str] | None = None,
    archive_in_bulk: bool = False,
) -> PlannedCustomer:
    """A customer's detected changes counted as a batch stages them (``only_keys``: a retry's lines;
    ``protected``: the mapping's protected columns, whose board reads are counted; ``archive_in_bulk``:
    removals are archived, many with one mutation, ``core.push.archive``)."""
    lines = sizes = changes = removed = 0
    for change in result.changes:
        if only_keys is not None and change.sync_key not in only_keys:
            continue
        lines += 1
        sizes += len(change.sizes)
        if change.kind == REMOVED and archive_in_bulk:
            removed += 1
            changes += len(change.sizes)
            continue
        # A changed line whose fields are all unchanged is only the parent of its changed sizes.
        changes += (1 if (change.kind != CHANGED or change.changed_fields) else 0) + len(change.sizes)
    changes += math.ceil(removed / BULK_IDS) if removed >= BULK_FROM else removed
    reads = 0
    if protected:
        wanted = CustomerChanges(
            result.customer, [c for c in result.changes if only_keys is None or c.sync_key in only_keys], [], 0, False
        )
        reads = protected_reads(protected_lines(wanted, protected))
    return PlannedCustomer(result.customer, lines, sizes, changes, reads)


def plan_of(
    results: Iterable[CustomerChanges],
    keys: dict[str, set[str]] | None = None,
    protected: dict[str, str] | None = None,
    archive_in_bulk: bool = False,
) -> list[PlannedCustomer]:
    """Every customer's ``changes_of``, in the order given (the order the run takes them)."""
    return [changes_of(result, (keys or {}).get(result.customer), protected, archive_in_bulk) for result in results]
