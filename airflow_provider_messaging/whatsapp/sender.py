"""How the send engine sends WhatsApp messages, and how a row of recipients becomes a template send."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..core.engine import PreparedSend, SendResult
from ..core.errors import MessagingError, ValidationError
from ..core.rows import Row, fill
from .cloud import AsyncWhatsAppCloudClient
from .messages import Media, Message, Template, TemplateButton
from .templates import TemplateInfo, check_template

PAIR_INTERVAL = 6.0  # Meta's pair rate limit: about one message per 6 s to the same user


class MessageSender:
    """One Cloud API send per message, spread over the clients ``next_client`` hands out."""

    recipient_interval = PAIR_INTERVAL

    def __init__(
        self,
        next_client: Callable[[], AsyncWhatsAppCloudClient],
        *,
        reply_to: str | None = None,
        callback_data: str | None = None,
    ) -> None:
        self.next_client = next_client
        self.reply_to = reply_to
        self.callback_data = callback_data

    async def send(self, item: PreparedSend[Message]) -> SendResult:
        return await self.next_client().send(
            item.recipient, item.payload, reply_to=self.reply_to, callback_data=self.callback_data
        )


def prepared(
    row: int, recipient: str, message: Message, reply_to: str | None = None
) -> PreparedSend[Message]:
    """A message to one recipient; the ledger tells contents apart by type, content and reply context."""
    return PreparedSend(row, recipient, {"message": message.type, "content": message.ledger_content(),
                                         "reply_to": reply_to}, message)  # fmt: skip


def template_message(
    name: str,
    language: str,
    body: Sequence[Any] | Mapping[str, Any] = (),
    *,
    header_text: str | None = None,
    header_media: Mapping[str, Any] | Media | None = None,
    buttons: Sequence[Mapping[str, Any]] = (),
    values: Callable[[str, str], str] = lambda text, field: text,
) -> Template:
    """A :class:`Template` from plain operator arguments; ``values`` fills per-row placeholders.

    ``header_media`` is a dict in the API's shape or a :class:`Media` (an uploaded file)."""
    media = header_media if isinstance(header_media, Media) else None
    if isinstance(header_media, Mapping) and header_media:
        media = Media(
            str(header_media.get("type", "")),
            header_media.get("link"),
            header_media.get("id"),
            filename=header_media.get("filename"),
        )
    try:
        template_buttons = [
            TemplateButton(str(b["sub_type"]), int(b["index"]), values(str(b["value"]), "buttons"))
            for b in buttons
        ]
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(
            "buttons",
            "each button needs sub_type, index and value",
            "e.g. {'sub_type': 'url', 'index': 0, 'value': '7781'}",
        ) from None
    params = (
        {str(k): str(v) for k, v in body.items()} if isinstance(body, Mapping) else [str(v) for v in body]
    )
    header = values(header_text, "header_text") if header_text else None
    return Template(name, language, params, header, media, template_buttons)


@dataclass(frozen=True)
class TemplateRows:
    """Turns each broadcast row into a checked template send.

    A row carries its parameters as a ``parameters`` value (a list, or a mapping for named
    templates) or in columns (``parameter_columns``, or for a named template the columns named after
    its parameters); optional ``template_name`` and ``language`` columns pick another template.
    With ``templates`` (the WABA's templates, read once) every row is checked against its template.
    """

    template_name: str
    language: str
    parameter_columns: Sequence[str] | Mapping[str, str] | None = None
    header_text: str | None = None
    header_media: Mapping[str, Any] | Media | None = None
    buttons: Sequence[Mapping[str, Any]] = ()
    templates: Mapping[tuple[str, str], TemplateInfo] | None = None

    def prepare(self, row: Row, recipient: str) -> PreparedSend[Message]:
        name = str(row.values.get("template_name") or self.template_name)
        language = str(row.values.get("language") or self.language)
        info = None
        if self.templates is not None:
            info = self.templates.get((name, language))
            if info is None:
                raise ValidationError(
                    f"template_name (row {row.number})",
                    f"template {name!r} in {language!r} does not exist in this WhatsApp Business Account",
                    "Fix the row's template_name/language or create the template",
                )
        template = template_message(
            name, language, self._parameters(info, row), header_text=self.header_text,
            header_media=self.header_media, buttons=self.buttons,
            values=lambda text, field: fill(text, row.values, field, row.number),
        )  # fmt: skip
        if info is not None:
            try:
                check_template(template, info)
            except MessagingError as exc:
                raise ValidationError(f"parameters (row {row.number})", str(exc), "Fix the row") from None
        return PreparedSend(row.number, recipient, {"template": template.ledger_content()}, template)

    def _parameters(self, info: TemplateInfo | None, row: Row) -> list[str] | dict[str, str]:
        given = row.values.get("parameters")
        if isinstance(given, Mapping):
            return {str(k): str(v) for k, v in given.items()}
        if isinstance(given, Sequence) and not isinstance(given, str):
            return [str(v) for v in given]
        columns = self.parameter_columns
        if isinstance(columns, Mapping):
            return {name: _column(row, column) for name, column in columns.items()}
        if columns:
            return [_column(row, column) for column in columns]
        if info is not None and info.parameter_format == "NAMED":
            return {name: _column(row, name) for name in info.body_placeholders()}
        if info is not None and info.body_placeholders():
            raise ValidationError(
                "parameter_columns",
                f"template {info.name!r} takes {len(info.body_placeholders())} positional parameter(s) "
                "and no columns were named for them",
                "Pass parameter_columns=[...] or give each row a 'parameters' list",
            )
        return []


def _column(row: Row, column: str) -> str:
    value = row.values.get(column)
    if value is None or str(value).strip() == "":
        raise ValidationError(
            f"{column} (row {row.number})", "is missing or empty", "Fill the column for this row"
        )
    return str(value)
