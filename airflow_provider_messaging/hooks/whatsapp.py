"""Airflow connection of type ``whatsapp`` -> configured WhatsApp Cloud API clients."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

from ..core.errors import ConfigurationError, MessagingError
from .connections import aload_settings, extra_value, legacy_ui_field_behaviour, load_settings

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..clients.whatsapp_cloud import AsyncWhatsAppCloudClient, WhatsAppCloudClient, WhatsAppCredentials
    from ..clients.whatsapp_templates import TemplateInfo
    from ..core.retry import RetryPolicy

CONN_TYPE = "whatsapp"
DEFAULT_API_VERSION = "v25.0"


@dataclass(frozen=True)
class WhatsAppSettings:
    access_token: str = field(repr=False)
    phone_number_id: str
    waba_id: str | None = None
    api_version: str = DEFAULT_API_VERSION
    base_url: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)

    @property
    def credentials(self) -> WhatsAppCredentials:
        from ..clients.whatsapp_cloud import WhatsAppCredentials

        return WhatsAppCredentials(
            access_token=self.access_token,
            phone_number_id=self.phone_number_id,
            waba_id=self.waba_id,
            api_version=self.api_version,
            base_url=self.base_url,
        )

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.app_secret, self.verify_token) if s]


def settings_from_connection(conn: Connection) -> WhatsAppSettings:
    extras = conn.extra_dejson or {}

    def extra(name: str) -> str | None:
        value = extra_value(extras, CONN_TYPE, name)
        return str(value).strip() if value is not None else None

    where = f"connection {conn.conn_id!r}"
    phone_number_id = extra("phone_number_id") or (conn.login or "").strip()
    if not conn.password:
        raise ConfigurationError(
            f"{where}: Access token (password) is empty. Create a System User token in Business Manager."
        )
    if not phone_number_id:
        raise ConfigurationError(
            f"{where}: Phone number id is empty. Copy it from WhatsApp Manager > API setup."
        )
    version = extra("api_version") or DEFAULT_API_VERSION
    if not version.startswith("v"):
        version = f"v{version}"
    return WhatsAppSettings(
        access_token=conn.password,
        phone_number_id=phone_number_id,
        waba_id=extra("waba_id"),
        api_version=version,
        base_url=extra("base_url"),
        app_secret=extra("app_secret"),
        verify_token=extra("verify_token"),
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
    def settings(self) -> WhatsAppSettings:
        return load_settings(
            self.get_connection, self.whatsapp_conn_id, settings_from_connection, _missing_connection
        )

    @cached_property
    def client(self) -> WhatsAppCloudClient:
        from ..clients.whatsapp_cloud import WhatsAppCloudClient

        return WhatsAppCloudClient(
            self.settings.credentials, timeout=self.timeout, retry_policy=self.retry_policy
        )

    def get_conn(self) -> WhatsAppCloudClient:
        return self.client

    async def get_async_client(
        self, *, max_connections: int = 100, retry_policy: RetryPolicy | None = None
    ) -> AsyncWhatsAppCloudClient:
        """A new async client; use it with ``async with``."""
        from ..clients.whatsapp_cloud import AsyncWhatsAppCloudClient

        if "settings" not in self.__dict__:
            self.__dict__["settings"] = await aload_settings(
                self.aget_connection, self.whatsapp_conn_id, settings_from_connection, _missing_connection
            )
        return AsyncWhatsAppCloudClient(
            self.settings.credentials,
            timeout=self.timeout,
            retry_policy=retry_policy or self.retry_policy,
            max_connections=max_connections,
        )

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
        from ..clients.whatsapp_cloud import WhatsAppCloudClient
        from ..core.retry import NO_RETRIES

        try:
            settings = self.settings
            with WhatsAppCloudClient(settings.credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                number = client.get_phone_number()
                templates = sum(1 for _ in client.list_templates()) if settings.waba_id else None
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        found = f"; {templates} template(s) in WABA {settings.waba_id}" if templates is not None else ""
        return (
            True,
            f"Connected to WhatsApp number {number.get('display_phone_number', settings.phone_number_id)}{found}",
        )
