"""monday's published schema is the contract: every document the client sends validates against it,
and the sandbox's SDL agrees with it for everything OrderSync uses.

The schema is read from ``../shared/reference/monday-schema/2026-10.graphql`` (never copied here; see
tests/conftest.py for the override and for what happens when it is missing).

The recording test drives OrderSync's real code paths (BatchProcessor over real HTTP against the
sandbox, a real SQLite database, real mapping files) and takes every request from the sandbox's
journal: board metadata, groups, item and subitem creates, updates (changed columns and the name),
moves between groups, removals under each removal policy, reconciliation after unknown outcomes
(``find_items`` over several pages, subitem lookups), ``item_states``, and retried requests. Each
distinct document, with the variables it was sent with, is validated with graphql-core against
monday's schema: ``graphql.validate`` plus variable coercion (``get_variable_values``).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    TypeInfo,
    TypeInfoVisitor,
    Visitor,
    build_schema,
    get_named_type,
    parse,
    print_ast,
    validate,
    visit,
)
from graphql.execution.values import get_variable_values
from graphql.utilities import get_operation_ast

from core.db.engine import create_engine
from core.engine.context import EngineContext
from core.foundation.config import parse_settings
from core.foundation.resources import resource_path
from core.monday.client import MUTATION_ARGS
from core.push.run import BatchProcessor
from core.source.mapping import load_mapping
from core.staging.operations import StagingOperations
from sandbox import schema as sandbox_schema
from tests.helpers import BOARD, empty_orders, monday_client, order_row, require_monday_sdl, start_sandbox

CUSTOMER = "MACK WELDON"

# What the client's documents must have covered (the recorded set is checked against this list).
ROOT_FIELDS = {
    "boards",
    "items",
    "items_page_by_column_values",
    "next_items_page",
    "me",
    "complexity",
    "bulk_archive_items",
    "job_status",
    *MUTATION_ARGS,
}


# --- validating a document against monday's schema -------------------------------------------------


def monday_refuses(schema: GraphQLSchema, query: str, variables: dict) -> list[str]:
    """What monday's schema says against a document and its variables ([] when it accepts them)."""
    document = parse(query)
    errors = [error.message for error in validate(schema, document)]
    if errors:
        return errors
    operation = get_operation_ast(document)
    coerced = get_variable_values(schema, operation.variable_definitions or (), variables or {})
    return [error.message for error in coerced] if isinstance(coerced, list) else []


@pytest.fixture(scope="module")
def real_schema(monday_schema_everywhere) -> GraphQLSchema:
    return build_schema(require_monday_sdl().read_text(encoding="utf-8"))


def test_the_validator_refuses_what_monday_refuses(monday_sdl, real_schema):
    # The document the issue found: Item.column_values(ids:) takes [String!], not [String].
    old_find_items = (
        "query ($board: ID!, $columns: [ItemsPageByColumnValuesQuery!], $limit: Int, $ids: [String]) { "
        "items_page_by_column_values(board_id: $board, columns: $columns, limit: $limit) { cursor "
        "items { id column_values(ids: $ids) { id text } } } }"
    )
    variables = {
        "board": BOARD,
        "columns": [{"column_id": "text", "column_values": ["a"]}],
        "limit": 500,
        "ids": ["text"],
    }
    assert any("[String!]" in message for message in monday_refuses(real_schema, old_find_items, variables))
    # a variable that does not coerce is refused too
    assert monday_refuses(real_schema, "query ($l: Int!) { items(ids: [1], limit: $l) { id } }", {"l": "many"})
    assert monday_refuses(real_schema, "query ($l: Int!) { items(ids: [1], limit: $l) { id } }", {"l": 5}) == []


# --- the recording: OrderSync's real code paths against the sandbox ---------------------------------


def _mapping_file(folder: Path, policy: str) -> Path:
    """The default mapping with an item name that is not all key (so a name can change), and ``policy``."""
    text = resource_path("default_mapping.toml").read_text(encoding="utf-8")
    text = text.replace(
        'name = "{CUSTOMER STYLE} {CUSTOMER COLOUR DESCRIPTION} {AAG ORDER NUMBER}"',
        'name = "{CUSTOMER STYLE} {CUSTOMER COLOUR DESCRIPTION} {AAG ORDER NUMBER} PO {PO NUMBER}"',
    )
    text = text.replace('policy = "mark"', f'policy = "{policy}"')
    assert f'policy = "{policy}"' in text and "PO {PO NUMBER}" in text
    path = folder / f"mapping-{policy}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _context(engine: sa.Engine, folder: Path, policy: str) -> EngineContext:
    settings = parse_settings({"monday": {"board_id": BOARD}})
    mapping = load_mapping(_mapping_file(folder, policy))
    assert mapping.removal_policy == policy
    return EngineContext(settings, engine, mapping, StagingOperations(engine))


