"""Airflow connection of type ``whatsapp`` -> configured WhatsApp Cloud API clients and senders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from ..core.errors import ConfigurationError, MessagingError
from .connections import aload_credentials, legacy_ui_field_behaviour, load_credentials

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..core.retry import RetryPolicy
    from ..whatsapp.cloud import AsyncWhatsAppCloudClient, WhatsAppCloudClient
    from ..whatsapp.credentials import WhatsAppCredentials
    from ..whatsapp.sender import MessageSender
    from ..whatsapp.templates import TemplateInfo

CONN_TYPE = "whatsapp"


def credentials_from_connection(conn: Connection) -> WhatsAppCredentials:
    from ..whatsapp.credentials import WhatsAppCredentials

    return WhatsAppCredentials.from_connection(
        conn.conn_id, login=conn.login, password=conn.password, extras=conn.extra_dejson or {}
    )


def _missing_connection(conn_id: str) -> ConfigurationError:
    env = "AIRFLOW_CONN_" + conn_id.upper()
    return ConfigurationError(
        f"No Airflow connection named {conn_id!r}. Create it in Admin > Connections with type 'WhatsApp Cloud API', "
        f'or set {env}=\'{{"conn_type": "whatsapp", "password": "<access token>", '
        f'"extra": {{"phone_number_id": "<id>", "waba_id": "<id>"}}}}\'.'
    )


class WhatsAppHook(BaseHook):
    """WhatsApp Cloud API credentials from an Airflow connection.

    :param whatsapp_conn_id: the connection: access token (password) and the extras
        ``phone_number_id``, ``waba_id`` (template checks), ``api_version``, ``app_secret`` and
        ``verify_token`` (webhooks), ``base_url`` (point everything at the local sandbox).
    :param timeout: seconds to wait for each HTTP request.
    :param retry_policy: how transient failures are retried (default: 5 attempts, backoff).
    """

    conn_name_attr = "whatsapp_conn_id"
    default_conn_name = "whatsapp_default"
    conn_type = CONN_TYPE
    hook_name = "WhatsApp Cloud API"

    def __init__(
        self,
        whatsapp_conn_id: str = default_conn_name,
        *,
        timeout: float = 30.0,
        retry_policy: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.whatsapp_conn_id = whatsapp_conn_id
        self.timeout = timeout
        self.retry_policy = retry_policy
        self._templates: list[TemplateInfo] | None = None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return legacy_ui_field_behaviour(CONN_TYPE)

    @cached_property
    def credentials(self) -> WhatsAppCredentials:
        return load_credentials(
            self.get_connection, self.whatsapp_conn_id, credentials_from_connection, _missing_connection
        )

    async def aget_credentials(self) -> WhatsAppCredentials:
        """The credentials, resolved without blocking the event loop (triggers, async notifiers)."""
        if "credentials" not in self.__dict__:
            self.__dict__["credentials"] = await aload_credentials(
                self.aget_connection, self.whatsapp_conn_id, credentials_from_connection, _missing_connection
            )
        return self.credentials

    @cached_property
    def client(self) -> WhatsAppCloudClient:
        from ..whatsapp.cloud import WhatsAppCloudClient

        return WhatsAppCloudClient(self.credentials, timeout=self.timeout, retry_policy=self.retry_policy)

    def get_conn(self) -> WhatsAppCloudClient:
        """The blocking client (one connection pool per hook)."""
        return self.client

    async def get_async_client(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> AsyncWhatsAppCloudClient:
        """A new async client; use it with ``async with``."""
        from ..whatsapp.cloud import AsyncWhatsAppCloudClient

        return AsyncWhatsAppCloudClient(
            await self.aget_credentials(),
            timeout=self.timeout,
            retry_policy=retry_policy or self.retry_policy,
            max_connections=max_connections,
        )

    @asynccontextmanager
    async def message_sender(
        self, concurrency: int, *, reply_to: str | None = None, callback_data: str | None = None
    ) -> AsyncIterator[MessageSender]:
        """A sender for the send engine; sends are retried by the engine, not the clients."""
        from ..core.http import client_shards
        from ..core.retry import NO_RETRIES
        from ..whatsapp.sender import MessageSender

        async def make(connections: int) -> AsyncWhatsAppCloudClient:
            return await self.get_async_client(max_connections=connections, retry_policy=NO_RETRIES)

        async with client_shards(make, concurrency) as next_client:
            yield MessageSender(next_client, reply_to=reply_to, callback_data=callback_data)

    def templates(self) -> list[TemplateInfo]:
        """Every template of the WABA, fetched once per hook (so once per task run)."""
        if self._templates is None:
            self._templates = list(self.client.list_templates())
        return self._templates

    def close(self) -> None:
        if "client" in self.__dict__:
            self.client.close()
            del self.__dict__["client"]

    def test_connection(self) -> tuple[bool, str]:
        """Read the phone number (token and phone number id), then list templates when a WABA id is set."""
        from ..core.retry import NO_RETRIES
        from ..whatsapp.cloud import WhatsAppCloudClient

        try:
            credentials = self.credentials
            with WhatsAppCloudClient(credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                number = client.get_phone_number()
                templates = sum(1 for _ in client.list_templates()) if credentials.waba_id else None
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        found = f"; {templates} template(s) in WABA {credentials.waba_id}" if templates is not None else ""
        return (
            True,
            f"Connected to WhatsApp number {number.get('display_phone_number', credentials.phone_number_id)}{found}",
        )
