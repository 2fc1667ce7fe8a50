"""Apache Airflow provider: SMS/MMS through SignalWire and messages through the WhatsApp Cloud API.

This module is imported by Airflow's provider discovery in every process, so it imports nothing.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

PACKAGE_NAME = "airflow-provider-messaging"


def get_provider_info() -> dict[str, Any]:
    """Provider metadata read by Airflow (connection forms, CLI listings, config defaults)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Messaging (SignalWire SMS/MMS, WhatsApp Cloud API)",
        "description": "Send SMS/MMS through SignalWire and WhatsApp messages, notify on task events, "
        "and gate pipelines on delivery.",
        "integrations": [
            {
                "integration-name": "SignalWire",
                "external-doc-url": "https://developer.signalwire.com/",
                "tags": ["service"],
            },
            {
                "integration-name": "WhatsApp Cloud API",
                "external-doc-url": "https://developers.facebook.com/docs/whatsapp/cloud-api",
                "tags": ["service"],
            },
        ],
        "hooks": [
            {
                "integration-name": "SignalWire",
                "python-modules": ["airflow_provider_messaging.hooks.signalwire"],
            },
            {
                "integration-name": "WhatsApp Cloud API",
                "python-modules": ["airflow_provider_messaging.hooks.whatsapp"],
            },
        ],
        "operators": [
            {
                "integration-name": "SignalWire",
                "python-modules": [
                    "airflow_provider_messaging.operators.signalwire",
                    "airflow_provider_messaging.operators.broadcast",
                ],
            },
            {
                "integration-name": "WhatsApp Cloud API",
                "python-modules": [
                    "airflow_provider_messaging.operators.whatsapp",
                    "airflow_provider_messaging.operators.broadcast",
                ],
            },
        ],
        "sensors": [
            {
                "integration-name": "SignalWire",
                "python-modules": [
                    "airflow_provider_messaging.sensors.signalwire",
                    "airflow_provider_messaging.sensors.inbound",
                ],
            },
            {
                "integration-name": "WhatsApp Cloud API",
                "python-modules": [
                    "airflow_provider_messaging.sensors.whatsapp",
                    "airflow_provider_messaging.sensors.inbound",
                ],
            },
        ],
        "triggers": [
            {
                "integration-name": "SignalWire",
                "python-modules": [
                    "airflow_provider_messaging.triggers.delivery",
                    "airflow_provider_messaging.triggers.inbound",
                    "airflow_provider_messaging.triggers.message_queue",
                ],
            },
        ],
        "notifications": [
            "airflow_provider_messaging.notifications.signalwire.SignalWireNotifier",
            "airflow_provider_messaging.notifications.whatsapp.WhatsAppNotifier",
            "airflow_provider_messaging.notifications.hitl.WhatsAppHITLNotifier",
            "airflow_provider_messaging.notifications.hitl.SignalWireHITLNotifier",
        ],
        # MessageQueueTrigger(scheme="whatsapp" | "signalwire") (apache-airflow-providers-common-messaging)
        "queues": [
            "airflow_provider_messaging.queues.inbound.WhatsAppMessageQueueProvider",
            "airflow_provider_messaging.queues.inbound.SignalWireMessageQueueProvider",
        ],
        "connection-types": [_signalwire_connection_type(), _whatsapp_connection_type()],
        "config": {
            "messaging": {
                "description": "Where the messaging provider keeps delivery states and inbound messages, "
                "and which phone numbers count as test numbers.",
                "options": {
                    "store_url": {
                        "description": "SQLAlchemy URL of the status store. Empty: a SQLite file "
                        "messaging_store.db in AIRFLOW_HOME (one machine). Use PostgreSQL "
                        "(postgresql+psycopg://user:password@host/db) when the webhook receiver, workers "
                        "and triggerer run on several machines.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "postgresql+psycopg://airflow:secret@db:5432/airflow",
                        "default": "",
                        "sensitive": True,
                    },
                    "test_number_prefixes": {
                        "description": "Comma-separated number prefixes that are test ranges: numbers "
                        "starting with one are checked for their length only, not against the numbering "
                        "plan. The default +1555 is the North American area code that was never assigned "
                        "(the sandbox's magic numbers). Empty: every number must be valid.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "+1555,+447700900",
                        "default": "+1555",
                    },
                },
            }
        },
    }


