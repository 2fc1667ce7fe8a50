"""What every hook does with its Airflow connection: load and mask its credentials, describe the form."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from airflow.sdk import Connection


class HasSecrets(Protocol):
    @property
    def secrets(self) -> list[str]: ...


S = TypeVar("S", bound=HasSecrets)


def load_credentials(
    get_connection: Callable[[str], Connection],
    conn_id: str,
    parse: Callable[[Connection], S],
    missing: Callable[[str], Exception],
) -> S:
    """Parse the connection and register every secret with the masker, whatever its extra is called."""
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    try:
        conn = get_connection(conn_id)
    except AirflowNotFoundException:
        raise missing(conn_id) from None
    credentials = parse(conn)
    for secret in credentials.secrets:
        mask_secret(secret)
    return credentials


async def aload_credentials(
    aget_connection: Callable[[str], Awaitable[Connection]],
    conn_id: str,
    parse: Callable[[Connection], S],
    missing: Callable[[str], Exception],
) -> S:
    """:func:`load_credentials` without blocking the event loop (triggers, async notifiers)."""
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import amask_secret

    try:
        conn = await aget_connection(conn_id)
    except AirflowNotFoundException:
        raise missing(conn_id) from None
    credentials = parse(conn)
    for secret in credentials.secrets:
        await amask_secret(secret)
    return credentials


def legacy_ui_field_behaviour(conn_type: str) -> dict[str, Any]:
    """The connection form for Airflow 3.0 and 3.1 (3.2+ reads the provider info instead).

    The Extra box stays visible there, as those versions show no separate extra fields.
    """
    from .. import get_provider_info

    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type]
    behaviour = conn["ui-field-behaviour"]
    return {
        "hidden_fields": [f for f in behaviour["hidden-fields"] if f != "extra"],
        "relabeling": behaviour["relabeling"],
        "placeholders": behaviour["placeholders"],
    }
