"""Reading connection extras the way both the Airflow UI and hand-written JSON store them."""

from __future__ import annotations

from typing import Any


def extra_value(extras: dict[str, Any], conn_type: str, name: str) -> Any:
    """``extras[name]``, falling back to the older ``extra__<conn_type>__<name>`` key; blanks are None."""
    for key in (name, f"extra__{conn_type}__{name}"):
        value = extras.get(key)
        if value not in (None, ""):
            return value
    return None