def _orders(engine: sa.Engine) -> sa.Table:
    return sa.Table("ORDERS_UNIFIED", sa.MetaData(), autoload_with=engine)


def _update(engine: sa.Engine, order: str, **values) -> None:
    table = _orders(engine)
    with engine.begin() as conn:
        conn.execute(sa.update(table).where(table.c["AAG ORDER NUMBER"] == order).values(values))


def _delete(engine: sa.Engine, order: str) -> None:
    table = _orders(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(table).where(table.c["AAG ORDER NUMBER"] == order))


def _run(ctx: EngineContext, client, expect=("COMPLETED",)) -> None:
    results = BatchProcessor(ctx, client).run([CUSTOMER])
    assert all(r.status in (*expect, "NO_CHANGES") for r in results), [(r.status, r.message) for r in results]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory, monday_schema_everywhere) -> list[dict]:
    """Every request the client sent across its code paths, as the sandbox received it."""
    require_monday_sdl()  # the sandbox judges them by monday's schema too
    folder = tmp_path_factory.mktemp("contract")
    engine = create_engine(f"sqlite:///{(folder / 'orders.db').as_posix()}")
    server = start_sandbox(folder / "sandbox.db", journal=True)
    client = monday_client(server, max_batch=10, page_limit=2, timeout=(5.0, 10.0))
    try:
        table = empty_orders(engine)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    order_row(
                        table,
                        **{"AAG ORDER NUMBER": f"MWE-{n:05d}", "PO NUMBER": str(4700 + n), "CUSTOMER SEASON": "FW25"},
                    )
                    for n in range(1, 13)
                ],
            )
        mark = _context(engine, folder, "mark")

        # creates: board metadata, a group, items, subitems
        _run(mark, client)
        created = [item["id"] for item in server.board_dump(BOARD)["items"]]
        # updates: changed columns and the name; a changed size; a move to another (new) group
        _update(engine, "MWE-00001", **{"PO NUMBER": "9901", "CUSTOMER PRICE": "30.00"})
        _update(engine, "MWE-00002", **{"M": 30, "TOTAL QTY": 66})
        _update(engine, "MWE-00003", **{"CUSTOMER SEASON": "SS26"})
        _run(mark, client)
        # removals under each policy: a line gone from the source, a size dropped to zero
        for n, policy in enumerate(("mark", "report", "archive", "delete"), start=4):
            _delete(engine, f"MWE-{n:05d}")
            _update(engine, f"MWE-{n + 4:05d}", **{"S": 0, "TOTAL QTY": 48})
            _run(_context(engine, folder, policy), client, expect=("COMPLETED", "COMPLETED_WITH_ERRORS"))

        # reconciliation: a request whose outcome is unknown is looked up on the board before anything
        # is sent again (find_items over pages of 2, subitems by parent)
        with engine.begin() as conn:
            conn.execute(
                table.insert(),
                [
                    order_row(
                        table,
                        **{"AAG ORDER NUMBER": f"MWE-{n:05d}", "PO NUMBER": str(4700 + n), "CUSTOMER SEASON": "FW25"},
                    )
                    for n in range(20, 27)
                ],
            )
        server.fail_next("drop", field="create_item")
        server.fail_next("after500", field="create_subitem")
        _run(mark, client)
        assert server.stats["faults_injected"] == {"drop": 1, "after500": 1}

        # retries: a read refused by a 500, a mutation refused by a lock (certainly not applied)
        server.fail_next("500", on="query")
        client.board(BOARD)
        server.fail_next("locked")
        _update(engine, "MWE-00010", **{"CUSTOMER PRICE": "31.00"})
        _run(mark, client)
        assert client.stats.retries >= 2

        # five lines gone at once under "archive": one bulk_archive_items, its job polled, the states read
        for n in range(20, 25):
            _delete(engine, f"MWE-{n:05d}")
        _run(_context(engine, folder, "archive"), client)
        assert any("bulk_archive_items(" in request["query"] for request in server.journal)

        # the lookups the orchestrator builds on, over more ids than one page or one query holds
        ids = [item["id"] for item in server.board_dump(BOARD)["items"]]
        key_column = client.board(BOARD).resolve(mark.mapping.columns)["SYNC KEY"].id
        keys = [item["column_values"]["SYNC KEY"] for item in server.board_dump(BOARD)["items"]]
        assert len(client.find_items(BOARD, key_column, keys + [f"NOT ON THE BOARD {n}" for n in range(100)])) == len(
            set(keys)
        )
        many = (ids * 10)[:130]
        assert len(client.subitems_of(many)) == len(ids)
        states = client.item_states(created + many + ["1"])
        assert set(states.values()) == {"active", "archived", "deleted"} and "1" not in states
        client.me()
        assert client.board_name(BOARD) == "Customer Master Schedule"  # the window's title
        return server.journal
    finally:
        client.close()
        server.stop()
        engine.dispose()


