"""Typed WhatsApp Cloud API message payloads that refuse, before any request, what the API refuses.

Each message type knows its ``type`` name and builds its own object; :func:`build_send_payload`
wraps it in the common envelope (recipient, reply context, ``biz_opaque_callback_data``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from ..core.errors import ValidationError
from .recipients import recipient_fields, whatsapp_recipient

TEXT_MAX = 4096
CAPTION_MAX = 1024
HEADER_MAX = 60
FOOTER_MAX = 60
INTERACTIVE_BODY_MAX = 1024
BUTTON_TITLE_MAX = 20
BUTTON_ID_MAX = 256
LIST_BUTTON_MAX = 20
SECTION_TITLE_MAX = 24
ROW_ID_MAX, ROW_TITLE_MAX, ROW_DESCRIPTION_MAX = 200, 24, 72
CALLBACK_DATA_MAX = 512
MEDIA_KINDS = ("image", "audio", "video", "document", "sticker")
_NAMED_PARAM = re.compile(r"^[a-z_]{1,20}$")


def _check_text(field_name: str, value: str | None, limit: int, required: bool = True) -> None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field_name, "is empty", "Give it some text")
        return
    if not isinstance(value, str):
        raise ValidationError(field_name, f"expected text, got {type(value).__name__}", "Pass a string")
    if len(value) > limit:
        raise ValidationError(
            field_name,
            f"{len(value)} characters is over the {limit}-character limit",
            f"Shorten it by {len(value) - limit}",
        )


def _check_url(field_name: str, url: str) -> None:
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValidationError(
            field_name, f"{url!r} is not an http(s) URL", "Use a public http:// or https:// URL"
        )


class Message:
    """Base of every message type: ``type`` name plus the object stored under it."""

    type: str = ""

    def content(self) -> Any:
        raise NotImplementedError

    def ledger_content(self) -> Any:
        """What names this message in the send ledger: its content, unless that holds a fresh id."""
        return self.content()


@dataclass(frozen=True)
class Text(Message):
    body: str
    preview_url: bool = False
    type = "text"

    def __post_init__(self) -> None:
        _check_text("text.body", self.body, TEXT_MAX)

    def content(self) -> dict[str, Any]:
        return {"body": self.body, "preview_url": self.preview_url}


@dataclass(frozen=True)
class Media(Message):
    """Image, audio, video, document or sticker, by public ``link`` or uploaded ``media_id``.

    ``uploaded_from`` names the file a ``media_id`` was uploaded from: a task's retry uploads again
    and gets a new id, so the send ledger knows the message by the file instead.
    """

    kind: str
    link: str | None = None
    media_id: str | None = None
    caption: str | None = None
    filename: str | None = None
    voice: bool = False
    uploaded_from: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in MEDIA_KINDS:
            raise ValidationError(
                "media.kind", f"{self.kind!r} is not a media type", f"Use one of {', '.join(MEDIA_KINDS)}"
            )
        if (self.link is None) == (self.media_id is None):
            raise ValidationError(
                f"{self.kind}",
                "needs exactly one of link and media_id",
                "Pass a public URL or an uploaded media id",
            )
        if self.link is not None:
            _check_url(f"{self.kind}.link", self.link)
        if self.caption is not None:
            if self.kind not in ("image", "video", "document"):
                raise ValidationError(
                    f"{self.kind}.caption", f"{self.kind} messages take no caption", "Drop the caption"
                )
            _check_text(f"{self.kind}.caption", self.caption, CAPTION_MAX)
        if self.filename is not None and self.kind != "document":
            raise ValidationError(
                f"{self.kind}.filename", "only documents have a filename", "Drop the filename"
            )
        if self.voice and self.kind != "audio":
            raise ValidationError(f"{self.kind}.voice", "only audio can be a voice note", "Drop voice=True")

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.kind

    def content(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"link": self.link} if self.link else {"id": self.media_id}
        if self.caption:
            obj["caption"] = self.caption
        if self.filename:
            obj["filename"] = self.filename
        if self.voice:
            obj["voice"] = True
        return obj

    def ledger_content(self) -> dict[str, Any]:
        content = self.content()
        if self.uploaded_from:
            content.pop("id", None)
            content["file"] = self.uploaded_from
        return content


@dataclass(frozen=True)
class Location(Message):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None
    type = "location"

    def __post_init__(self) -> None:
        if not -90 <= float(self.latitude) <= 90:
            raise ValidationError(
                "location.latitude", f"{self.latitude} is outside -90..90", "Check the coordinates"
            )
        if not -180 <= float(self.longitude) <= 180:
            raise ValidationError(
                "location.longitude", f"{self.longitude} is outside -180..180", "Check the coordinates"
            )

    def content(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"latitude": float(self.latitude), "longitude": float(self.longitude)}
        if self.name:
            obj["name"] = self.name
        if self.address:
            obj["address"] = self.address
        return obj


@dataclass(frozen=True)
class Contacts(Message):
    """Contact cards in the Cloud API's own shape; each needs ``name.formatted_name``."""

    contacts: Sequence[Mapping[str, Any]]
    type = "contacts"

    def __post_init__(self) -> None:
        if not self.contacts:
            raise ValidationError("contacts", "no contact given", "Pass at least one contact card")
        for i, card in enumerate(self.contacts):
            name = card.get("name") if isinstance(card, Mapping) else None
            if not isinstance(name, Mapping) or not name.get("formatted_name"):
                raise ValidationError(
                    f"contacts[{i}].name.formatted_name", "is missing", "Give each contact a formatted_name"
                )

    def content(self) -> list[dict[str, Any]]:
        return [dict(card) for card in self.contacts]


