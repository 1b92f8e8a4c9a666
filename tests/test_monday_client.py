"""MondayApiClient: request building, error classification, pacing, and behaviour against the sandbox."""

from __future__ import annotations

import json

import pytest

from core.monday.client import Mutation, build_mutation, parse_outcomes
from core.monday.columns import encode_value
from core.monday.errors import AuthError, classify
from core.monday.governor import REQUEST_OVERHEAD, RateGovernor
from core.source.mapping import load_mapping
from tests.helpers import BOARD, SANDBOX_TOKEN, monday_client, start_sandbox

HOSTILE = 'O\'NEILL "LUX" & CO } { $var \\ ÉTÉ'


def test_every_value_travels_in_variables_never_in_the_query_text():
    mutations = [
        Mutation(
            1,
            "create_item",
            {"board_id": BOARD, "item_name": HOSTILE, "group_id": "g1", "column_values": {"text_1": HOSTILE}},
        ),
        Mutation(
            2, "create_subitem", {"parent_item_id": "123", "item_name": "Size M", "column_values": {"numeric": "12"}}
        ),
    ]
    query, variables = build_mutation(mutations)
    assert HOSTILE not in query and "NEILL" not in query and "Size M" not in query
    assert variables["a0_item_name"] == HOSTILE
    assert json.loads(variables["a0_column_values"]) == {"text_1": HOSTILE}  # JSON travels as a string
    assert "a0: create_item(" in query and "a1: create_subitem(" in query
    assert "complexity {" in query  # every mutation request measures its own cost
    assert "$a0_item_name: String!" in query and "$a1_parent_item_id: ID!" in query


def test_partial_success_gives_an_outcome_per_alias():
    mutations = [Mutation(k, "create_item", {"board_id": BOARD, "item_name": str(k)}) for k in range(3)]
    data = {"a0": {"id": "101"}, "a1": None, "a2": {"id": "103"}}
    errors = [
        {"message": "invalid value", "path": ["a1"], "extensions": {"code": "ColumnValueException", "status_code": 200}}
    ]
    outcomes = parse_outcomes(len(mutations), data, errors)  # keyed by alias index
    assert [(o.key, o.id) for o in outcomes if o.ok] == [(0, "101"), (2, "103")]
    (failed,) = [o for o in outcomes if not o.ok]
    assert (failed.key, failed.error.error_type, failed.error.retryable) == (1, "COLUMN_VALUE", False)


@pytest.mark.parametrize(
    "code, status, error_type, retryable",
    [
        ("ColumnValueException", 200, "COLUMN_VALUE", False),
        ("InvalidArgumentException", 200, "NOT_FOUND", False),
        ("ItemNameTooLongException", 200, "COLUMN_VALUE", False),
        ("COMPLEXITY_BUDGET_EXHAUSTED", 429, "RATE_LIMIT", True),
        ("ComplexityException", 429, "RATE_LIMIT", True),
        ("RATE_LIMIT_EXCEEDED", 429, "RATE_LIMIT", True),
        ("maxConcurrencyExceeded", 429, "RATE_LIMIT", True),
        ("FIELD_MINUTE_RATE_LIMIT_EXCEEDED", 200, "RATE_LIMIT", True),
        ("IDEMPOTENCY_CONFLICT", 409, "CONFLICT", True),
        (None, 423, "SERVER", True),
        (None, 500, "SERVER", True),
        (None, 504, "SERVER", True),
        ("UNAUTHORIZED", 401, "AUTH", False),
        ("USER_ACCESS_DENIED", 403, "AUTH", False),
    ],
)
def test_errors_are_classified_where_they_arise(code, status, error_type, retryable):
    error = classify(code, "message", status, {"retry_in_seconds": 7} if status == 429 else {})
    assert (error.error_type, error.retryable) == (error_type, retryable)
    if status == 429:
        assert error.retry_after == 7
    if error_type == "AUTH":
        assert isinstance(error, AuthError)


@pytest.mark.parametrize(
    "kind, value, encoded",
    [
        ("text", "M01Y09", "M01Y09"),
        ("numbers", "28.86", "28.86"),
        ("date", "2025-05-20", {"date": "2025-05-20"}),
        ("status", "RECEIVED", {"label": "RECEIVED"}),
        ("dropdown", "GREYSON CLOTHIERS", {"labels": ["GREYSON CLOTHIERS"]}),
        ("long_text", "notes", {"text": "notes"}),
        ("status", None, None),
    ],
)
def test_column_values_are_encoded_per_type(kind, value, encoded):
    assert encode_value(kind, value) == encoded


