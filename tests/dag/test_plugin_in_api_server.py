"""The webhook receiver as users run it: mounted by the plugin inside a real ``airflow api-server``."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from airflow_provider_messaging.store.store import MessageStore
from airflow_provider_messaging.whatsapp.webhooks import signature as whatsapp_signature
from tests.dag.airflow_processes import airflow_env, api_server, free_port, migrate

pytestmark = pytest.mark.dag


def test_signed_whatsapp_webhook_through_the_api_server_reaches_the_store(tmp_path):
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    conn = {"conn_type": "whatsapp", "password": "EAAG-token", "extra": {"phone_number_id": "1065",
            "app_secret": "plugin-app-secret", "verify_token": "plugin-verify"}}  # fmt: skip
    env = airflow_env(
        tmp_path / "home",
        tmp_path,
        AIRFLOW_CONN_WHATSAPP_DEFAULT=json.dumps(conn),
        AIRFLOW__MESSAGING__STORE_URL=store_url,
    )
    migrate(env)
    body = json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages",
        "value": {"metadata": {"phone_number_id": "1065"}, "statuses": [
            {"id": "wamid.PLUGIN", "status": "delivered", "timestamp": str(int(time.time())), "recipient_id": "49151"}]}}]}]}).encode()  # fmt: skip
    with api_server(env, free_port()) as url:
        hook = f"{url}/messaging/whatsapp/whatsapp_default"
        challenge = httpx.get(
            hook, params={"hub.mode": "subscribe", "hub.verify_token": "plugin-verify", "hub.challenge": "42"}
        )
        assert (challenge.status_code, challenge.text) == (200, "42")
        forged = httpx.post(
            hook, content=body, headers={"X-Hub-Signature-256": whatsapp_signature("wrong", body)}
        )
        assert forged.status_code == 403
        signed = httpx.post(hook, content=body, headers={"X-Hub-Signature-256": whatsapp_signature("plugin-app-secret", body),
                                                          "Content-Type": "application/json"})  # fmt: skip
        assert signed.status_code == 200, signed.text
    store = MessageStore(store_url)
    assert store.get_statuses("whatsapp", ["wamid.PLUGIN"])["wamid.PLUGIN"].state.value == "delivered"
    store.dispose()