def test_every_document_the_client_sends_is_valid_for_monday(recorded, real_schema, monday_sdl, capsys):
    documents: dict[str, list[dict]] = {}
    for request in recorded:
        documents.setdefault(request["query"], []).append(request["variables"])
    pairs = {(query, json.dumps(variables, sort_keys=True)) for query, sent in documents.items() for variables in sent}
    refused = {}
    for query, variables in pairs:
        problems = monday_refuses(real_schema, query, json.loads(variables))
        if problems:
            refused.setdefault(query, problems)
    assert not refused, json.dumps(refused, indent=2)
    # every code path's documents were recorded, and they pinned the current API version
    fields = Counter(name for query in documents for name in _root_fields(query))
    assert ROOT_FIELDS <= set(fields), ROOT_FIELDS - set(fields)
    assert {request["api_version"] for request in recorded} == {"2026-07"}
    with capsys.disabled():
        print(
            f"\n{len(documents)} distinct documents ({len(pairs)} distinct document + variables pairs, "
            f"{len(recorded)} requests) validated against {monday_sdl.name}"
        )


def _root_fields(query: str) -> list[str]:
    operation = get_operation_ast(parse(query))
    return [selection.name.value for selection in operation.selection_set.selections]


# --- the sandbox's SDL against monday's -------------------------------------------------------------


def _default(argument) -> str | None:
    node = getattr(argument, "ast_node", None)
    if node is not None and node.default_value is not None:
        return print_ast(node.default_value)
    return None


def used_by(documents: list[str], schema: GraphQLSchema) -> dict[str, set]:
    """The types, fields and arguments the documents use: {"fields": {(type, field)}, "arguments":
    {(type, field, argument)}, "inputs": {input or enum type names}}."""
    used: dict[str, set] = {"fields": set(), "arguments": set(), "inputs": set()}

    class Collect(Visitor):
        def __init__(self, info: TypeInfo) -> None:
            super().__init__()
            self.info = info

        def enter_field(self, node, *_):
            parent = self.info.get_parent_type()
            if parent is not None and not node.name.value.startswith("__"):
                used["fields"].add((parent.name, node.name.value))
                for argument in node.arguments or ():
                    used["arguments"].add((parent.name, node.name.value, argument.name.value))

        def enter_variable_definition(self, node, *_):
            used["inputs"].add(_named(node.type))

    for query in documents:
        info = TypeInfo(schema)
        visit(parse(query), TypeInfoVisitor(info, Collect(info)))
    # input types reach their fields' types
    pending = list(used["inputs"])
    while pending:
        named = schema.get_type(pending.pop())
        if isinstance(named, GraphQLInputObjectType):
            for field in named.fields.values():
                inner = get_named_type(field.type).name
                if inner not in used["inputs"]:
                    used["inputs"].add(inner)
                    pending.append(inner)
    return used


def _named(type_node) -> str:
    while not hasattr(type_node, "name") or type_node.name is None:
        type_node = type_node.type
    return type_node.name.value


