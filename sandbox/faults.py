"""Fault injection: which failure, if any, a request to ``POST /v2`` meets.

Grammar (``parse_faults``): comma-separated ``name=value`` pairs, spaces ignored, e.g.
``"500=0.05,502=0.02,after500=0.05,drop=0.05,storm=0.01,locked=0.03,slow=0.05,slow_seconds=3"``.

=============  ================================================================================
``500``        HTTP 500 (monday's JSON error body), answered before the request is applied
``502``        HTTP 502 with a gateway's HTML body (not JSON), before the request is applied
``504``        HTTP 504 with a gateway's HTML body (not JSON), before the request is applied
``after500``   the mutation is applied, then HTTP 500 (mutation requests only)
``drop``       the mutation is applied, then the connection is closed with no answer (mutation
               requests only)
``storm``      a 429 storm starts: every request is refused for ``storm_seconds`` (nominal,
               scaled by the time scale), this one included
``locked``     HTTP 423 "Resource is currently locked", not applied
``slow``       the request is applied and its answer held back ``slow_seconds`` real seconds
``late``       answered at once with a 504 (a client cannot tell it from "not applied"), then
               applied ``late_seconds`` real seconds later in the background, as if the request
               had only then reached monday: its ``Idempotency-Key`` is claimed at that moment, so
               a resend under the same key that got there first wins and the late copy is a
               replay (mutation requests only)
``hold``       the request is held ``hold_seconds`` real seconds before it is processed at all (as
               if the network held it), then processed normally (its key claimed only then); a
               client with a shorter read timeout has gone by then, and the answer goes nowhere
=============  ================================================================================

Rates are probabilities per request (0..1) and together at most 1. Parameters:
``slow_seconds`` (real seconds, default 3), ``storm_seconds`` (nominal seconds, default 10),
``lock_seconds`` (the nominal Retry-After of a 423, default 2), ``late_seconds`` and
``hold_seconds`` (real seconds, default 5 each). ``""``, ``"none"`` and ``"off"`` mean no faults.

Each request draws exactly one number from ``random.Random(seed)``, so for one seed the same
sequence of requests meets the same faults; a mutation-only kind drawn for a query is no fault.

Targeted faults (``FaultInjector.target``, ``SandboxServer.fail_next``, ``POST /sandbox/faults/next``)
set up an exact situation instead: the next ``count`` mutation requests (or queries, or any request;
optionally only those holding a given root field such as ``create_subitem``) meet the given kind,
with its own ``seconds`` if given, and for ``late`` its ``answer`` ("504" or "drop"). Targets are
served first come, first served; a request that meets one draws no number from the seeded sequence.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

KINDS = ("500", "502", "504", "after500", "drop", "storm", "locked", "slow", "late", "hold")
MUTATION_ONLY = frozenset({"after500", "drop", "late"})
PARAMETERS = {"slow_seconds": 3.0, "storm_seconds": 10.0, "lock_seconds": 2.0, "late_seconds": 5.0, "hold_seconds": 5.0}
#: The parameter each kind's ``seconds`` stands for in a targeted fault.
SECONDS_OF = {
    "slow": "slow_seconds",
    "storm": "storm_seconds",
    "locked": "lock_seconds",
    "late": "late_seconds",
    "hold": "hold_seconds",
}
LATE_ANSWERS = ("504", "drop")
TARGETS = ("mutation", "query", "any")


@dataclass(frozen=True)
class FaultSpec:
    """Rates per fault kind plus the parameters of the slow, storm, locked, late and hold faults."""

    rates: dict[str, float] = field(default_factory=dict)
    slow_seconds: float = PARAMETERS["slow_seconds"]
    storm_seconds: float = PARAMETERS["storm_seconds"]
    lock_seconds: float = PARAMETERS["lock_seconds"]
    late_seconds: float = PARAMETERS["late_seconds"]
    hold_seconds: float = PARAMETERS["hold_seconds"]

    def __post_init__(self) -> None:
        for kind, rate in self.rates.items():
            if kind not in KINDS:
                raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)})")
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {kind}={rate} is outside 0..1")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {sum(self.rates.values()):g}, more than 1")
        for name in PARAMETERS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @property
    def active(self) -> bool:
        return any(rate > 0 for rate in self.rates.values())

    def __str__(self) -> str:
        parts = [f"{kind}={self.rates[kind]:g}" for kind in KINDS if kind in self.rates]
        parts += [
            f"{name}={getattr(self, name):g}" for name, default in PARAMETERS.items() if getattr(self, name) != default
        ]
        return ",".join(parts)


def parse_faults(spec: str) -> FaultSpec:
    """A ``FaultSpec`` from ``"500=0.05,drop=0.02,slow_seconds=3"``; ``ValueError`` names what is wrong."""
    if spec is None:
        return FaultSpec()
    text = spec.strip()
    if text.lower() in ("", "none", "off"):
        return FaultSpec()
    rates: dict[str, float] = {}
    params: dict[str, float] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"fault spec part {part!r} is not name=value")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"fault spec part {part!r}: {value.strip()!r} is not a number") from None
        if name in PARAMETERS:
            params[name] = number
        elif name in KINDS:
            if name in rates:
                raise ValueError(f"fault kind {name!r} is given twice")
            rates[name] = number
        else:
            raise ValueError(
                f"unknown fault kind {name!r} (one of {', '.join(KINDS)}, or a parameter: {', '.join(PARAMETERS)})"
            )
    return FaultSpec(rates, **params)


def as_spec(faults: FaultSpec | str | None) -> FaultSpec:
    if faults is None:
        return FaultSpec()
    if isinstance(faults, FaultSpec):
        return faults
    if isinstance(faults, str):
        return parse_faults(faults)
    raise TypeError(f"faults must be a FaultSpec, a spec string or None, not {type(faults).__name__}")


@dataclass
class Fault:
    """The fault one request meets: its kind, its seconds (slow, storm, lock, late, hold) and, for
    ``late``, how the request is answered."""

    kind: str
    seconds: float | None = None
    answer: str = "504"
    targeted: bool = False


@dataclass
class Target:
    """The next ``remaining`` requests of a kind (``on``), optionally holding root field ``field``."""

    kind: str
    remaining: int
    field: str | None = None
    on: str = "mutation"
    seconds: float | None = None
    answer: str = "504"

    def matches(self, is_mutation: bool, fields: AbstractSet[str]) -> bool:
        if (self.on == "mutation" and not is_mutation) or (self.on == "query" and is_mutation):
            return False
        return self.field is None or self.field in fields

    def as_dict(self) -> dict:
        return {
            "kind": self.kind,
            "remaining": self.remaining,
            "field": self.field,
            "on": self.on,
            "seconds": self.seconds,
            "answer": self.answer,
        }


class FaultInjector:
    """Draws the fault of each request: targeted faults first, else one seeded generator (thread-safe)."""

    def __init__(self, spec: FaultSpec, seed: int) -> None:
        self._lock = threading.Lock()
        self.seed = seed
        self._targets: list[Target] = []
        self.set(spec)

    def set(self, spec: FaultSpec) -> None:
        """Install a spec and restart the generator, so the sequence is reproducible from here."""
        with self._lock:
            self.spec = spec
            self._rng = random.Random(self.seed)
            self._table = [(kind, spec.rates[kind]) for kind in KINDS if spec.rates.get(kind, 0) > 0]

    def target(
        self,
        kind: str,
        count: int = 1,
        *,
        field: str | None = None,
        on: str = "mutation",
        seconds: float | None = None,
        answer: str = "504",
    ) -> Target:
        """Make the next ``count`` matching requests meet ``kind``; see the module docstring."""
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(KINDS)})")
        if not isinstance(count, int) or count < 1:
            raise ValueError("count must be a whole number of at least 1")
        if on not in TARGETS:
            raise ValueError(f"on must be one of {', '.join(TARGETS)}")
        if seconds is not None and (not isinstance(seconds, (int, float)) or seconds < 0):
            raise ValueError("seconds must be a number, 0 or more")
        if answer not in LATE_ANSWERS:
            raise ValueError(f"answer must be one of {', '.join(LATE_ANSWERS)}")
        if field is not None and (not isinstance(field, str) or not field):
            raise ValueError("field is a root field name such as create_subitem")
        target = Target(kind, count, field, on, None if seconds is None else float(seconds), answer)
        with self._lock:
            self._targets.append(target)
        return target

    def targets(self) -> list[dict]:
        with self._lock:
            return [t.as_dict() for t in self._targets]

    def clear_targets(self) -> None:
        with self._lock:
            self._targets.clear()

    def draw(self, is_mutation: bool, fields: AbstractSet[str] = frozenset()) -> Fault | None:
        with self._lock:
            for target in self._targets:
                if target.matches(is_mutation, fields):
                    target.remaining -= 1
                    if target.remaining <= 0:
                        self._targets.remove(target)
                    return Fault(target.kind, target.seconds, target.answer, targeted=True)
            if not self._table:
                return None
            roll = self._rng.random()
            table = self._table
        edge = 0.0
        for kind, rate in table:
            edge += rate
            if roll < edge:
                if kind in MUTATION_ONLY and not is_mutation:
                    return None
                return Fault(kind)
        return None

    def seconds(self, fault: Fault) -> float:
        """The fault's seconds: its own (targeted), else the spec's parameter for its kind."""
        if fault.seconds is not None:
            return fault.seconds
        return float(getattr(self.spec, SECONDS_OF[fault.kind]))
