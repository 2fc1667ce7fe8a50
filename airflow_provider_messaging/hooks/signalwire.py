"""Airflow connection of type ``signalwire`` -> configured SignalWire clients and senders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError, MessagingError
from .base import MessagingHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..core.retry import RetryPolicy
    from ..signalwire.credentials import SignalWireCredentials
    from ..signalwire.native import AsyncMessagingApiClient, MessagingApiClient
    from ..signalwire.relay import RelayClient, RelayMessage
    from ..signalwire.rest import AsyncSignalWireRestClient, SignalWireRestClient
    from ..signalwire.sender import NativeSender, RelaySender, RestSender


def checked_rest_api(api: str, custom_variables: Mapping[str, str] | None = None) -> str:
    """``api`` of the faces that send over REST: ``"rest"`` (Compatibility) or ``"native"``."""
    if api not in ("rest", "native"):
        raise ValueError(f"api must be 'rest' or 'native', got {api!r}")
    if custom_variables and api != "native":
        raise ValueError("custom_variables: only api='native' carries them; pass api='native' or drop them")
    return api


class SignalWireHook(
    MessagingHook["SignalWireCredentials", "SignalWireRestClient", "AsyncSignalWireRestClient"]
):
    """SignalWire credentials from an Airflow connection.

    :param signalwire_conn_id: the connection holding Space URL (host), Project ID (login),
        API Token (password) and the optional extras ``signing_secret`` (the Signing Key; formerly
        ``signing_key``, which Airflow does not redact), ``from_number``, ``context``,
        ``relay_protocol`` and ``base_url`` (point everything at the local sandbox).
    :param timeout: seconds to wait for each HTTP request.
    :param retry_policy: how transient failures are retried (default: 5 attempts, backoff).
    """

    conn_name_attr = "signalwire_conn_id"
    default_conn_name = "signalwire_default"
    conn_type = "signalwire"
    hook_name = "SignalWire"

    def __init__(self, signalwire_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.signalwire_conn_id = signalwire_conn_id

    def parse_connection(self, conn: Connection) -> SignalWireCredentials:
        from ..signalwire.credentials import SignalWireCredentials

        return SignalWireCredentials.from_connection(
            conn.conn_id,
            host=conn.host,
            login=conn.login,
            password=conn.password,
            extras=conn.extra_dejson or {},
        )

    def missing_connection(self, conn_id: str) -> ConfigurationError:
        env = "AIRFLOW_CONN_" + conn_id.upper()
        return ConfigurationError(
            f"No Airflow connection named {conn_id!r}. Create it in Admin > Connections with type 'SignalWire', "
            f'or set {env}=\'{{"conn_type": "signalwire", "host": "example.signalwire.com", '
            f'"login": "<Project ID>", "password": "<API Token>"}}\'.'
        )

    def make_client(
        self, credentials: SignalWireCredentials, *, timeout: float, retry_policy: RetryPolicy | None
    ) -> SignalWireRestClient:
        from ..signalwire.rest import SignalWireRestClient

        return SignalWireRestClient(credentials, timeout=timeout, retry_policy=retry_policy)

    def make_async_client(
        self, credentials: SignalWireCredentials, *, timeout: float, retry_policy: RetryPolicy | None,
        max_connections: int,
    ) -> AsyncSignalWireRestClient:  # fmt: skip
        from ..signalwire.rest import AsyncSignalWireRestClient

        return AsyncSignalWireRestClient(
            credentials, timeout=timeout, retry_policy=retry_policy, max_connections=max_connections
        )

    @cached_property
    def messaging_api(self) -> MessagingApiClient:
        """The blocking client of the native Messaging API and the message logs."""
        from ..signalwire.native import MessagingApiClient

        return MessagingApiClient(self.credentials, timeout=self.timeout, retry_policy=self.retry_policy)

    async def get_async_messaging_api(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> AsyncMessagingApiClient:
        """A new async client of the native Messaging API and the message logs; use it with ``async with``."""
        from ..signalwire.native import AsyncMessagingApiClient

        return AsyncMessagingApiClient(
            await self.aget_credentials(), timeout=self.timeout, retry_policy=retry_policy or self.retry_policy,
            max_connections=max_connections,
        )  # fmt: skip

    def get_relay_client(
        self,
        contexts: Sequence[str] | None = None,
        *,
        on_state: Callable[[RelayMessage], object] | None = None,
        on_receive: Callable[[RelayMessage], object] | None = None,
        relay_protocol: str | None = None,
    ) -> RelayClient:
        """A Relay client (not yet connected: use ``with hook.get_relay_client(...) as relay``).

        It connects to the connection's ``base_url`` (the sandbox) or to ``wss://<Space URL>``, and
        subscribes ``contexts`` (default: the connection's context) for state and receive events.
        ``relay_protocol`` (default: the connection's, else ``"signalwire"``) picks the framing.
        """
        from ..signalwire.relay import RelayClient

        return RelayClient(
            self.credentials,
            contexts=list(contexts) if contexts else [self.credentials.context],
            on_state=on_state,
            on_receive=on_receive,
            request_timeout=self.timeout,
            relay_protocol=relay_protocol,
        )

    @asynccontextmanager
    async def rest_sender(
        self, concurrency: int, status_callback: str | None = None
    ) -> AsyncIterator[RestSender]:
        """A sender for the send engine over the Compatibility REST API; ``status_callback`` defaults
        to the connection's (the receiver's route, so statuses are pushed to the status store)."""
        from ..signalwire.sender import RestSender

        callback = status_callback or (await self.aget_credentials()).status_callback
        async with self.sharded_clients(concurrency) as next_client:
            yield RestSender(next_client, callback)

    @asynccontextmanager
    async def native_sender(
        self,
        concurrency: int,
        status_callback: str | None = None,
        custom_variables: Mapping[str, str] | None = None,
    ) -> AsyncIterator[NativeSender]:
        """A sender for the send engine over the native Messaging API; ``status_callback`` defaults to
        the connection's, as for :meth:`rest_sender`."""
        from ..core.http import client_shards
        from ..core.retry import NO_RETRIES
        from ..signalwire.sender import NativeSender

        async def make(connections: int) -> AsyncMessagingApiClient:
            return await self.get_async_messaging_api(max_connections=connections, retry_policy=NO_RETRIES)

        callback = status_callback or (await self.aget_credentials()).status_callback
        async with client_shards(make, concurrency) as next_client:
            yield NativeSender(next_client, callback, custom_variables)

    @asynccontextmanager
    async def relay_sender(
        self,
        context: str | None = None,
        tags: Sequence[str] = (),
        *,
        on_state: Callable[[RelayMessage], object] | None = None,
        wait_for_states: float = 2.0,
        relay_protocol: str | None = None,
    ) -> AsyncIterator[RelaySender]:
        """A sender for the send engine over one Relay connection (connected on entry)."""
        import asyncio

        from ..signalwire.sender import RelaySender

        credentials = await self.aget_credentials()
        sender = RelaySender(credentials, context or credentials.context, tags, on_state=on_state,
                             wait_for_states=wait_for_states, request_timeout=self.timeout,
                             relay_protocol=relay_protocol)  # fmt: skip
        await asyncio.to_thread(sender.__enter__)
        self.log.info("Relay connected (%s framing, context %r, session %s)", sender.client.relay_protocol,
                      sender.context, sender.client.protocol)  # fmt: skip
        try:
            yield sender
        finally:
            await asyncio.to_thread(sender.__exit__)
            self.log.info("Relay states seen: %s", sender.states)

    def close(self) -> None:
        super().close()
        if "messaging_api" in self.__dict__:
            self.messaging_api.close()
            del self.__dict__["messaging_api"]

    def test_connection(self) -> tuple[bool, str]:
        """List one message: cheap, authenticated, and it proves the Space and Project ID are right."""
        from ..core.retry import NO_RETRIES

        try:
            credentials = self.credentials
            with self.make_client(credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                list(client.list_messages(page_size=1, limit=1))
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to SignalWire project {credentials.project_id} at {credentials.http_base}"
