"""What one inbound message means for the questions asked, and recording it as Airflow's answer.

A tap carries a signed button id: it is checked against the question it names, then against the
people that question was asked of. A typed answer (an option's number or name) counts only from
someone a question was asked of. Before answering, the task's HITL detail is read: a task already
answered, no longer waiting (timed out, cleared, finished) or asked again in a newer try is not
answered, and the person is told so. Everything else is a ``PATCH`` of the HITL detail, as the UI
does, by the account of the question's API connection.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..core import hitl_texts as texts
from ..core.events import InboundMessage
from ..core.hitl import (
    WAITING_STATES,
    ButtonSigner,
    Person,
    Question,
    is_button_id,
    parse_choice,
    read_button_id,
    split_code,
)
from ..store.hitl import QuestionStore
from ..whatsapp.hitl import reply_id
from .airflow_api import AirflowApi

log = logging.getLogger("airflow_provider_messaging.hitl")

TYPED_KINDS = ("text", "sms", "mms")


@dataclass(frozen=True)
class Outcome:
    """What handling a message came to: the reply to send back (if any) and a note for the record."""

    note: str
    reply: str | None = None
    to: str | None = None
    question: Question | None = None  # whose connection the reply goes out on


class Access(Protocol):
    """What answering needs from Airflow connections: the API account, the button signer, a sender."""

    def api(self, conn_id: str) -> AirflowApi: ...

    def signer(self, conn_id: str) -> ButtonSigner: ...

    def send(self, question: Question, to: str, text: str, from_number: str | None) -> None: ...


def reply_address(message: InboundMessage) -> str:
    """Where to answer the sender: WhatsApp gives phone numbers without '+'."""
    return f"+{message.sender}" if message.sender.isdigit() else message.sender


class Answerer:
    def __init__(self, questions: QuestionStore, access: Access) -> None:
        self.questions = questions
        self.access = access

    @staticmethod
    def may_answer(message: InboundMessage, received_at: float, asked: Sequence[Question]) -> bool:
        """Cheap, before the message is claimed: a tap on one of our buttons, or a typed message from
        someone a question was asked of before it arrived."""
        tapped = reply_id(message.payload) if message.service == "whatsapp" else None
        if tapped is not None:
            return is_button_id(tapped)
        return message.kind in TYPED_KINDS and any(
            q.created_at <= received_at and q.person_for(message) for q in asked
        )

    def handle(
        self, message: InboundMessage, received_at: float, asked: Sequence[Question]
    ) -> Outcome | None:
        """``None`` when the message answers nothing (an ordinary message); ``asked``: the recent
        questions of the message's service, newest first."""
        tapped = reply_id(message.payload) if message.service == "whatsapp" else None
        if tapped is not None:
            return self._tap(message, tapped, asked) if is_button_id(tapped) else None
        if message.kind in TYPED_KINDS:
            return self._typed(message, received_at, asked)
        return None

    def _tap(self, message: InboundMessage, button_id: str, asked: Sequence[Question]) -> Outcome:
        tap = read_button_id(button_id)
        question = self.questions.get(tap.question_id) if tap else None
        if (
            tap is None
            or question is None
            or question.service != message.service
            or not (self.access.signer(question.conn_id).verify(question, tap))
        ):
            log.warning(
                "Refused a tap from %s: its button id does not verify (%r)", message.sender, button_id[:80]
            )
            return Outcome("refused: the button id does not verify", texts.not_verified(), reply_address(message),
                           asked[0] if asked else None)  # fmt: skip
        person = question.person_for(message)
        if person is None:
            log.warning(
                "Refused a tap from %s on %s: not among the people asked", message.sender, question.id
            )
            return Outcome("refused: not among the people asked", texts.not_assigned(question),
                           reply_address(message), question)  # fmt: skip
        return self.answer(question, person, [question.options[tap.option]])

    def _typed(
        self, message: InboundMessage, received_at: float, asked: Sequence[Question]
    ) -> Outcome | None:
        mine = [q for q in asked if q.created_at <= received_at and q.person_for(message)]
        if not mine:
            return None
        code, rest = split_code(message.text or "", [q.code for q in mine])
        if code:
            mine = [q for q in mine if q.code == code]
        waiting = [q for q in mine if q.answered_at is None]
        question = (waiting or mine)[0]
        person = question.person_for(message)
        assert person is not None
        if len(waiting) > 1:
            return Outcome("asked which question", texts.which_question(waiting), person.address, question)
        chosen = parse_choice(rest, question.options, question.multiple)
        if chosen is None:  # a hint only while the question waits; afterwards it is an ordinary message
            return (
                Outcome("not an option", texts.hint(question), person.address, question) if waiting else None
            )
        return self.answer(question, person, chosen)

    def answer(self, question: Question, person: Person, chosen: list[str]) -> Outcome:
        """Record ``chosen`` as ``person``'s answer unless the task no longer takes one."""
        api = self.access.api(question.api_conn_id)

        def outcome(note: str, reply: str) -> Outcome:
            return Outcome(note, reply, person.address, question)

        detail = api.hitl_detail(question.task)
        if detail.status_code == 404:
            return outcome("not waiting: no such task instance", texts.not_waiting(question, "gone"))
        if detail.status_code != 200:
            return self._not_recorded(question, person, detail.status_code, detail.text, "read")
        data: dict[str, Any] = detail.json()
        ti = data.get("task_instance") or {}
        if ti.get("try_number") not in (None, question.task.try_number):
            return outcome(
                f"not recorded: asked again in try {ti.get('try_number')}", texts.asked_again(question)
            )
        if data.get("response_received"):
            return outcome("not recorded: already answered", self._already(question, data))
        state = str(ti.get("state") or "unknown")
        if ti and state not in WAITING_STATES:  # (a detail without its task instance: Airflow's 409 decides)
            return outcome(f"not recorded: the task is {state}", texts.not_waiting(question, state))
        answered = api.respond(question.task, chosen, self._params_input(question, person, data))
        if answered.status_code == 200:
            self.questions.mark_answered(question.id)
            log.info("Recorded %s for %s (%s) from %s", chosen, question.task.describe(), question.task.run_id,
                     person.label(question.service))  # fmt: skip
            return outcome(f"recorded {chosen}", texts.recorded(question, chosen))
        if answered.status_code == 409:
            again = api.hitl_detail(question.task)
            return outcome("not recorded: already answered",
                           self._already(question, again.json() if again.status_code == 200 else {}))  # fmt: skip
        return self._not_recorded(question, person, answered.status_code, answered.text, "answer")

    @staticmethod
    def _params_input(question: Question, person: Person, data: dict[str, Any]) -> dict[str, Any]:
        """Nothing, or with a ``sender_param``: every param (Airflow wants all of them) with who answered."""
        if not question.sender_param:
            return {}
        params = data.get("params") or {}
        given = {k: (v.get("value") if isinstance(v, dict) else v) for k, v in params.items()}
        return {**given, question.sender_param: person.label(question.service)}

    @staticmethod
    def _already(question: Question, data: dict[str, Any]) -> str:
        by = (data.get("params_input") or {}).get(question.sender_param or "") or (
            (data.get("responded_by_user") or {}).get("name")
        )
        return texts.already_answered(question, data.get("chosen_options"), by)

    def _not_recorded(self, question: Question, person: Person, status: int, body: str, what: str) -> Outcome:
        fix = {
            401: "check the login and password (or token) of the connection",
            403: "give the account the right to answer (role 'user' or more), and when the task has "
            "assigned_users, add the account's user id to them",
        }.get(status, "see Airflow's answer above")
        log.error(
            "Airflow refused to %s the answer to %s (%s) for %s with account %r: HTTP %d %s. Fix: %s",
            what, question.task.describe(), question.task.run_id, person.label(question.service),
            question.api_conn_id, status, body[:300], fix,
        )  # fmt: skip
        return Outcome(
            f"not recorded: HTTP {status}", texts.could_not_record(question), person.address, question
        )
