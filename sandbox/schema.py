"""The GraphQL schema the sandbox serves, and requests parsed and validated against it (cached).

Requests are parsed and validated by graphql-core against ``SDL``; a static failure (syntax, an
unknown field or argument, a wrong type) answers ``errors[]`` in monday's wording and runs nothing.
The request's costs are ``cost.py``, the item filters ``search.py``, the objects the resolvers answer
``views.py``, and the Query and Mutation fields ``resolvers.py``.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationType,
    build_schema,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import Lexer, Node, Source, TokenKind, print_ast
from graphql.utilities import get_operation_ast

# The subset of monday's schema that OrderSync and the sandbox's own tests use, in schema.graphql
# beside this module (written by us). Every type, field, argument, default and return type there is
# spelled as in monday's published SDL (2026-10): tests/test_contract.py compares them, so a document
# the sandbox accepts is one monday accepts.
SDL = resources.files(__package__).joinpath("schema.graphql").read_text(encoding="utf-8")

SCHEMA = build_schema(SDL)


# --- preparing a request ----------------------------------------------------------------------


@dataclass
class Prepared:
    """A parsed and validated request, cached by its text."""

    document: Any = None
    operation: Any = None
    is_mutation: bool = False
    mutation_fields: int = 0
    errors: list[dict] = field(default_factory=list)
    root_fields: frozenset = frozenset()  # the root field names (what targeted faults match)


_TOKEN_NAMES = {
    TokenKind.BRACE_L: "LCURLY",
    TokenKind.BRACE_R: "RCURLY",
    TokenKind.PAREN_L: "LPAREN",
    TokenKind.PAREN_R: "RPAREN",
    TokenKind.BRACKET_L: "LBRACKET",
    TokenKind.BRACKET_R: "RBRACKET",
    TokenKind.COLON: "COLON",
    TokenKind.NAME: "IDENTIFIER",
    TokenKind.STRING: "STRING",
    TokenKind.BLOCK_STRING: "STRING",
    TokenKind.INT: "INT",
    TokenKind.FLOAT: "FLOAT",
    TokenKind.DOLLAR: "VAR_SIGN",
    TokenKind.EQUALS: "EQUALS",
    TokenKind.BANG: "BANG",
    TokenKind.SPREAD: "ELLIPSIS",
    TokenKind.AT: "DIR_SIGN",
    TokenKind.PIPE: "PIPE",
    TokenKind.AMP: "AMP",
}


def _parse_error(query: str, error: GraphQLError) -> dict:
    """graphql-core's syntax error in graphql-ruby's words: ``Parse error on "}" (RCURLY) at [1, 10]``."""
    line, column = (error.locations[0].line, error.locations[0].column) if error.locations else (1, 1)
    position = next(iter(error.positions or ()), 0)
    token = None
    try:
        lexer = Lexer(Source(query))
        token = lexer.advance()
        while token.kind != TokenKind.EOF and token.start < position:
            token = lexer.advance()
    except GraphQLError:
        token = None
    if token is not None and token.kind == TokenKind.EOF:
        what = "end of file (EOF)"
    elif token is not None and token.start == position:
        shown = token.value if token.value is not None else token.kind.value
        what = f'"{shown}" ({_TOKEN_NAMES.get(token.kind, "TOKEN")})'
    else:
        what = f'"{query[position : position + 1]}" (UNKNOWN_CHAR)'
    return {
        "message": f"Parse error on {what} at [{line}, {column}]",
        "locations": [{"line": line, "column": column}],
        "extensions": {"code": "ParseError", "status_code": 200, "error_data": {"detail": error.message}},
    }


_VALIDATION_RULES: list[tuple[re.Pattern, Callable[[re.Match], tuple[str, str]]]] = [
    (
        re.compile(r"""Cannot query field ['"](\w+)['"] on type ['"](\w+)['"]\."""),
        lambda m: (f"Field '{m[1]}' doesn't exist on type '{m[2]}'", "undefinedField"),
    ),
    (
        re.compile(r"""Unknown argument ['"](\w+)['"] on field ['"](\w+)\.(\w+)['"]\."""),
        lambda m: (f"Field '{m[3]}' doesn't accept argument '{m[1]}'", "argumentNotAccepted"),
    ),
    (
        re.compile(r"""Field ['"](\w+)['"] argument ['"](\w+)['"] of type ['"](.+?)['"] is required"""),
        lambda m: (f"Field '{m[1]}' is missing required arguments: {m[2]}", "missingRequiredArguments"),
    ),
    (
        re.compile(r"""Argument ['"]\w+\.(\w+)\((\w+):\)['"] of type ['"](.+?)['"] is required"""),  # graphql-core 3.3
        lambda m: (f"Field '{m[1]}' is missing required arguments: {m[2]}", "missingRequiredArguments"),
    ),
    (
        re.compile(r"""Field ['"](\w+)['"] of type ['"](.+?)['"] must have a selection of subfields"""),
        lambda m: (
            (
                f"Field must have selections (field '{m[1]}' returns {m[2].strip('![]')} but has no selections. "
                f"Did you mean '{m[1]} {{ ... }}'?)"
            ),
            "selectionMismatch",
        ),
    ),
    (
        re.compile(r"""Field ['"](\w+)['"] must not have a selection since type ['"](.+?)['"] has no subfields"""),
        lambda m: (
            (f"Selections can't be made on scalars (field '{m[1]}' returns {m[2].strip('![]')} but has selections)"),
            "selectionMismatch",
        ),
    ),
    (
        re.compile(r"""Variable ['"]\$(\w+)['"] of type ['"](.+?)['"] used in position expecting type ['"](.+?)['"]"""),
        lambda m: (
            (
                f"{'Nullability' if m[2].replace('!', '') == m[3].replace('!', '') else 'Type'} mismatch on "
                f"variable ${m[1]} ({m[2]} / {m[3]})"
            ),
            "variableMismatch",
        ),
    ),
    (
        re.compile(r"""Variable ['"]\$(\w+)['"] is never used"""),
        lambda m: (f"Variable ${m[1]} is declared by anonymous query but not used", "variableNotUsed"),
    ),
    (
        re.compile(r"""Variable ['"]\$(\w+)['"] is not defined"""),
        lambda m: (f"Variable ${m[1]} is used by anonymous query but not declared", "variableNotDefined"),
    ),
    (re.compile(r"""Unknown type ['"](\w+)['"]"""), lambda m: (f"{m[1]} isn't a defined input type", "undefinedType")),
]