class FakeClock:
    """Time for the governor's arithmetic; sleeping advances it."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_governor_fills_the_window_then_waits_for_its_reset_instead_of_a_429():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    assert governor.allowance(25) == 25  # nothing known yet
    governor.observe(
        {"query": 25 * 30_000 + REQUEST_OVERHEAD, "before": 1_000_000, "after": 250_000, "reset_in_x_seconds": 40},
        None,
        25,
    )
    assert governor.cost_per_mutation == pytest.approx(30_000)
    assert governor.allowance(25) == 8  # what still fits: (250,000 - overhead) // 30,000
    governor.observe(
        {"query": 8 * 30_000 + REQUEST_OVERHEAD, "before": 250_000, "after": 8_000, "reset_in_x_seconds": 39}, None, 8
    )
    assert governor.allowance(25) == 25  # waited for the window to reset: full budget again
    assert clock.slept == [pytest.approx(39)]


def test_governor_calibrates_the_cost_of_a_mutation_from_what_monday_charged():
    governor = RateGovernor(cost_per_mutation=30_000)
    for _ in range(8):
        governor.observe(
            {
                "query": 10 * 10_000 + REQUEST_OVERHEAD,
                "before": 10_000_000,
                "after": 9_000_000,
                "reset_in_x_seconds": 50,
            },
            None,
            10,
        )
    assert governor.cost_per_mutation == pytest.approx(10_000, rel=0.01)


def test_governor_reads_the_ratelimit_headers_when_the_field_is_missing():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.observe(
        None,
        {
            "RateLimit-Policy": '"complexityMinute";q=5000000;w=60',
            "RateLimit": '"minuteRate";r=4999, "complexityMinute";r=50000;t=12',
        },
        0,
    )
    assert governor.budget_limit == 5_000_000
    assert governor.allowance(25) == 1
    governor.budget_left = 1_000
    assert governor.allowance(25) == 25
    assert clock.slept == [pytest.approx(12)]


def test_a_429_without_a_stated_time_waits_a_moment_not_forever():
    clock = FakeClock()
    governor = RateGovernor(clock=clock, sleep=clock.sleep, margin=0.0)
    governor.rate_limited(None)
    assert governor.allowance(10) == 10
    assert clock.slept == [pytest.approx(1.0)]


# --- against the sandbox, over HTTP ---------------------------------------------------------------


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(tmp_path / "sandbox.db")
    yield server
    server.stop()


def test_board_metadata_resolves_titles_and_finds_the_subitems_board(sandbox):
    client = monday_client(sandbox)
    meta = client.board(BOARD)
    mapping = load_mapping()
    columns = meta.resolve(mapping.columns)
    assert columns["SYNC KEY"].type == "text" and columns["SYNC KEY"].id != "SYNC KEY"
    assert columns["ORDER TYPE"].labels >= {"RECEIVED", "CANCELLED"}
    assert meta.subitem_board_id and meta.subitem_board_id != BOARD
    assert meta.resolve(mapping.subitem_columns, subitems=True)["Order Qty"].type == "numbers"


def test_a_missing_title_is_a_settings_error_naming_it(sandbox):
    from core.foundation.exceptions import SettingsError
    from core.source.mapping import ColumnMap

    meta = monday_client(sandbox).board(BOARD)
    with pytest.raises(SettingsError, match="'NOT ON THE BOARD'"):
        meta.resolve([ColumnMap(source="X", type="text", title="NOT ON THE BOARD")])


def test_hostile_names_round_trip_through_the_api(sandbox):
    client = monday_client(sandbox)
    meta = client.board(BOARD)
    group = next(iter(meta.groups.values()))
    (outcome,) = client.mutate(
        BOARD,
        [
            Mutation(
                "k",
                "create_item",
                {
                    "board_id": BOARD,
                    "item_name": HOSTILE,
                    "group_id": group,
                    "column_values": {meta.resolve(load_mapping().columns)["STYLE"].id: HOSTILE},
                },
            )
        ],
    )
    assert outcome.ok
    (item,) = sandbox.board_dump(BOARD)["items"]
    assert item["name"] == HOSTILE and item["column_values"]["STYLE"] == HOSTILE


def test_wrong_token_is_an_auth_error_not_retried(sandbox):
    from core.monday.client import MondayApiClient

    client = MondayApiClient(sandbox.url, "not-" + SANDBOX_TOKEN)
    with pytest.raises(AuthError):
        client.me()
    assert client.stats.retries == 0 and client.stats.requests == 1


def test_rate_limits_are_waited_out_and_logged(tmp_path, caplog):
    server = start_sandbox(tmp_path / "rl.db", complexity_budget=200_000, mutation_cost=30_000, time_scale=60.0)
    try:
        client = monday_client(server, max_batch=5)
        meta = client.board(BOARD)
        group = next(iter(meta.groups.values()))
        made = 0
        for n in range(6):
            room = client.governor.allowance(5)
            outcomes = client.mutate(
                BOARD,
                [
                    Mutation(i, "create_item", {"board_id": BOARD, "item_name": f"item {n}-{i}", "group_id": group})
                    for i in range(room)
                ],
            )
            made += sum(o.ok for o in outcomes)
        assert len(server.board_dump(BOARD)["items"]) == made >= 6
        assert client.stats.rate_limited == 0  # paced, not bounced
        assert client.governor.waited > 0
    finally:
        server.stop()


# --- reads that monday's schema accepts -------------------------------------------------------------


def seed_items(client, keys: list[str], with_subitem: bool = False) -> tuple[str, list[str]]:
    """Items on the demo board with these SYNC KEYs (through the API); (key column id, item ids)."""
    meta = client.board(BOARD)
    key_column = meta.resolve(load_mapping().columns)["SYNC KEY"].id
    group = next(iter(meta.groups.values()))
    ids: list[str] = []
    for start in range(0, len(keys), 25):
        outcomes = client.mutate(
            BOARD,
            [
                Mutation(
                    n,
                    "create_item",
                    {
                        "board_id": BOARD,
                        "item_name": f"item {n}",
                        "group_id": group,
                        "column_values": {key_column: key},
                    },
                )
                for n, key in enumerate(keys[start : start + 25], start)
            ],
        )
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
        ids += [o.id for o in outcomes]
    if with_subitem:
        for start in range(0, len(ids), 25):
            outcomes = client.mutate(
                BOARD,
                [
                    Mutation(i, "create_subitem", {"parent_item_id": i, "item_name": "M"})
                    for i in ids[start : start + 25]
                ],
            )
            assert all(o.ok for o in outcomes)
    return key_column, ids


def test_find_items_matches_the_key_exactly_not_as_monday_searches(sandbox):
    client = monday_client(sandbox)
    key_column, (lower, upper, _other) = seed_items(client, ["mwe-1 | m01 | red", "MWE-1 | M01 | RED", "mwe-2"])
    # monday's search is case-insensitive: both are candidates, only the exact one counts
    assert client.find_items(BOARD, key_column, ["mwe-1 | m01 | red"]) == {"mwe-1 | m01 | red": [lower]}
    assert client.find_items(BOARD, key_column, ["MWE-1 | M01 | RED", "mwe-1 | m01 | red", "Mwe-2", "none"]) == {
        "MWE-1 | M01 | RED": [upper],
        "mwe-1 | m01 | red": [lower],
    }


def test_find_items_follows_pages_and_chunks_of_100_values(sandbox):
    client = monday_client(sandbox, page_limit=2)
    keys = [f"K-{n:03d}" for n in range(120)] + ["DUP"] * 5
    key_column, ids = seed_items(client, keys)
    wanted = keys[:120] + ["DUP", "MISSING"]
    found = client.find_items(BOARD, key_column, wanted)
    assert found == {**{k: [ids[n]] for n, k in enumerate(keys[:120])}, "DUP": ids[120:]}
    queries = client.stats.requests
    assert queries > 60  # pages of 2: the cursor was followed, 100 values a search


def test_subitem_lookup_of_more_than_25_items_passes_its_limit(sandbox):
    client = monday_client(sandbox)
    _, ids = seed_items(client, [f"S-{n}" for n in range(30)], with_subitem=True)
    found = client.subitems_of(ids)
    assert set(found) == set(ids) and all(list(names) == ["M"] for names in found.values())
    # without an explicit limit, monday (and the sandbox) answer a page of 25: 5 parents would be missed
    assert len(client.query("query ($ids: [ID!]) { items(ids: $ids) { id } }", {"ids": ids})["items"]) == 25


def test_item_states_report_archived_and_deleted_items(sandbox):
    client = monday_client(sandbox)
    _, ids = seed_items(client, [f"T-{n}" for n in range(130)])
    outcomes = client.mutate(
        BOARD, [Mutation(1, "archive_item", {"item_id": ids[0]}), Mutation(2, "delete_item", {"item_id": ids[1]})]
    )
    assert all(o.ok for o in outcomes)
    states = client.item_states(ids + ["1"])
    assert (states[ids[0]], states[ids[1]]) == ("archived", "deleted")
    assert all(states[i] == "active" for i in ids[2:]) and "1" not in states
    assert len(states) == 130


@pytest.mark.parametrize(
    "settings, labels",
    [
        (
            {
                "labels": [
                    {"id": 0, "label": "Done", "is_deactivated": False},
                    {"id": 1, "label": "Old", "is_deactivated": True},
                ]
            },
            {"Done"},
        ),
        ('{"labels": [{"id": 0, "label": "Done"}]}', {"Done"}),  # JSON that arrives as a string
        ('{"labels": {"0": "Working on it", "1": "Done"}}', {"Working on it", "Done"}),  # settings_str's shape
        ({"labels": [{"id": 1, "name": "A"}]}, {"A"}),
        (None, set()),
        ("not json", set()),
    ],
)
def test_labels_are_read_from_column_settings_in_every_shape(settings, labels):
    from core.monday.columns import labels_of

    assert labels_of("status", settings) == labels


# --- a document monday refuses is our bug ---------------------------------------------------------------


def test_a_document_monday_refuses_is_an_invalid_request_never_retried(sandbox):
    from core.monday.errors import InvalidRequest

    client = monday_client(sandbox)
    with pytest.raises(InvalidRequest) as raised:  # the declaration the issue found in find_items
        client.query(
            'query ($ids: [String]) { items(ids: ["1"], limit: 1) { column_values(ids: $ids) { id } } }',
            {"ids": ["text"]},
        )
    error = raised.value
    assert (error.error_type, error.code, error.retryable, error.outcome_unknown) == (
        "INVALID_REQUEST",
        "variableMismatch",
        False,
        False,
    )
    assert "$ids" in error.message
    for query, variables in (
        ("query { boards { nme } }", {}),  # undefinedField
        ("query { boards(ids: [1]) { id }", {}),  # ParseError
        ("query ($l: Int!) { items(ids: [1], limit: $l) { id } }", {"l": "many"}),
    ):  # variables
        with pytest.raises(InvalidRequest):
            client.query(query, variables)
    assert client.stats.retries == 0 and client.stats.requests == 4


def test_a_mutation_document_monday_refuses_applies_nothing(sandbox, monkeypatch):
    from core.monday import client as client_module
    from core.monday.errors import InvalidRequest

    client = monday_client(sandbox)
    group = next(iter(client.board(BOARD).groups.values()))
    # a bug planted in the client: group_id declared with a type monday does not take there
    monkeypatch.setitem(client_module.MUTATION_ARGS["create_item"], "group_id", "Int")
    with pytest.raises(InvalidRequest) as raised:
        client.mutate(
            BOARD,
            [
                Mutation(n, "create_item", {"board_id": BOARD, "item_name": f"x{n}", "group_id": group})
                for n in range(3)
            ],
        )
    assert not raised.value.outcome_unknown and client.stats.retries == 0
    assert sandbox.board_dump(BOARD)["items"] == []


def test_a_request_that_never_gets_through_waits_at_most_the_stated_bound():
    """The bound the README states (core.push.stream.unreachable_wait_bound) is made of these waits."""
    import socket

    from core.monday.client import MAX_ATTEMPTS, MondayApiClient, backoff, longest_retry_wait
    from core.monday.errors import NetworkError

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits: list[float] = []
    client = MondayApiClient(f"http://127.0.0.1:{port}/v2", SANDBOX_TOKEN, sleep=waits.append)
    try:
        with pytest.raises(NetworkError) as caught:
            client.me()
    finally:
        client.close()
    error = caught.value
    assert error.attempts == MAX_ATTEMPTS and len(waits) == MAX_ATTEMPTS - 1 == client.stats.retries
    assert all(backoff(n) / 2 <= wait <= backoff(n) for n, wait in enumerate(waits, start=1)), waits
    assert sum(waits) <= longest_retry_wait() == 61.5
    # What the user reads: whole words, the place and the reason; the transport's own text is for the log.
    assert error.brief() == "connection refused"
    assert str(error) == f"connection to monday at http://127.0.0.1:{port}/v2 failed: connection refused"
    assert "Errno" in error.detail and "…" not in str(error)
