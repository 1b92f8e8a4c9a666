"""The sandbox (sandbox): a monday-compatible GraphQL server, tested over real HTTP.

Every server listens on port 0; where a rate-limit window matters the time scale is high (60: a
nominal minute lasts one real second) so the file runs in a few seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from sandbox import FaultSpec, SandboxServer, parse_faults

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "sandbox-token"

COLUMNS = [
    {"title": "SYNC KEY", "type": "text"},
    {"title": "ORDER TYPE", "type": "status", "labels": ["RECEIVED", "CANCELLED"]},
    {"title": "CUSTOMER", "type": "dropdown", "labels": ["TITLE NINE", "PELOTON"]},
    {"title": "TOTAL QTY", "type": "numbers"},
    {"title": "EX FACTORY DATE", "type": "date"},
    {"title": "NOTES", "type": "long_text"},
    {"title": "CONTACT", "type": "email"},
    {"title": "PHONE", "type": "phone"},
    {"title": "LINK", "type": "link"},
    {"title": "DONE", "type": "checkbox"},
    {"title": "WINDOW", "type": "timeline"},
    {"title": "CUTOFF", "type": "hour"},
    {"title": "ORIGIN", "type": "country"},
]
SUBITEM_COLUMNS = [{"title": "Size", "type": "text"}, {"title": "Order Qty", "type": "numbers"}]


# --- helpers -------------------------------------------------------------------------------------


class Api:
    """A thin requests client for one sandbox: ``gql`` returns the response, ``data`` asserts no errors."""

    def __init__(self, server: SandboxServer, token: str | None = TOKEN) -> None:
        self.server = server
        self.url = server.url
        self.session = requests.Session()
        self.token = token

    def post(self, query: str, variables: dict | None = None, headers: dict | None = None, **kw) -> requests.Response:
        head = {"Authorization": self.token} if self.token is not None else {}
        head.update(headers or {})
        return self.session.post(
            self.url,
            json={"query": query, "variables": variables or {}},
            headers=head,
            timeout=kw.pop("timeout", 10),
            **kw,
        )

    def data(self, query: str, variables: dict | None = None, **kw) -> dict:
        response = self.post(query, variables, **kw)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def columns(self, board_id: str) -> dict[str, str]:
        """Column ids by title, resolved through the API the way a client must."""
        data = self.data("query($b: [ID!]) { boards(ids: $b) { columns { id title } } }", {"b": [board_id]})
        return {c["title"]: c["id"] for c in data["boards"][0]["columns"]}

    def create_item(self, board_id: str, name: str, values: dict | None = None, **kw) -> requests.Response:
        return self.post(
            "mutation($b: ID!, $n: String!, $v: JSON) { create_item(board_id: $b, item_name: $n, "
            "column_values: $v) { id name } }",
            {"b": board_id, "n": name, "v": json.dumps(values or {})},
            **kw,
        )

    def close(self) -> None:
        self.session.close()


def error_codes(body: dict) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


@pytest.fixture
def server(tmp_path):
    with SandboxServer(tmp_path / "state.db", time_scale=60) as srv:
        yield srv


@pytest.fixture
def api(server):
    client = Api(server)
    yield client
    client.close()


@pytest.fixture
def board(server):
    return server.create_board("Customer Master Schedule", COLUMNS, SUBITEM_COLUMNS)


@pytest.fixture
def cols(api, board):
    return api.columns(board)


# --- schema validation, ids ----------------------------------------------------------------------


def test_static_validation_rejects_the_whole_request_in_mondays_words(api, board, cols):
    cases = {
        "{ boards(ids: [1]) { id nme } }": ("undefinedField", "Field 'nme' doesn't exist on type 'Board'"),
        "{ boards(idz: [1]) { id } }": ("argumentNotAccepted", "Field 'boards' doesn't accept argument 'idz'"),
        'mutation { create_item(item_name: "x") { id } }': (
            "missingRequiredArguments",
            "Field 'create_item' is missing required arguments: board_id",
        ),
        "{ boards(ids: [1]) { id ": ("ParseError", "Parse error on end of file (EOF) at [1, 25]"),
        "{ boards(ids: [1]) }": ("selectionMismatch", None),
    }
    for query, (code, message) in cases.items():
        response = api.post(query)
        assert response.status_code == 200
        body = response.json()
        assert "data" not in body
        assert error_codes(body) == [code], body
        if message:
            assert body["errors"][0]["message"] == message
        assert body["errors"][0]["locations"]
    assert api.post("{ boards { id } ").json()["errors"][0]["message"].startswith("Parse error on ")
    assert (
        api.post("{ boards(ids: [1]) { id } ]").json()["errors"][0]["message"]
        == 'Parse error on "]" (RBRACKET) at [1, 27]'
    )

    # one valid mutation next to an invalid one: nothing runs
    response = api.post(
        f'mutation {{ a1: create_item(board_id: {board}, item_name: "ok") {{ id }} '
        f'a2: create_item(board_id: {board}, item_name: "bad", colour: 1) {{ id }} }}'
    )
    assert error_codes(response.json()) == ["argumentNotAccepted"]
    assert api.server.board_dump(board)["items"] == []
    # a variable of the wrong type: rejected, nothing runs
    response = api.post('mutation($b: ID!) { create_item(board_id: $b, item_name: "x") { id } }', {"b": [1]})
    assert response.status_code == 200 and response.json()["errors"] and response.json().get("data") is None
    assert api.server.board_dump(board)["items"] == []
    # bad JSON body
    response = api.session.post(
        api.url, data=b"{not json", headers={"Authorization": TOKEN, "Content-Type": "application/json"}
    )
    assert response.status_code == 400 and error_codes(response.json()) == ["JsonParseException"]
    response = api.session.post(api.url, json={"variables": {}}, headers={"Authorization": TOKEN})
    assert response.status_code == 400


def test_ids_are_strings_beyond_int32_and_accepted_as_ints(api, board):
    data = api.data(f'mutation {{ create_item(board_id: {int(board)}, item_name: "A") {{ id board {{ id }} }} }}')
    item_id = data["create_item"]["id"]
    assert isinstance(item_id, str) and item_id.isdigit() and int(item_id) > 2**31 and 10 <= len(item_id) <= 11
    assert data["create_item"]["board"]["id"] == board
    # ints as variables, and as literals in lists
    found = api.data("query($ids: [ID!]) { items(ids: $ids) { id name } }", {"ids": [int(item_id)]})
    assert found["items"] == [{"id": item_id, "name": "A"}]
    found = api.data(f'{{ items(ids: [{item_id}]) {{ id }} boards(ids: ["{board}"]) {{ id }} }}')
    assert found == {"items": [{"id": item_id}], "boards": [{"id": board}]}
    assert api.data("{ me { id name } }")["me"]["id"].isdigit()
    # unknown ids: an empty list, not an error
    assert api.data("{ items(ids: [1]) { id } boards(ids: [2]) { id } }") == {"items": [], "boards": []}
    # boards(state:): the sandbox's boards are all active
    for state, expected in (("active", [{"id": board}]), ("all", [{"id": board}]), ("archived", [])):
        assert api.data(f'{{ boards(ids: ["{board}"], state: {state}) {{ id }} }}')["boards"] == expected


# --- boards, groups, items, subitems -------------------------------------------------------------


def test_board_layout_column_ids_are_not_titles_and_subitems_board_is_linked(api, server, board):
    data = api.data(
        "query($b: [ID!]) { boards(ids: $b) { id name type columns { id title type settings_str } "
        "groups { id title } } }",
        {"b": [board]},
    )["boards"][0]
    by_title = {c["title"]: c for c in data["columns"]}
    assert by_title["ORDER TYPE"]["id"] == "status" and by_title["EX FACTORY DATE"]["id"] == "date4"
    assert re.fullmatch(r"text_mk[0-9a-z]{6}", by_title["SYNC KEY"]["id"])
    assert re.fullmatch(r"numeric_mk[0-9a-z]{6}", by_title["TOTAL QTY"]["id"])
    assert re.fullmatch(r"dropdown_mk[0-9a-z]{6}", by_title["CUSTOMER"]["id"])
    assert all(c["id"] != c["title"] for c in data["columns"])
    assert data["groups"] == [{"id": "topics", "title": "Topics"}]
    assert data["type"] == "board"
    settings = json.loads(by_title["Subitems"]["settings_str"])
    assert by_title["Subitems"]["type"] == "subtasks"
    sub_board = str(settings["boardIds"][0])
    status = json.loads(by_title["ORDER TYPE"]["settings_str"])
    assert status["labels"] == {"0": "RECEIVED", "1": "CANCELLED"}
    dropdown = json.loads(by_title["CUSTOMER"]["settings_str"])
    assert [label["name"] for label in dropdown["labels"]] == ["TITLE NINE", "PELOTON"]
    sub = api.data("query($b: [ID!]) { boards(ids: $b) { type columns { title } } }", {"b": [sub_board]})["boards"][0]
    assert sub["type"] == "sub_items_board"
    assert [c["title"] for c in sub["columns"]] == ["Name", "Size", "Order Qty"]
    assert server.board_dump(board)["subitems_board_id"] == sub_board


def test_groups_items_and_subitems(api, server, board, cols):
    group = api.data(f'mutation {{ create_group(board_id: {board}, group_name: "TITLE NINE FW26") {{ id title }} }}')
    group_id = group["create_group"]["id"]
    assert group_id.startswith("group_mk") and group["create_group"]["title"] == "TITLE NINE FW26"
    groups = api.data(f"{{ boards(ids: [{board}]) {{ groups {{ id title }} }} }}")["boards"][0]["groups"]
    assert [g["title"] for g in groups] == ["TITLE NINE FW26", "Topics"]  # new groups go on top

    values = {
        cols["SYNC KEY"]: "PO1 | STYLE | RED",
        cols["ORDER TYPE"]: {"label": "RECEIVED"},
        cols["TOTAL QTY"]: "120",
    }
    data = api.data(
        "mutation($b: ID!, $g: String, $v: JSON) { create_item(board_id: $b, group_id: $g, "
        'item_name: "STYLE RED PO1", column_values: $v) { id group { id title } '
        'column_values(ids: ["status"]) { id text value type } } }',
        {"b": board, "g": group_id, "v": json.dumps(values)},
    )["create_item"]
    item_id = data["id"]
    assert data["group"] == {"id": group_id, "title": "TITLE NINE FW26"}
    assert data["column_values"] == [{"id": "status", "text": "RECEIVED", "value": '{"index":0}', "type": "status"}]

    sub = api.data(
        'mutation($p: ID!, $v: JSON) { create_subitem(parent_item_id: $p, item_name: "M", '
        "column_values: $v) { id name board { id } parent_item { id } } }",
        {"p": item_id, "v": json.dumps({})},
    )["create_subitem"]
    sub_board = server.board_dump(board)["subitems_board_id"]
    assert sub["board"]["id"] == sub_board and sub["parent_item"]["id"] == item_id
    sub_cols = api.columns(sub_board)
    # a subitem is changed through its own board id or through the parent's board id
    api.data(
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }",
        {"b": sub_board, "i": sub["id"], "v": json.dumps({sub_cols["Size"]: "M"})},
    )
    api.data(
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }",
        {"b": board, "i": sub["id"], "v": json.dumps({sub_cols["Order Qty"]: 7, "name": "Medium"})},
    )
    # "name" renames; only the given columns change
    api.data(
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }",
        {"b": board, "i": item_id, "v": json.dumps({"name": "RENAMED", cols["TOTAL QTY"]: "130"})},
    )

    dump = server.board_dump(board)
    [item] = dump["items"]
    assert item["name"] == "RENAMED" and item["group_title"] == "TITLE NINE FW26"
    assert item["column_values"]["TOTAL QTY"] == "130" and item["column_values"]["ORDER TYPE"] == "RECEIVED"
    assert item["column_values"]["SYNC KEY"] == "PO1 | STYLE | RED" and item["column_values"]["NOTES"] is None
    assert item["subitems"] == [{"id": sub["id"], "name": "Medium", "column_values": {"Size": "M", "Order Qty": "7"}}]
    read = api.data(
        f"{{ items(ids: [{item_id}]) {{ subitems {{ id name column_values {{ id text }} }} "
        f'column_values(ids: ["subitems"]) {{ text value }} }} }}'
    )["items"][0]
    assert read["subitems"][0]["name"] == "Medium"
    assert json.loads(read["column_values"][0]["value"]) == {"linkedPulseIds": [{"linkedPulseId": int(sub["id"])}]}

    # move, archive, delete
    api.data(f'mutation {{ move_item_to_group(item_id: {item_id}, group_id: "topics") {{ id }} }}')
    assert server.board_dump(board)["items"][0]["group_id"] == "topics"
    other = api.create_item(board, "OTHER").json()["data"]["create_item"]["id"]
    api.data(f"mutation {{ archive_item(item_id: {other}) {{ id state }} }}")
    dump = server.board_dump(board)
    assert [i["id"] for i in dump["items"]] == [item_id] and dump["archived_item_ids"] == [other]
    api.data(f"mutation {{ delete_item(item_id: {item_id}) {{ id }} }}")
    assert server.board_dump(board)["items"] == []
    body = api.post(f"mutation {{ archive_item(item_id: {item_id}) {{ id }} }}").json()
    assert error_codes(body) == ["ResourceNotFoundException"]


def test_items_by_ids_pages_like_monday_and_returns_archived_and_deleted_items(api, server, board):
    ids = [api.create_item(board, f"item {n}").json()["data"]["create_item"]["id"] for n in range(30)]
    by_ids = (
        "query($ids: [ID!], $l: Int, $p: Int, $x: Boolean, $n: Boolean) { items(ids: $ids, limit: $l, page: $p, "
        "exclude_nonactive: $x, newest_first: $n) { id state } }"
    )

    def lookup(**variables) -> list[dict]:
        return api.data(by_ids, {"ids": ids, **variables})["items"]

    assert [i["id"] for i in lookup()] == ids[:25]  # no limit: monday's default page of 25 misses 5
    assert [i["id"] for i in lookup(l=30)] == ids
    assert [i["id"] for i in lookup(p=2)] == ids[25:]
    assert [i["id"] for i in lookup(l=30, n=True)] == ids[::-1]
    assert lookup(l=0) == []
    api.data(f"mutation {{ archive_item(item_id: {ids[0]}) {{ id }} }}")
    api.data(f"mutation {{ delete_item(item_id: {ids[1]}) {{ id }} }}")
    states = {i["id"]: i["state"] for i in lookup(l=30)}
    assert (states[ids[0]], states[ids[1]], states[ids[2]]) == ("archived", "deleted", "active")
    assert {i["id"] for i in lookup(l=30, x=True)} == set(ids[2:])
    body = api.post(by_ids, {"ids": [str(n) for n in range(101)]}).json()
    assert error_codes(body) == ["InvalidArgumentException"]


def test_column_settings_as_json_and_the_deprecated_settings_str(api, board):
    columns = api.data(
        "query($b: [ID!]) { boards(ids: $b) { columns { title settings settings_str } } }", {"b": [board]}
    )["boards"][0]["columns"]
    by_title = {c["title"]: c for c in columns}
    status = by_title["ORDER TYPE"]["settings"]
    assert isinstance(status, dict)
    assert [(entry["label"], entry["is_deactivated"]) for entry in status["labels"]] == [
        ("RECEIVED", False),
        ("CANCELLED", False),
    ]
    assert [entry["label"] for entry in by_title["CUSTOMER"]["settings"]["labels"]] == ["TITLE NINE", "PELOTON"]
    assert by_title["Subitems"]["settings"]["boardIds"] == json.loads(by_title["Subitems"]["settings_str"])["boardIds"]


def test_column_values_are_the_column_value_interface(api, board, cols):
    item = api.create_item(board, "typed", {cols["ORDER TYPE"]: {"label": "RECEIVED"}}).json()["data"]["create_item"]
    values = api.data(
        "query($i: [ID!]) { items(ids: $i) { column_values { __typename id is_leaf ... on StatusValue { text } } } }",
        {"i": [item["id"]]},
    )["items"][0]["column_values"]
    by_id = {v["id"]: v for v in values}
    assert by_id[cols["ORDER TYPE"]] == {
        "__typename": "StatusValue",
        "id": cols["ORDER TYPE"],
        "is_leaf": True,
        "text": "RECEIVED",
    }
    assert by_id[cols["SYNC KEY"]]["__typename"] == "TextValue"


def test_bulk_archive_items_runs_as_a_finished_job(api, server, board):
    ids = [api.create_item(board, f"old {n}").json()["data"]["create_item"]["id"] for n in range(3)]
    job = api.data(
        "mutation($b: ID!, $i: [ID!]!) { bulk_archive_items(board_id: $b, item_ids: $i) { job_id } }",
        {"b": board, "i": ids[:2] + ["1"]},
    )["bulk_archive_items"]
    status = api.data(
        "query($j: ID!) { job_status(job_id: $j) { id status result { total succeeded failed details } } }",
        {"j": job["job_id"]},
    )["job_status"]
    assert status["status"] == "COMPLETED" and status["id"] == job["job_id"]
    assert status["result"] == {"total": 3, "succeeded": 2, "failed": 1, "details": {"failed_item_ids": ["1"]}}
    dump = server.board_dump(board)
    assert dump["archived_item_ids"] == ids[:2] and [i["id"] for i in dump["items"]] == ids[2:]
    assert error_codes(api.post('{ job_status(job_id: "404") { id } }').json()) == ["ResourceNotFoundException"]


# --- column values -------------------------------------------------------------------------------

VALID = [
    ("SYNC KEY", "abc", "abc"),
    ("SYNC KEY", 42, "42"),
    ("ORDER TYPE", {"label": "CANCELLED"}, "CANCELLED"),
    ("ORDER TYPE", {"index": 1}, "CANCELLED"),
    ("ORDER TYPE", "RECEIVED", "RECEIVED"),
    ("CUSTOMER", {"labels": ["PELOTON"]}, "PELOTON"),
    ("CUSTOMER", {"ids": [1, 2]}, "TITLE NINE, PELOTON"),
    ("CUSTOMER", "PELOTON, TITLE NINE", "PELOTON, TITLE NINE"),
    ("TOTAL QTY", "3", "3"),
    ("TOTAL QTY", -2.5, "-2.5"),
    ("TOTAL QTY", "12.75", "12.75"),
    ("EX FACTORY DATE", {"date": "2026-06-15"}, "2026-06-15"),
    ("EX FACTORY DATE", {"date": "2026-06-15", "time": "09:00:00"}, "2026-06-15 09:00:00"),
    ("EX FACTORY DATE", "2026-06-15", "2026-06-15"),
    ("NOTES", {"text": "long"}, "long"),
    ("NOTES", "plain", "plain"),
    ("CONTACT", {"email": "a@b.co", "text": "A"}, "a@b.co"),
    ("CONTACT", "a@b.co A", "a@b.co"),
    ("PHONE", {"phone": "+12025550169", "countryShortName": "US"}, "+12025550169"),
    ("PHONE", "+19175998722 US", "+19175998722"),
    ("LINK", {"url": "https://x.io", "text": "x"}, "x - https://x.io"),
    ("DONE", {"checked": "true"}, "v"),
    ("WINDOW", {"from": "2026-01-01", "to": "2026-02-01"}, "2026-01-01 - 2026-02-01"),
    ("CUTOFF", {"hour": 16, "minute": 42}, "16:42"),
    ("ORIGIN", {"countryCode": "VN", "countryName": "Vietnam"}, "Vietnam"),
]

INVALID = [
    ("SYNC KEY", {"text": "x"}),
    ("ORDER TYPE", {"label": "SHIPPED"}),
    ("ORDER TYPE", {"index": 17}),
    ("ORDER TYPE", ["RECEIVED"]),
    ("CUSTOMER", {"labels": ["NOBODY"]}),
    ("CUSTOMER", {"ids": [99]}),
    ("TOTAL QTY", "abc"),
    ("TOTAL QTY", "1,5"),
    ("TOTAL QTY", True),
    ("EX FACTORY DATE", {"date": "2026-02-30"}),
    ("EX FACTORY DATE", "15/06/2026"),
    ("EX FACTORY DATE", {"date": "2026-06-15", "time": "25:00:00"}),
    ("NOTES", {"text": "x" * 2001}),
    ("CONTACT", {"email": "not-an-email", "text": "x"}),
    ("CONTACT", {"email": "a@b.co"}),
    ("PHONE", {"phone": "call me", "countryShortName": "US"}),
    ("LINK", {"text": "no url"}),
    ("DONE", "true"),
    ("WINDOW", {"from": "2026-03-01", "to": "2026-02-01"}),
    ("CUTOFF", {"hour": "07", "minute": 0}),
    ("CUTOFF", {"hour": 24, "minute": 0}),
    ("ORIGIN", {"countryCode": "US", "countryName": "USA"}),
]


def test_column_values_are_validated_per_type(api, server, board, cols):
    for title, value, text in VALID:
        response = api.create_item(board, f"ok {title}", {cols[title]: value})
        assert "errors" not in response.json(), (title, value, response.json())
        item = server.board_dump(board)["items"][-1]
        assert item["column_values"][title] == text, (title, value)
    count = len(server.board_dump(board)["items"])
    for title, value in INVALID:
        body = api.create_item(board, f"bad {title}", {cols[title]: value}).json()
        assert body["data"] == {"create_item": None}
        assert error_codes(body) == ["ColumnValueException"], (title, value, body)
        assert body["errors"][0]["path"] == ["create_item"]
        assert body["errors"][0]["extensions"]["error_data"]["column_id"] == cols[title]
    assert len(server.board_dump(board)["items"]) == count  # none of them was created

    # clearing: null and "" empty a column
    item_id = server.board_dump(board)["items"][0]["id"]
    api.data(
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }",
        {"b": board, "i": item_id, "v": json.dumps({cols["SYNC KEY"]: None, cols["TOTAL QTY"]: ""})},
    )
    item = next(i for i in server.board_dump(board)["items"] if i["id"] == item_id)
    assert item["column_values"]["SYNC KEY"] is None and item["column_values"]["TOTAL QTY"] is None
    # column_values as a JSON object literal instead of a string
    api.data(
        f'mutation {{ create_item(board_id: {board}, item_name: "obj", '
        f'column_values: {{{cols["TOTAL QTY"]}: "5"}}) {{ id }} }}'
    )


def test_labels_unknown_or_created_on_request(api, server, board, cols):
    body = api.create_item(board, "x", {cols["ORDER TYPE"]: {"label": "ON HOLD"}}).json()
    assert error_codes(body) == ["ColumnValueException"]
    assert "RECEIVED" in body["errors"][0]["message"]  # monday lists the possible labels
    query = (
        'mutation($b: ID!, $v: JSON) { create_item(board_id: $b, item_name: "x", column_values: $v, '
        "create_labels_if_missing: true) { id } }"
    )
    api.data(
        query,
        {
            "b": board,
            "v": json.dumps({cols["ORDER TYPE"]: {"label": "ON HOLD"}, cols["CUSTOMER"]: {"labels": ["WHITE FOX"]}}),
        },
    )
    assert server.board_dump(board)["items"][0]["column_values"]["ORDER TYPE"] == "ON HOLD"
    settings = api.data(f'{{ boards(ids: [{board}]) {{ columns(ids: ["status"]) {{ settings_str }} }} }}')
    assert "ON HOLD" in json.loads(settings["boards"][0]["columns"][0]["settings_str"])["labels"].values()
    # label limits: 30 characters, 40 labels
    body = api.post(query, {"b": board, "v": json.dumps({cols["ORDER TYPE"]: {"label": "L" * 31}})}).json()
    assert error_codes(body) == ["ColumnValueException"]
    for n in range(37):
        api.data(query, {"b": board, "v": json.dumps({cols["ORDER TYPE"]: {"label": f"S{n}"}})})
    body = api.post(query, {"b": board, "v": json.dumps({cols["ORDER TYPE"]: {"label": "ONE TOO MANY"}})}).json()
    assert error_codes(body) == ["ColumnValueException"] and "40" in body["errors"][0]["message"]
    # label ids are not positions: the sixth label has id 6, not 5
    labels = json.loads(
        api.data(f'{{ boards(ids: [{board}]) {{ columns(ids: ["status"]) {{ settings_str }} }} }}')["boards"][0][
            "columns"
        ][0]["settings_str"]
    )["labels"]
    assert "5" not in labels and labels["6"] == "S2"


def test_item_board_and_column_errors(api, server, board, cols):
    cases = [
        (api.create_item(board, "x" * 256), "ItemNameTooLongException"),
        (api.create_item(board, ""), "ItemNameTooLongException"),
        (api.create_item(board, "x", {"no_such_column": "1"}), "InvalidColumnIdException"),
        (api.create_item("123", "x"), "InvalidBoardIdException"),
        (
            api.post(
                f'mutation {{ change_multiple_column_values(board_id: {board}, item_id: 42, column_values: "{{}}") {{ id }} }}'
            ),
            "ResourceNotFoundException",
        ),
        (
            api.post('mutation { create_subitem(parent_item_id: 42, item_name: "s") { id } }'),
            "ResourceNotFoundException",
        ),
        (
            api.post(f'mutation {{ create_item(board_id: {board}, item_name: "x", group_id: "nope") {{ id }} }}'),
            "ResourceNotFoundException",
        ),
        (
            api.post(
                f'mutation {{ create_item(board_id: {board}, item_name: "x", column_values: "{{oops") {{ id }} }}'
            ),
            "JsonParseException",
        ),
    ]
    for response, code in cases:
        assert response.status_code == 200
        body = response.json()
        assert error_codes(body) == [code], body
        assert body["data"] is not None and list(body["data"].values()) == [None]
        assert set(body["errors"][0]) >= {"message", "locations", "path", "extensions"}
        assert set(body["errors"][0]["extensions"]) >= {"code", "status_code", "error_data"}
    assert api.create_item(board, "x" * 255).json()["data"]["create_item"]["name"] == "x" * 255


def test_items_limit_per_board(tmp_path):
    with SandboxServer(items_limit=3) as server:
        board = server.create_board("B", [{"title": "T", "type": "text"}], [])
        api = Api(server)
        for n in range(3):
            api.data(f'mutation {{ create_item(board_id: {board}, item_name: "i{n}") {{ id }} }}')
        body = api.create_item(board, "one more").json()
        assert error_codes(body) == ["ItemsLimitationException"]
        api.close()


def test_aliased_mutations_are_sequential_and_not_transactional(api, server, board, cols):
    ok = json.dumps({cols["ORDER TYPE"]: {"label": "RECEIVED"}})
    bad = json.dumps({cols["ORDER TYPE"]: {"label": "NO SUCH LABEL"}})
    query = (
        "mutation($b: ID!, $ok: JSON, $bad: JSON) {"
        ' a1: create_item(board_id: $b, item_name: "one", column_values: $ok) { id name }'
        ' a2: create_item(board_id: $b, item_name: "two", column_values: $bad) { id name }'
        ' a3: create_item(board_id: $b, item_name: "three", column_values: $ok) { id name }'
        " complexity { query } }"
    )
    used = server.stats["complexity_used_total"]
    response = api.post(query, {"b": board, "ok": ok, "bad": bad})
    assert response.status_code == 200
    body = response.json()
    assert body["data"]["a1"]["name"] == "one" and body["data"]["a3"]["name"] == "three"
    assert body["data"]["a2"] is None
    assert len(body["errors"]) == 1 and body["errors"][0]["path"] == ["a2"]
    assert error_codes(body) == ["ColumnValueException"]
    assert [i["name"] for i in server.board_dump(board)["items"]] == ["one", "three"]
    stats = server.stats
    assert stats["mutations"] == 2 and stats["mutation_errors"] == 1
    # the failed alias costs nothing: its 30,002 points are refunded
    assert stats["complexity_used_total"] - used == body["data"]["complexity"]["query"] - 30_002
    assert stats["windows"][-1]["mutations"] == 2


# --- searching and paging ------------------------------------------------------------------------


def test_items_page_by_column_values_and_next_items_page(api, server, board, cols):
    query = (
        "mutation($b: ID!, $v1: JSON, $v2: JSON, $v3: JSON) {"
        ' a1: create_item(board_id: $b, item_name: "A", column_values: $v1) { id }'
        ' a2: create_item(board_id: $b, item_name: "B", column_values: $v2) { id }'
        ' a3: create_item(board_id: $b, item_name: "C", column_values: $v3) { id } }'
    )
    for n in range(4):
        api.data(
            query,
            {
                "b": board,
                "v1": json.dumps({cols["SYNC KEY"]: f"PO{n} | Style | Red", cols["ORDER TYPE"]: "RECEIVED"}),
                "v2": json.dumps({cols["SYNC KEY"]: f"PO{n} | Style | Blue", cols["ORDER TYPE"]: "CANCELLED"}),
                "v3": json.dumps({cols["SYNC KEY"]: f"PO{n} | Style | Red | x", cols["CUSTOMER"]: "PELOTON"}),
            },
        )
    find = (
        "query($b: ID!, $c: [ItemsPageByColumnValuesQuery!], $l: Int!) { items_page_by_column_values("
        'board_id: $b, columns: $c, limit: $l) { cursor items { id name column_values(ids: ["status"]) { text } } } }'
    )

    def search(columns, limit=25):
        return api.data(find, {"b": board, "c": columns, "l": limit})["items_page_by_column_values"]

    # whole value, case-insensitive; not a substring match
    page = search([{"column_id": cols["SYNC KEY"], "column_values": ["po1 | STYLE | red"]}])
    assert [i["name"] for i in page["items"]] == ["A"] and page["cursor"] is None
    assert search([{"column_id": cols["SYNC KEY"], "column_values": ["PO1"]}])["items"] == []
    # ANY_OF within a column
    page = search([{"column_id": cols["SYNC KEY"], "column_values": ["PO1 | Style | Red", "PO2 | Style | Blue"]}])
    assert [i["name"] for i in page["items"]] == ["A", "B"]
    # AND across columns; status by its label text
    page = search(
        [
            {"column_id": cols["ORDER TYPE"], "column_values": ["received"]},
            {"column_id": cols["SYNC KEY"], "column_values": ["PO3 | Style | Red", "PO3 | Style | Blue"]},
        ]
    )
    assert [i["name"] for i in page["items"]] == ["A"]
    page = search([{"column_id": "name", "column_values": ["c"]}])
    assert len(page["items"]) == 4
    # paging: the cursor carries the filter
    page = search([{"column_id": cols["ORDER TYPE"], "column_values": ["RECEIVED", "CANCELLED"]}], limit=3)
    seen = [i["id"] for i in page["items"]]
    assert len(seen) == 3 and page["cursor"]
    cursor = page["cursor"]
    while cursor:
        nxt = api.data(
            "query($c: String!) { next_items_page(cursor: $c, limit: 3) { cursor items { id } } }", {"c": cursor}
        )["next_items_page"]
        seen += [i["id"] for i in nxt["items"]]
        cursor = nxt["cursor"]
    assert len(seen) == 8 and len(set(seen)) == 8 and seen == sorted(seen, key=int)
    # the search follows every change: a changed value, a rename, a deleted item
    a1 = search([{"column_id": cols["SYNC KEY"], "column_values": ["PO1 | Style | Red"]}])["items"][0]["id"]
    api.data(
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }",
        {"b": board, "i": a1, "v": json.dumps({cols["SYNC KEY"]: "PO1 | Style | Green", "name": "A-renamed"})},
    )
    assert search([{"column_id": cols["SYNC KEY"], "column_values": ["PO1 | Style | Red"]}])["items"] == []
    assert [
        i["id"] for i in search([{"column_id": cols["SYNC KEY"], "column_values": ["po1 | style | green"]}])["items"]
    ] == [a1]
    assert [i["id"] for i in search([{"column_id": "name", "column_values": ["A-RENAMED"]}])["items"]] == [a1]
    api.data(f"mutation {{ delete_item(item_id: {a1}) {{ id }} }}")
    assert search([{"column_id": "name", "column_values": ["A-renamed"]}])["items"] == []
    fresh = api.create_item(board, "D", {cols["SYNC KEY"]: "PO1 | Style | Red"}).json()["data"]["create_item"]["id"]
    assert [
        i["id"] for i in search([{"column_id": cols["SYNC KEY"], "column_values": ["PO1 | Style | Red"]}])["items"]
    ] == [fresh]
    # a label removed behind the client's back: its items no longer match it
    server.remove_label(board, "CUSTOMER", "PELOTON")
    assert search([{"column_id": cols["CUSTOMER"], "column_values": ["PELOTON"]}])["items"] == []
    body = api.create_item(board, "E", {cols["CUSTOMER"]: {"labels": ["PELOTON"]}}).json()
    assert error_codes(body) == ["ColumnValueException"]
    # cursor and columns cannot be combined
    body = api.post(
        "query($b: ID!, $c: String) { items_page_by_column_values(board_id: $b, cursor: $c, "
        'columns: [{column_id: "name", column_values: ["A"]}]) { cursor } }',
        {"b": board, "c": page["cursor"] or "MSw"},
    ).json()
    assert error_codes(body) == ["InvalidArgumentException"]
    body = api.post(find, {"b": board, "c": [{"column_id": "nope", "column_values": ["x"]}], "l": 5}).json()
    assert error_codes(body) == ["InvalidColumnIdException"]
    body = api.post(find, {"b": board, "c": [{"column_id": "name", "column_values": ["x"]}], "l": 501}).json()
    assert error_codes(body) == ["InvalidArgumentException"]


def test_items_page_with_query_params_and_cursor(api, server, board, cols):
    for n in range(7):
        api.create_item(
            board, f"I{n}", {cols["TOTAL QTY"]: str(n), cols["ORDER TYPE"]: "RECEIVED" if n % 2 else "CANCELLED"}
        )
    query = (
        "query($b: [ID!], $q: ItemsQuery) { boards(ids: $b) { items_page(limit: 2, query_params: $q) "
        "{ cursor items { name } } } }"
    )
    rules = {"rules": [{"column_id": "status", "compare_value": [1], "operator": "any_of"}]}  # label id 1
    page = api.data(query, {"b": [board], "q": rules})["boards"][0]["items_page"]
    names = [i["name"] for i in page["items"]]
    cursor = page["cursor"]
    while cursor:
        nxt = api.data("query($c: String!) { next_items_page(cursor: $c) { cursor items { name } } }", {"c": cursor})[
            "next_items_page"
        ]
        names += [i["name"] for i in nxt["items"]]
        cursor = nxt["cursor"]
    assert names == ["I0", "I2", "I4", "I6"]
    qty = {
        "rules": [{"column_id": cols["TOTAL QTY"], "compare_value": [4], "operator": "greater_than_or_equals"}],
        "order_by": [{"column_id": cols["TOTAL QTY"], "direction": "desc"}],
    }
    page = api.data(query, {"b": [board], "q": qty})["boards"][0]["items_page"]
    assert [i["name"] for i in page["items"]] == ["I6", "I5"]
    nxt = api.data(
        "query($c: String!) { next_items_page(cursor: $c) { cursor items { name } } }", {"c": page["cursor"]}
    )["next_items_page"]
    assert [i["name"] for i in nxt["items"]] == ["I4"] and nxt["cursor"] is None
    body = api.post('{ next_items_page(cursor: "garbage") { cursor } }').json()
    assert error_codes(body) == ["InvalidArgumentException"]


# --- complexity and rate limits ------------------------------------------------------------------


def _parse_ratelimit(value: str) -> dict[str, dict[str, str]]:
    out = {}
    for part in value.split(", "):
        name, *params = part.split(";")
        out[name.strip('"')] = dict(p.split("=", 1) for p in params)
    return out


def test_complexity_field_and_ratelimit_headers(api, server, board):
    response = api.post("{ complexity { before after query reset_in_x_seconds } }")
    first = response.json()["data"]["complexity"]
    assert first["before"] == 10_000_000 and first["after"] == first["before"] - first["query"] and first["query"] > 0
    policy = _parse_ratelimit(response.headers["RateLimit-Policy"])
    assert policy["minuteRate"] == {"q": "5000", "w": "1"}  # w in real seconds: 60 / time_scale
    assert policy["concurrency"]["q"] == "40" and policy["complexityMinute"] == {"q": "10000000", "w": "1"}
    state = _parse_ratelimit(response.headers["RateLimit"])
    assert state["minuteRate"]["r"] == "4999" and state["concurrency"]["r"] == "39"
    assert int(state["complexityMinute"]["r"]) == first["after"] and 0 < float(state["complexityMinute"]["t"]) <= 1

    data = api.data(
        f'mutation {{ complexity {{ before query after }} create_item(board_id: {board}, item_name: "x") {{ id }} }}'
    )
    assert data["complexity"]["query"] == 30_001 + 13  # 30,000 per mutation + 1 per scalar; 10 + 3 for complexity
    response = api.post(
        "query($b: ID!) { items_page_by_column_values(board_id: $b, limit: 5, "
        'columns: [{column_id: "name", column_values: ["x"]}]) { items { id } } complexity { query } }',
        {"b": board},
    )
    assert response.json()["data"]["complexity"]["query"] >= 100_000
    # a query over 5,000,000 points is refused outright
    body = api.post(
        "{ items(ids: [1], limit: 100) { subitems { subitems { id } } } "
        "boards(limit: 100) { items_page(limit: 500) { items { subitems { id name } } } } }"
    ).json()
    assert error_codes(body) == ["maxComplexityExceeded"]


def test_complexity_budget_exhaustion_then_reset(tmp_path):
    with SandboxServer(time_scale=60, complexity_budget=100_000) as server:
        board = server.create_board("B", [{"title": "T", "type": "text"}], [])
        api = Api(server)
        mutation = 'mutation($b: ID!) { create_item(board_id: $b, item_name: "x") { id } }'
        deadline = time.monotonic() + 5
        # fill a window: 3 × 30,001 fit in 100,000, the 4th does not
        while True:
            statuses = [api.post(mutation, {"b": board}).status_code for _ in range(4)]
            if statuses == [200, 200, 200, 429] or time.monotonic() > deadline:
                break  # (a window may roll over between the calls on a slow machine: try again)
            time.sleep(1.0)
        assert statuses == [200, 200, 200, 429]
        response = api.post(mutation, {"b": board})
        assert response.status_code == 429
        body = response.json()
        assert error_codes(body) == ["COMPLEXITY_BUDGET_EXHAUSTED"]
        retry = body["errors"][0]["extensions"]["retry_in_seconds"]
        assert 0 < retry <= 1.0  # real seconds: a minute at time scale 60
        assert response.headers["Retry-After"] == "1"
        assert len(server.board_dump(board)["items"]) == 3  # rejected requests are not applied
        assert server.stats["rejected_429"]["complexity"] == 2
        time.sleep(retry + 0.05)
        assert api.post(mutation, {"b": board}).status_code == 200
        windows = server.stats["windows"]
        assert len(windows) >= 2 and windows[-1]["mutations"] == 1 and windows[-2]["mutations"] == 3
        assert windows[-2]["complexity"] == 90_003
        api.close()


def test_minute_limit(tmp_path):
    with SandboxServer(time_scale=60, minute_limit=5) as server:
        api = Api(server)
        deadline = time.monotonic() + 5
        while True:
            responses = [api.post("{ me { id } }") for _ in range(6)]
            if [r.status_code for r in responses] == [200] * 5 + [429] or time.monotonic() > deadline:
                break
            time.sleep(1.0)
        assert [r.status_code for r in responses] == [200] * 5 + [429]
        body = responses[-1].json()
        assert error_codes(body) == ["RATE_LIMIT_EXCEEDED"]
        assert body["errors"][0]["message"] == "Minute limit rate exceeded"
        assert 0 < body["errors"][0]["extensions"]["retry_in_seconds"] <= 1
        assert responses[-1].headers["Retry-After"] == "1"
        assert _parse_ratelimit(responses[-2].headers["RateLimit"])["minuteRate"]["r"] == "0"
        time.sleep(body["errors"][0]["extensions"]["retry_in_seconds"] + 0.05)
        assert api.post("{ me { id } }").status_code == 200
        assert server.stats["rejected_429"]["minute"] == 1
        api.close()


def test_concurrency_limit(tmp_path):
    with SandboxServer(concurrency_limit=2, base_latency=0.4) as server:
        results: list[requests.Response] = []
        lock = threading.Lock()

        def call():
            response = requests.post(
                server.url, json={"query": "{ me { id } }"}, headers={"Authorization": TOKEN}, timeout=10
            )
            with lock:
                results.append(response)

        threads = [threading.Thread(target=call) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(r.status_code for r in results)
        assert codes.count(200) >= 2 and codes.count(429) >= 1 and set(codes) <= {200, 429}
        rejected = [r for r in results if r.status_code == 429]
        assert all(error_codes(r.json()) == ["maxConcurrencyExceeded"] for r in rejected)
        assert all(
            r.json()["errors"][0]["extensions"]["retry_in_seconds"] > 0 and r.headers["Retry-After"] for r in rejected
        )
        assert server.stats["rejected_429"]["concurrency"] == len(rejected)


# --- idempotency ---------------------------------------------------------------------------------


def test_idempotency_replays_the_first_answer(api, server, board):
    mutation = 'mutation($b: ID!) { create_item(board_id: $b, item_name: "once") { id } }'
    first = api.post(mutation, {"b": board}, headers={"Idempotency-Key": "k-1"})
    second = api.post(mutation, {"b": board}, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["Idempotency-Replayed"] == "true" and "Idempotency-Replayed" not in first.headers
    assert len(server.board_dump(board)["items"]) == 1
    assert server.stats["idempotent_replays"] == 1
    third = api.post(mutation, {"b": board}, headers={"Idempotency-Key": "k-2"})
    assert third.json()["data"]["create_item"]["id"] != first.json()["data"]["create_item"]["id"]
    # queries ignore the header
    me1 = api.post("{ complexity { before } }", headers={"Idempotency-Key": "k-q"})
    me2 = api.post("{ complexity { before } }", headers={"Idempotency-Key": "k-q"})
    assert "Idempotency-Replayed" not in me2.headers and me1.json() != me2.json()


def test_idempotency_conflict_while_in_flight(tmp_path):
    with SandboxServer(mutation_latency=0.5) as server:
        board = server.create_board("B", [], [])
        mutation = {
            "query": 'mutation($b: ID!) { create_item(board_id: $b, item_name: "x") { id } }',
            "variables": {"b": board},
        }
        headers = {"Authorization": TOKEN, "Idempotency-Key": "same"}
        out = {}
        slow = threading.Thread(
            target=lambda: out.setdefault(
                "first", requests.post(server.url, json=mutation, headers=headers, timeout=10)
            )
        )
        slow.start()
        time.sleep(0.15)
        conflict = requests.post(server.url, json=mutation, headers=headers, timeout=10)
        slow.join()
        assert conflict.status_code == 409
        assert error_codes(conflict.json()) == ["IDEMPOTENCY_CONFLICT"] and conflict.headers["Retry-After"]
        replay = requests.post(server.url, json=mutation, headers=headers, timeout=10)
        assert replay.status_code == 200 and replay.headers["Idempotency-Replayed"] == "true"
        assert replay.json() == out["first"].json()
        assert len(server.board_dump(board)["items"]) == 1


def test_no_replay_without_idempotency(tmp_path):
    with SandboxServer(idempotency=False) as server:
        board = server.create_board("B", [], [])
        api = Api(server)
        mutation = 'mutation($b: ID!) { create_item(board_id: $b, item_name: "x") { id } }'
        a = api.post(mutation, {"b": board}, headers={"Idempotency-Key": "k"})
        b = api.post(mutation, {"b": board}, headers={"Idempotency-Key": "k"})
        assert "Idempotency-Replayed" not in b.headers and a.json() != b.json()
        assert len(server.board_dump(board)["items"]) == 2
        api.close()


# --- faults --------------------------------------------------------------------------------------


def test_fault_spec_grammar():
    spec = parse_faults(
        " 500=0.05, 502=0.02,504=0.02,after500=0.05,drop=0.05,storm=0.01,locked=0.03,slow=0.05,slow_seconds=3.5 "
    )
    assert spec.rates["after500"] == 0.05 and spec.slow_seconds == 3.5 and spec.active
    assert parse_faults(str(spec)) == spec
    assert not parse_faults("").active and not parse_faults("none").active
    for bad in ("boom=0.1", "500=2", "500=0.7,502=0.6", "500", "500=x", "500=0.1,500=0.2", "slow_seconds=-1"):
        with pytest.raises(ValueError):
            parse_faults(bad)
    assert FaultSpec({"drop": 1.0}).rates == {"drop": 1.0}


def test_faults_before_the_request_is_applied(api, server, board):
    for kind, status in (("500", 500), ("502", 502), ("504", 504), ("locked", 423)):
        server.set_faults(f"{kind}=1")
        response = api.create_item(board, kind)
        assert response.status_code == status, kind
        if kind == "500":
            assert error_codes(response.json()) == ["INTERNAL_SERVER_ERROR"]
        elif kind == "locked":
            assert response.json()["errors"][0]["message"] == "Resource is currently locked"
            assert response.headers["Retry-After"]
        else:  # a gateway's HTML page, not JSON
            assert response.headers["Content-Type"].startswith("text/html")
            with pytest.raises(ValueError):
                response.json()
    assert server.board_dump(board)["items"] == []
    assert server.stats["faults_injected"] == {"500": 1, "502": 1, "504": 1, "locked": 1}
    # control endpoints are never faulted
    assert requests.get(server.url.replace("/v2", "/sandbox/health"), timeout=5).status_code == 200
    server.set_faults(None)
    assert api.create_item(board, "fine").status_code == 200


def test_after500_and_drop_apply_the_mutation_and_the_key_replays_it(api, server, board):
    server.set_faults("after500=1")
    response = api.create_item(board, "after500", headers={"Idempotency-Key": "a5"})
    assert response.status_code == 500
    assert [i["name"] for i in server.board_dump(board)["items"]] == ["after500"]
    server.set_faults(None)
    retry = api.create_item(board, "after500", headers={"Idempotency-Key": "a5"})
    assert retry.status_code == 200 and retry.headers["Idempotency-Replayed"] == "true"
    assert retry.json()["data"]["create_item"]["id"] == server.board_dump(board)["items"][0]["id"]

    server.set_faults("drop=1")
    with pytest.raises(requests.ConnectionError):
        api.create_item(board, "dropped", headers={"Idempotency-Key": "d1"})
    assert [i["name"] for i in server.board_dump(board)["items"]] == ["after500", "dropped"]
    # queries are never hit by the mutation-only kinds
    assert api.post("{ me { id } }").status_code == 200
    server.set_faults(None)
    retry = api.create_item(board, "dropped", headers={"Idempotency-Key": "d1"})
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert len(server.board_dump(board)["items"]) == 2
    assert server.stats["faults_injected"] == {"after500": 1, "drop": 1}


def test_storm_and_slow_faults(tmp_path):
    with SandboxServer(time_scale=60, faults="storm=1,storm_seconds=30") as server:  # 0.5 real seconds
        board = server.create_board("B", [], [])
        api = Api(server)
        first = api.post("{ me { id } }")
        assert first.status_code == 429 and 0 < first.json()["errors"][0]["extensions"]["retry_in_seconds"] <= 0.5
        server.set_faults(None)
        assert api.post("{ me { id } }").status_code == 429  # the storm goes on
        time.sleep(0.55)
        assert api.post("{ me { id } }").status_code == 200
        assert server.stats["rejected_429"]["storm"] == 2

        server.set_faults("slow=1,slow_seconds=0.6")
        with pytest.raises(requests.Timeout):
            api.create_item(board, "slow", timeout=0.2)
        assert [i["name"] for i in server.board_dump(board)["items"]] == ["slow"]  # applied all the same
        started = time.monotonic()
        assert api.post("{ me { id } }").status_code == 200
        assert time.monotonic() - started >= 0.55
        api.close()


def test_seeded_faults_are_reproducible():
    def run(seed: int) -> list[int]:
        with SandboxServer(faults="500=0.3,locked=0.2,504=0.1", seed=seed) as server:
            api = Api(server)
            codes = [api.post("{ me { id } }").status_code for _ in range(40)]
            api.close()
            return codes

    first, again, other = run(7), run(7), run(8)
    assert first == again and first != other
    assert {200, 500, 423, 504} <= set(first)


def test_targeted_faults_meet_exactly_the_next_matching_requests(api, server, board):
    target = server.fail_next("502", 2, field="create_subitem")
    assert target == {
        "kind": "502",
        "remaining": 2,
        "field": "create_subitem",
        "on": "mutation",
        "seconds": None,
        "answer": "504",
    }
    parent = api.create_item(board, "parent")  # no create_subitem in it: untouched
    assert parent.status_code == 200
    parent_id = parent.json()["data"]["create_item"]["id"]
    subitem = 'mutation($p: ID!) { create_subitem(parent_item_id: $p, item_name: "M") { id } }'
    assert [api.post(subitem, {"p": parent_id}).status_code for _ in range(3)] == [502, 502, 200]
    assert server.targeted_faults() == []
    server.fail_next("500", on="query")
    assert api.create_item(board, "not a query").status_code == 200
    assert api.post("{ me { id } }").status_code == 500
    server.fail_next("locked", 5)
    server.clear_targeted_faults()
    assert api.create_item(board, "cleared").status_code == 200
    assert server.stats["faults_injected"] == {"502": 2, "500": 1}
    with pytest.raises(ValueError):
        server.fail_next("boom")
    with pytest.raises(ValueError):
        server.fail_next("late", 0)


def test_late_fault_answers_504_then_applies_under_its_key_when_it_arrives(api, server, board):
    def names() -> list[str]:
        return [i["name"] for i in server.board_dump(board)["items"]]

    server.fail_next("late", seconds=0.3)
    response = api.create_item(board, "late one", headers={"Idempotency-Key": "k1"})
    assert response.status_code == 504 and names() == []  # the client cannot tell it from "not applied"
    assert server.wait_for_late(5) and names() == ["late one"]
    # A resend under the same key that reaches monday first wins; the late copy is then a replay.
    server.fail_next("late", seconds=0.3)
    assert api.create_item(board, "twice?", headers={"Idempotency-Key": "k2"}).status_code == 504
    resent = api.create_item(board, "twice?", headers={"Idempotency-Key": "k2"})
    assert resent.status_code == 200 and "Idempotency-Replayed" not in resent.headers
    assert server.wait_for_late(5) and names() == ["late one", "twice?"]
    # Without a key (or a resend under a new one) both land: what the client has to prevent.
    server.fail_next("late", seconds=0.2, answer="drop")
    with pytest.raises(requests.ConnectionError):
        api.create_item(board, "no key")
    assert api.create_item(board, "no key").status_code == 200
    assert server.wait_for_late(5) and names().count("no key") == 2
    stats = server.stats
    assert (stats["late_applied"], stats["late_not_applied"], stats["faults_injected"]["late"]) == (2, 1, 3)


def test_hold_fault_keeps_the_request_until_the_client_gave_up(api, server, board):
    server.fail_next("hold", seconds=0.6)
    with pytest.raises(requests.Timeout):
        api.create_item(board, "held", headers={"Idempotency-Key": "h1"}, timeout=0.2)
    assert server.board_dump(board)["items"] == []  # nothing reached monday yet, the key is not claimed
    resent = api.create_item(board, "held", headers={"Idempotency-Key": "h1"})
    assert resent.status_code == 200 and "Idempotency-Replayed" not in resent.headers
    time.sleep(0.7)  # the held copy arrives: a replay of the key, nothing applied twice
    assert [i["name"] for i in server.board_dump(board)["items"]] == ["held"]
    assert server.stats["held"] == 1 and server.stats["idempotent_replays"] == 1


def test_a_targeted_fault_through_the_control_endpoint(server, api, board):
    base = server.url.replace("/v2", "/sandbox")
    answer = requests.post(
        f"{base}/faults/next", json={"kind": "500", "count": 2, "field": "create_item"}, timeout=5
    ).json()
    assert answer == {
        "targets": [
            {"kind": "500", "remaining": 2, "field": "create_item", "on": "mutation", "seconds": None, "answer": "504"}
        ]
    }
    assert api.create_item(board, "x").status_code == 500
    assert requests.get(f"{base}/faults/next", timeout=5).json()["targets"][0]["remaining"] == 1
    assert requests.post(f"{base}/faults/next", json={"clear": True}, timeout=5).json() == {"targets": []}
    assert requests.post(f"{base}/faults/next", json={"kind": "nope"}, timeout=5).status_code == 400


def test_journal_records_every_request_received(tmp_path):
    with SandboxServer(journal=True) as server:
        api = Api(server)
        api.post("query($x: Int) { me { id } }", {"x": 1}, headers={"Idempotency-Key": "j", "API-Version": "2026-07"})
        api.post("{ nope }")
        assert server.journal == [
            {
                "query": "query($x: Int) { me { id } }",
                "variables": {"x": 1},
                "operation_name": None,
                "idempotency_key": "j",
                "api_version": "2026-07",
            },
            {
                "query": "{ nope }",
                "variables": {},
                "operation_name": None,
                "idempotency_key": None,
                "api_version": None,
            },
        ]
        assert requests.get(server.url.replace("/v2", "/sandbox/journal"), timeout=5).json() == server.journal
        server.clear_journal()
        assert server.journal == []
        api.close()
    with SandboxServer() as quiet:
        Api(quiet).post("{ me { id } }")
        assert quiet.journal == []


# --- people editing the board --------------------------------------------------------------------


def test_writes_to_items_a_person_deleted_or_archived(api, server, board, cols):
    keep, gone, shelved = (api.create_item(board, n).json()["data"]["create_item"]["id"] for n in ("k", "g", "s"))
    sub = api.data('mutation($p: ID!) { create_subitem(parent_item_id: $p, item_name: "M") { id } }', {"p": gone})[
        "create_subitem"
    ]["id"]
    server.delete_item(gone)
    server.archive_item(shelved)
    states = api.data("query($i: [ID!]) { items(ids: $i, limit: 10) { id state } }", {"i": [keep, gone, shelved, sub]})
    assert {i["id"]: i["state"] for i in states["items"]} == {
        keep: "active",
        gone: "deleted",
        shelved: "archived",
        sub: "deleted",
    }
    change = (
        "mutation($b: ID!, $i: ID, $v: JSON!) { change_multiple_column_values(board_id: $b, item_id: $i, "
        "column_values: $v) { id } }"
    )
    for query, variables in (
        (change, {"b": board, "i": gone, "v": json.dumps({cols["TOTAL QTY"]: "5"})}),
        ('mutation($i: ID) { move_item_to_group(item_id: $i, group_id: "topics") { id } }', {"i": gone}),
        ('mutation($p: ID!) { create_subitem(parent_item_id: $p, item_name: "L") { id } }', {"p": gone}),
        ("mutation($i: ID) { delete_item(item_id: $i) { id } }", {"i": gone}),
        ("mutation($i: ID) { archive_item(item_id: $i) { id } }", {"i": gone}),
    ):
        body = api.post(query, variables).json()
        assert body["data"] == {query.split("{ ")[1].split("(")[0]: None}
        error = body["errors"][0]
        assert (error["message"], error["extensions"]["code"], error["extensions"]["status_code"]) == (
            "Item not found in board",
            "ResourceNotFoundException",
            404,
        )
        assert error["extensions"]["error_data"] == {"resource_type": "item", "resource_id": gone}
    # archived: the write lands in the archive without a word, and archiving again is fine
    api.data(change, {"b": board, "i": shelved, "v": json.dumps({cols["TOTAL QTY"]: "7"})})
    api.data("mutation($i: ID) { archive_item(item_id: $i) { id } }", {"i": shelved})
    server.restore_item(shelved)
    restored = next(i for i in server.board_dump(board)["items"] if i["id"] == shelved)
    assert restored["column_values"]["TOTAL QTY"] == "7"
    with pytest.raises(ValueError):
        server.restore_item(shelved)
    with pytest.raises(KeyError):
        server.delete_item(gone)


def test_board_edits_a_person_makes(api, server, board, cols):
    first = server.add_item(
        board, "PO1 STYLE RED", {"SYNC KEY": "PO1|S|RED", cols["TOTAL QTY"]: "10", "ORDER TYPE": "RECEIVED"}
    )
    twin = server.add_item(board, "PO1 STYLE RED (copy)", {"SYNC KEY": "PO1|S|RED"}, group="Topics")
    found = api.data(
        "query($b: ID!, $c: [ItemsPageByColumnValuesQuery!]) { items_page_by_column_values("
        "board_id: $b, columns: $c, limit: 10) { items { id } } }",
        {"b": board, "c": [{"column_id": cols["SYNC KEY"], "column_values": ["PO1|S|RED"]}]},
    )
    assert [i["id"] for i in found["items_page_by_column_values"]["items"]] == [first, twin]
    server.set_value(first, "TOTAL QTY", "12")
    server.set_value(first, cols["ORDER TYPE"], None)
    server.set_value(first, "name", "RENAMED")
    sub = api.data('mutation($p: ID!) { create_subitem(parent_item_id: $p, item_name: "M") { id } }', {"p": first})[
        "create_subitem"
    ]["id"]
    server.set_value(sub, "Order Qty", 3)
    item = next(i for i in server.board_dump(board)["items"] if i["id"] == first)
    assert item["name"] == "RENAMED" and item["column_values"]["TOTAL QTY"] == "12"
    assert item["column_values"]["ORDER TYPE"] is None
    assert item["subitems"][0]["column_values"]["Order Qty"] == "3"
    server.delete_subitem(sub)
    assert next(i for i in server.board_dump(board)["items"] if i["id"] == first)["subitems"] == []
    with pytest.raises(KeyError):
        server.delete_subitem(first)
    with pytest.raises(ValueError):
        server.set_value(first, "ORDER TYPE", "NOT A LABEL")
    with pytest.raises(KeyError):
        server.add_item(board, "x", {"NO SUCH COLUMN": "1"})

    base = server.url.replace("/v2", "/sandbox")
    made = requests.post(
        f"{base}/boards/{board}/items", json={"name": "via http", "values": {"SYNC KEY": "K"}}, timeout=5
    ).json()
    assert (
        requests.post(
            f"{base}/items/{made['id']}/values", json={"column": "TOTAL QTY", "value": "4"}, timeout=5
        ).status_code
        == 200
    )
    assert requests.post(f"{base}/items/{made['id']}/archive", timeout=5).status_code == 200
    assert requests.post(f"{base}/items/{made['id']}/restore", timeout=5).status_code == 200
    assert requests.post(f"{base}/items/{made['id']}/delete", timeout=5).status_code == 200
    assert requests.post(f"{base}/items/{made['id']}/delete", timeout=5).status_code == 404
    assert requests.post(f"{base}/subitems/{first}/delete", timeout=5).status_code == 404
    assert requests.post(f"{base}/items/{first}/values", json={"column": "TOTAL QTY"}, timeout=5).status_code == 400
    assert made["id"] not in {i["id"] for i in server.board_dump(board)["items"]}


# --- error shapes, auth --------------------------------------------------------------------------


def test_legacy_error_shape(tmp_path):
    with SandboxServer(legacy_errors=True, complexity_budget=40_000, time_scale=1) as server:
        board = server.create_board("B", [{"title": "S", "type": "status", "labels": ["A"]}], [])
        api = Api(server)
        col = api.columns(board)["S"]
        body = api.create_item(board, "x", {col: {"label": "nope"}}).json()
        assert body["error_code"] == "ColumnValueException" and body["status_code"] == 200
        assert "error_message" in body and "errors" not in body and "data" not in body
        mutation = f'mutation {{ create_item(board_id: {board}, item_name: "x") {{ id }} }}'
        assert api.post(mutation).status_code == 200
        response = api.post(mutation)
        assert response.status_code == 200  # HTTP 200 with a 429 inside, as the airbyte report shows
        body = response.json()
        assert body["error_code"] == "ComplexityException" and body["status_code"] == 429
        assert re.fullmatch(
            r"Complexity budget exhausted, query cost 30001 budget remaining \d+ out of 40000 "
            r"reset in \d+ seconds",
            body["error_message"],
        )
        assert response.headers["Retry-After"]
        # aliases after a failing one are not run in the legacy mode (the old API stopped at the error)
        with SandboxServer(legacy_errors=True) as open_budget:
            board2 = open_budget.create_board("B2", [], [])
            api2 = Api(open_budget)
            body = api2.post(
                f'mutation {{ a1: create_item(board_id: {board2}, item_name: "one") {{ id }} '
                f'a2: create_item(board_id: {board2}, item_name: "") {{ id }} '
                f'a3: create_item(board_id: {board2}, item_name: "three") {{ id }} }}'
            ).json()
            assert body["error_code"] == "ItemNameTooLongException"
            assert [i["name"] for i in open_budget.board_dump(board2)["items"]] == ["one"]
            api2.close()
        server.set_faults("500=1")
        response = api.post("{ me { id } }")
        assert response.status_code == 500
        assert response.json() == {"error_message": "Internal server error", "status_code": 500}
        server.set_faults(None)
        body = api.post("{ me { nope } }").json()
        assert body["errors"][0]["message"] == "Field 'nope' doesn't exist on type 'User'"
        api.close()


def test_authorization(server):
    def call(url: str, token: str | None) -> requests.Response:
        headers = {"Authorization": token} if token is not None else {}
        return requests.post(url, json={"query": "{ me { id } }"}, headers=headers, timeout=5)

    for token in (None, "wrong", f"Bearer {TOKEN}"):
        response = call(server.url, token)
        assert response.status_code == 401
        assert response.json() == {
            "errors": [{"message": "Unauthorized", "extensions": {"code": "UNAUTHORIZED", "status_code": 401}}]
        }
        assert "RateLimit" in response.headers
    assert call(server.url, TOKEN).status_code == 200
    assert server.stats["rejected_401"] == 3
    with SandboxServer(token=None) as open_server:
        assert call(open_server.url, None).status_code == 200


# --- persistence, control endpoints, CLI ---------------------------------------------------------


def test_state_survives_a_restart(tmp_path):
    path = tmp_path / "sandbox.db"
    with SandboxServer(path) as server:
        board = server.create_board("Persisted", COLUMNS, SUBITEM_COLUMNS, board_id="9200517329")
        api = Api(server)
        cols = api.columns(board)
        group = api.data(f'mutation {{ create_group(board_id: {board}, group_name: "G") {{ id }} }}')["create_group"]
        item = api.data(
            "mutation($b: ID!, $g: String, $v: JSON) { create_item(board_id: $b, group_id: $g, "
            'item_name: "I", column_values: $v, create_labels_if_missing: true) { id } }',
            {"b": board, "g": group["id"], "v": json.dumps({cols["ORDER TYPE"]: {"label": "NEW LABEL"}})},
        )["create_item"]
        api.data(f'mutation {{ create_subitem(parent_item_id: {item["id"]}, item_name: "S") {{ id }} }}')
        before = server.board_dump(board)
        api.close()
    with SandboxServer(path) as server:
        assert server.board_dump(board) == before
        api = Api(server)
        assert api.columns(board) == cols
        new = api.create_item(board, "after restart").json()["data"]["create_item"]["id"]
        assert int(new) > int(before["items"][0]["subitems"][0]["id"])  # counters restored, no id reused
        labels = json.loads(
            api.data(f'{{ boards(ids: [{board}]) {{ columns(ids: ["status"]) {{ settings_str }} }} }}')["boards"][0][
                "columns"
            ][0]["settings_str"]
        )["labels"]
        assert "NEW LABEL" in labels.values()
        api.close()


def test_control_endpoints(server):
    base = server.url.replace("/v2", "/sandbox")
    assert requests.get(f"{base}/health", timeout=5).json()["status"] == "ok"
    created = requests.post(
        f"{base}/boards",
        json={"name": "Via HTTP", "columns": [{"title": "T", "type": "text"}], "subitem_columns": []},
        timeout=5,
    ).json()
    dump = requests.get(f"{base}/boards/{created['id']}", timeout=5).json()
    assert dump["name"] == "Via HTTP" and dump["subitems_board_id"] == created["subitems_board_id"]
    assert requests.get(f"{base}/boards/1", timeout=5).status_code == 404
    assert (
        requests.post(
            f"{base}/boards", json={"name": "x", "columns": [{"title": "T", "type": "bogus"}]}, timeout=5
        ).status_code
        == 400
    )
    assert requests.post(f"{base}/faults", json={"spec": "500=1"}, timeout=5).json() == {"spec": "500=1"}
    assert requests.post(f"{base}/faults", json={"spec": "nonsense=1"}, timeout=5).status_code == 400
    assert (
        requests.post(
            server.url, json={"query": "{ me { id } }"}, headers={"Authorization": TOKEN}, timeout=5
        ).status_code
        == 500
    )
    requests.post(f"{base}/faults", json={"spec": None}, timeout=5)
    stats = requests.get(f"{base}/stats", timeout=5).json()
    assert stats["faults_injected"] == {"500": 1} and stats["requests"] == 1


def test_cli_serves_until_terminated(tmp_path):
    state = tmp_path / "cli.db"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox",
            "--port",
            "0",
            "--state",
            str(state),
            "--time-scale",
            "60",
            "--faults",
            "500=0.01",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v2", url), (url, process.stderr.read())
        health = requests.get(url.replace("/v2", "/sandbox/health"), timeout=5)
        assert health.status_code == 200 and health.json()["url"] == url
    finally:
        process.terminate()
        _out, err = process.communicate(timeout=10)
    assert process.returncode == 0, err
    assert state.exists()


def test_state_survives_the_hosting_process_being_killed(tmp_path):
    state = tmp_path / "killed.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--state", str(state), "--token", "t"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()
        board = requests.post(
            url.replace("/v2", "/sandbox/boards"),
            timeout=5,
            json={"name": "B", "columns": [{"title": "T", "type": "text"}]},
        ).json()["id"]
        body = requests.post(
            url,
            headers={"Authorization": "t"},
            timeout=5,
            json={"query": f'mutation {{ a: create_item(board_id: {board}, item_name: "kept") {{ id }} }}'},
        ).json()
        item_id = body["data"]["a"]["id"]
    finally:
        process.kill()  # SIGKILL: no shutdown code runs
        process.communicate(timeout=10)
    with SandboxServer(state) as server:
        assert [i["id"] for i in server.board_dump(board)["items"]] == [item_id]


def test_cli_run_rejects_bad_arguments(capsys):
    from sandbox.cli import run

    assert run(["--faults", "nonsense=1"]) == 2
    assert "nonsense" in capsys.readouterr().err
    assert run(["--time-scale", "0"]) == 2
    assert run(["--port", "x"]) == 2
    assert run(["--reference-schema", "no-such-schema.graphql"]) == 2
    assert "no-such-schema.graphql" in capsys.readouterr().err


def test_the_embedded_sandbox_process_takes_a_board_owners_label_edits(tmp_path):
    """What the demo and the screenshots do to the child-process sandbox: delete a label, add it back."""
    from core.demo.setup import DEMO_BOARD_ID, create_demo_board
    from core.engine.context import SandboxProcess
    from core.foundation.exceptions import OrderSyncError

    create_demo_board(tmp_path / "sandbox.db", DEMO_BOARD_ID)
    sandbox = SandboxProcess(tmp_path / "sandbox.db", time_scale=60.0, latency=0.0)
    try:

        def order_type_labels() -> set[str]:  # as monday tells them: the column's settings_str
            query = f"{{ boards(ids: [{DEMO_BOARD_ID}]) {{ columns {{ title settings_str }} }} }}"
            answer = requests.post(
                sandbox.url, json={"query": query}, headers={"Authorization": sandbox.token}, timeout=5
            ).json()
            column = next(c for c in answer["data"]["boards"][0]["columns"] if c["title"] == "ORDER TYPE")
            return set(json.loads(column["settings_str"])["labels"].values())

        assert "RECEIVED" in order_type_labels()
        sandbox.set_label(DEMO_BOARD_ID, "ORDER TYPE", "RECEIVED", present=False)
        assert "RECEIVED" not in order_type_labels()
        with pytest.raises(OrderSyncError, match="no label"):
            sandbox.set_label(DEMO_BOARD_ID, "ORDER TYPE", "RECEIVED", present=False)
        sandbox.set_label(DEMO_BOARD_ID, "ORDER TYPE", "RECEIVED", present=True)
        assert "RECEIVED" in order_type_labels()
    finally:
        sandbox.stop()
