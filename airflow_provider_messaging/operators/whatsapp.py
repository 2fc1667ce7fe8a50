"""Send WhatsApp messages and templates through the Cloud API as Airflow tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ..hooks.whatsapp import WhatsAppHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..whatsapp.messages import Message


def default_correlation(context: Context | None) -> str | None:
    """``biz_opaque_callback_data`` naming the task run, echoed back on every status webhook."""
    ti = context.get("ti") if context else None
    if ti is None:
        return None
    map_index = getattr(ti, "map_index", -1)
    return f"airflow:{ti.dag_id}:{ti.run_id}:{ti.task_id}:{map_index}"[:512]


class _WhatsAppSendBase(BaseOperator):
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        reply_to: str | None = None,
        correlation_id: str | None = None,
        whatsapp_conn_id: str = WhatsAppHook.default_conn_name,
        on_unknown: str = "skip",
        force_resend: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.on_unknown = on_unknown
        self.force_resend = force_resend
        self.to = to
        self.reply_to = reply_to
        self.correlation_id = correlation_id
        self.whatsapp_conn_id = whatsapp_conn_id

    @cached_property
    def hook(self) -> WhatsAppHook:
        return WhatsAppHook(whatsapp_conn_id=self.whatsapp_conn_id)

    def build_message(self) -> Message:
        raise NotImplementedError

    def preflight(self, message: Message) -> None:
        """Checks that need the service (templates); plain messages need none."""

    def execute(self, context: Context) -> list[str]:
        from ..core.phone import normalize_recipients
        from ..sending import push_sent, send_each
        from ..task_errors import fail_permanently_on_permanent_errors
        from ..whatsapp.sender import prepared

        with fail_permanently_on_permanent_errors():
            try:
                recipients = normalize_recipients(self.to, "to")
                message = self.build_message()
                self.preflight(message)
                self.hook.credentials  # noqa: B018 - loaded (and its secrets masked) before sending
                report = send_each(
                    context=context, service="whatsapp", recipients=recipients,
                    prepare=lambda row, to: prepared(row, to, message, self.reply_to),
                    open_sender=lambda concurrency: self.hook.message_sender(
                        concurrency, reply_to=self.reply_to,
                        callback_data=self.correlation_id or default_correlation(context),
                    ),
                    on_unknown=self.on_unknown, force_resend=self.force_resend,
                    publish=lambda report: push_sent(context, report), log=self.log,
                )  # fmt: skip
                return report.message_ids
            finally:
                self.hook.close()


class WhatsAppSendMessageOperator(_WhatsAppSendBase):
    """Send a free-form WhatsApp message (text, media, location, contacts, interactive, reaction).

    Free-form messages reach a user only inside the 24-hour customer service window (the user wrote
    to you in the last 24 hours); outside it the task fails without retry and says to send a
    template instead. The return value (XCom) is the list of message ids (wamids), ready for
    :class:`~airflow_provider_messaging.sensors.whatsapp.WhatsAppMessageSensor`.

    :param to: a phone number in E.164 form, or a list of them.
    :param text: a text message body (up to 4,096 characters); or give ``message``.
    :param message: a typed message (``airflow_provider_messaging.whatsapp.messages``) or a
        dict in the Cloud API's own shape, e.g. ``{"type": "image", "image": {"link": "https://..."}}``.
    :param preview_url: render a preview of the first URL in ``text``.
    :param reply_to: a wamid to quote (reply context).
    :param correlation_id: ``biz_opaque_callback_data``; by default names the DAG, run and task.
    :param whatsapp_conn_id: the WhatsApp connection to use.
    :param on_unknown: ``"skip"`` (default) or ``"resend"`` a recipient whose send an earlier try
        lost track of (request sent, no answer).
    :param force_resend: send again to recipients an earlier try of this task already sent to.
    """

    template_fields: Sequence[str] = (
        "to",
        "text",
        "message",
        "reply_to",
        "correlation_id",
        "whatsapp_conn_id",
    )
    template_fields_renderers = {"text": "txt", "message": "json"}

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        text: str | None = None,
        message: Message | Mapping[str, Any] | None = None,
        preview_url: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(to=to, **kwargs)
        self.text = text
        self.message = message
        self.preview_url = preview_url

    def build_message(self) -> Message:
        from ..core.errors import ValidationError
        from ..whatsapp.messages import Message, Text, message_from_dict

        if (self.text is None) == (self.message is None):
            raise ValidationError(
                "text", "give exactly one of text and message", "Pass text='...' or message=..."
            )
        if self.text is not None:
            return Text(self.text, preview_url=self.preview_url)
        if isinstance(self.message, Message):
            return self.message
        if isinstance(self.message, Mapping):
            return message_from_dict(self.message)
        raise ValidationError(
            "message", f"expected a message or a dict, got {type(self.message).__name__}", "Pass a dict"
        )


class WhatsAppSendTemplateOperator(_WhatsAppSendBase):
    """Send an approved WhatsApp template, the only kind of message allowed outside the 24-hour window.

    With a WABA id on the connection, the template is checked before the first send: it must exist
    in ``language``, be APPROVED, and get exactly the parameters it defines. Templates are read
    once per task run.

    :param to: a phone number in E.164 form, or a list of them.
    :param template_name: the template's name.
    :param language: its language code, exactly as approved (``en_US``, ``de``...).
    :param body_parameters: a list for positional templates (``{{1}}``...), a dict for named ones.
    :param header_text: the header's text parameter, if the header has a variable.
    :param header_media: a media header, e.g. ``{"type": "document", "link": "https://.../a.pdf"}``.
    :param buttons: button parameters, e.g. ``[{"sub_type": "url", "index": 1, "value": "7781"}]``.
    :param check_template: set False to skip the pre-flight check.

    Inside a task run every send is recorded in the send ledger: a retry sends only to the
    recipients not yet sent (``on_unknown`` and ``force_resend`` as for the message operator).
    """

    template_fields: Sequence[str] = (
        "to", "template_name", "language", "body_parameters", "header_text", "header_media", "buttons",
        "reply_to", "correlation_id", "whatsapp_conn_id",
    )  # fmt: skip
    template_fields_renderers = {"body_parameters": "json", "header_media": "json", "buttons": "json"}

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        template_name: str,
        language: str,
        body_parameters: Sequence[str] | Mapping[str, str] = (),
        header_text: str | None = None,
        header_media: Mapping[str, Any] | None = None,
        buttons: Sequence[Mapping[str, Any]] = (),
        check_template: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(to=to, **kwargs)
        self.template_name = template_name
        self.language = language
        self.body_parameters = body_parameters
        self.header_text = header_text
        self.header_media = header_media
        self.buttons = buttons
        self.check_template = check_template

    def build_message(self) -> Message:
        from ..whatsapp.sender import template_message

        return template_message(
            self.template_name, self.language, self.body_parameters, header_text=self.header_text,
            header_media=self.header_media, buttons=self.buttons,
        )  # fmt: skip

    def preflight(self, message: Message) -> None:
        from ..whatsapp.messages import Template
        from ..whatsapp.templates import check_template, find_template

        if not self.check_template or not isinstance(message, Template):
            return
        if not self.hook.credentials.waba_id:
            self.log.warning(
                "No WABA id on connection %r: the template is not checked before sending",
                self.whatsapp_conn_id,
            )
            return
        info = find_template(self.hook.templates(), message.name, message.language)
        check_template(message, info)
        self.log.info(
            "Template %s (%s) is %s and its parameters match", info.name, info.language, info.status
        )
