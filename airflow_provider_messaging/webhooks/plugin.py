"""Mounts the webhook receiver inside ``airflow api-server`` at ``/messaging``.

Registered through the ``airflow.plugins`` entry point. Every Airflow component imports plugins,
but only the API server mounts ``fastapi_apps`` and sends requests to them; the receiver (FastAPI
routes, the store, the service parsers) is built on the first request, so no other component pays
for it, and nothing needs to guess which component it runs in. With it starts, in a thread of its
own, the responder that records answers to human-in-the-loop questions given by message.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/messaging"


class LazyReceiver:
    """An ASGI app that builds the webhook receiver when the first request reaches it."""

    def __init__(self) -> None:
        self._app: Any = None
        self._lock = threading.Lock()

    def _receiver(self) -> Any:
        with self._lock:
            if self._app is None:
                from ..hitl.responder import start_responder
                from .receiver import SERVICES, create_webhook_app

                self._app = create_webhook_app(name=f"{socket.gethostname()} (airflow api-server)")
                # mounted apps get no lifespan: the writer starts here, and records the receiver alive
                self._app.receiver.writer.start(SERVICES)
                start_responder()  # answers to human-in-the-loop questions arrive here: record them
        return self._app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._receiver()(scope, receive, send)


class MessagingPlugin(AirflowPlugin):
    name = "messaging"
    fastapi_apps = [{"app": LazyReceiver(), "url_prefix": URL_PREFIX, "name": "Messaging webhooks"}]
