"""SMS/MMS notifications for task callbacks and deadline alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from ..hooks.signalwire import SignalWireHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..hooks.signalwire import SignalWireSettings

DEFAULT_FAILURE_TEXT = (
    "Airflow: task {{ ti.task_id }} failed in DAG {{ dag.dag_id }} (try {{ ti.try_number }}, run {{ run_id }}). "
    "Log: {{ ti.log_url }}"
)


@dataclass(frozen=True)
class SmsNotification:
    """What to send, built and checked once; the sync and async paths only differ in how they send."""

    recipients: list[str]
    sender: str
    body: str | None
    media: list[str]


def build_sms(
    settings: SignalWireSettings,
    to: object,
    body: str | None,
    media_urls: Sequence[str] | None,
    from_number: str | None,
) -> SmsNotification:
    from ..core.errors import ConfigurationError
    from ..core.phone import normalize_e164, normalize_recipients
    from ..core.sms import validate_content

    recipients = normalize_recipients(to, "to")
    text, media = validate_content(body, media_urls)
    sender = from_number or settings.from_number
    if not sender:
        raise ConfigurationError(
            "from_number: no sender given. Pass from_number= or set the connection's Default From number."
        )
    return SmsNotification(recipients, normalize_e164(sender, "from_number"), text, media)


class SignalWireNotifier(BaseNotifier):
    """Text someone when a task fails (or succeeds, retries, misses a deadline).

    ``on_failure_callback=send_signalwire_notification(to="+15551230002")`` sends a default text that
    names the DAG, the task, the try and the log URL. ``body`` is a Jinja template rendered with the
    task context. A failed send raises, naming the recipient and the service's error.

    :param to: one E.164 number or a list.
    :param body: the text (Jinja); default: the failure text above.
    :param media_urls: up to 8 http(s) URLs (MMS).
    :param from_number: the sender; default: the connection's Default From number.
    :param signalwire_conn_id: the SignalWire connection to use.
    """

    template_fields = ("to", "body", "media_urls", "from_number", "signalwire_conn_id")

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        body: str | None = DEFAULT_FAILURE_TEXT,
        media_urls: Sequence[str] | None = None,
        from_number: str | None = None,
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.body = body
        self.media_urls = media_urls
        self.from_number = from_number
        self.signalwire_conn_id = signalwire_conn_id

    def notify(self, context: Context) -> None:
        hook = SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)
        sms = build_sms(hook.settings, self.to, self.body, self.media_urls, self.from_number)
        try:
            for number in sms.recipients:
                message = hook.client.create_message(number, sms.sender, sms.body, sms.media)
                self.log.info("Notified %s by SMS: %s", number, message.sid)
        finally:
            hook.close()

    async def async_notify(self, context: Context) -> None:
        hook = SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)
        sms = build_sms(await hook.aget_settings(), self.to, self.body, self.media_urls, self.from_number)
        async with await hook.get_async_client() as client:
            for number in sms.recipients:
                message = await client.create_message(number, sms.sender, sms.body, sms.media)
                self.log.info("Notified %s by SMS: %s", number, message.sid)


send_signalwire_notification = SignalWireNotifier
