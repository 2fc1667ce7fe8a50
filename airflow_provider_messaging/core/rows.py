"""Recipient rows for a broadcast, streamed from a list, an XCom, a CSV file or any iterable.

A row is a mapping with at least the recipient's number (column ``to`` by default) and whatever
per-recipient values the message needs (template parameters, body placeholders). A plain string
is a row with only a number. Rows are read one at a time, so a 100,000-line file is never held
in memory.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ValidationError


@dataclass(frozen=True)
class Row:
    number: int  # 1-based position among the data rows (CSV: line number minus the header)
    values: Mapping[str, Any]
    problem: str | None = None  # a row that could not be read at all


def _row(number: int, item: Any, to_column: str) -> Row:
    if isinstance(item, str):
        return Row(number, {to_column: item})
    if isinstance(item, Mapping):
        return Row(number, item)
    return Row(number, {}, f"expected a phone number or a mapping, got {type(item).__name__}")


def iter_rows(
    recipients: Iterable[Any] | str | None = None,
    csv_path: str | Path | None = None,
    *,
    to_column: str = "to",
    csv_options: Mapping[str, Any] | None = None,
) -> Iterator[Row]:
    """Rows from exactly one source: ``recipients`` (a list, a comma-separated string, any
    iterable) or ``csv_path`` (a file with a header line)."""
    if (recipients is None) == (csv_path is None):
        raise ValueError("give exactly one of recipients and csv_path")
    if csv_path is not None:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, **dict(csv_options or {}))
            if reader.fieldnames is None or to_column not in reader.fieldnames:
                found = ", ".join(reader.fieldnames or []) or "no header"
                raise ValueError(f"the CSV has no {to_column!r} column (found: {found})")
            for number, values in enumerate(reader, start=1):
                yield Row(number, values)
        return
    if isinstance(recipients, str):
        recipients = [part.strip() for part in recipients.split(",") if part.strip()]
    for number, item in enumerate(recipients or (), start=1):
        yield _row(number, item, to_column)


def count_rows(recipients: Any = None, csv_path: str | Path | None = None) -> int | None:
    """How many rows a source holds, when that is cheap to know (for the ETA); else None."""
    if csv_path is not None:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    if isinstance(recipients, str):
        return len([part for part in recipients.split(",") if part.strip()])
    try:
        return len(recipients)
    except TypeError:
        return None


def fill(text: str, row: Mapping[str, Any], field: str, number: int) -> str:
    """``text`` with ``{column}`` placeholders taken from the row (Jinja's ``{{ }}`` is already rendered)."""
    try:
        return text.format_map(row)
    except KeyError as exc:
        columns = ", ".join(map(str, row)) or "none"
        raise ValidationError(
            f"{field} (row {number})",
            f"uses placeholder {{{exc.args[0]}}} but the row has no such column (columns: {columns})",
            "Add the column to the recipients or fix the placeholder",
        ) from None
    except (ValueError, IndexError) as exc:
        raise ValidationError(
            field, f"is not a valid placeholder text: {exc}", "Write placeholders as {column}"
        ) from None
