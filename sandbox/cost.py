"""What a request costs, by the community-documented field weights.

1 per scalar, 10 per object, 30,000 (the server's ``mutation_cost``) per mutation field, 100,000 for
``items_page_by_column_values``; list fields are priced at their potential size (``limit``, the number
of ``ids``), and everything below ``subitems`` costs 1,000 times as much. A request over
``MAX_QUERY_COMPLEXITY`` is refused.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    InlineFragmentNode,
    get_named_type,
    is_leaf_type,
)
from graphql.language import VariableNode
from graphql.utilities import value_from_ast_untyped

from .schema import SCHEMA, Prepared, _fragments

MAX_QUERY_COMPLEXITY = 5_000_000
ITEMS_BY_COLUMN_VALUES_COST = 100_000
SUBITEMS_FACTOR = 1000


def _arg(node: FieldNode, name: str, variables: dict, default: Any = None) -> Any:
    for arg in node.arguments or ():
        if arg.name.value == name:
            if isinstance(arg.value, VariableNode):
                return variables.get(arg.value.name.value, default)
            return value_from_ast_untyped(arg.value, variables)
    return default


def _int(value: Any, default: int) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return default


def _fields_type(name: str) -> GraphQLObjectType | GraphQLInterfaceType:
    """The type a fragment applies to (validation has made sure it exists; the schema has no unions)."""
    named = SCHEMA.get_type(name)
    assert isinstance(named, (GraphQLObjectType, GraphQLInterfaceType)), name
    return named


def request_cost(prepared: Prepared, variables: dict, mutation_cost: int) -> tuple[int, dict[str, int]]:
    """(total cost, cost per root response key) of a prepared request."""
    document = prepared.document
    fragments = _fragments(document)
    root_type = SCHEMA.mutation_type if prepared.is_mutation else SCHEMA.query_type
    assert root_type is not None

    def selections(
        sel_set, parent: GraphQLObjectType | GraphQLInterfaceType, hint: int, factor: int, per_key: dict | None
    ) -> int:
        total = 0
        for sel in sel_set.selections:
            if isinstance(sel, InlineFragmentNode):
                inner = _fields_type(sel.type_condition.name.value) if sel.type_condition else parent
                total += selections(sel.selection_set, inner, hint, factor, per_key)
                continue
            if isinstance(sel, FragmentSpreadNode):
                frag = fragments[sel.name.value]
                total += selections(
                    frag.selection_set, _fields_type(frag.type_condition.name.value), hint, factor, per_key
                )
                continue
            name = sel.name.value
            if name.startswith("__"):
                continue
            definition = parent.fields.get(name)
            if definition is None:
                continue
            named = get_named_type(definition.type)
            if is_leaf_type(named):
                cost = factor
            else:
                own, child_hint, mult, child_factor = 10, hint, 1, factor
                if parent is root_type and prepared.is_mutation and name != "complexity":
                    own = mutation_cost
                if name in ("items_page", "next_items_page", "items_page_by_column_values"):
                    child_hint = _int(_arg(sel, "limit", variables, 25), 25)
                    if name == "items_page_by_column_values":
                        own = ITEMS_BY_COLUMN_VALUES_COST
                elif name in ("boards", "items") and parent is root_type:
                    ids = _arg(sel, "ids", variables)
                    mult = len(ids) if isinstance(ids, list) and ids else _int(_arg(sel, "limit", variables, 25), 25)
                elif name == "items" and parent.name == "ItemsResponse":
                    mult = hint
                elif name == "subitems":
                    child_factor = factor * SUBITEMS_FACTOR
                cost = own * factor + mult * selections(sel.selection_set, named, child_hint, child_factor, None)
            total += cost
            if per_key is not None:
                key = sel.alias.value if sel.alias else name
                per_key[key] = per_key.get(key, 0) + cost
        return total

    per_key: dict[str, int] = {}
    total = selections(prepared.operation.selection_set, root_type, 25, 1, per_key)
    return total, per_key
