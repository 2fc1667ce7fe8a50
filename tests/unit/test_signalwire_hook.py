from __future__ import annotations

import json

import pytest
import respx

from airflow_provider_messaging.core.errors import ConfigurationError
from airflow_provider_messaging.hooks.signalwire import SignalWireHook

PROJECT = "ea108133-d6b3-407c-9536-9fad8a929a6a"
LIST_URL = f"https://example.signalwire.com/api/laml/2010-04-01/Accounts/{PROJECT}/Messages.json"


def set_conn(monkeypatch, conn_id="signalwire_default", **overrides):
    conn = {
        "conn_type": "signalwire",
        "host": "example.signalwire.com",
        "login": PROJECT,
        "password": "PT-token-value-123",
        "extra": {"signing_secret": "PSK-signing-key-456", "from_number": "+15551230001"},
    }
    conn.update(overrides)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def test_settings_come_from_the_connection(monkeypatch):
    set_conn(monkeypatch)
    settings = SignalWireHook().credentials
    assert settings.project_id == PROJECT and settings.from_number == "+15551230001"
    assert settings.context == "airflow"
    assert "PT-token" not in repr(settings) and "PSK" not in repr(settings)
    assert settings.http_base == "https://example.signalwire.com"


def test_prefixed_extra_keys_are_read_too(monkeypatch):
    set_conn(
        monkeypatch,
        extra={
            "extra__signalwire__from_number": "+15551230009",
            "extra__signalwire__base_url": "http://127.0.0.1:8787",
        },
    )
    settings = SignalWireHook().credentials
    assert settings.from_number == "+15551230009"
    assert settings.http_base == "http://127.0.0.1:8787"


@pytest.mark.parametrize("key", ["signing_key", "extra__signalwire__signing_key"])
def test_a_signing_key_under_its_former_name_still_works_and_the_hook_says_to_rename_it(
    monkeypatch, capsys, key
):
    set_conn(monkeypatch, extra={key: "PSK-signing-key-456"})
    assert SignalWireHook().credentials.signing_key == "PSK-signing-key-456"
    logged = capsys.readouterr().out  # where the hook's log goes outside a task
    assert f"keeps a secret in extra '{key}'" in logged and "rename the key to 'signing_secret'" in logged
    assert "PSK-signing-key-456" not in logged


def test_a_signing_key_under_its_current_name_brings_no_warning(monkeypatch, capsys):
    set_conn(monkeypatch)
    assert SignalWireHook().credentials.signing_key == "PSK-signing-key-456"
    assert "keeps a secret" not in capsys.readouterr().out


def test_every_secret_is_masked_whatever_its_name(monkeypatch):
    from airflow.sdk._shared.secrets_masker import redact

    set_conn(monkeypatch)
    SignalWireHook().credentials  # noqa: B018
    assert redact("token=PT-token-value-123 key=PSK-signing-key-456") == "token=*** key=***"


def test_a_missing_connection_says_how_to_create_it(monkeypatch):
    with pytest.raises(ConfigurationError) as err:
        SignalWireHook(signalwire_conn_id="nope").credentials  # noqa: B018
    assert "No Airflow connection named 'nope'" in str(err.value)
    assert "AIRFLOW_CONN_NOPE" in str(err.value)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"login": ""}, "Project ID (login) is empty"),
        ({"password": ""}, "API Token (password) is empty"),
        ({"host": ""}, "Space URL (host) is empty"),
    ],
)
def test_incomplete_connections_name_the_missing_field(monkeypatch, override, message):
    set_conn(monkeypatch, **override)
    with pytest.raises(ConfigurationError) as err:
        SignalWireHook().credentials  # noqa: B018
    assert message in str(err.value)


@respx.mock
def test_connection_test_succeeds_with_a_cheap_authenticated_call(monkeypatch):
    set_conn(monkeypatch)
    route = respx.get(LIST_URL).respond(200, json={"messages": [], "next_page_uri": None})
    ok, message = SignalWireHook().test_connection()
    assert ok and PROJECT in message
    assert route.calls.last.request.url.params["PageSize"] == "1"


@respx.mock
def test_connection_test_explains_a_wrong_token(monkeypatch):
    set_conn(monkeypatch)
    respx.get(LIST_URL).respond(
        401, json={"code": 20003, "message": "Authentication Error", "more_info": "", "status": 401}
    )
    ok, message = SignalWireHook().test_connection()
    assert not ok and "API Token (password)" in message and "PT-token" not in message


@respx.mock
def test_connection_test_explains_a_wrong_space(monkeypatch):
    import httpx

    set_conn(monkeypatch, host="wrong-space.signalwire.com")
    respx.get(url__startswith="https://wrong-space.signalwire.com").mock(
        side_effect=httpx.ConnectError("dns")
    )
    ok, message = SignalWireHook().test_connection()
    assert not ok and "Could not reach SignalWire at https://wrong-space.signalwire.com" in message


def test_hook_is_registered_for_connection_tests(monkeypatch):
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    info = ProvidersManagerTaskRuntime().hooks["signalwire"]
    assert info is not None and info.hook_class_name.endswith("SignalWireHook")


@respx.mock
async def test_async_client_comes_from_the_same_connection(monkeypatch):
    set_conn(monkeypatch)
    respx.get(LIST_URL).respond(200, json={"messages": [], "next_page_uri": None})
    async with await SignalWireHook().get_async_client() as client:
        assert [m async for m in client.list_messages(limit=1)] == []
        assert client.api.credentials.project_id == PROJECT


def test_legacy_form_methods_match_the_provider_info():
    from airflow_provider_messaging import get_provider_info

    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "signalwire"]
    assert SignalWireHook.get_ui_field_behaviour() == {
        "hidden_fields": ["schema", "port"],
        "relabeling": conn["ui-field-behaviour"]["relabeling"],
        "placeholders": conn["ui-field-behaviour"]["placeholders"],
    }


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"password": "PT-token-value-123\n"}, "API Token (password)"),  # from a secrets file
        ({"password": "PT-tökén-value-123"}, "API Token (password)"),
        ({"login": PROJECT + "\n"}, "Project ID (login)"),
        ({"host": "example.signalwire.com\n"}, "Space URL (host)"),
        ({"host": "exa mple.signalwire.com"}, "Space URL (host)"),
        ({"host": "exämple.signalwire.com"}, "Space URL (host)"),
        ({"extra": {"signing_secret": "PSK-signing\tkey"}}, "Signing Key (extra signing_secret)"),
    ],
)
def test_credentials_that_cannot_be_sent_are_refused_naming_the_field_not_the_value(
    monkeypatch, override, field
):
    set_conn(monkeypatch, **override)
    with pytest.raises(ConfigurationError) as err:
        SignalWireHook().credentials  # noqa: B018
    text = str(err.value)
    assert field in text and "connection 'signalwire_default'" in text
    for value in override.values():
        for part in value.values() if isinstance(value, dict) else [value]:
            assert part.strip() not in text
