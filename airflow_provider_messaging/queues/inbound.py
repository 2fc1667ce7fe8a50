"""Inbound WhatsApp messages and SMS as message queues: the ``whatsapp`` and ``signalwire`` schemes.

Registered under the provider-info key ``queues``. ``apache-airflow-providers-common-messaging``
imports and instantiates every registered class whenever a DAG imports ``MessageQueueTrigger``, so
this module imports only the base class and names its trigger classes lazily::

    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import Asset, AssetWatcher

    trigger = MessageQueueTrigger(scheme="whatsapp", pattern="^deploy$")
    inbound = Asset("whatsapp_inbound", watchers=[AssetWatcher(name="whatsapp_inbound", trigger=trigger)])

Each inbound message that matches starts a run of every DAG scheduled on the asset; the message
is the asset event's ``payload``. Without common-messaging installed these classes are skipped
(Airflow logs that the optional feature is off) and nothing else changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from airflow.providers.common.messaging.providers.base_provider import BaseMessageQueueProvider

if TYPE_CHECKING:
    from airflow.triggers.base import BaseEventTrigger


class WhatsAppMessageQueueProvider(BaseMessageQueueProvider):
    """``scheme="whatsapp"``: WhatsApp messages the webhook receiver stored (filters as
    :class:`~airflow_provider_messaging.triggers.inbound.InboundMessageEventTrigger`)."""

    scheme = "whatsapp"

    def trigger_class(self) -> type[BaseEventTrigger]:
        from ..triggers.message_queue import WhatsAppMessageQueueTrigger

        return WhatsAppMessageQueueTrigger


class SignalWireMessageQueueProvider(BaseMessageQueueProvider):
    """``scheme="signalwire"``: inbound SMS from the receiver's store, or a Relay context."""

    scheme = "signalwire"

    def trigger_class(self) -> type[BaseEventTrigger]:
        from ..triggers.message_queue import SignalWireMessageQueueTrigger

        return SignalWireMessageQueueTrigger
