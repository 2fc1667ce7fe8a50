"""A WhatsApp connection's values, checked once, for the Cloud API client and the webhook receiver."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..core.credentials import checked, extra_value, in_connection, named_after
from ..core.errors import ConfigurationError

CONN_TYPE = "whatsapp"
GRAPH_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"
_VERSION = re.compile(r"^v?[0-9]+\.[0-9]+$")


@dataclass(frozen=True)
class WhatsAppCredentials:
    """The access token and business number (the client), the WABA (template checks), and the app
    secret and verify token (the webhook receiver). Secrets stay out of ``repr``."""

    access_token: str = field(repr=False)
    phone_number_id: str
    waba_id: str | None = None
    api_version: str = DEFAULT_API_VERSION
    base_url: str | None = None
    app_secret: str | None = field(default=None, repr=False)
    verify_token: str | None = field(default=None, repr=False)
    conn_id: str | None = field(default=None, compare=False)  # named in error texts

    def __post_init__(self) -> None:
        checked(self.access_token, "Access token (password)",
                required="create a System User token in Business Manager")  # fmt: skip
        checked(self.phone_number_id, "Phone number id (extra phone_number_id)",
                required="copy it from WhatsApp Manager > API setup")  # fmt: skip
        checked(self.app_secret, "App secret (extra app_secret)")
        checked(self.verify_token, "Webhook verify token (extra verify_token)")
        if not _VERSION.match(self.api_version):
            raise ConfigurationError(
                f"Graph API version (extra api_version) {self.api_version!r} is not a version: use e.g. 'v25.0'"
            )

    @classmethod
    def from_connection(
        cls, conn_id: str, *, login: str | None, password: str | None, extras: Mapping[str, Any]
    ) -> WhatsAppCredentials:
        """From an Airflow connection's fields; a problem names the connection and the field."""

        def extra(name: str) -> str | None:
            value = extra_value(extras, CONN_TYPE, name)
            return str(value).strip() if value is not None else None

        version = extra("api_version") or DEFAULT_API_VERSION
        with in_connection(conn_id):
            return cls(
                access_token=password or "",
                phone_number_id=extra("phone_number_id") or (login or "").strip(),
                waba_id=extra("waba_id"),
                api_version=version if version.startswith("v") else f"v{version}",
                base_url=extra("base_url"),
                app_secret=extra_value(extras, CONN_TYPE, "app_secret"),
                verify_token=extra_value(extras, CONN_TYPE, "verify_token"),
                conn_id=conn_id,
            )

    @property
    def source(self) -> str:
        """Where these credentials come from, for error texts."""
        return named_after(self.conn_id)

    @property
    def http_base(self) -> str:
        return (self.base_url or GRAPH_URL).rstrip("/")

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.access_token, self.app_secret, self.verify_token) if s]