def sdl_differences(ours: GraphQLSchema, real: GraphQLSchema, used: dict[str, set] | None = None) -> list[str]:
    """Where ``ours`` does not spell a type, field, argument, default or return type as ``real`` does.

    Everything ``ours`` defines is compared (it must be a faithful subset of monday's schema); with
    ``used``, every field and argument used must also exist in both, and a field used must take every
    argument ``real`` requires.
    """
    problems: list[str] = []
    for name, ours_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        real_type = real.type_map.get(name)
        if real_type is None:
            problems.append(f"type {name}: not in monday's schema")
            continue
        if type(real_type) is not type(ours_type):
            problems.append(f"type {name}: a {type(ours_type).__name__}, monday's is a {type(real_type).__name__}")
            continue
        if isinstance(ours_type, GraphQLEnumType):
            extra = sorted(set(ours_type.values) - set(real_type.values))
            if extra:
                problems.append(f"enum {name}: values {extra} are not monday's")
        elif isinstance(ours_type, (GraphQLObjectType, GraphQLInterfaceType)):
            if {i.name for i in ours_type.interfaces} - {i.name for i in real_type.interfaces}:
                problems.append(f"type {name}: implements what monday's does not")
            for field_name, field in ours_type.fields.items():
                problems += _field_differences(name, field_name, field, real_type.fields.get(field_name))
        elif isinstance(ours_type, GraphQLInputObjectType):
            for field_name in sorted(set(ours_type.fields) | set(real_type.fields)):
                mine, theirs = ours_type.fields.get(field_name), real_type.fields.get(field_name)
                if mine is None:
                    if str(theirs.type).endswith("!") and _default(theirs) is None:
                        problems.append(f"input {name}.{field_name}: required by monday, missing here")
                elif theirs is None:
                    problems.append(f"input {name}.{field_name}: not in monday's schema")
                elif (str(mine.type), _default(mine)) != (str(theirs.type), _default(theirs)):
                    problems.append(
                        f"input {name}.{field_name}: {mine.type} = {_default(mine)} here, "
                        f"{theirs.type} = {_default(theirs)} in monday's"
                    )
    for type_name, field_name in sorted((used or {}).get("fields", ())):
        for schema, whose in ((ours, "the sandbox's"), (real, "monday's")):
            owner = schema.get_type(type_name)
            if owner is None or field_name not in getattr(owner, "fields", {}):
                problems.append(f"{type_name}.{field_name}: used, not in {whose} schema")
        real_owner = real.get_type(type_name)
        ours_owner = ours.get_type(type_name)
        if (
            real_owner is not None
            and ours_owner is not None
            and field_name in real_owner.fields
            and field_name in ours_owner.fields
        ):
            for argument, definition in real_owner.fields[field_name].args.items():
                if (
                    str(definition.type).endswith("!")
                    and _default(definition) is None
                    and argument not in ours_owner.fields[field_name].args
                ):
                    problems.append(f"{type_name}.{field_name}({argument}:): required by monday, missing here")
    for type_name, field_name, argument in sorted((used or {}).get("arguments", ())):
        for schema, whose in ((ours, "the sandbox's"), (real, "monday's")):
            owner = schema.get_type(type_name)
            field = getattr(owner, "fields", {}).get(field_name) if owner is not None else None
            if field is None or argument not in field.args:
                problems.append(f"{type_name}.{field_name}({argument}:): used, not in {whose} schema")
    for type_name in sorted((used or {}).get("inputs", ())):
        if ours.get_type(type_name) is None or real.get_type(type_name) is None:
            problems.append(f"type {type_name}: used, missing in one of the schemas")
    return problems


def _field_differences(type_name: str, field_name: str, field, real_field) -> list[str]:
    where = f"{type_name}.{field_name}"
    if real_field is None:
        return [f"{where}: not in monday's schema"]
    problems = []
    if str(field.type) != str(real_field.type):
        problems.append(f"{where}: returns {field.type} here, {real_field.type} in monday's")
    if bool(field.deprecation_reason) != bool(real_field.deprecation_reason):
        problems.append(f"{where}: deprecated in one schema only")
    for name, argument in field.args.items():
        theirs = real_field.args.get(name)
        if theirs is None:
            problems.append(f"{where}({name}:): not in monday's schema")
        elif (str(argument.type), _default(argument)) != (str(theirs.type), _default(theirs)):
            problems.append(
                f"{where}({name}:): {argument.type} = {_default(argument)} here, "
                f"{theirs.type} = {_default(theirs)} in monday's"
            )
    for name, theirs in real_field.args.items():
        if name not in field.args and str(theirs.type).endswith("!") and _default(theirs) is None:
            problems.append(f"{where}({name}:): required by monday, missing here")
    return problems


