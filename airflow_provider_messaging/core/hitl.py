"""A human-in-the-loop question asked by message, and how an answer to it is read.

No Airflow, no service: what a question is (which task, which options, who may answer), the
reference people type or tap to answer it, and the signed button ids that carry that reference.

A question belongs to one try of one task instance, asked on one service. Its id is derived from
that identity, so the notifier asking again in the same try (a callback run twice) yields the same
question, the same message and, through the send ledger, no second message. People answer by tapping a button (its id
is ``hitl1.<question id>.<option>.<signature>``) or by typing an option's number or name; a
person with several open questions adds the question's code (``2 K7QD``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ValidationError
from .events import InboundMessage
from .inbound import InboundFilter

BUTTON_PREFIX = "hitl1."
_KEY_LABEL = b"airflow-provider-messaging/hitl-buttons"
_TAG_BYTES = 16  # 128 bits: no one guesses a signature
_CODE_LENGTH = 4
# states in which a task still takes an answer: parked (3.3+), deferred to HITLTrigger (3.1, 3.2),
# or still running its notifiers (Airflow resumes it at once when the answer came first)
WAITING_STATES = ("awaiting_input", "deferred", "running")


@dataclass(frozen=True)
class TaskRef:
    """One try of one task instance: what a question asks about."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    try_number: int = 1

    def describe(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"{self.dag_id}.{self.task_id}{mapped}"


@dataclass(frozen=True)
class Person:
    """Someone asked: where the question went, and the Airflow user they stand for (if any)."""

    address: str  # as the service's recipient check accepted it
    name: str
    user_id: str | None = None

    def label(self, service: str) -> str:
        """How an answer names who gave it: "Alice (alice), WhatsApp +4915112345678", or for someone
        known only by number "SMS +15550001001"."""
        who = f"{self.name} ({self.user_id})" if self.user_id and self.user_id != self.name else self.name
        medium = {"whatsapp": "WhatsApp", "signalwire": "SMS"}.get(service, service)
        return f"{medium} {self.address}" if who == self.address else f"{who}, {medium} {self.address}"

    def sent(self, message: InboundMessage) -> bool:
        """Whether ``message`` came from this person, matched as reply filters match senders."""
        return InboundFilter((self.address,)).matches(message)


def people_asked(
    to: str | Sequence[str] | Mapping[str, str | Sequence[str]],
    assigned: Mapping[str, str],
    check: Callable[[object, str], list[str]],
) -> tuple[Person, ...]:
    """The people a notifier's ``to`` names, as ``check`` accepts their addresses (the service's
    recipient check: one address or a list -> a list). ``to`` maps Airflow user ids to addresses;
    with ``assigned`` users (id -> name) only they are asked; without, ``to`` may list addresses."""
    if isinstance(to, Mapping):
        pairs = [(str(user), address) for user, addresses in to.items()
                 for address in check(addresses, f"to[{user!r}]")]  # fmt: skip
        if assigned:
            pairs = [(user, address) for user, address in pairs if user in assigned]
            if not pairs:
                raise ValidationError(
                    "to", f"has a number for none of the task's assigned users {sorted(assigned)}",
                    "Key 'to' by the assigned users' ids, e.g. to={'alice': '+4915112345678'}",
                )  # fmt: skip
        return tuple(Person(address, assigned.get(user, user), user) for user, address in pairs)
    if assigned:
        raise ValidationError(
            "to", f"is a list of numbers, but the task has assigned_users {sorted(assigned)}",
            "Map each assigned user id to their number, e.g. to={'alice': '+4915112345678'}",
        )  # fmt: skip
    return tuple(Person(address, address) for address in check(to, "to"))


def question_id(task: TaskRef, service: str) -> str:
    """A stable id for the question of one try on one service (16 characters of base32)."""
    key = "\n".join(
        [service, task.dag_id, task.run_id, task.task_id, str(task.map_index), str(task.try_number)]
    )
    digest = hashlib.sha256(key.encode()).digest()
    return base64.b32encode(digest).decode()[:16].lower()


@dataclass(frozen=True)
class Question:
    """What was asked, of whom, over which service and connection, and how the answer is recorded."""

    task: TaskRef
    service: str
    conn_id: str  # the messaging connection the question went out on (answers come back to it)
    subject: str
    options: tuple[str, ...]
    people: tuple[Person, ...]
    api_conn_id: str  # the Airflow connection whose account records answers through the REST API
    multiple: bool = False
    sender_param: str | None = None  # the task's param that keeps who answered
    link: str | None = None  # the task's page in the Airflow UI
    created_at: float = 0.0
    answered_at: float | None = None
    id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.id:
            object.__setattr__(self, "id", question_id(self.task, self.service))

    @property
    def code(self) -> str:
        """What people type with their answer when several questions are open: ``K7QD``."""
        return self.id[:_CODE_LENGTH].upper()

    def person_for(self, message: InboundMessage) -> Person | None:
        return next((p for p in self.people if p.sent(message)), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "task": vars(self.task), "service": self.service, "conn_id": self.conn_id,
            "subject": self.subject, "options": list(self.options), "multiple": self.multiple,
            "people": [vars(p) for p in self.people], "api_conn_id": self.api_conn_id,
            "sender_param": self.sender_param, "link": self.link, "created_at": self.created_at,
            "answered_at": self.answered_at,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Question:
        return cls(
            task=TaskRef(**data["task"]), service=data["service"], conn_id=data["conn_id"],
            subject=data["subject"], options=tuple(data["options"]), multiple=bool(data["multiple"]),
            people=tuple(Person(**p) for p in data["people"]), api_conn_id=data["api_conn_id"],
            sender_param=data.get("sender_param"), link=data.get("link"),
            created_at=float(data.get("created_at") or 0.0), answered_at=data.get("answered_at"),
            id=data["id"],
        )  # fmt: skip


# -- typed answers ---------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s,;]+")


def split_code(text: str, codes: Iterable[str]) -> tuple[str | None, str]:
    """``"2 K7QD"`` -> ``("K7QD", "2")`` when K7QD is one of ``codes``; else ``(None, text)``."""
    known = {c.upper() for c in codes}
    words = text.split()
    found = [i for i, word in enumerate(words) if word.upper() in known]
    if len(found) != 1:
        return None, text
    at = found[0]
    return words[at].upper(), " ".join(words[:at] + words[at + 1 :])


def parse_choice(text: str | None, options: Sequence[str], multiple: bool = False) -> list[str] | None:
    """The options a typed answer names: their numbers (``2``, ``1,3``) or their names, any case.

    ``None`` when the text names no option, names one twice, or names several where one is asked.
    """
    answer = (text or "").strip()
    if not answer:
        return None
    by_name = {o.strip().casefold(): o for o in options}
    if answer.casefold() in by_name:
        return [by_name[answer.casefold()]]
    parts = [p for p in _SEPARATORS.split(answer) if p]
    chosen: list[str] = []
    for part in parts:
        if part.isdigit() and 1 <= int(part) <= len(options):
            option = options[int(part) - 1]
        elif part.casefold() in by_name:
            option = by_name[part.casefold()]
        else:
            return None
        if option in chosen:
            return None
        chosen.append(option)
    if not chosen or (len(chosen) > 1 and not multiple):
        return None
    return chosen


# -- signed buttons --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ButtonTap:
    """What a tapped button's id says: which question, which option, and its signature."""

    question_id: str
    option: int
    tag: str


class ButtonSigner:
    """Signs and checks button ids with a key derived from a secret both ends hold.

    The key is ``HMAC-SHA256(secret, label)``, so the secret itself (e.g. the WhatsApp app secret,
    with which the receiver also checks webhooks) signs nothing directly. The signature covers the
    question id, the task instance and try it belongs to, and the option: an id changed in any part,
    or made up, is refused.
    """

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("a secret is needed to sign answer buttons")
        self._key = hmac.new(secret.encode(), _KEY_LABEL, hashlib.sha256).digest()

    def _tag(self, question: Question, option: int) -> str:
        t = question.task
        signed = "\n".join([question.id, t.dag_id, t.run_id, t.task_id, str(t.map_index),
                            str(t.try_number), str(option)])  # fmt: skip
        digest = hmac.new(self._key, signed.encode(), hashlib.sha256).digest()[:_TAG_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def button_id(self, question: Question, option: int) -> str:
        return f"{BUTTON_PREFIX}{question.id}.{option}.{self._tag(question, option)}"

    def verify(self, question: Question, tap: ButtonTap) -> bool:
        if not 0 <= tap.option < len(question.options) or tap.question_id != question.id:
            return False
        return hmac.compare_digest(tap.tag, self._tag(question, tap.option))


def is_button_id(value: str | None) -> bool:
    return bool(value) and str(value).startswith(BUTTON_PREFIX)


def read_button_id(value: str) -> ButtonTap | None:
    """The parts of an id that looks like ours; ``None`` when it does not even parse."""
    parts = value[len(BUTTON_PREFIX) :].split(".") if is_button_id(value) else []
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    return ButtonTap(parts[0], int(parts[1]), parts[2])
