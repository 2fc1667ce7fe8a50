"""Airflow connection of type ``signalwire`` -> configured SignalWire clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from ..core.errors import ConfigurationError, MessagingError
from .connections import aload_settings, extra_value, legacy_ui_field_behaviour, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from airflow.sdk import Connection

    from ..clients.signalwire_relay import RelayClient, RelayMessage
    from ..clients.signalwire_rest import (
        AsyncSignalWireRestClient,
        SignalWireCredentials,
        SignalWireRestClient,
    )
    from ..core.retry import RetryPolicy

CONN_TYPE = "signalwire"
DEFAULT_CONTEXT = "airflow"


@dataclass(frozen=True)
class SignalWireSettings:
    """Everything a SignalWire connection holds, secrets kept out of ``repr``."""

    project_id: str
    api_token: str = field(repr=False)
    space_url: str = ""
    base_url: str | None = None
    signing_key: str | None = field(default=None, repr=False)
    from_number: str | None = None
    context: str = DEFAULT_CONTEXT

    @property
    def credentials(self) -> SignalWireCredentials:
        from ..clients.signalwire_rest import SignalWireCredentials

        return SignalWireCredentials(
            project_id=self.project_id,
            api_token=self.api_token,
            space_url=self.space_url,
            base_url=self.base_url,
        )

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.api_token, self.signing_key) if s]


def settings_from_connection(conn: Connection) -> SignalWireSettings:
    extras = conn.extra_dejson or {}
    base_url = extra_value(extras, CONN_TYPE, "base_url")
    settings = SignalWireSettings(
        project_id=(conn.login or "").strip(),
        api_token=conn.password or "",
        space_url=(conn.host or "").strip(),
        base_url=base_url.strip() if isinstance(base_url, str) else None,
        signing_key=extra_value(extras, CONN_TYPE, "signing_key"),
        from_number=extra_value(extras, CONN_TYPE, "from_number"),
        context=extra_value(extras, CONN_TYPE, "context") or DEFAULT_CONTEXT,
    )
    where = f"connection {conn.conn_id!r}"
    if not settings.project_id:
        raise ConfigurationError(
            f"{where}: Project ID (login) is empty. Copy it from the SignalWire Dashboard's API page."
        )
    if not settings.api_token:
        raise ConfigurationError(
            f"{where}: API Token (password) is empty. Create one on the Dashboard's API page."
        )
    if not settings.space_url and not settings.base_url:
        raise ConfigurationError(
            f"{where}: Space URL (host) is empty. Set it to your Space, e.g. 'example.signalwire.com'."
        )
    return settings


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
    def settings(self) -> SignalWireSettings:
        return load_settings(
            self.get_connection, self.signalwire_conn_id, settings_from_connection, _missing_connection
        )

    async def aget_settings(self) -> SignalWireSettings:
        """The settings, resolved without blocking the event loop (for triggers)."""
        if "settings" not in self.__dict__:
            self.__dict__["settings"] = await aload_settings(
                self.aget_connection, self.signalwire_conn_id, settings_from_connection, _missing_connection
            )
        return self.settings

    @cached_property
    def client(self) -> SignalWireRestClient:
        from ..clients.signalwire_rest import SignalWireRestClient

        return SignalWireRestClient(
            self.settings.credentials, timeout=self.timeout, retry_policy=self.retry_policy
        )

    def get_conn(self) -> SignalWireRestClient:
        """The blocking REST client (one connection pool per hook)."""
        return self.client

    async def get_async_client(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> AsyncSignalWireRestClient:
        """A new async REST client; use it with ``async with``."""
        from ..clients.signalwire_rest import AsyncSignalWireRestClient

        settings = await self.aget_settings()
        return AsyncSignalWireRestClient(
            settings.credentials,
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
        from ..clients.signalwire_relay import RelayClient

        settings = self.settings
        return RelayClient(
            settings.project_id,
            settings.api_token,
            settings.base_url or settings.space_url or "relay.signalwire.com",
            contexts=list(contexts) if contexts else [settings.context],
            on_state=on_state,
            on_receive=on_receive,
            request_timeout=self.timeout,
        )

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    def test_connection(self) -> tuple[bool, str]:
        """List one message: cheap, authenticated, and it proves the Space and Project ID are right."""
        from ..clients.signalwire_rest import SignalWireRestClient
        from ..core.retry import NO_RETRIES

        try:
            settings = self.settings
            with SignalWireRestClient(settings.credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                list(client.list_messages(page_size=1, limit=1))
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        return (
            True,
            f"Connected to SignalWire project {settings.project_id} at {settings.credentials.http_base}",
        )
