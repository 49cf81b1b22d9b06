"""Small database helpers shared by the services that write under a lock."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

Statement = tuple[str, Sequence[Any]]


def execute_together(cursor: Any, statements: Sequence[Statement]) -> None:
    """Run statements in one round trip on PostgreSQL, one after the other on SQLite.

    For the few statements written while a lock every registration waits for is held (benchmark B6):
    each round trip there delays every other registration of the organisation. PostgreSQL takes several
    statements in one message with Django's default client-side parameter binding; SQLite runs in the
    process and has no round trip to save. Afterwards, on both, the cursor holds the last statement's rows.
    """
    if connection.vendor == "postgresql" and len(statements) > 1:
        cursor.execute(
            ";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params]
        )
        for _ in statements[1:]:
            cursor.nextset()
    else:
        for sql, params in statements:
            cursor.execute(sql, params)


def fetch_together(
    cursor: Any, statements: Sequence[Statement], returns: Sequence[bool] | None = None
) -> list[Any]:
    """Like :func:`execute_together`, and gives the first row of each statement that returns rows
    (``… RETURNING``, ``SELECT``; None when it matched nothing, or for those ``returns`` says return none)."""
    wanted = list(returns) if returns is not None else [True] * len(statements)
    rows: list[Any] = []
    if connection.vendor == "postgresql" and len(statements) > 1:
        cursor.execute(
            ";\n".join(sql for sql, _ in statements), [p for _, params in statements for p in params]
        )
        for index, want in enumerate(wanted):
            if index:
                cursor.nextset()
            rows.append(cursor.fetchone() if want else None)
        return rows
    for (sql, params), want in zip(statements, wanted, strict=True):
        cursor.execute(sql, params)
        rows.append(cursor.fetchone() if want else None)
    return rows
