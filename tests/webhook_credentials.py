"""Connections for the webhook receiver in tests, without an Airflow metadata database."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from airflow_provider_messaging.signalwire.credentials import SignalWireCredentials
from airflow_provider_messaging.whatsapp.credentials import WhatsAppCredentials

Credentials = SignalWireCredentials | WhatsAppCredentials


def whatsapp(app_secret: str | None = None, verify_token: str | None = None) -> WhatsAppCredentials:
    return WhatsAppCredentials(
        access_token="test-token",
        phone_number_id="106500000000001",
        app_secret=app_secret,
        verify_token=verify_token,
    )


def signalwire(signing_key: str | None = None) -> SignalWireCredentials:
    return SignalWireCredentials(
        project_id="test-project",
        api_token="test-token",
        space_url="example.signalwire.com",
        signing_key=signing_key,
    )


def resolver(by_conn_id: Mapping[str, Credentials]) -> Callable[[str, str], Credentials | None]:
    """The receiver's ``credentials`` argument: the connection named in the path, of either service."""
    return lambda service, conn_id: by_conn_id.get(conn_id)
