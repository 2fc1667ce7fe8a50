"""A human-in-the-loop question as a WhatsApp message, and the answer a tap sends back.

Inside the 24-hour window the question goes out as an interactive message: reply buttons for up to
three short options, a list for up to ten; each button or row id is a signed reference to the
task and option (:class:`~airflow_provider_messaging.core.hitl.ButtonSigner`). Outside the window
only an approved template can be sent: its quick-reply buttons carry the same ids as payloads. A
question with several answers allowed (or more than ten options) is a numbered text.

A tap comes back as an inbound message of type ``interactive`` (``button_reply`` or ``list_reply``
with the id) or, for a template's quick reply, of type ``button`` (the id in ``button.payload``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..core.credentials import named_after
from ..core.errors import ConfigurationError, ValidationError
from ..core.hitl import ButtonSigner, Question
from ..core.hitl_texts import clip, question_text
from .credentials import WhatsAppCredentials
from .messages import (
    BUTTON_TITLE_MAX,
    INTERACTIVE_BODY_MAX,
    ROW_DESCRIPTION_MAX,
    ROW_TITLE_MAX,
    TEXT_MAX,
    Buttons,
    ListMessage,
    ListRow,
    ListSection,
    Message,
    ReplyButton,
    Template,
    TemplateButton,
    Text,
)
from .templates import TemplateInfo

MAX_BUTTONS, MAX_ROWS, MAX_QUICK_REPLIES = 3, 10, 10
LIST_BUTTON = "Choose"


def signer_for(credentials: WhatsAppCredentials) -> ButtonSigner:
    """Answer buttons are signed with a key derived from the app secret: the receiver, which checks
    every webhook with that secret, can then check the buttons too."""
    if not credentials.app_secret:
        raise ConfigurationError(
            f"{named_after(credentials.conn_id)}: App secret (extra app_secret) is empty: answers by WhatsApp "
            "need it (the webhook receiver checks the replies with it, and it signs the answer buttons)"
        )
    return ButtonSigner(credentials.app_secret)


def question_message(question: Question, body: str | None, signer: ButtonSigner) -> Message:
    """Reply buttons, a list, or (several answers, more than ten options) a numbered text."""
    options = question.options
    if question.multiple or len(options) > MAX_ROWS:
        return Text(question_text(question, body, TEXT_MAX))
    text = question_text(question, body, INTERACTIVE_BODY_MAX, numbered=False)
    footer = f"Airflow, ref {question.code}"
    if len(options) <= MAX_BUTTONS and all(len(o) <= BUTTON_TITLE_MAX for o in options):
        buttons = [ReplyButton(signer.button_id(question, i), o) for i, o in enumerate(options)]
        return Buttons(text, buttons, footer=footer)
    rows = [
        ListRow(
            signer.button_id(question, i),
            clip(o, ROW_TITLE_MAX),
            clip(o, ROW_DESCRIPTION_MAX) if len(o) > ROW_TITLE_MAX else None,
        )
        for i, o in enumerate(options)
    ]
    return ListMessage(text, LIST_BUTTON, [ListSection(rows)], footer=footer)


def question_template(
    question: Question,
    signer: ButtonSigner,
    name: str,
    language: str,
    body: Sequence[str] | Mapping[str, str],
) -> Template:
    """The approved template ``name``, its quick-reply button ``i`` answering option ``i``."""
    buttons = (
        []
        if question.multiple
        else [
            TemplateButton("quick_reply", i, signer.button_id(question, i))
            for i in range(len(question.options))
        ]
    )
    return Template(name, language, body, buttons=buttons)


def check_quick_replies(question: Question, info: TemplateInfo) -> None:
    """A template answers a single-choice question only with a quick reply for every option."""
    found = [
        str(b.get("text", ""))
        for c in info.components
        if str(c.get("type", "")).upper() == "BUTTONS"
        for b in c.get("buttons") or []
        if str(b.get("type", "")).upper() == "QUICK_REPLY"
    ]
    if question.multiple or len(found) >= len(question.options):
        return
    raise ValidationError(
        "template_name",
        f"template {info.name!r} ({info.language}) has {len(found)} quick-reply button(s) for "
        f"{len(question.options)} options {list(question.options)}",
        "Use a template with one quick-reply button per option, in the options' order "
        f"(a template has at most {MAX_QUICK_REPLIES})",
    )


def reply_id(message: Mapping[str, Any]) -> str | None:
    """The id a tap carries: of the button or list row, or a template quick reply's payload."""
    kind = message.get("type")
    if kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get("button_reply") or interactive.get("list_reply") or {}
        found = reply.get("id") if isinstance(reply, Mapping) else None
    elif kind == "button":
        button = message.get("button") or {}
        found = button.get("payload") if isinstance(button, Mapping) else None
    else:
        found = None
    return str(found) if found else None
