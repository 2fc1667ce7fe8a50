from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import airflow
import jsonschema
import pytest

from airflow_provider_messaging import get_provider_info

SCHEMAS = pathlib.Path(airflow.__file__).parent


def test_provider_info_passes_airflows_runtime_schema():
    schema = json.loads((SCHEMAS / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_connection_form_fields_pass_the_provider_yaml_schema():
    schema = json.loads((SCHEMAS / "provider.yaml.schema.json").read_text())
    conn_schema = schema["properties"]["connection-types"]
    jsonschema.validate(get_provider_info()["connection-types"], conn_schema)


def test_signalwire_form_relabels_the_standard_fields():
    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == "signalwire"]
    relabel = conn["ui-field-behaviour"]["relabeling"]
    assert relabel == {"host": "Space URL", "login": "Project ID", "password": "API Token"}
    assert set(conn["conn-fields"]) == {
        "signing_secret",
        "from_number",
        "context",
        "relay_protocol",
        "status_callback",
        "base_url",
    }


@pytest.mark.parametrize("conn_type", ["signalwire", "whatsapp"])
def test_every_secret_field_has_a_name_the_airflow_ui_and_rest_api_hide(conn_type):
    """Airflow hides an extra's value only when its name holds a sensitive word, whatever the form says."""
    from airflow._shared.secrets_masker import should_hide_value_for_key

    (conn,) = [c for c in get_provider_info()["connection-types"] if c["connection-type"] == conn_type]
    secret = [name for name, f in conn["conn-fields"].items() if f["schema"].get("format") == "password"]
    assert secret == {"signalwire": ["signing_secret"], "whatsapp": ["app_secret", "verify_token"]}[conn_type]
    assert [name for name in secret if not should_hide_value_for_key(name)] == []


def test_airflow_discovers_the_provider_and_its_hook():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = {row["connection_type"]: row for row in json.loads(out.stdout)}
    assert rows["signalwire"]["class"] == "airflow_provider_messaging.hooks.signalwire.SignalWireHook"
    assert rows["whatsapp"]["class"] == "airflow_provider_messaging.hooks.whatsapp.WhatsAppHook"
    assert rows["signalwire"]["package_name"] == "airflow-provider-messaging"


def test_importing_the_provider_package_imports_nothing_heavy():
    code = "import sys, airflow_provider_messaging; print(sorted(m for m in sys.modules if m.startswith(('airflow.', 'httpx', 'phonenumbers'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_importing_the_operator_modules_leaves_clients_store_and_phonenumbers_unloaded():
    code = (
        "import sys, airflow_provider_messaging.operators.signalwire, airflow_provider_messaging.sensors.signalwire,"
        " airflow_provider_messaging.operators.broadcast, airflow_provider_messaging.notifications.whatsapp,"
        " airflow_provider_messaging.notifications.hitl, airflow_provider_messaging.queues.inbound;"
        "print(sorted(m for m in sys.modules if m.startswith(('phonenumbers', "
        "'airflow_provider_messaging.signalwire.', 'airflow_provider_messaging.whatsapp.',"
        " 'airflow_provider_messaging.store', 'airflow_provider_messaging.core.engine',"
        " 'airflow_provider_messaging.sending', 'airflow_provider_messaging.webhooks.receiver',"
        " 'airflow_provider_messaging.hitl', 'airflow_provider_messaging.triggers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_airflow_lists_the_provider():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "-o", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "airflow-provider-messaging" in {row["package_name"] for row in json.loads(out.stdout)}


def test_every_module_listed_in_provider_info_imports():
    import importlib

    info = get_provider_info()
    names = {i["integration-name"] for i in info["integrations"]}
    for key in ("hooks", "operators", "sensors", "triggers"):
        for entry in info[key]:
            assert entry["integration-name"] in names
            for module in entry["python-modules"]:
                importlib.import_module(module)
    listed = {m for key in ("hooks", "operators", "sensors") for e in info[key] for m in e["python-modules"]}
    assert {
        "airflow_provider_messaging.hooks.whatsapp",
        "airflow_provider_messaging.sensors.whatsapp",
    } <= listed


def test_the_queue_schemes_are_registered_and_name_event_triggers():
    import importlib

    from airflow.triggers.base import BaseEventTrigger

    found = {}
    for path in get_provider_info()["queues"]:
        module, name = path.rsplit(".", 1)
        provider = getattr(importlib.import_module(module), name)()
        found[provider.scheme] = provider.trigger_class()
    assert set(found) == {"whatsapp", "signalwire"}
    assert all(issubclass(trigger, BaseEventTrigger) for trigger in found.values())
