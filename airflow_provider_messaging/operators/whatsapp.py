"""Send WhatsApp messages and templates through the Cloud API as Airflow tasks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ..hooks.whatsapp import WhatsAppHook
from .stopping import StopsSendsOnKill

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..whatsapp.media import MediaFile
    from ..whatsapp.messages import Media, Message


def default_correlation(context: Context | None) -> str | None:
    """``biz_opaque_callback_data`` naming the task run, echoed back on every status webhook."""
    ti = context.get("ti") if context else None
    if ti is None:
        return None
    map_index = getattr(ti, "map_index", -1)
    return f"airflow:{ti.dag_id}:{ti.run_id}:{ti.task_id}:{map_index}"[:512]


class _WhatsAppSendBase(StopsSendsOnKill, BaseOperator):
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        reply_to: str | None = None,
        correlation_id: str | None = None,
        media_path: Any = None,
        media_kind: str | None = None,
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
        self.media_path = media_path
        self.media_kind = media_kind
        self.whatsapp_conn_id = whatsapp_conn_id

    @cached_property
    def hook(self) -> WhatsAppHook:
        return WhatsAppHook(whatsapp_conn_id=self.whatsapp_conn_id)

    def build_message(self, media: Media | None) -> Message:
        """The message to send; ``media`` is the file from ``media_path`` once it has an id."""
        raise NotImplementedError

    def checked_media(self) -> MediaFile | None:
        """The file from ``media_path``, checked against Meta's limits (no request yet)."""
        from ..hooks.whatsapp import storage_path
        from ..whatsapp.media import media_file

        if self.media_path is None:
            return None
        return media_file(storage_path(self.media_path), self.media_kind)

    def preflight(self, message: Message) -> None:
        """Checks that need the service (templates); plain messages need none."""

    def execute(self, context: Context) -> list[str]:
        from ..sending import push_sent, send_each
        from ..task_errors import fail_permanently_on_permanent_errors
        from ..whatsapp.recipients import whatsapp_recipients
        from ..whatsapp.sender import prepared

        with fail_permanently_on_permanent_errors():
            try:
                recipients = whatsapp_recipients(self.to, "to")
                media = self.checked_media()
                # every check, the template's included, comes before the upload: the file is sent
                # by id, and the id is known only after it
                message = self.build_message(media.message("pending-upload") if media else None)
                self.preflight(message)
                self.hook.credentials  # noqa: B018 - loaded (and its secrets masked) before sending
                if media is not None:
                    message = self.build_message(self.hook.upload(media))
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

    :param to: a recipient or a list: phone numbers in E.164 form and business-scoped user ids
        (``US.13491208655302741918``) alike.
    :param text: a text message body (up to 4,096 characters); or give ``message`` or ``media_path``.
    :param message: a typed message (``airflow_provider_messaging.whatsapp.messages``) or a
        dict in the Cloud API's own shape, e.g. ``{"type": "image", "image": {"link": "https://..."}}``.
    :param media_path: a file to send: a local path, an ``ObjectStoragePath`` or its URL
        (``s3://bucket/report.pdf``). It is uploaded once and sent by media id; its type and size are
        checked against Meta's limits first.
    :param media_kind: ``image``, ``audio``, ``video``, ``document`` or ``sticker``; default: what
        the file's type implies (a PDF is a document, a PNG an image).
    :param caption: the file's caption (image, video, document; up to 1,024 characters).
    :param filename: the name a document shows (default: the file's own).
    :param preview_url: render a preview of the first URL in ``text``.
    :param reply_to: a wamid to quote (reply context).
    :param correlation_id: ``biz_opaque_callback_data``; by default names the DAG, run and task.
    :param whatsapp_conn_id: the WhatsApp connection to use.
    :param on_unknown: ``"skip"`` (default) or ``"resend"`` a recipient whose send an earlier try
        lost track of (request sent, no answer).
    :param force_resend: send again to recipients an earlier try of this task already sent to.
    """

    template_fields: Sequence[str] = (
        "to", "text", "message", "media_path", "caption", "filename", "reply_to", "correlation_id",
        "whatsapp_conn_id",
    )  # fmt: skip
    template_fields_renderers = {"text": "txt", "message": "json"}

    def __init__(
        self,
        *,
        to: str | Sequence[str],
        text: str | None = None,
        message: Message | Mapping[str, Any] | None = None,
        caption: str | None = None,
        filename: str | None = None,
        preview_url: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(to=to, **kwargs)
        self.text = text
        self.message = message
        self.caption = caption
        self.filename = filename
        self.preview_url = preview_url

    def build_message(self, media: Media | None) -> Message:
        from dataclasses import replace

        from ..core.errors import ValidationError
        from ..whatsapp.messages import Message, Text, message_from_dict

        if sum(x is not None for x in (self.text, self.message, self.media_path)) != 1:
            raise ValidationError(
                "text", "give exactly one of text, message and media_path",
                "Pass text='...', message=... or media_path='/path/to/file'",
            )  # fmt: skip
        if media is not None:
            return replace(media, caption=self.caption, filename=self.filename or media.filename)
        if self.caption is not None or self.filename is not None:
            raise ValidationError(
                "caption", "a caption or filename needs media_path", "Drop them or pass media_path"
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

    :param to: a recipient or a list: phone numbers in E.164 form and business-scoped user ids.
    :param template_name: the template's name.
    :param language: its language code, exactly as approved (``en_US``, ``de``...).
    :param body_parameters: a list for positional templates (``{{1}}``...), a dict for named ones.
    :param header_text: the header's text parameter, if the header has a variable.
    :param header_media: a media header, e.g. ``{"type": "document", "link": "https://.../a.pdf"}``.
    :param media_path: the media header's file instead (a local path, an ``ObjectStoragePath`` or
        its URL): a PDF for a document header, JPEG/PNG for an image, MP4/3GP for a video. Uploaded
        once after the template check, sent by media id.
    :param media_kind: the header's kind when the file's type does not say it (``document``...).
    :param buttons: button parameters, e.g. ``[{"sub_type": "url", "index": 1, "value": "7781"}]``.
    :param check_template: set False to skip the pre-flight check.

    Inside a task run every send is recorded in the send ledger: a retry sends only to the
    recipients not yet sent (``on_unknown`` and ``force_resend`` as for the message operator).
    """

    template_fields: Sequence[str] = (
        "to", "template_name", "language", "body_parameters", "header_text", "header_media", "media_path",
        "buttons", "reply_to", "correlation_id", "whatsapp_conn_id",
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

    def checked_media(self) -> MediaFile | None:
        from ..hooks.whatsapp import storage_path
        from ..whatsapp.media import TEMPLATE_HEADER_KINDS, media_file

        if self.media_path is None:
            return None
        return media_file(storage_path(self.media_path), self.media_kind, allowed=TEMPLATE_HEADER_KINDS)

    def build_message(self, media: Media | None) -> Message:
        from ..core.errors import ValidationError
        from ..whatsapp.sender import template_message

        if media is not None and self.header_media:
            raise ValidationError(
                "media_path", "both media_path and header_media given", "A template has one header"
            )
        return template_message(
            self.template_name, self.language, self.body_parameters, header_text=self.header_text,
            header_media=media or self.header_media, buttons=self.buttons,
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
