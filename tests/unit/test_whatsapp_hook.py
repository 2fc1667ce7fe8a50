from __future__ import annotations

import json

import pytest

from airflow_provider_messaging.core.errors import ConfigurationError
from airflow_provider_messaging.hooks.whatsapp import WhatsAppHook


def set_conn(monkeypatch, **overrides):
    conn = {"conn_type": "whatsapp", "password": "EAAG-access-token-123",
            "extra": {"phone_number_id": "1065", "waba_id": "2000", "api_version": "26.0",
                      "app_secret": "app-secret-value-456", "verify_token": "verify-token-789"}}  # fmt: skip
    conn.update(overrides)
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps(conn))


def test_settings_come_from_the_connection(monkeypatch):
    set_conn(monkeypatch)
    s = WhatsAppHook().credentials
    assert (s.phone_number_id, s.waba_id, s.api_version) == ("1065", "2000", "v26.0")
    assert s.http_base == "https://graph.facebook.com"
    assert "EAAG" not in repr(s) and "app-secret" not in repr(s)


def test_every_secret_is_masked(monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact

    set_conn(monkeypatch)
    WhatsAppHook().credentials  # noqa: B018
    text = "EAAG-access-token-123 app-secret-value-456 verify-token-789"
    assert redact(text) == "*** *** ***"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"password": ""}, "Access token (password) is empty"),
        ({"extra": {}}, "Phone number id (extra phone_number_id) is empty"),
    ],
)
def test_incomplete_connections_name_the_field(monkeypatch, override, message):
    set_conn(monkeypatch, **override)
    with pytest.raises(ConfigurationError) as err:
        WhatsAppHook().credentials  # noqa: B018
    assert message in str(err.value)


def test_missing_connection_says_how_to_create_it():
    with pytest.raises(ConfigurationError, match="AIRFLOW_CONN_WA_OTHER"):
        WhatsAppHook(whatsapp_conn_id="wa_other").credentials  # noqa: B018


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"password": "EAAG-access-token-123\n"}, "Access token (password)"),  # from a secrets file
        ({"password": "EAAG-accèss-token"}, "Access token (password)"),
        ({"extra": {"phone_number_id": "1065", "app_secret": "app secret"}}, "App secret (extra app_secret)"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_naming_the_field_not_the_value(
    monkeypatch, override, field
):
    set_conn(monkeypatch, **override)
    with pytest.raises(ConfigurationError) as err:
        WhatsAppHook().credentials  # noqa: B018
    text = str(err.value)
    assert field in text and "connection 'whatsapp_default'" in text
    assert "EAAG" not in text and "app secret" not in text.lower().replace("app secret (", "")
