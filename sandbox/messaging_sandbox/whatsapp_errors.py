"""Meta's own wording for the WhatsApp errors the sandbox reports after a send.

Each code has Meta's title (also used as ``message`` in a status webhook's ``errors[]``) and the
cause it gives in ``error_data.details``. A refusal at send time puts the title in
``"(#code) title"``.
"""

from __future__ import annotations

from typing import NamedTuple


class MetaErrorText(NamedTuple):
    title: str
    details: str


META_ERRORS: dict[int, MetaErrorText] = {
    131026: MetaErrorText("Message undeliverable", "Message Undeliverable."),
    131047: MetaErrorText(
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last replied to this number.",
    ),
    131049: MetaErrorText(
        "This message was not delivered to maintain healthy ecosystem engagement.",
        "This message was not delivered to maintain healthy ecosystem engagement.",
    ),
    131050: MetaErrorText(
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
        "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business.",
    ),
    130472: MetaErrorText(
        "User's number is part of an experiment", "Message was not sent as part of an experiment."
    ),
}

ERROR_CODES_PAGE = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


def status_error(code: int) -> dict[str, object]:
    """One ``errors[]`` item of a ``failed`` status webhook, in the documented shape."""
    text = META_ERRORS[code]
    return {
        "code": code,
        "title": text.title,
        "message": text.title,
        "error_data": {"details": text.details},
        "href": ERROR_CODES_PAGE,
    }