def _signalwire_connection_type() -> dict[str, Any]:
    text = {"type": ["string", "null"]}
    return {
        "connection-type": "signalwire",
        "hook-class-name": "airflow_provider_messaging.hooks.signalwire.SignalWireHook",
        "hook-name": "SignalWire",
        "conn-fields": {
            # named so that Airflow hides it in its UI and REST API (a key with "secret" in it);
            # connections saved with the former name "signing_key" still work
            "signing_secret": {
                "label": "Signing Key",
                "description": "Dashboard > API > Signing Key. Checks the signatures of status callbacks.",
                "schema": {**text, "format": "password"},
            },
            "from_number": {
                "label": "Default From number",
                "description": "E.164 number owned by the project, used when a task names no sender.",
                "schema": {**text, "pattern": "^\\+[1-9][0-9]{6,14}$"},
            },
            "context": {
                "label": "Default Relay context",
                "description": "Relay context for sends and inbound messages (default 'airflow').",
                "schema": {**text, "default": "airflow"},
            },
            "relay_protocol": {
                "label": "Relay protocol",
                "description": "The Relay WebSocket framing: 'signalwire' (the current one, the default) or "
                "'blade' (the older one of the signalwire 2.x SDKs).",
                "schema": {**text, "enum": ["signalwire", "blade", None], "default": "signalwire"},
            },
            "status_callback": {
                "label": "Status callback URL",
                "description": "Where SignalWire reports every status change: the webhook receiver's route for this "
                "connection, e.g. https://airflow.example.com/messaging/signalwire/signalwire_default. Sends "
                "that name no status_callback use it.",
                "schema": {**text, "format": "url"},
            },
            "base_url": {
                "label": "Base URL override",
                "description": "Send every request here instead of the Space, e.g. http://127.0.0.1:8787 "
                "for the local sandbox. Leave empty in production.",
                "schema": {**text, "format": "url"},
            },
        },
        "ui-field-behaviour": {
            "hidden-fields": ["schema", "port", "extra"],
            "relabeling": {"host": "Space URL", "login": "Project ID", "password": "API Token"},
            "placeholders": {
                "host": "example.signalwire.com",
                "login": "ea108133-d6b3-407c-9536-9fad8a929a6a",
                "password": "PTxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                "signing_secret": "PSKxxxxxxxxxxxxxxxxxxxxxxxx",
                "from_number": "+15551230001",
                "context": "airflow",
                "relay_protocol": "signalwire",
                "status_callback": "https://airflow.example.com/messaging/signalwire/signalwire_default",
                "base_url": "http://127.0.0.1:8787",
            },
        },
    }


def _whatsapp_connection_type() -> dict[str, Any]:
    text = {"type": ["string", "null"]}
    return {
        "connection-type": "whatsapp",
        "hook-class-name": "airflow_provider_messaging.hooks.whatsapp.WhatsAppHook",
        "hook-name": "WhatsApp Cloud API",
        "conn-fields": {
            "phone_number_id": {
                "label": "Phone number id",
                "description": "The business number's Graph id (WhatsApp Manager > API setup), not the number itself.",
                "schema": {**text, "pattern": "^[0-9]+$"},
            },
            "waba_id": {
                "label": "WABA id",
                "description": "WhatsApp Business Account id; needed to check templates before sending.",
                "schema": {**text, "pattern": "^[0-9]+$"},
            },
            "api_version": {
                "label": "Graph API version",
                "description": "e.g. v25.0 (default) or v26.0.",
                "schema": {**text, "default": "v25.0", "pattern": "^v?[0-9]+\\.[0-9]+$"},
            },
            "app_secret": {
                "label": "App secret",
                "description": "The Meta app's secret; checks X-Hub-Signature-256 on webhooks.",
                "schema": {**text, "format": "password"},
            },
            "verify_token": {
                "label": "Webhook verify token",
                "description": "The token you chose for Meta's webhook verification handshake.",
                "schema": {**text, "format": "password"},
            },
            "base_url": {
                "label": "Base URL override",
                "description": "Send every request here instead of https://graph.facebook.com, e.g. "
                "http://127.0.0.1:8787 for the local sandbox.",
                "schema": {**text, "format": "url"},
            },
        },
        "ui-field-behaviour": {
            "hidden-fields": ["host", "schema", "port", "login", "extra"],
            "relabeling": {"password": "Access token"},
            "placeholders": {
                "password": "EAAG... (System User token)",
                "phone_number_id": "106500000000001",
                "waba_id": "200000000000001",
                "api_version": "v25.0",
                "base_url": "http://127.0.0.1:8787",
            },
        },
    }
