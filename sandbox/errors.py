"""monday-style application errors raised inside the sandbox's resolvers.

An application error travels as a ``GraphQLError`` whose ``extensions`` hold monday's ``code``,
``status_code`` and ``error_data``; graphql-core then places it in ``errors[]`` with the ``path`` of
the field that failed and sets that field to ``null``, which is exactly monday's partial-success
shape for aliased mutations.
"""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError


class MondayError(GraphQLError):
    """An application error in monday's current (2025-01+) shape."""

    def __init__(
        self, code: str, message: str, *, status_code: int = 200, error_data: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.status_code = status_code
        self.error_data = dict(error_data or {})
        super().__init__(message, extensions={"code": code, "status_code": status_code, "error_data": self.error_data})


def column_value_error(message: str, **data: Any) -> MondayError:
    return MondayError("ColumnValueException", message, error_data=data)


def invalid_argument(message: str, **data: Any) -> MondayError:
    return MondayError("InvalidArgumentException", message, error_data=data)


def not_found(resource: str, resource_id: Any, message: str | None = None) -> MondayError:
    return MondayError(
        "ResourceNotFoundException",
        message or f"{resource.capitalize()} with id {resource_id} not found",
        status_code=404,
        error_data={"resource_type": resource, "resource_id": str(resource_id)},
    )


def invalid_board(board_id: Any) -> MondayError:
    return MondayError("InvalidBoardIdException", "Board not found", error_data={"board_id": str(board_id)})


def invalid_column(column_id: Any, board_id: str) -> MondayError:
    return MondayError(
        "InvalidColumnIdException",
        "This column ID doesn't exist for the board",
        error_data={"column_id": str(column_id), "board_id": board_id},
    )
