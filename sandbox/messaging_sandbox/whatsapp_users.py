"""The sandbox's WhatsApp users: a phone number, a business-scoped user id (BSUID), maybe a username.

From Meta's "Business-scoped user IDs" page (2026): every user has a BSUID (``user_id``), a
two-letter ISO country code, a dot and up to 128 letters and digits (``US.13491208655302741918``);
linked portfolios share a parent BSUID (``US.ENT.11815799212886844830``). A message goes to a
phone number in ``to`` or to a BSUID in ``recipient`` (``to`` wins when both are given). A user
who adopted a username may withhold the phone number: such a user is reached by BSUID only.
Webhooks carry the ids in ``contacts`` (``wa_id``, ``user_id``, ``parent_user_id``,
``profile.username`` on delivered and read statuses and on inbound messages).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

BSUID = re.compile(r"^[A-Z]{2}\.[A-Za-z0-9]{1,128}$")
PARENT_BSUID = re.compile(r"^[A-Z]{2}\.ENT\.[A-Za-z0-9]{1,128}$")
PHONE = re.compile(r"^\+?[1-9][0-9]{6,14}$")

USERNAME_USER = "15550002007"  # has a username; its phone number is shared as it was messaged
ID_ONLY_USER = "US.15550002008"  # has a username and withholds the number: reachable by BSUID only
# calling code -> ISO country, for the users' BSUIDs (the sandbox needs only a few)
_COUNTRIES = {"1": "US", "44": "GB", "49": "DE", "33": "FR", "34": "ES", "39": "IT", "31": "NL",
              "91": "IN", "55": "BR", "52": "MX", "61": "AU", "81": "JP", "972": "IL"}  # fmt: skip


def _digits_of(text: str) -> str:
    return str(int(hashlib.sha256(text.encode()).hexdigest(), 16))[:20]


def user_id_for_phone(phone: str) -> str:
    """The BSUID the sandbox gives a phone number's user: stable, and not the number."""
    country = next((iso for code, iso in sorted(_COUNTRIES.items(), key=lambda kv: -len(kv[0]))
                    if phone.startswith(code)), "US")  # fmt: skip
    return f"{country}.{_digits_of(phone)}"


@dataclass(frozen=True)
class User:
    user_id: str
    phone: str | None = None  # digits; None when the business cannot see it
    parent_user_id: str | None = None
    username: str | None = None
    name: str = "Sandbox User"

    def contact(self, *, phone_shared: bool, with_username: bool) -> dict[str, Any]:
        """The ``contacts[]`` entry a webhook about this user carries."""
        profile: dict[str, Any] = {"name": self.name}
        if with_username and self.username:
            profile["username"] = self.username
        contact: dict[str, Any] = {"profile": profile}
        if phone_shared and self.phone:
            contact["wa_id"] = self.phone
        contact["user_id"] = self.user_id
        if self.parent_user_id:
            contact["parent_user_id"] = self.parent_user_id
        return contact


def user_for_phone(phone: str) -> User:
    digits = phone.lstrip("+")
    username = "sandbox.user7" if digits == USERNAME_USER else None
    return User(user_id_for_phone(digits), digits, username=username)


def user_for_id(user_id: str) -> User:
    """A user addressed by BSUID or parent BSUID; the sandbox's own phone users are found again."""
    if PARENT_BSUID.match(user_id):
        return User(f"{user_id[:2]}.{_digits_of(user_id)}", parent_user_id=user_id, username="sandbox.linked")
    return User(user_id, username="sandbox.nophone" if user_id == ID_ONLY_USER else None)


@dataclass(frozen=True)
class Addressee:
    """Whom a send reached, and how it named them (``to`` or ``recipient``)."""

    user: User
    by_phone: bool
    given: str  # the value sent, as the response's contacts[].input echoes it

    @property
    def key(self) -> str:
        """What the magic table and the control API know this recipient by."""
        return self.user.phone if self.by_phone and self.user.phone else self.given


def addressee(payload: dict[str, Any]) -> Addressee | None:
    """From a send's ``to`` or ``recipient``; None when neither names anyone."""
    to, recipient = payload.get("to"), payload.get("recipient")
    if to:  # Meta: when both are given, ``to`` takes precedence
        return Addressee(user_for_phone(str(to)), True, str(to))
    if recipient:
        return Addressee(user_for_id(str(recipient)), False, str(recipient))
    return None


def sender(identity: str) -> tuple[User, bool]:
    """The user an inbound message comes from (a phone number or a BSUID), and whether the
    message shows their number."""
    if BSUID.match(identity) or PARENT_BSUID.match(identity):
        return user_for_id(identity), False
    user = user_for_phone(identity)
    return user, True
