"""The mutations a staged row needs, decided before anything is sent.

A row either needs mutations (``Work``), needs none (its id is known and nothing mapped changed:
it is settled without a request), or cannot be sent as it is (a status label the board lacks, too
many attempts): it fails here, before any request, with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from core.db import schema as s
from core.foundation.error_types import ErrorType
from core.monday.client import Mutation, Outcome
from core.monday.columns import Column, encode_values, missing_labels
from core.staging.ledger import ITEM, MOVE, SUB
from core.staging.operations import Failure

MAX_ROW_ATTEMPTS = 6  # requests of one row without a confirmation before it is recorded as failed


@dataclass
class Work:
    """One staged row and the mutations it needs (each keyed ``(kind, staged id, field)``)."""

    table: sa.Table
    row: dict[str, Any]
    mutations: list[Mutation]

    @property
    def stg_id(self) -> int:
        stg_id: int = self.row["stg_id"] if self.table is s.stg_items else self.row["stg_sub_id"]
        return stg_id


@dataclass
class Plan:
    """What a set of pending rows comes to: work to send, and rows settled without a request."""

    work: list[Work] = field(default_factory=list)
    items_done: list[tuple[int, str | None]] = field(default_factory=list)  # nothing to send: the id is known
    subs_done: list[tuple[int, str | None]] = field(default_factory=list)
    item_failures: list[Failure] = field(default_factory=list)
    sub_failures: list[Failure] = field(default_factory=list)

    @property
    def settled_without_request(self) -> bool:
        return bool(self.items_done or self.subs_done or self.item_failures or self.sub_failures)


class PayloadBuilder:
    """Builds the mutations of staged rows for one board whose columns are resolved."""

    def __init__(
        self,
        board_id: str,
        subitem_board_id: str,
        item_columns: dict[str, Column],
        sub_columns: dict[str, Column],
        removal_policy: str,
    ):
        self.board_id = board_id
        self.subitem_board_id = subitem_board_id
        self.item_columns = item_columns
        self.sub_columns = sub_columns
        self.removal_policy = removal_policy

    def plan_row(self, table: sa.Table, row: dict[str, Any], plan: Plan) -> Work | None:
        """Add the row to ``plan``; returns its Work when it needs a request."""
        items = table is s.stg_items
        stg_id = row["stg_id"] if items else row["stg_sub_id"]
        failures = plan.item_failures if items else plan.sub_failures
        if row["attempts"] >= MAX_ROW_ATTEMPTS:
            failures.append(
                Failure(
                    stg_id, ErrorType.UNKNOWN, f"monday did not confirm this row after {row['attempts']} attempts", True
                )
            )
            return None
        values = json.loads(row["values_json"])
        changed = json.loads(row["changed_columns"]) if row.get("changed_columns") else None
        columns = self.item_columns if items else self.sub_columns
        problems = missing_labels(values, columns, None if row["action"] == s.CREATE else changed)
        if problems:
            failures.append(Failure(stg_id, ErrorType.COLUMN_VALUE, "; ".join(problems), False, "ColumnValueException"))
            return None
        mutations = self._item_mutations(row, values, changed) if items else self._sub_mutations(row, values, changed)
        if not mutations:  # nothing to send (report policy, or only unmapped differences)
            if items:
                plan.items_done.append((stg_id, row["monday_item_id"]))
            else:
                plan.subs_done.append((stg_id, row["monday_subitem_id"]))
            return None
        work = Work(table, row, mutations)
        plan.work.append(work)
        return work

    def _item_mutations(self, row: dict[str, Any], values: dict[str, Any], changed: list[str] | None) -> list[Mutation]:
        columns = self.item_columns
        stg_id = row["stg_id"]
        action = row["action"]
        policy = self.removal_policy
        if action == s.CREATE:
            args = {
                "board_id": self.board_id,
                "item_name": row["item_name"],
                "group_id": row["group_id"],
                "column_values": encode_values(values, columns),
            }
            if self.needs_new_labels(values, columns):
                args["create_labels_if_missing"] = True
            return [Mutation((ITEM, stg_id, "create_item"), "create_item", args)]
        if action == s.REMOVE and policy in ("archive", "delete"):
            name = "archive_item" if policy == "archive" else "delete_item"
            return [Mutation((ITEM, stg_id, name), name, {"item_id": row["monday_item_id"]})]
        mutations = []
        plain = [c for c in (changed or []) if c not in ("name", "group")]
        column_values = encode_values(values, columns, only=plain) if plain else {}
        if changed and "name" in changed:
            column_values["name"] = row["item_name"]
        if column_values and not (action == s.REMOVE and policy == "report"):
            args = {"item_id": row["monday_item_id"], "board_id": self.board_id, "column_values": column_values}
            if self.needs_new_labels({k: values.get(k) for k in plain}, columns):
                args["create_labels_if_missing"] = True
            mutations.append(
                Mutation((ITEM, stg_id, "change_multiple_column_values"), "change_multiple_column_values", args)
            )
        if changed and "group" in changed and action != s.REMOVE and row["group_id"]:
            mutations.append(
                Mutation(
                    (MOVE, stg_id, "move_item_to_group"),
                    "move_item_to_group",
                    {"item_id": row["monday_item_id"], "group_id": row["group_id"]},
                )
            )
        return mutations

    def _sub_mutations(self, row: dict[str, Any], values: dict[str, Any], changed: list[str] | None) -> list[Mutation]:
        columns = self.sub_columns
        stg_id = row["stg_sub_id"]
        if row["action"] == s.CREATE:
            args = {
                "parent_item_id": row["parent_monday_item_id"],
                "item_name": row["subitem_name"],
                "column_values": encode_values(values, columns),
            }
            if self.needs_new_labels(values, columns):
                args["create_labels_if_missing"] = True
            return [Mutation((SUB, stg_id, "create_subitem"), "create_subitem", args)]
        column_values = encode_values(values, columns, only=changed or [])
        if not column_values:
            return []
        return [
            Mutation(
                (SUB, stg_id, "change_multiple_column_values"),
                "change_multiple_column_values",
                {
                    "item_id": row["monday_subitem_id"],
                    "board_id": self.subitem_board_id,
                    "column_values": column_values,
                },
            )
        ]

    @staticmethod
    def needs_new_labels(values: dict[str, Any], columns: dict[str, Column]) -> bool:
        """Dropdown labels (customers, seasons) grow with the data; status labels never are created."""
        for label, value in values.items():
            column = columns.get(label)
            if (
                column is not None
                and column.type == "dropdown"
                and value not in (None, "")
                and (not column.labels or str(value) not in column.labels)
            ):
                return True
        return False

    def learn_labels(self, work: list[Work], outcomes: dict[Any, Outcome]) -> None:
        """Dropdown labels a successful write created exist now: later rows need no create flag."""
        for w in work:
            for mutation in w.mutations:
                outcome = outcomes.get(mutation.key)
                if outcome is None or not outcome.ok or not mutation.args.get("create_labels_if_missing"):
                    continue
                columns = self.item_columns if w.table is s.stg_items else self.sub_columns
                for label, value in json.loads(w.row["values_json"]).items():
                    column = columns.get(label)
                    if column is not None and column.type == "dropdown" and value not in (None, ""):
                        column.labels.add(str(value))
