"""``classify_answer`` files every alias of an answer under the row it belongs to.

A removal (``delete_item`` / ``archive_item``) that meets "not found" is done: it was sent again after
an unknown outcome, or a person removed the item meanwhile. It settles an item as an item and a size
as a size (a size's removal was once filed under the items, with its staged id taken for an item's).
Any other write that meets "not found" is checked on the board first.

The request is built as the push builds it (``Mutation`` keys, ``build_mutation``) and stored as the
ledger keeps it (``StoredRequest``); monday's answer is parsed by the client's own ``parse_outcomes``
into ``Outcome`` and ``MondayError`` values. No database, no network: the function is pure.
"""

from __future__ import annotations

from core.foundation.error_types import ErrorType
from core.monday.client import Mutation, build_mutation, parse_outcomes
from core.push.stream import Answer, classify_answer
from core.staging.ledger import ITEM, SUB, StoredRequest

# Staged ids: the same number for an item and a size, as the two staging tables may well give.
SIZE_ROW, ITEM_ROW, WRITTEN_ROW, DONE_ROW = 41, 41, 42, 43


def request(*mutations: Mutation) -> StoredRequest:
    query, variables = build_mutation(list(mutations))
    return StoredRequest(
        request_id=7,
        batch_id=3,
        key="0f6c5e1e-5a43-4c2f-9a3c-6f1d2b7c8e90",
        query=query,
        variables=variables,
        aliases=[m.key for m in mutations],
        sends=2,  # sent again after an unknown outcome
        refused=0,
    )


def not_found(alias: str) -> dict:
    """monday's error for an alias whose item is gone."""
    return {
        "message": "Item not found in board",
        "path": [alias],
        "locations": [{"line": 1, "column": 40}],
        "extensions": {"code": "ResourceNotFoundException", "status_code": 404},
    }


def answer(stored: StoredRequest, data: dict, errors: list[dict]) -> Answer:
    outcomes = parse_outcomes(stored.count, data, errors)
    return Answer(stored, outcomes)


def test_a_sizes_delete_that_meets_not_found_settles_as_a_size_and_an_items_as_an_item():
    stored = request(
        Mutation((SUB, SIZE_ROW, "delete_item"), "delete_item", {"item_id": "9100000041"}),
        Mutation((ITEM, ITEM_ROW, "archive_item"), "archive_item", {"item_id": "9100000001"}),
        Mutation((ITEM, DONE_ROW, "delete_item"), "delete_item", {"item_id": "9100000003"}),
    )
    got = answer(stored, {"a0": None, "a1": None, "a2": {"id": "9100000003"}}, [not_found("a0"), not_found("a1")])
    assert [o.error.error_type if o.error else None for o in got.outcomes] == [
        ErrorType.NOT_FOUND,
        ErrorType.NOT_FOUND,
        None,
    ]

    settlement, check, look_up = classify_answer(got)

    assert settlement.subs_ok == [(SIZE_ROW, None)]  # the size, done; its own subitem id is kept
    assert settlement.items_ok == [(ITEM_ROW, None), (DONE_ROW, "9100000003")]
    assert check == {} and look_up == []
    assert settlement.item_failures == settlement.sub_failures == []
    assert settlement.items_again == settlement.subs_again == []


def test_an_items_delete_that_meets_not_found_settles_as_an_item_alone():
    stored = request(Mutation((ITEM, ITEM_ROW, "delete_item"), "delete_item", {"item_id": "9100000001"}))
    settlement, check, look_up = classify_answer(answer(stored, {"a0": None}, [not_found("a0")]))
    assert settlement.items_ok == [(ITEM_ROW, None)] and settlement.subs_ok == []
    assert check == {} and look_up == []


def test_a_write_that_meets_not_found_is_checked_on_the_board_not_settled():
    stored = request(
        Mutation(
            (ITEM, WRITTEN_ROW, "change_multiple_column_values"),
            "change_multiple_column_values",
            {"board_id": "9200517329", "item_id": "9100000002", "column_values": "{}"},
        ),
        Mutation((SUB, SIZE_ROW, "delete_item"), "delete_item", {"item_id": "9100000041"}),
    )
    settlement, check, look_up = classify_answer(
        answer(stored, {"a0": None, "a1": None}, [not_found("a0"), not_found("a1")])
    )
    assert list(check) == [(ITEM, WRITTEN_ROW)] and "Item not found" in check[(ITEM, WRITTEN_ROW)]
    assert settlement.items_ok == [] and settlement.subs_ok == [(SIZE_ROW, None)]
    assert look_up == []
