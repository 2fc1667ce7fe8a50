"""The triggers behind ``MessageQueueTrigger(scheme="whatsapp" | "signalwire", ...)``.

``MessageQueueTrigger`` hands its keyword arguments to the trigger class the scheme's queue
provider names (:mod:`airflow_provider_messaging.queues.inbound`); since it passes no scheme on,
each service has its own class. They are :class:`InboundMessageEventTrigger` with the service
fixed: one event per matching inbound message, the message as the payload.
"""

from __future__ import annotations

from typing import Any

from .inbound import InboundMessageEventTrigger


class _ServiceInboundTrigger(InboundMessageEventTrigger):
    service_name: str

    def __init__(self, **kwargs: Any) -> None:
        service = kwargs.pop("service", self.service_name)
        if service != self.service_name:
            raise ValueError(f"{type(self).__name__} watches {self.service_name!r} messages, not {service!r}")
        super().__init__(service=self.service_name, **kwargs)


class WhatsAppMessageQueueTrigger(_ServiceInboundTrigger):
    """Every inbound WhatsApp message (``from_numbers``, ``pattern``, ``store_url``, ``poll_interval``)."""

    service_name = "whatsapp"


class SignalWireMessageQueueTrigger(_ServiceInboundTrigger):
    """Every inbound SMS (``from_numbers``, ``pattern``, ``store_url``, ``poll_interval``, or
    ``relay_context`` and ``signalwire_conn_id`` to listen on a Relay connection)."""

    service_name = "signalwire"
