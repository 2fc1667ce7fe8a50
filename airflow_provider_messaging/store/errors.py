"""Database errors that say what failed, never the data of the rows.

SQLAlchemy's error text ends with the statement's parameters, and PostgreSQL adds a ``DETAIL`` line
quoting the failing row (``Failing row contains (..., +15551230002, Your code is 1234)``): a store
failure would put phone numbers and message texts in task and api-server logs. Engines of the
store are created with ``hide_parameters=True``, and a listener rewrites every error in place,
keeping its type (callers still catch ``IntegrityError``): the operation and table, the driver's
error class and the first line of its message.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

# "INSERT INTO messaging_inbound_messages", "UPDATE ...", "DELETE FROM ...", "SELECT ... FROM ..."
_TARGET = re.compile(
    r'^\s*(INSERT INTO|UPDATE|DELETE FROM|CREATE TABLE|CREATE INDEX|DROP TABLE)\s+"?(\w+)', re.I
)
_SELECT = re.compile(r'^\s*SELECT\b.*?\bFROM\s+"?(\w+)', re.I | re.S)
# PostgreSQL quotes the value it could not read: invalid input syntax for type double precision: "x"
_QUOTED_INPUT = re.compile(r"^(invalid input (?:syntax|value) for [^:]*):.*$", re.I)


def operation(statement: str | None) -> str:
    """``INSERT INTO messaging_inbound_messages``: what a statement does, without its values."""
    if not statement:  # no statement: the connection itself failed
        return "connecting to the database"
    found = _TARGET.match(statement)
    if found:
        return f"{found.group(1).upper()} {found.group(2)}"
    found = _SELECT.match(statement)
    if found:
        return f"SELECT FROM {found.group(1)}"
    return statement.split(None, 1)[0].upper()


def first_line(error: BaseException) -> str:
    """The driver's message without its DETAIL/HINT lines and without a value it quotes."""
    text = (str(error).strip().splitlines() or [""])[0]
    return _QUOTED_INPUT.sub(r"\1", text)


def keep_data_out_of_errors(engine: Engine) -> None:
    """Rewrite every error of ``engine`` as ``Status store: INSERT INTO t failed: (module.Class) message``."""

    @event.listens_for(engine, "handle_error")
    def _rewrite(context: Any) -> None:
        original = context.original_exception
        if original is not None:
            original.args = (first_line(original),)  # SQLAlchemy chains it: it is shown too
        wrapped = context.sqlalchemy_exception
        if wrapped is None:
            return
        cause = original if original is not None else wrapped
        kind = f"{type(cause).__module__}.{type(cause).__name__}"
        wrapped.args = (f"Status store: {operation(context.statement)} failed: ({kind}) {first_line(cause)}",)
        wrapped.statement = None  # the operation is named above; the SQL adds nothing
        wrapped.params = None
