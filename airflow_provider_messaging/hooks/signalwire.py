"""Airflow connection of type ``signalwire`` -> configured SignalWire clients and senders."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError, MessagingError
from .base import MessagingHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..core.retry import RetryPolicy
    from ..signalwire.credentials import SignalWireCredentials
    from ..signalwire.relay import RelayClient, RelayMessage
    from ..signalwire.rest import AsyncSignalWireRestClient, SignalWireRestClient
    from ..signalwire.sender import RelaySender, RestSender


class SignalWireHook(
    MessagingHook["SignalWireCredentials", "SignalWireRestClient", "AsyncSignalWireRestClient"]
):
    """SignalWire credentials from an Airflow connection.

    :param signalwire_conn_id: the connection holding Space URL (host), Project ID (login),
        API Token (password) and the optional extras ``signing_key``, ``from_number``, ``context``
        and ``base_url`` (point everything at the local sandbox).
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
        """A sender for the send engine over the Compatibility REST API; ``status_callback`` defaults
        to the connection's (the receiver's route, so statuses are pushed to the status store)."""
        from ..signalwire.sender import RestSender

        callback = status_callback or (await self.aget_credentials()).status_callback
        async with self.sharded_clients(concurrency) as next_client:
            yield RestSender(next_client, callback)

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
