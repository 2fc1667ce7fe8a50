"""Airflow connection of type ``whatsapp`` -> configured WhatsApp Cloud API clients and senders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError, MessagingError
from .base import MessagingHook

if TYPE_CHECKING:
    from airflow.sdk import Connection

    from ..core.retry import RetryPolicy
    from ..whatsapp.cloud import AsyncWhatsAppCloudClient, WhatsAppCloudClient
    from ..whatsapp.credentials import WhatsAppCredentials
    from ..whatsapp.media import MediaFile
    from ..whatsapp.messages import Media
    from ..whatsapp.sender import MessageSender
    from ..whatsapp.templates import TemplateInfo


def storage_path(value: Any) -> Any:
    """A path as given, except that ``scheme://...`` text becomes an ``ObjectStoragePath``
    (``s3://bucket/report.pdf``, ``file:///tmp/a.pdf``), so a templated string reaches object storage."""
    if isinstance(value, str) and "://" in value:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(value)
    return value


class WhatsAppHook(MessagingHook["WhatsAppCredentials", "WhatsAppCloudClient", "AsyncWhatsAppCloudClient"]):
    """WhatsApp Cloud API credentials from an Airflow connection.

    :param whatsapp_conn_id: the connection: access token (password) and the extras
        ``phone_number_id``, ``waba_id`` (template checks), ``api_version``, ``app_secret`` and
        ``verify_token`` (webhooks), ``base_url`` (point everything at the local sandbox).
    :param timeout: seconds to wait for each HTTP request.
    :param retry_policy: how transient failures are retried (default: 5 attempts, backoff).
    """

    conn_name_attr = "whatsapp_conn_id"
    default_conn_name = "whatsapp_default"
    conn_type = "whatsapp"
    hook_name = "WhatsApp Cloud API"

    def __init__(self, whatsapp_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.whatsapp_conn_id = whatsapp_conn_id
        self._templates: list[TemplateInfo] | None = None

    def parse_connection(self, conn: Connection) -> WhatsAppCredentials:
        from ..whatsapp.credentials import WhatsAppCredentials

        return WhatsAppCredentials.from_connection(
            conn.conn_id, login=conn.login, password=conn.password, extras=conn.extra_dejson or {}
        )

    def missing_connection(self, conn_id: str) -> ConfigurationError:
        env = "AIRFLOW_CONN_" + conn_id.upper()
        return ConfigurationError(
            f"No Airflow connection named {conn_id!r}. Create it in Admin > Connections with type "
            f'\'WhatsApp Cloud API\', or set {env}=\'{{"conn_type": "whatsapp", "password": "<access token>", '
            f'"extra": {{"phone_number_id": "<id>", "waba_id": "<id>"}}}}\'.'
        )

    def make_client(
        self, credentials: WhatsAppCredentials, *, timeout: float, retry_policy: RetryPolicy | None
    ) -> WhatsAppCloudClient:
        from ..whatsapp.cloud import WhatsAppCloudClient

        return WhatsAppCloudClient(credentials, timeout=timeout, retry_policy=retry_policy)

    def make_async_client(
        self, credentials: WhatsAppCredentials, *, timeout: float, retry_policy: RetryPolicy | None,
        max_connections: int,
    ) -> AsyncWhatsAppCloudClient:  # fmt: skip
        from ..whatsapp.cloud import AsyncWhatsAppCloudClient

        return AsyncWhatsAppCloudClient(
            credentials, timeout=timeout, retry_policy=retry_policy, max_connections=max_connections
        )

    @asynccontextmanager
    async def message_sender(
        self, concurrency: int, *, reply_to: str | None = None, callback_data: str | None = None
    ) -> AsyncIterator[MessageSender]:
        """A sender for the send engine."""
        from ..whatsapp.sender import MessageSender

        async with self.sharded_clients(concurrency) as next_client:
            yield MessageSender(next_client, reply_to=reply_to, callback_data=callback_data)

    def upload_media(
        self,
        path: Any,
        kind: str | None = None,
        *,
        caption: str | None = None,
        filename: str | None = None,
    ) -> Media:
        """Upload a local file or an ``ObjectStoragePath`` and return the message that sends it by id.

        ``kind`` (image, audio, video, document, sticker) defaults to what the file's type implies;
        the type and size are checked against Meta's limits for it before anything is uploaded.
        A document keeps its file name (``filename`` overrides it). One upload serves any number
        of sends (Meta keeps uploaded media for about 30 days).
        """
        from ..whatsapp.media import media_file

        return self.upload(media_file(storage_path(path), kind), caption=caption, filename=filename)

    def upload(self, media: MediaFile, *, caption: str | None = None, filename: str | None = None) -> Media:
        """Upload a file already checked by :func:`~airflow_provider_messaging.whatsapp.media.media_file`."""
        self.log.info("Uploading %s as %s", media.describe(), media.kind)
        media_id = self.client.upload_media(media)
        self.log.info("Uploaded %s: media id %s", media.filename, media_id)
        return media.message(media_id, caption=caption, filename=filename)

    def download_media(self, media_id: str, destination: Any) -> Any:
        """Download a received file (``GET /{media-id}``, then its URL with the token) to a local
        path or an ``ObjectStoragePath``; a destination ending in ``/`` (or an existing directory)
        gets ``<media id><extension>``. The file is streamed, checked against the size and SHA-256
        Meta gives (a file that fails the check is removed) and the path written is returned."""
        from pathlib import Path

        from ..whatsapp.media import extension_for

        info = self.client.get_media(media_id)
        target = storage_path(destination)
        if not hasattr(target, "open"):
            target = Path(target)
        if str(destination).endswith("/") or target.is_dir():
            target = target / f"{media_id}{extension_for(info.mime_type)}"
        if isinstance(target, Path) or getattr(target, "protocol", None) in ("file", "local"):
            target.parent.mkdir(parents=True, exist_ok=True)  # buckets have no folders to make
        try:
            with target.open("wb") as handle:
                self.client.download(info, handle.write)
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        self.log.info("Downloaded media %s (%s) to %s", media_id, info.mime_type, target)
        return target

    def templates(self) -> list[TemplateInfo]:
        """Every template of the WABA, fetched once per hook (so once per task run)."""
        if self._templates is None:
            self._templates = list(self.client.list_templates())
        return self._templates

    def test_connection(self) -> tuple[bool, str]:
        """Read the phone number (token and phone number id), then list templates when a WABA id is set."""
        from ..core.retry import NO_RETRIES

        try:
            credentials = self.credentials
            with self.make_client(credentials, timeout=10.0, retry_policy=NO_RETRIES) as client:
                number = client.get_phone_number()
                templates = sum(1 for _ in client.list_templates()) if credentials.waba_id else None
        except MessagingError as exc:
            return False, str(exc)
        except Exception as exc:  # the UI and CLI expect a tuple, never an exception
            return False, f"{type(exc).__name__}: {exc}"
        found = f"; {templates} template(s) in WABA {credentials.waba_id}" if templates is not None else ""
        shown = number.get("display_phone_number", credentials.phone_number_id)
        return True, f"Connected to WhatsApp number {shown}{found}"
