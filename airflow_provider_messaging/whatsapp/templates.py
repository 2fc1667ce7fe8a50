"""Template pre-flight: would Meta accept this template send? Checked before the first message.

Reads what ``GET /{waba-id}/message_templates`` returns and compares it with a
:class:`~airflow_provider_messaging.whatsapp.messages.Template`: the template exists in that
language, is APPROVED, and gets exactly the parameters its header, body and buttons define.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import MessagingError
from .errors import WHATSAPP_ERRORS
from .messages import Template

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
_STATUS_CODES = {"PAUSED": 132015, "DISABLED": 132016}


@dataclass(frozen=True)
class TemplateInfo:
    name: str
    language: str
    status: str
    category: str | None = None
    parameter_format: str = "POSITIONAL"
    components: list[dict[str, Any]] = field(default_factory=list)
    id: str | None = None

    def _component(self, kind: str) -> dict[str, Any] | None:
        return next((c for c in self.components if str(c.get("type", "")).upper() == kind), None)

    def body_placeholders(self) -> list[str]:
        body = self._component("BODY") or {}
        return list(dict.fromkeys(_PLACEHOLDER.findall(str(body.get("text", "")))))

    def header_kind(self) -> str | None:
        """``text`` when the header has a variable, ``image``/``video``/``document``/``location``, else None."""
        header = self._component("HEADER")
        if header is None:
            return None
        fmt = str(header.get("format", "TEXT")).lower()
        if fmt == "text":
            return "text" if _PLACEHOLDER.search(str(header.get("text", ""))) else None
        return fmt

    def variable_url_buttons(self) -> list[int]:
        buttons = (self._component("BUTTONS") or {}).get("buttons") or []
        return [
            i
            for i, b in enumerate(buttons)
            if str(b.get("type", "")).upper() == "URL" and _PLACEHOLDER.search(str(b.get("url", "")))
        ]


def parse_template(data: dict[str, Any]) -> TemplateInfo:
    return TemplateInfo(
        name=str(data.get("name", "")),
        language=str(data.get("language", "")),
        status=str(data.get("status", "")).upper(),
        category=data.get("category"),
        parameter_format=str(data.get("parameter_format") or "POSITIONAL").upper(),
        components=list(data.get("components") or []),
        id=data.get("id"),
    )


def _refused(code: int, text: str) -> MessagingError:
    """The error Meta would answer with, of the class and scope the error table gives its code."""
    return WHATSAPP_ERRORS.error(code, text)


def find_template(templates: Iterable[TemplateInfo], name: str, language: str) -> TemplateInfo:
    candidates = [t for t in templates if t.name == name]
    for t in candidates:
        if t.language == language:
            return t
    if candidates:
        languages = ", ".join(sorted(t.language for t in candidates))
        raise _refused(
            132001,
            f"template.language: template {name!r} has no {language!r} version (it exists in {languages}). "
            "Use one of those language codes or add the language in WhatsApp Manager.",
        )
    raise _refused(
        132001,
        f"template.name: no template named {name!r} in this WhatsApp Business Account. "
        "Check the name in WhatsApp Manager > Message templates.",
    )


def check_template(template: Template, info: TemplateInfo) -> None:
    """Raise the error Meta would answer with, naming the problem; return quietly when the send would pass."""
    where = f"template {template.name!r} ({template.language})"
    if info.status != "APPROVED":
        raise _refused(
            _STATUS_CODES.get(info.status, 132001),
            f"template.name: {where} is {info.status}, and only APPROVED templates can be sent. "
            "Wait for approval or fix it in WhatsApp Manager.",
        )
    expected = info.body_placeholders()
    if info.parameter_format == "NAMED":
        given = set(template.body) if template.named else None
        if given is None:
            raise _refused(
                132000,
                f"template.body: {where} uses named parameters {sorted(expected)}; pass a mapping, not a list.",
            )
        if given != set(expected):
            missing, extra = sorted(set(expected) - given), sorted(given - set(expected))
            raise _refused(
                132000,
                f"template.body: {where} expects parameters {sorted(expected)}; missing {missing}, unexpected {extra}.",
            )
    else:
        if template.named:
            raise _refused(
                132000,
                f"template.body: {where} uses positional parameters; pass a list of {len(expected)} value(s).",
            )
        if len(template.body) != len(expected):
            raise _refused(
                132000,
                f"template.body: {where} expects {len(expected)} body parameter(s), got {len(template.body)}.",
            )
    header = info.header_kind()
    given_header = (
        "text"
        if template.header_text is not None
        else (template.header_media.kind if template.header_media else None)
    )
    if header in ("text", "image", "video", "document") and given_header != header:
        raise _refused(
            132000,
            f"template.header: {where} needs a {header} header parameter, got {given_header or 'none'}.",
        )
    if header is None and given_header is not None:
        raise _refused(132000, f"template.header: {where} has no header variable; drop the header parameter.")
    missing_urls = set(info.variable_url_buttons()) - {
        b.index for b in template.buttons if b.sub_type == "url"
    }
    if missing_urls:
        raise _refused(
            132000,
            f"template.buttons: {where} has URL button(s) at index {sorted(missing_urls)} that need a url parameter.",
        )
