"""WhatsApp notifications for task callbacks and deadline alerts: free-form text or a template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..hooks.whatsapp import WhatsAppHook
from .base import MessagingNotifier
from .signalwire import DEFAULT_FAILURE_TEXT

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..whatsapp.messages import Message


class WhatsAppNotifier(MessagingNotifier):
    """Message someone on WhatsApp when a task fails (or succeeds, retries, misses a deadline).

    Free-form ``text`` reaches people only inside the 24-hour window after they wrote to the
    business; for on-call alerts that must always arrive, give an approved ``template_name`` (with
    ``language`` and ``body_parameters``, which are Jinja templates too). With a WABA id on the
    connection the template is checked before anything is sent, as the operators do. A failed send raises,
    naming the error code and what to do (e.g. 131047: send a template). Every recipient is tried
    first; inside a task's callback each recipient gets a given notification once per try.

    :param to: one recipient or a list: E.164 numbers and business-scoped user ids alike.
    :param text: the text (Jinja); default: a failure text naming the DAG, task, try and log URL.
    :param template_name: send this approved template instead of ``text``.
    :param language: the template's language code.
    :param body_parameters: the template's body parameters (list, or dict for named templates).
    :param whatsapp_conn_id: the WhatsApp connection to use.
    """

    template_fields = ("to", "text", "template_name", "language", "body_parameters", "whatsapp_conn_id")

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        text: str | None = None,
        template_name: str | None = None,
        language: str = "en_US",
        body_parameters: Sequence[str] | Mapping[str, str] = (),
        whatsapp_conn_id: str = WhatsAppHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.text = text if text is not None or template_name else DEFAULT_FAILURE_TEXT
        self.template_name = template_name
        self.language = language
        self.body_parameters = body_parameters
        self.whatsapp_conn_id = whatsapp_conn_id

    def build(self) -> tuple[list[str], Message]:
        """Recipients and message, checked before any request."""
        from ..whatsapp.messages import Text
        from ..whatsapp.recipients import whatsapp_recipients
        from ..whatsapp.sender import template_message

        recipients = whatsapp_recipients(self.to, "to")
        if self.template_name:
            return recipients, template_message(self.template_name, self.language, self.body_parameters)
        return recipients, Text(self.text or "")

    def make_hook(self) -> WhatsAppHook:
        return WhatsAppHook(whatsapp_conn_id=self.whatsapp_conn_id)

    async def send(self, context: Context, hook: WhatsAppHook) -> None:
        import asyncio

        from ..sending import asend_each, notification_purpose
        from ..whatsapp.messages import Template
        from ..whatsapp.sender import prepared
        from ..whatsapp.templates import check_template, find_template

        recipients, message = self.build()
        if isinstance(message, Template) and hook.credentials.waba_id:  # as the operators do: before sending
            templates = await asyncio.to_thread(hook.templates)
            check_template(message, find_template(templates, message.name, message.language))
        await asend_each(
            context=context, service="whatsapp", recipients=recipients,
            prepare=lambda row, to: prepared(row, to, message), open_sender=hook.message_sender,
            ledger_purpose=notification_purpose(context), retryable=False, log=self.log,
        )  # fmt: skip


send_whatsapp_notification = WhatsAppNotifier