def test_the_sandbox_sdl_agrees_with_mondays_for_everything_used(recorded, real_schema):
    used = used_by(sorted({request["query"] for request in recorded}), sandbox_schema.SCHEMA)
    assert {
        ("Query", "items_page_by_column_values"),
        ("Item", "column_values"),
        ("Column", "settings"),
        ("Item", "state"),
        ("Mutation", "move_item_to_group"),
    } <= used["fields"]
    assert ("Query", "items", "limit") in used["arguments"] and "ItemsPageByColumnValuesQuery" in used["inputs"]
    assert sdl_differences(sandbox_schema.SCHEMA, real_schema, used) == []


def test_the_comparison_fails_on_a_mismatch(recorded, real_schema, monday_sdl):
    used = used_by(sorted({request["query"] for request in recorded}), sandbox_schema.SCHEMA)
    # the sandbox as it was: column_values(ids: [String]), settings_str only
    altered = sandbox_schema.SDL.replace("column_values(ids: [String!]", "column_values(ids: [String]")
    altered = altered.replace("  settings: JSON\n", "")
    assert altered != sandbox_schema.SDL
    problems = sdl_differences(build_schema(altered), real_schema, used)
    assert "Item.column_values(ids:): [String] = None here, [String!] = None in monday's" in problems
    assert "Column.settings: used, not in the sandbox's schema" in problems
    # monday's schema changing under us: a default dropped, a return type changed (an altered copy in memory)
    text = monday_sdl.read_text(encoding="utf-8")
    start = text.index("next_items_page(")
    changed = text[:start] + text[start:].replace("limit: Int! = 25", "limit: Int!", 1)
    changed = changed.replace("bulk_archive_items(", "bulk_archive_items_gone(")
    problems = sdl_differences(sandbox_schema.SCHEMA, build_schema(changed), used)
    assert "Query.next_items_page(limit:): Int! = 25 here, Int! = None in monday's" in problems
    assert "Mutation.bulk_archive_items: not in monday's schema" in problems


def test_the_sandbox_refuses_what_the_reference_schema_refuses(tmp_path, monday_sdl):
    """A reference that differs from the sandbox's own SDL: what it refuses, the sandbox refuses."""
    import requests

    from sandbox import SandboxServer

    text = monday_sdl.read_text(encoding="utf-8")
    altered = tmp_path / "altered.graphql"  # in the test's temporary folder, never in the repository
    altered.write_text(text.replace("\n  me: User", "\n  me_gone: User", 1), encoding="utf-8")
    assert "me_gone: User" in altered.read_text(encoding="utf-8")
    with SandboxServer(reference_schema=altered, token=None) as server:
        answer = requests.post(server.url, json={"query": "{ me { id } }"}, timeout=30).json()
        assert answer["errors"][0]["message"] == "Field 'me' doesn't exist on type 'Query'"
        assert answer["errors"][0]["extensions"]["code"] == "undefinedField"
        assert answer["errors"][0]["extensions"]["error_data"]["reference_schema"] == "altered.graphql"
        assert "data" not in answer and server.stats["reference_refusals"] == 1
        assert requests.post(server.url, json={"query": "{ complexity { query } }"}, timeout=30).status_code == 200
    with SandboxServer(reference_schema=False, token=None) as unjudged:
        assert "data" in requests.post(unjudged.url, json={"query": "{ me { id } }"}, timeout=30).json()
    with pytest.raises(FileNotFoundError, match="missing.graphql"):
        SandboxServer(reference_schema=tmp_path / "missing.graphql")


def test_a_sandbox_in_a_child_process_takes_the_reference_from_the_environment(tmp_path, monday_sdl):
    """What the app's child-process sandbox does: ORDERSYNC_MONDAY_SDL reaches it (here an altered copy)."""
    import os
    import subprocess
    import sys

    import requests

    from sandbox.reference import ENV

    altered = tmp_path / "altered.graphql"
    altered.write_text(
        monday_sdl.read_text(encoding="utf-8").replace("\n  me: User", "\n  me_gone: User", 1), encoding="utf-8"
    )
    root = Path(__file__).resolve().parent.parent
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--token", ""],
        cwd=root,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, ENV: str(altered)},
    )
    try:
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), process.stderr.read()
        answer = requests.post(url, json={"query": "{ me { id } }"}, timeout=30).json()
        assert answer["errors"][0]["extensions"]["code"] == "undefinedField"
        stats = requests.get(url.replace("/v2", "/sandbox/stats"), timeout=5).json()
        assert stats["reference_refusals"] == 1
    finally:
        process.terminate()
        process.communicate(timeout=10)