def _header_footer(header: str | None, footer: str | None) -> dict[str, Any]:
    parts: dict[str, Any] = {}
    if header is not None:
        _check_text("interactive.header.text", header, HEADER_MAX)
        parts["header"] = {"type": "text", "text": header}
    if footer is not None:
        _check_text("interactive.footer.text", footer, FOOTER_MAX)
        parts["footer"] = {"text": footer}
    return parts


@dataclass(frozen=True)
class ReplyButton:
    id: str
    title: str


@dataclass(frozen=True)
class Buttons(Message):
    """Up to three reply buttons; a tap comes back as an inbound ``button_reply`` with the id."""

    body: str
    buttons: Sequence[ReplyButton]
    header: str | None = None
    footer: str | None = None
    type = "interactive"

    def __post_init__(self) -> None:
        _check_text("interactive.body.text", self.body, INTERACTIVE_BODY_MAX)
        if not 1 <= len(self.buttons) <= 3:
            raise ValidationError(
                "interactive.buttons", f"{len(self.buttons)} buttons given", "Use 1 to 3 reply buttons"
            )
        titles = [b.title for b in self.buttons]
        if len(set(titles)) != len(titles):
            raise ValidationError(
                "interactive.buttons", "button titles repeat", "Give every button its own title"
            )
        for i, b in enumerate(self.buttons):
            _check_text(f"interactive.buttons[{i}].title", b.title, BUTTON_TITLE_MAX)
            _check_text(f"interactive.buttons[{i}].id", b.id, BUTTON_ID_MAX)
            if b.id != b.id.strip():
                raise ValidationError(
                    f"interactive.buttons[{i}].id", "has leading or trailing spaces", "Strip the id"
                )
        _header_footer(self.header, self.footer)

    def content(self) -> dict[str, Any]:
        return {
            "type": "button",
            **_header_footer(self.header, self.footer),
            "body": {"text": self.body},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": b.id, "title": b.title}} for b in self.buttons]
            },
        }


@dataclass(frozen=True)
class ListRow:
    id: str
    title: str
    description: str | None = None


@dataclass(frozen=True)
class ListSection:
    rows: Sequence[ListRow]
    title: str | None = None


