"""The sandbox's control surface: boards, labels, faults, the journal and the counters, as methods of
``SandboxServer`` and as the ``/sandbox/*`` endpoints (JSON bodies, JSON answers; an unknown board,
column or label is HTTP 404, a bad request 400).

=======================================  ==================================================================
``GET /sandbox/health``                  ``{"status": "ok", "url": ..., "boards": n}``
``GET /sandbox/stats``                   ``stats``: the live counters
``GET /sandbox/journal``                 ``journal`` (with ``journal=True``)
``GET|POST /sandbox/faults/next``        ``targeted_faults()``; POST ``fail_next(...)`` or ``{"clear": true}``
``POST /sandbox/faults``                 ``set_faults(spec)``: ``{"spec": "500=0.05"}`` or ``{"spec": null}``
``GET /sandbox/boards[/<id>]``           ``board_ids()``, ``board_dump(id)``
``POST /sandbox/boards``                 ``create_board(...)``
``POST /sandbox/boards/<id>/labels``     ``add_label`` / ``remove_label``
=======================================  ==================================================================

The board edits a person makes are ``edits.py`` (mixed in here, and served by the same endpoint).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from typing import Any

from .edits import BoardEdits, edit_endpoint
from .faults import FaultInjector, FaultSpec, as_spec
from .limits import Limits
from .store import Store
from .transport import Response, json_bytes


class Control(BoardEdits):
    """The control methods and endpoints, mixed into ``SandboxServer`` (which sets the attributes below)."""

    url: str
    seed: int
    _store: Store
    _state_lock: threading.RLock
    _limits: Limits
    _faults: FaultInjector
    _late: set[threading.Thread]
    _late_lock: threading.Lock
    _journal: list[dict]
    _journal_lock: threading.Lock
    _stats: dict[str, Any]
    _stats_lock: threading.Lock

    def create_board(
        self, name: str, columns: list[dict], subitem_columns: list[dict], board_id: str | None = None
    ) -> str:
        """A board with its subitems board and the group "Topics"; returns the board id.

        ``columns``: ``[{"title": "ORDER TYPE", "type": "status", "labels": ["RECEIVED"]}, ...]``
        (optionally ``"id"``); column ids are generated monday-style, never equal to titles.
        """
        with self._state_lock:
            if self._store.path is not None and self._store._db is None:
                self._store = Store(self._store.path, self.seed)
            board = self._store.create_board(name, columns, subitem_columns, board_id)
            self._store.commit()
            return board.id

    def board_dump(self, board_id: str) -> dict:
        """The board's groups, columns, active items (values by column title, as text) and subitems."""
        with self._state_lock:
            return self._store.board_dump(str(board_id))

    def _column(self, board_id: str, column: str):
        board = self._store.boards.get(str(board_id))
        if board is None:
            raise KeyError(f"no board {board_id}")
        target = board.column_by_id.get(column)
        if target is None:
            matches = [c for c in board.columns if c.title == column]
            if len(matches) != 1:
                raise KeyError(f"board {board_id} has {len(matches)} columns titled {column!r}")
            target = matches[0]
        return board, target

    def add_label(self, board_id: str, column: str, label: str) -> None:
        """Add a status or dropdown label, as a board owner does in monday's column settings."""
        with self._state_lock:
            board, target = self._column(board_id, column)
            if target.label_id(label) is None:
                target.add_label(label)
                self._store.touch_board(board)
                self._store.commit()

    def remove_label(self, board_id: str, column: str, label: str) -> None:
        """Delete a status or dropdown label, as a board owner might behind OrderSync's back.

        ``column`` is a column id or title. Items that held the label keep its id and show no text.
        """
        with self._state_lock:
            board, target = self._column(board_id, column)
            label_id = target.label_id(label)
            if label_id is None:
                raise KeyError(f"column {target.title!r} has no label {label!r}")
            del target.labels[label_id]
            self._store.drop_index(board, target.id)
            self._store.touch_board(board)
            self._store.commit()

    def board_ids(self) -> list[dict]:
        with self._state_lock:
            return [
                {"id": b.id, "name": b.name, "kind": b.kind, "subitems_board_id": b.subitems_board_id}
                for b in self._store.boards.values()
            ]

    def set_faults(self, faults: FaultSpec | str | None) -> None:
        """Install a fault spec (or none); the seeded sequence restarts from here."""
        self._faults.set(as_spec(faults))

    def fail_next(
        self,
        kind: str,
        count: int = 1,
        *,
        field: str | None = None,
        on: str = "mutation",
        seconds: float | None = None,
        answer: str = "504",
    ) -> dict:
        """The next ``count`` mutation requests (``on="query"``: queries; ``"any"``: both), optionally
        only those holding root field ``field`` (e.g. ``"create_subitem"``), meet fault ``kind``.

        ``seconds`` overrides the kind's parameter (late_seconds, hold_seconds, slow_seconds, ...,
        real seconds except storm's); ``answer`` ("504" | "drop") is how a ``late`` request is answered.
        Returns the target as a dict. The seeded rates keep working beside it.
        """
        return self._faults.target(kind, count, field=field, on=on, seconds=seconds, answer=answer).as_dict()

    def targeted_faults(self) -> list[dict]:
        """The targeted faults still waiting for their requests."""
        return self._faults.targets()

    def clear_targeted_faults(self) -> None:
        self._faults.clear_targets()

    def wait_for_late(self, timeout: float | None = None) -> bool:
        """Wait until every ``late`` request so far has been applied (or given up); True when none is left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._late_lock:
                pending = list(self._late)
            if not pending:
                return True
            for thread in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                thread.join(left)
            if deadline is not None and time.monotonic() >= deadline:
                with self._late_lock:
                    return not self._late

    @property
    def journal(self) -> list[dict]:
        """With ``journal=True``: every request ``POST /v2`` received (query, variables, operation name,
        Idempotency-Key, API-Version), in arrival order."""
        with self._journal_lock:
            return copy.deepcopy(self._journal)

    def clear_journal(self) -> None:
        with self._journal_lock:
            self._journal.clear()

    @property
    def faults(self) -> FaultSpec:
        return self._faults.spec

    @property
    def stats(self) -> dict:
        with self._stats_lock:
            out = copy.deepcopy(self._stats)
        out["windows"] = self._limits.windows_copy()
        out["limits"] = self._limits.snapshot()
        return out

    def handle_control(self, method: str, path: str, body: bytes) -> Response:
        parts = [p for p in path.split("/") if p][1:]  # after "sandbox"
        try:
            if method == "GET" and parts == ["health"]:
                return Response(200, json_bytes({"status": "ok", "url": self.url, "boards": len(self.board_ids())}))
            if method == "GET" and parts == ["stats"]:
                return Response(200, json_bytes(self.stats))
            if method == "GET" and parts == ["journal"]:
                return Response(200, json_bytes(self.journal))
            if parts == ["faults", "next"]:
                # {"kind": "late", "count": 1, "field": "create_subitem", "on": "mutation", "seconds": 2,
                #  "answer": "504"} targets the next requests; {"clear": true} drops what is waiting
                if method == "POST":
                    data = json.loads(body or b"{}")
                    if not isinstance(data, dict):
                        raise ValueError('the body is {"kind": ..., "count": ..., ...} or {"clear": true}')
                    if data.get("clear"):
                        self.clear_targeted_faults()
                    else:
                        self.fail_next(
                            str(data.get("kind")),
                            data.get("count", 1),
                            field=data.get("field"),
                            on=data.get("on", "mutation"),
                            seconds=data.get("seconds"),
                            answer=str(data.get("answer", "504")),
                        )
                return Response(200, json_bytes({"targets": self.targeted_faults()}))
            if method == "GET" and parts == ["boards"]:
                return Response(200, json_bytes(self.board_ids()))
            if method == "GET" and len(parts) == 2 and parts[0] == "boards":
                try:
                    return Response(200, json_bytes(self.board_dump(parts[1])))
                except KeyError:
                    return Response(404, json_bytes({"error": f"no board {parts[1]}"}))
            if method == "POST" and parts == ["faults"]:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError('the body is {"spec": "..."} or {"spec": null}')
                self.set_faults(data.get("spec"))
                return Response(200, json_bytes({"spec": str(self.faults)}))
            if method == "POST" and len(parts) == 3 and parts[0] == "boards" and parts[2] == "labels":
                # {"column": id or title, "label": "...", "present": true|false}: a board owner's edit
                data = json.loads(body or b"{}")
                if not isinstance(data, dict) or not isinstance(data.get("present"), bool):
                    raise ValueError('the body is {"column": ..., "label": ..., "present": true|false}')
                change = self.add_label if data["present"] else self.remove_label
                try:
                    change(parts[1], str(data.get("column", "")), str(data.get("label", "")))
                except KeyError as exc:
                    return Response(404, json_bytes({"error": str(exc.args[0] if exc.args else exc)}))
                return Response(
                    200,
                    json_bytes({"column": data.get("column"), "label": data.get("label"), "present": data["present"]}),
                )
            if method == "POST" and parts == ["boards"]:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("the body is a JSON object")
                board_id = self.create_board(
                    data.get("name", ""),
                    data.get("columns") or [],
                    data.get("subitem_columns") or [],
                    data.get("board_id"),
                )
                sub = self._store.boards[board_id].subitems_board_id
                return Response(200, json_bytes({"id": board_id, "subitems_board_id": sub}))
            edited = edit_endpoint(self, method, parts, body)
            if edited is not None:
                return Response(edited[0], json_bytes(edited[1]))
        except KeyError as exc:
            return Response(404, json_bytes({"error": str(exc.args[0] if exc.args else exc)}))
        except (ValueError, TypeError) as exc:
            return Response(400, json_bytes({"error": str(exc)}))
        return Response(404, json_bytes({"error": f"no such endpoint: {method} {path}"}))
