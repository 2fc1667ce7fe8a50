"""Mounts the webhook receiver inside ``airflow api-server`` at ``/messaging``.

Registered through the ``airflow.plugins`` entry point. Every Airflow component imports plugins,
so the FastAPI app is built only in the API server.
"""

from __future__ import annotations

import sys
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/messaging"


def _fastapi_apps() -> list[dict[str, Any]]:
    if len(sys.argv) < 2 or sys.argv[1] != "api-server":
        return []
    from .webhooks import create_webhook_app

    return [{"app": create_webhook_app(), "url_prefix": URL_PREFIX, "name": "Messaging webhooks"}]


class MessagingPlugin(AirflowPlugin):
    name = "messaging"
    fastapi_apps = _fastapi_apps()
