"""Airflow connection of type ``signalwire`` -> configured SignalWire clients and senders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from ..core.errors import ConfigurationError, MessagingError
from .connections import aload_credentials, legacy_ui_field_behaviour, load_credentials

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..core.retry import RetryPolicy
    from ..signalwire.credentials import SignalWireCredentials
    from ..signalwire.relay import RelayClient, RelayMessage
    from ..signalwire.rest import AsyncSignalWireRestClient, SignalWireRestClient
    from ..signalwire.sender import RelaySender, RestSender

CONN_TYPE = "signalwire"


def credentials_from_connection(conn: Connection) -> SignalWireCredentials:
    from ..signalwire.credentials import SignalWireCredentials

    return SignalWireCredentials.from_connection(
        conn.conn_id, host=conn.host, login=conn.login, password=conn.password, extras=conn.extra_dejson or {}
    )


def _missing_connection(conn_id: str) -> ConfigurationError:
    env = "AIRFLOW_CONN_" + conn_id.upper()
    return ConfigurationError(
        f"No Airflow connection named {conn_id!r}. Create it in Admin > Connections with type 'SignalWire', "
        f'or set {env}=\'{{"conn_type": "signalwire", "host": "example.signalwire.com", '
        f'"login": "<Project ID>", "password": "<API Token>"}}\'.'
    )


class SignalWireHook(BaseHook):
    """SignalWire credentials from an Airflow connection.

    :param signalwire_conn_id: the connection holding Space URL (host), Project ID (login),
        API Token (password) and the optional extras ``signing_key``, ``from_number``, ``context``
        and ``base_url`` (point everything at the local sandbox).
    :param timeout: seconds to wait for each HTTP request.
    :param retry_policy: how transient failures are retried (default: 5 attempts, backoff).
    """

    conn_name_attr = "signalwire_conn_id"
    default_conn_name = "signalwire_default"
    conn_type = CONN_TYPE
    hook_name = "SignalWire"

    def __init__(
        self,
        signalwire_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.signalwire_conn_id = signalwire_conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return legacy_ui_field_behaviour(CONN_TYPE)

    @cached_property
    def credentials(self) -> SignalWireCredentials:
        return load_credentials(
            self.get_connection, self.signalwire_conn_id, credentials_from_connection, _missing_connection
        )

    async def aget_credentials(self) -> SignalWireCredentials:
        """The credentials, resolved without blocking the event loop (triggers, async notifiers)."""
        if "credentials" not in self.__dict__:
            self.__dict__["credentials"] = await aload_credentials(
                self.aget_connection,
                self.signalwire_conn_id,
                credentials_from_connection,
                _missing_connection,
            )
        return self.credentials

    @cached_property
    def client(self) -> SignalWireRestClient:
        from ..signalwire.rest import SignalWireRestClient

        return SignalWireRestClient(self.credentials, timeout=self.timeout, retry_policy=self.retry_policy)

    def get_conn(self) -> SignalWireRestClient:
        """The blocking REST client (one connection pool per hook)."""
        return self.client

    async def get_async_client(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> AsyncSignalWireRestClient:
        """A new async REST client; use it with ``async with``."""
        from ..signalwire.rest import AsyncSignalWireRestClient

        return AsyncSignalWireRestClient(
            await self.aget_credentials(),
            timeout=self.timeout,
            retry_policy=retry_policy or self.retry_policy,
            max_connections=max_connections,
        )

    def get_relay_client(
        self,
        contexts: Sequence[str] | None = None,
        *,
        on_state: Callable[[RelayMessage], object] | None = None,
        on_receive: Callable[[RelayMessage], object] | None = None,
    ) -> RelayClient:
        """A Relay v2 client (not yet connected: use ``with hook.get_relay_client(...) as relay``).

        It connects to the connection's ``base_url`` (the sandbox) or to ``wss://<Space URL>``, and
        subscribes ``contexts`` (default: the connection's context) for state and receive events.
        """
        from ..signalwire.relay import RelayClient

        return RelayClient(
            self.credentials,
            contexts=list(contexts) if contexts else [self.credentials.context],
            on_state=on_state,
            on_receive=on_receive,
            request_timeout=self.timeout,
        )

    @asynccontextmanager
    async def rest_sender(
        self, concurrency: int, status_callback: str | None = None
    ) -> AsyncIterator[RestSender]:
        """A sender for the send engine over REST; sends are retried by the engine, not the clients."""
        from ..core.http import client_shards
        from ..core.retry import NO_RETRIES
        from ..signalwire.sender import RestSender

        async def make(connections: int) -> AsyncSignalWireRestClient:
            return await self.get_async_client(max_connections=connections, retry_policy=NO_RETRIES)

        async with client_shards(make, concurrency) as next_client:
            yield RestSender(next_client, status_callback)

    @asynccontextmanager
    async def relay_sender(
        self,
        context: str | None = None,
        tags: Sequence[str] = (),
        *,
        on_state: Callable[[RelayMessage], object] | None = None,
        wait_for_states: float = 2.0,
    ) -> AsyncIterator[RelaySender]:
        """A sender for the send engine over one Relay connection (connected on entry)."""
        import asyncio

        from ..signalwire.sender import RelaySender

        credentials = await self.aget_credentials()
        sender = RelaySender(credentials, context or credentials.context, tags, on_state=on_state,
                             wait_for_states=wait_for_states, request_timeout=self.timeout)  # fmt: skip
        await asyncio.to_thread(sender.__enter__)
        self.log.info("Relay connected (context %r, protocol %s)", sender.context, sender.client.protocol)
        try:
            yield sender
        finally:
            await asyncio.to_thread(sender.__exit__)
            self.log.info("Relay states seen: %s", sender.states)

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    def test_connection(self) -> tuple[bool, str]:
        """List one message: cheap, authenticated, and it proves the Space and Project ID are right."""
        from ..core.retry import NO_RETRIES
        from ..signalwire.rest import SignalWireRestClient

        try:
            credentials = self.credentials
            with SignalWireRestClient(credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                list(client.list_messages(page_size=1, limit=1))
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to SignalWire project {credentials.project_id} at {credentials.http_base}"