@dataclass(frozen=True)
class ListMessage(Message):
    body: str
    button: str
    sections: Sequence[ListSection]
    header: str | None = None
    footer: str | None = None
    type = "interactive"

    def __post_init__(self) -> None:
        _check_text("interactive.body.text", self.body, INTERACTIVE_BODY_MAX)
        _check_text("interactive.action.button", self.button, LIST_BUTTON_MAX)
        if not 1 <= len(self.sections) <= 10:
            raise ValidationError(
                "interactive.action.sections", f"{len(self.sections)} sections given", "Use 1 to 10 sections"
            )
        total = sum(len(s.rows) for s in self.sections)
        if not 1 <= total <= 10:
            raise ValidationError(
                "interactive.action.sections", f"{total} rows in all", "Use 1 to 10 rows in all"
            )
        for i, section in enumerate(self.sections):
            _check_text(
                f"sections[{i}].title", section.title, SECTION_TITLE_MAX, required=len(self.sections) > 1
            )
            for j, row in enumerate(section.rows):
                _check_text(f"sections[{i}].rows[{j}].id", row.id, ROW_ID_MAX)
                _check_text(f"sections[{i}].rows[{j}].title", row.title, ROW_TITLE_MAX)
                _check_text(
                    f"sections[{i}].rows[{j}].description",
                    row.description,
                    ROW_DESCRIPTION_MAX,
                    required=False,
                )
        _header_footer(self.header, self.footer)

    def content(self) -> dict[str, Any]:
        sections = []
        for s in self.sections:
            rows = [
                {"id": r.id, "title": r.title, **({"description": r.description} if r.description else {})}
                for r in s.rows
            ]
            sections.append({**({"title": s.title} if s.title else {}), "rows": rows})
        return {
            "type": "list",
            **_header_footer(self.header, self.footer),
            "body": {"text": self.body},
            "action": {"button": self.button, "sections": sections},
        }


@dataclass(frozen=True)
class CtaUrl(Message):
    body: str
    display_text: str
    url: str
    header: str | None = None
    footer: str | None = None
    type = "interactive"

    def __post_init__(self) -> None:
        _check_text("interactive.body.text", self.body, INTERACTIVE_BODY_MAX)
        _check_text("interactive.action.parameters.display_text", self.display_text, BUTTON_TITLE_MAX)
        _check_url("interactive.action.parameters.url", self.url)
        _header_footer(self.header, self.footer)

    def content(self) -> dict[str, Any]:
        return {
            "type": "cta_url",
            **_header_footer(self.header, self.footer),
            "body": {"text": self.body},
            "action": {"name": "cta_url", "parameters": {"display_text": self.display_text, "url": self.url}},
        }


@dataclass(frozen=True)
class Reaction(Message):
    message_id: str
    emoji: str = ""  # empty removes the reaction
    type = "reaction"

    def __post_init__(self) -> None:
        _check_text("reaction.message_id", self.message_id, 512)

    def content(self) -> dict[str, Any]:
        return {"message_id": self.message_id, "emoji": self.emoji}


@dataclass(frozen=True)
class TemplateButton:
    """A parameter for the template button at ``index``: a URL suffix, a quick-reply payload or a code."""

    sub_type: str  # url | quick_reply | copy_code
    index: int
    value: str

    def component(self) -> dict[str, Any]:
        kind = {"url": "text", "quick_reply": "payload", "copy_code": "coupon_code"}.get(self.sub_type)
        if kind is None:
            raise ValidationError(
                f"template.buttons[{self.index}].sub_type",
                f"{self.sub_type!r} is not supported",
                "Use url, quick_reply or copy_code",
            )
        return {
            "type": "button",
            "sub_type": self.sub_type,
            "index": str(self.index),
            "parameters": [{"type": kind, kind: self.value}],
        }


