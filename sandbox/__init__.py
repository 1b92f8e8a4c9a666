"""A monday.com-compatible GraphQL server on loopback: the demo's board and the tests' counterpart.

``SandboxServer`` serves ``POST /v2`` (the subset of monday's API that OrderSync uses, validated by
graphql-core against a schema, with monday's error shapes, limits, idempotency and injected faults)
and ``/sandbox/*`` control endpoints; ``parse_faults`` reads a fault spec such as
``"500=0.05,drop=0.02"``. See ``server.py`` for the request path, ``faults.py`` for the grammar and
the targeted faults, ``edits.py`` for the board edits a person makes, and ``reference.py`` for
monday's published schema as a second judge of every request.
"""

from .faults import FaultSpec, parse_faults
from .server import SandboxServer

__all__ = ["FaultSpec", "SandboxServer", "parse_faults"]
