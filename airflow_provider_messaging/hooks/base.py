"""What both service hooks share: credentials read once from the connection and masked, clients
made when first needed, and the connection form for older Airflow versions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from airflow.sdk import BaseHook

if TYPE_CHECKING:  # protocols cost import time at every DAG parse; only the type checker needs them
    from airflow.sdk import Connection

    from ..core.errors import ConfigurationError
    from ..core.retry import RetryPolicy

    class Credentials(Protocol):
        @property
        def secrets(self) -> list[str]: ...

    class Closable(Protocol):
        def close(self) -> None: ...


C = TypeVar("C", bound="Credentials")
Sync = TypeVar("Sync", bound="Closable")
Async = TypeVar("Async")


class MessagingHook(BaseHook, Generic[C, Sync, Async]):
    """Subclasses name their connection type and say how to parse it and build the two clients."""

    conn_name_attr: str
    conn_type: str

    def __init__(
        self, *, timeout: float = 30.0, retry_policy: RetryPolicy | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout
        self.retry_policy = retry_policy

    # -- what each service says --------------------------------------------------------------

    def parse_connection(self, conn: Connection) -> C:
        raise NotImplementedError

    def missing_connection(self, conn_id: str) -> ConfigurationError:
        raise NotImplementedError

    def make_client(self, credentials: C, *, timeout: float, retry_policy: RetryPolicy | None) -> Sync:
        raise NotImplementedError

    def make_async_client(
        self, credentials: C, *, timeout: float, retry_policy: RetryPolicy | None, max_connections: int
    ) -> Async:
        raise NotImplementedError

    # -- shared ---------------------------------------------------------------------------------

    @property
    def conn_id(self) -> str:
        return str(getattr(self, self.conn_name_attr))

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The connection form for Airflow 3.0 and 3.1 (3.2+ reads the provider info instead).

        The Extra box stays visible there, as those versions show no separate extra fields.
        """
        from .. import get_provider_info

        (conn,) = [
            c for c in get_provider_info()["connection-types"] if c["connection-type"] == cls.conn_type
        ]
        behaviour = conn["ui-field-behaviour"]
        return {
            "hidden_fields": [f for f in behaviour["hidden-fields"] if f != "extra"],
            "relabeling": behaviour["relabeling"],
            "placeholders": behaviour["placeholders"],
        }

    @cached_property
    def credentials(self) -> C:
        """The connection's credentials; every secret is registered with the masker, whatever its name."""
        from airflow.sdk.exceptions import AirflowNotFoundException
        from airflow.sdk.log import mask_secret

        try:
            conn = self.get_connection(self.conn_id)
        except AirflowNotFoundException:
            raise self.missing_connection(self.conn_id) from None
        credentials = self.parse_connection(conn)
        for secret in credentials.secrets:
            mask_secret(secret)
        self._warn_about_exposed_secrets(conn, credentials)
        return credentials

    async def aget_credentials(self) -> C:
        """The credentials, resolved without blocking the event loop (triggers, async notifiers)."""
        if "credentials" not in self.__dict__:
            from airflow.sdk.exceptions import AirflowNotFoundException
            from airflow.sdk.log import amask_secret

            try:
                conn = await self.aget_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self.missing_connection(self.conn_id) from None
            credentials = self.parse_connection(conn)
            for secret in credentials.secrets:
                await amask_secret(secret)
            self._warn_about_exposed_secrets(conn, credentials)
            self.__dict__["credentials"] = credentials
        return self.credentials

    def _warn_about_exposed_secrets(self, conn: Connection, credentials: C) -> None:
        """A secret under an extra's former name still works, but Airflow shows it: say how to hide it."""
        from ..core.credentials import exposed_secrets

        renamed = getattr(credentials, "renamed_secrets", {})
        for key, new in exposed_secrets(conn.extra_dejson or {}, self.conn_type, renamed):
            self.log.warning(
                "Connection %r keeps a secret in extra %r, whose value the Airflow UI and REST API show in "
                "clear text: rename the key to %r (the value is read from either)", self.conn_id, key, new,
            )  # fmt: skip

    @cached_property
    def client(self) -> Sync:
        return self.make_client(self.credentials, timeout=self.timeout, retry_policy=self.retry_policy)

    def get_conn(self) -> Sync:
        """The blocking client (one connection pool per hook)."""
        return self.client

    async def get_async_client(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> Async:
        """A new async client; use it with ``async with``."""
        return self.make_async_client(
            await self.aget_credentials(), timeout=self.timeout, retry_policy=retry_policy or self.retry_policy,
            max_connections=max_connections,
        )  # fmt: skip

    @asynccontextmanager
    async def sharded_clients(self, concurrency: int) -> AsyncIterator[Callable[[], Async]]:
        """Async clients for the send engine, taken in turn; sends are retried by the engine, not them."""
        from ..core.http import client_shards
        from ..core.retry import NO_RETRIES

        async def make(connections: int) -> Async:
            return await self.get_async_client(max_connections=connections, retry_policy=NO_RETRIES)

        async with client_shards(make, concurrency) as next_client:
            yield next_client

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]