@dataclass(frozen=True)
class Template(Message):
    """An approved template; body parameters are positional (a list) or named (a mapping)."""

    name: str
    language: str
    body: Sequence[str] | Mapping[str, str] = ()
    header_text: str | None = None
    header_media: Media | None = None
    buttons: Sequence[TemplateButton] = field(default_factory=tuple)
    type = "template"

    def __post_init__(self) -> None:
        _check_text("template.name", self.name, 512)
        _check_text("template.language", self.language, 16)
        if self.header_text is not None and self.header_media is not None:
            raise ValidationError(
                "template.header", "both a text and a media header given", "A template has one header"
            )
        if self.header_text is not None:
            _check_text("template.header_text", self.header_text, HEADER_MAX)
        if isinstance(self.body, Mapping):
            for name, value in self.body.items():
                if not _NAMED_PARAM.match(name):
                    raise ValidationError(
                        f"template.body[{name!r}]",
                        "is not a valid parameter name",
                        "Use 1-20 lowercase letters and _",
                    )
                _check_text(f"template.body[{name!r}]", value, 1024)
        else:
            for i, value in enumerate(self.body):
                _check_text(f"template.body[{i}]", value, 1024)

    @property
    def named(self) -> bool:
        return isinstance(self.body, Mapping)

    def content(self) -> dict[str, Any]:
        return self._content(ledger=False)

    def ledger_content(self) -> dict[str, Any]:
        return self._content(ledger=True)

    def _content(self, *, ledger: bool) -> dict[str, Any]:
        components: list[dict[str, Any]] = []
        if self.header_text is not None:
            components.append({"type": "header", "parameters": [{"type": "text", "text": self.header_text}]})
        if self.header_media is not None:
            media = self.header_media
            media_obj = media.ledger_content() if ledger else media.content()
            components.append({"type": "header", "parameters": [{"type": media.kind, media.kind: media_obj}]})
        if isinstance(self.body, Mapping):
            params = [{"type": "text", "parameter_name": k, "text": v} for k, v in self.body.items()]
        else:
            params = [{"type": "text", "text": v} for v in self.body]
        if params:
            components.append({"type": "body", "parameters": params})
        components.extend(b.component() for b in self.buttons)
        obj: dict[str, Any] = {"name": self.name, "language": {"code": self.language}}
        if components:
            obj["components"] = components
        return obj


def build_send_payload(
    to: str, message: Message, *, reply_to: str | None = None, callback_data: str | None = None
) -> dict[str, Any]:
    """The JSON body of ``POST /{version}/{phone-number-id}/messages``."""
    payload: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        **recipient_fields(whatsapp_recipient(to)),
        "type": message.type,
        message.type: message.content(),
    }
    if reply_to:
        payload["context"] = {"message_id": reply_to}
    if callback_data is not None:
        _check_text("biz_opaque_callback_data", callback_data, CALLBACK_DATA_MAX)
        payload["biz_opaque_callback_data"] = callback_data
    return payload


def message_from_dict(data: Mapping[str, Any]) -> Message:
    """A message from a plain dict (e.g. a templated operator argument) in the API's own shape."""
    kind = data.get("type")
    body = data.get(kind) if isinstance(kind, str) else None
    if not isinstance(body, Mapping):
        raise ValidationError(
            "message",
            f"expected {{'type': ..., <type>: {{...}}}}, got keys {sorted(data)}",
            "Use the Cloud API's message shape",
        )
    if kind == "text":
        return Text(body=body.get("body", ""), preview_url=bool(body.get("preview_url", False)))
    if kind in MEDIA_KINDS:
        return Media(
            kind,
            body.get("link"),
            body.get("id"),
            body.get("caption"),
            body.get("filename"),
            bool(body.get("voice")),
        )
    if kind == "location":
        return Location(body["latitude"], body["longitude"], body.get("name"), body.get("address"))
    if kind == "reaction":
        return Reaction(body.get("message_id", ""), body.get("emoji", ""))
    raise ValidationError(
        "message.type", f"{kind!r} cannot be given as a dict", "Build it with the message classes instead"
    )
