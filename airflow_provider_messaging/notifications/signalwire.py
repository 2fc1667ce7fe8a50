"""SMS/MMS notifications for task callbacks and deadline alerts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from ..hooks.signalwire import SignalWireHook, checked_rest_api
from .base import MessagingNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

DEFAULT_FAILURE_TEXT = (
    "Airflow: task {{ ti.task_id }} failed in DAG {{ dag.dag_id }} (try {{ ti.try_number }}, run {{ run_id }}). "
    "Log: {{ ti.log_url }}"
)


class SignalWireNotifier(MessagingNotifier):
    """Text someone when a task fails (or succeeds, retries, misses a deadline).

    ``on_failure_callback=send_signalwire_notification(to="+15551230002")`` sends a default text that
    names the DAG, the task, the try and the log URL. ``body`` is a Jinja template rendered with the
    task context. Every recipient is tried; a send that fails raises afterwards, naming each
    recipient without the message and the service's error. Inside a task's callback each recipient
    gets a given notification once per try, even if the callback runs again.

    :param to: one E.164 number or a list.
    :param body: the text (Jinja); default: the failure text above.
    :param media_urls: up to 8 http(s) URLs (MMS).
    :param from_number: the sender; default: the connection's Default From number.
    :param signalwire_conn_id: the SignalWire connection to use.
    :param api: ``"rest"`` (default: the Compatibility REST API) or ``"native"`` (SignalWire's own
        Messaging API).
    :param custom_variables: up to 20 text pairs echoed in status callbacks; ``api="native"`` only.
    """

    template_fields = ("to", "body", "media_urls", "from_number", "signalwire_conn_id", "custom_variables")

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        body: str | None = DEFAULT_FAILURE_TEXT,
        media_urls: Sequence[str] | None = None,
        from_number: str | None = None,
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        api: str = "rest",
        custom_variables: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api = checked_rest_api(api, custom_variables)
        self.custom_variables = custom_variables
        self.to = to
        self.body = body
        self.media_urls = media_urls
        self.from_number = from_number
        self.signalwire_conn_id = signalwire_conn_id

    def make_hook(self) -> SignalWireHook:
        return SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)

    async def send(self, context: Context, hook: SignalWireHook) -> None:
        from ..core.phone import normalize_recipients
        from ..sending import asend_each, notification_purpose
        from ..signalwire.sender import Sms

        recipients = normalize_recipients(self.to, "to")
        from_number = self.from_number or hook.credentials.from_number
        sms = Sms.checked(self.body, self.media_urls, from_number, self.signalwire_conn_id)
        await asend_each(
            context=context, service="signalwire", recipients=recipients, prepare=sms.to,
            open_sender=self.open_sender(hook), ledger_purpose=notification_purpose(context), retryable=False,
            log=self.log,
        )  # fmt: skip

    def open_sender(self, hook: SignalWireHook) -> Callable[[int], AbstractAsyncContextManager[Any]]:
        if self.api == "native":
            return lambda concurrency: hook.native_sender(concurrency, custom_variables=self.custom_variables)
        return hook.rest_sender


send_signalwire_notification = SignalWireNotifier
