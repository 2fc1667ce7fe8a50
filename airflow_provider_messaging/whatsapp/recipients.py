"""Who a WhatsApp message goes to: a phone number or a business-scoped user id (BSUID).

Since 2026 WhatsApp users may hide their number behind a username; Meta then names them by a
BSUID, ``<ISO country code>.<up to 128 letters and digits>`` (``US.13491208655302741918``), or
a parent BSUID shared by linked business portfolios, ``<country>.ENT.<id>``. A message to a
BSUID carries it in ``recipient`` instead of ``to``. Everywhere a recipient is taken (operators,
broadcast rows, notifiers, reply filters) it is one of the two, checked here before any request.
"""

from __future__ import annotations

import re

from ..core.errors import ValidationError
from ..core.phone import normalize_e164, normalize_recipients

BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
PARENT_BSUID = re.compile(r"^[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}$")
_LOOKS_LIKE_USER_ID = re.compile(r"^[A-Za-z]+\.")  # what people mean to be one


def is_user_id(recipient: str) -> bool:
    """A (parent) business-scoped user id, as opposed to a phone number."""
    return bool(BSUID.match(recipient) or PARENT_BSUID.match(recipient))


def whatsapp_recipient(value: object, field: str = "to") -> str:
    """An E.164 number (``+4915112345678``) or a BSUID exactly as Meta wrote it."""
    if isinstance(value, str) and _LOOKS_LIKE_USER_ID.match(value.strip()):
        text = value.strip()
        if is_user_id(text):
            return text
        raise ValidationError(
            field,
            f"{text!r} is not a business-scoped user id",
            "Copy the user id exactly as a webhook gave it: a two-letter country code in capitals, "
            "a dot, then up to 128 letters and digits (e.g. 'US.13491208655302741918'; a parent id "
            "has '.ENT.' after the country code)",
        )
    return normalize_e164(value, field)


def whatsapp_recipients(value: object, field: str = "to") -> list[str]:
    """One recipient, a comma-separated string or a list, each a phone number or a user id."""
    return normalize_recipients(value, field, whatsapp_recipient)


def recipient_fields(recipient: str) -> dict[str, str]:
    """The envelope fields that address ``recipient``: ``to`` (digits) or ``recipient`` (a BSUID)."""
    if is_user_id(recipient):
        return {"recipient": recipient}
    return {"to": recipient.lstrip("+")}
