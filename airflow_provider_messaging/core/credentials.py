"""Reading credential values out of an Airflow connection's fields, the same way for every service.

No Airflow import: the hooks and the webhook receiver hand over the connection's plain fields.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .errors import ConfigurationError


def extra_value(extras: Mapping[str, Any], conn_type: str, name: str, *, formerly: str | None = None) -> Any:
    """``extras[name]``, falling back to the older ``extra__<conn_type>__<name>`` key, then to the
    extra's former name ``formerly`` (connections saved before it was renamed); blanks are None."""
    for old_or_new in (name, formerly) if formerly else (name,):
        for key in (old_or_new, f"extra__{conn_type}__{old_or_new}"):
            value = extras.get(key)
            if value not in (None, ""):
                return value
    return None


def exposed_secrets(
    extras: Mapping[str, Any], conn_type: str, renamed: Mapping[str, str]
) -> list[tuple[str, str]]:
    """``(key, new name)`` of secret extras still kept under a former name. Airflow hides an extra's
    value in its UI and REST API only when the key holds a sensitive word (``secret``, ``token``,
    ...), so a value under a former name such as ``signing_key`` is shown there in clear text."""
    return [
        (key, new)
        for old, new in renamed.items()
        for key in (old, f"extra__{conn_type}__{old}")
        if extras.get(key) not in (None, "")
    ]


def named_after(conn_id: str | None) -> str:
    """How error texts name where credentials come from."""
    return f"connection {conn_id!r}" if conn_id else "the connection"


@contextmanager
def in_connection(conn_id: str) -> Iterator[None]:
    """A problem found while reading a connection names it: ``connection 'x': API Token ... is empty``."""
    try:
        yield
    except ConfigurationError as exc:
        raise ConfigurationError(f"{named_after(conn_id)}: {exc}") from None


def checked(value: Any, label: str, *, required: str | None = None) -> str | None:
    """A credential value as text, refused (by ``label``, never by value) when it cannot be sent.

    Whitespace or a control character inside a token (a trailing newline from a secrets file is the
    usual one) would end up in an HTTP header; a non-ASCII character cannot be sent there at all.
    """
    text = None if value is None else str(value)
    if text is None or text == "":
        if required is not None:  # what to do about it
            raise ConfigurationError(f"{label} is empty: {required}")
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in text):
        raise ConfigurationError(
            f"{label} contains whitespace or a control character (often a trailing newline from a "
            "secrets file): store the value without it"
        )
    if not text.isascii():
        raise ConfigurationError(f"{label} contains a non-ASCII character: copy the value again")
    return text