_VARIABLE_PROBLEM = re.compile(r"""Variable ['"]\$(\w+)['"] has invalid value(?: at (\S+))?: (.*)$""", re.DOTALL)


def variable_errors(schema, operation, variables: dict) -> list[dict]:
    """The request's variables coerced to the operation's declarations; the failures in graphql-ruby's
    words (monday's server): ``Variable $limit of type Int! was provided invalid value``, with the
    value and the problem in ``error_data``. Nothing runs when there is one."""
    definitions = operation.variable_definitions or ()
    result = get_variable_values(schema, definitions, variables or {})
    if not isinstance(result, list):
        return []
    types = {d.variable.name.value: print_ast(d.type) for d in definitions}
    out = []
    for error in result:
        match = _VARIABLE_PROBLEM.match(error.message)
        name = match[1] if match else None
        message = (
            f"Variable ${name} of type {types.get(name, '?')} was provided invalid value" if name else error.message
        )
        problem = {
            "path": [match[2]] if match and match[2] else [],
            "explanation": match[3] if match else error.message,
        }
        entry: dict[str, Any] = {"message": message}
        if error.locations:
            entry["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
        entry["extensions"] = {
            "code": VARIABLE_CODE,
            "status_code": 200,
            "error_data": {"value": (variables or {}).get(name), "problems": [problem]},
        }
        out.append(entry)
    return out


#: The code of a variable value that does not coerce. graphql-ruby answers these without a code;
#: monday's current format always carries one, and it is not documented: the sandbox keeps the code it
#: has always used for them, and the client classifies these by code or by message.
VARIABLE_CODE = "argumentLiteralsIncompatible"


def _validation_error(error: GraphQLError) -> dict:
    message, code = error.message, "validationError"
    for pattern, render in _VALIDATION_RULES:
        match = pattern.search(error.message)
        if match:
            message, code = render(match)
            break
    out: dict[str, Any] = {"message": message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": code, "status_code": 200, "error_data": {}}
    return out


class Preparer:
    """Parses and validates request texts, with an LRU cache (clients repeat their query texts)."""

    def __init__(self, size: int = 512) -> None:
        self._cache: OrderedDict[tuple[str, str | None], Prepared] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def prepare(self, query: str, operation_name: str | None) -> Prepared:
        key = (query, operation_name)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        prepared = self._prepare(query, operation_name)
        with self._lock:
            self._cache[key] = prepared
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return prepared

    @staticmethod
    def _prepare(query: str, operation_name: str | None) -> Prepared:
        try:
            document = parse(query)
        except GraphQLError as exc:
            return Prepared(errors=[_parse_error(query, exc)])
        errors = validate(SCHEMA, document)
        if errors:
            return Prepared(errors=[_validation_error(e) for e in errors])
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f"Unknown operation named '{operation_name}'"
                if operation_name
                else "An operation name is required when the request holds several operations"
            )
            return Prepared(
                errors=[
                    {
                        "message": message,
                        "extensions": {"code": "validationError", "status_code": 200, "error_data": {}},
                    }
                ]
            )
        is_mutation = operation.operation == OperationType.MUTATION
        names = _root_field_names(document, operation.selection_set)
        count = sum(1 for name in names if name not in ("complexity", "__typename")) if is_mutation else 0
        _drop_tokens(document)
        return Prepared(document, operation, is_mutation, count, root_fields=frozenset(names))


def _drop_tokens(document: Node) -> None:
    """A cached document keeps its locations (errors still say where) but not the parser's tokens.

    The tokens link to each other both ways: a few hundred objects per request text, kept as long as
    the text is cached, that every full garbage collection of the process hosting the sandbox (the
    demo's window) has to walk. Only the parser reads them.
    """
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, Node):
            if node.loc is not None:
                node.loc.start_token = node.loc.end_token = None  # type: ignore[assignment]
            stack.extend(getattr(node, key) for key in node.keys if key != "loc")
        elif isinstance(node, (list, tuple)):
            stack.extend(node)


def _fragments(document) -> dict:
    return {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}


def _root_field_names(document, selection_set) -> list[str]:
    fragments = _fragments(document)
    out: list[str] = []

    def walk(sel_set, seen: frozenset) -> None:
        for sel in sel_set.selections:
            if isinstance(sel, FieldNode):
                out.append(sel.name.value)
            elif isinstance(sel, InlineFragmentNode):
                walk(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                walk(fragments[sel.name.value].selection_set, seen | {sel.name.value})

    walk(selection_set, frozenset())
    return out
