"""A SignalWire connection's values, checked once, for the REST and Relay clients and the receiver."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..core.credentials import checked, extra_value, in_connection, named_after
from ..core.errors import ConfigurationError
from .relay_framing import DEFAULT_RELAY_PROTOCOL, checked_relay_protocol

CONN_TYPE = "signalwire"
DEFAULT_CONTEXT = "airflow"
RELAY_HOST = "relay.signalwire.com"


def _text(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None


def space_base_url(space_url: str) -> str:
    """``https://example.signalwire.com`` from a Space URL, host name or bare space name."""
    text = space_url.strip().rstrip("/")
    if "://" not in text:
        if "." not in text:
            text = f"{text}.signalwire.com"
        text = f"https://{text}"
    return text


@dataclass(frozen=True)
class SignalWireCredentials:
    """Project ID and API Token (both clients), the Space (or a ``base_url`` such as the sandbox),
    the Signing Key (the receiver) and defaults for sends. Secrets stay out of ``repr``."""

    project_id: str
    api_token: str = field(repr=False)
    space_url: str = ""
    base_url: str | None = None
    signing_key: str | None = field(default=None, repr=False)
    from_number: str | None = None
    context: str = DEFAULT_CONTEXT
    relay_protocol: str = DEFAULT_RELAY_PROTOCOL  # the Relay framing: "signalwire" (current) or "blade"
    status_callback: str | None = None  # the receiver's route: SignalWire pushes every status there
    conn_id: str | None = field(default=None, compare=False)  # named in error texts
    # a secret extra's former name -> its name now, one Airflow redacts in its UI and REST API
    # (``signing_key`` holds no sensitive word); the former name is still read
    renamed_secrets: ClassVar[dict[str, str]] = {"signing_key": "signing_secret"}

    def __post_init__(self) -> None:
        checked_relay_protocol(self.relay_protocol, "Relay protocol (extra relay_protocol)")
        checked(self.project_id, "Project ID (login)", required="copy it from the Dashboard's API page")
        checked(self.api_token, "API Token (password)", required="create one on the Dashboard's API page")
        checked(self.signing_key, "Signing Key (extra signing_secret)")
        checked(self.space_url, "Space URL (host)")  # the Space goes into every URL: no blank in it
        if not self.space_url and not self.base_url:
            raise ConfigurationError(
                "Space URL (host) is empty. Set it to your Space, e.g. 'example.signalwire.com'"
            )

    @classmethod
    def from_connection(
        cls,
        conn_id: str,
        *,
        host: str | None,
        login: str | None,
        password: str | None,
        extras: Mapping[str, Any],
    ) -> SignalWireCredentials:
        """From an Airflow connection's fields; a problem names the connection and the field."""

        def extra(name: str) -> Any:
            return extra_value(extras, CONN_TYPE, name)

        with in_connection(conn_id):
            return cls(
                project_id=login or "",
                api_token=password or "",
                space_url=host or "",
                base_url=_text(extra("base_url")),
                signing_key=extra_value(extras, CONN_TYPE, "signing_secret", formerly="signing_key"),
                from_number=_text(extra("from_number")),
                context=_text(extra("context")) or DEFAULT_CONTEXT,
                relay_protocol=_text(extra("relay_protocol")) or DEFAULT_RELAY_PROTOCOL,
                status_callback=_text(extra("status_callback")),
                conn_id=conn_id,
            )

    @property
    def source(self) -> str:
        """Where these credentials come from, for error texts."""
        return named_after(self.conn_id)

    @property
    def http_base(self) -> str:
        return (self.base_url or space_base_url(self.space_url)).rstrip("/")

    @property
    def relay_host(self) -> str:
        """Where Relay listens: the ``base_url`` (the sandbox), else the Space."""
        return self.base_url or self.space_url or RELAY_HOST

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.api_token, self.signing_key) if s]
