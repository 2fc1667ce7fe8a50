"""Notifiers for Airflow's human-in-the-loop operators: ask on WhatsApp or by SMS, answer by message.

Pass one as ``notifiers=`` to ``HITLOperator``, ``ApprovalOperator``, ``HITLBranchOperator`` or
``HITLEntryOperator``. The operator calls it after writing its HITL detail and before it waits;
it sends the subject, body and options to the people asked, with a link to the task in the UI,
and keeps the question in the status store. The reply (a tap, or an option's number or name) is
recorded as the task's answer through Airflow's REST API by the webhook receiver's side (see
:mod:`airflow_provider_messaging.hitl.responder`), so the task resumes as if answered in the UI.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..hooks.signalwire import SignalWireHook
from ..hooks.whatsapp import WhatsAppHook
from .base import MessagingNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..core.hitl import ButtonSigner, Person, Question
    from ..core.report import SendReport
    from ..whatsapp.messages import Message, Template

DEFAULT_API_CONN_ID = "airflow_api_default"
SMS_QUESTION_MAX = 480  # characters: three or four SMS segments at most
WINDOW_CLOSED = "131047"


class HITLNotifier(MessagingNotifier):
    """What both services share: the question from the task, the people asked, the store, the link.

    :param to: who is asked. A mapping of Airflow user ids (as in the task's ``assigned_users``) to
        a number or a list of numbers, e.g. ``{"alice": "+4915112345678"}``; with assigned users
        only they are asked, and only they may answer. Without ``assigned_users`` a plain number or
        list of numbers works too, and everyone on it may answer.
    :param airflow_api_conn_id: the Airflow connection whose account records the answers through
        the REST API (host: the API server's URL; login and password, or extra ``token``). With
        ``assigned_users`` on the task, that account's user id must be among them.
    :param base_url: the Airflow UI's URL for the link in the message; default ``[api] base_url``.
    :param sender_param: a param the task declares (e.g. ``answered_by``) that gets who answered and
        how, as "Alice (alice), WhatsApp +4915112345678"; Airflow's own ``responded_by`` is the
        account of ``airflow_api_conn_id``.
    """

    service: str
    template_fields: Sequence[str] = ("to", "airflow_api_conn_id", "base_url", "sender_param")

    def __init__(
        self,
        *,
        to: str | Sequence[str] | Mapping[str, str | Sequence[str]],
        airflow_api_conn_id: str = DEFAULT_API_CONN_ID,
        base_url: str | None = None,
        sender_param: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.to = to
        self.airflow_api_conn_id = airflow_api_conn_id
        self.base_url = base_url
        self.sender_param = sender_param

    async def ask(self, context: Context, hook: Any, question: Question, body: str | None) -> None:
        raise NotImplementedError

    async def send(self, context: Context, hook: Any) -> None:
        from ..store.hitl import QuestionStore
        from ..store.watcher import shared_store

        task = _hitl_task(context)
        question = self.question(context, task, hook.conn_id)
        QuestionStore(shared_store(None)).save(question)  # before the message: an answer may come at once
        self.log.info("Asking %d person(s) by %s (ref %s): %s", len(question.people), self.service,
                      question.code, question.subject)  # fmt: skip
        await self.ask(context, hook, question, task.body)

    def question(self, context: Context, task: Any, conn_id: str) -> Question:
        from ..core.hitl import Question, TaskRef
        from ..hitl.airflow_api import load_account

        ti = context["ti"]
        if self.sender_param is not None and self.sender_param not in task.params:
            from ..core.errors import ValidationError

            raise ValidationError(
                "sender_param", f"the task declares no param {self.sender_param!r}",
                f"Declare it, e.g. params={{{self.sender_param!r}: Param('', type='string')}}",
            )  # fmt: skip
        account = load_account(self.airflow_api_conn_id)  # fails here, not when the answer comes
        people = self.people(task, account.username)
        return Question(
            task=TaskRef(ti.dag_id, ti.run_id, ti.task_id, int(ti.map_index if ti.map_index is not None else -1),
                         int(ti.try_number)),
            service=self.service, conn_id=conn_id, subject=str(task.subject), options=tuple(task.options),
            people=people, api_conn_id=self.airflow_api_conn_id, multiple=bool(task.multiple),
            sender_param=self.sender_param, link=self.link(context), created_at=time.time(),
        )  # fmt: skip

    def people(self, task: Any, account: str | None) -> tuple[Person, ...]:
        """Who is asked: ``to``, narrowed to the task's assigned users when it has any."""
        from ..core.hitl import people_asked

        assigned = {str(u["id"]): str(u.get("name") or u["id"]) for u in task.assigned_users or []}
        people = people_asked(self.to, assigned, self.recipients)
        if assigned:
            if account not in assigned:
                self.log.warning(
                    "The account %r of connection %r is not among the task's assigned_users %s: Airflow will "
                    "refuse the answers it records (403) unless its auth manager lets it answer anyway. Add "
                    "{'id': '<its user id>', 'name': ...} to assigned_users.",
                    account, self.airflow_api_conn_id, sorted(assigned),
                )  # fmt: skip
            left = sorted(set(assigned) - {str(p.user_id) for p in people} - {str(account)})
            if left:
                self.log.info("Not asked by message (no number here; they answer in the UI): %s", left)
        return people

    def recipients(self, value: object, field: str) -> list[str]:
        """``value`` checked as the service's recipients are checked everywhere else."""
        from ..core.phone import normalize_recipients

        return normalize_recipients(value, field)

    def link(self, context: Context) -> str | None:
        from airflow.providers.standard.operators.hitl import HITLOperator

        try:
            return HITLOperator.generate_link_to_ui_from_context(context=context, base_url=self.base_url)
        except ValueError as exc:  # no base_url given and none configured
            self.log.info("The message has no link to the task: %s (set base_url= or [api] base_url)", exc)
            return None


def _hitl_task(context: Context) -> Any:
    from airflow.providers.standard.operators.hitl import HITLOperator

    task = context.get("task")
    if not isinstance(task, HITLOperator):
        from ..core.errors import ValidationError

        raise ValidationError(
            "notifiers", f"{type(task).__name__} is not a human-in-the-loop operator",
            "Pass HITL notifiers to HITLOperator, ApprovalOperator, HITLBranchOperator or HITLEntryOperator; "
            "for task callbacks use WhatsAppNotifier or SignalWireNotifier",
        )  # fmt: skip
    return task


class WhatsAppHITLNotifier(HITLNotifier):
    """Ask on WhatsApp: reply buttons for up to three short options, a list for up to ten (several
    answers allowed: a numbered text); a tap answers the task.

    Free-form messages reach people only inside the 24-hour window after they last wrote to the
    business. With ``template_name`` the question goes to those outside it as that approved
    template, whose quick-reply buttons (one per option, in the options' order) answer the task.
    The connection needs its app secret: the receiver checks replies with it, and the answer
    buttons are signed with a key derived from it, so a forged button is refused.

    :param template_name: an approved template for people outside the 24-hour window.
    :param language: the template's language code.
    :param body_parameters: the template's body parameters (Jinja); default: the subject.
    :param whatsapp_conn_id: the WhatsApp connection to ask on (replies come back to its webhook).
    """

    service = "whatsapp"
    template_fields = (*HITLNotifier.template_fields, "template_name", "language", "body_parameters",
                       "whatsapp_conn_id")  # fmt: skip

    def __init__(
        self,
        *,
        template_name: str | None = None,
        language: str = "en_US",
        body_parameters: Sequence[str] | Mapping[str, str] = ("{{ task.subject }}",),
        whatsapp_conn_id: str = WhatsAppHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.template_name = template_name
        self.language = language
        self.body_parameters = body_parameters
        self.whatsapp_conn_id = whatsapp_conn_id

    def recipients(self, value: object, field: str) -> list[str]:
        """Phone numbers or business-scoped user ids, as every WhatsApp send takes them."""
        from ..whatsapp.recipients import whatsapp_recipients

        return whatsapp_recipients(value, field)

    def make_hook(self) -> WhatsAppHook:
        return WhatsAppHook(whatsapp_conn_id=self.whatsapp_conn_id)

    async def ask(self, context: Context, hook: WhatsAppHook, question: Question, body: str | None) -> None:
        from ..sending import raise_for_undelivered
        from ..whatsapp.hitl import question_message, signer_for

        signer = signer_for(hook.credentials)
        template = self._template(hook, question, signer)  # checked before anything is sent
        report = await self._send(context, hook, [p.address for p in question.people],
                                  question_message(question, body, signer))  # fmt: skip
        closed = [f["to"] for f in report.failures if f["code"] == WINDOW_CLOSED]
        if template is not None and closed:
            self.log.info(
                "Outside the 24-hour window: %s; asking them with template %r", closed, template.name
            )
            raise_for_undelivered(_without(report, closed), retryable=False)
            raise_for_undelivered(await self._send(context, hook, closed, template), retryable=False)
            return
        raise_for_undelivered(report, retryable=False)

    def _template(self, hook: WhatsAppHook, question: Question, signer: ButtonSigner) -> Template | None:
        from ..whatsapp.hitl import check_quick_replies, question_template
        from ..whatsapp.templates import check_template, find_template

        if not self.template_name:
            return None
        template = question_template(
            question, signer, self.template_name, self.language, self.body_parameters
        )
        if hook.credentials.waba_id:
            info = find_template(hook.templates(), template.name, template.language)
            check_template(template, info)
            check_quick_replies(question, info)
        return template

    async def _send(
        self, context: Context, hook: WhatsAppHook, to: list[str], message: Message
    ) -> SendReport:
        from ..sending import asend_rows, notification_purpose, recipient_rows
        from ..whatsapp.sender import prepared

        return await asend_rows(
            context=context, service="whatsapp", rows=recipient_rows(to), concurrency=1, keep_results=True,
            prepare=lambda row: prepared(row.number, row.values["to"], message), open_sender=hook.message_sender,
            ledger_purpose=notification_purpose(context), log=self.log,
        )  # fmt: skip


def _without(report: SendReport, recipients: Sequence[str]) -> SendReport:
    """``report`` as if the sends to ``recipients`` had not been made (they are tried another way)."""
    failures = [f for f in report.failures if f["to"] not in recipients]
    return dataclasses.replace(report, rows=report.rows - len(recipients), failures=failures,
                               failed=report.failed - (len(report.failures) - len(failures)))  # fmt: skip


class SignalWireHITLNotifier(HITLNotifier):
    """Ask by SMS: the subject, the body (shortened to fit), the numbered options and the link; the
    answer is a reply with an option's number or name (``2``, ``reject``), and the question's code
    when the person has several open questions (``2 K7QD``).

    :param from_number: the number people reply to; default: the connection's Default From number.
    :param signalwire_conn_id: the SignalWire connection; the number's messaging webhook must point
        at the receiver (``/messaging/signalwire/<conn_id>``) for replies to arrive.
    """

    service = "signalwire"
    template_fields = (*HITLNotifier.template_fields, "from_number", "signalwire_conn_id")

    def __init__(
        self,
        *,
        from_number: str | None = None,
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.from_number = from_number
        self.signalwire_conn_id = signalwire_conn_id

    def make_hook(self) -> SignalWireHook:
        return SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)

    async def ask(self, context: Context, hook: SignalWireHook, question: Question, body: str | None) -> None:
        from ..core.hitl_texts import question_text
        from ..sending import asend_each, notification_purpose
        from ..signalwire.sender import Sms

        sms = Sms.checked(question_text(question, body, SMS_QUESTION_MAX), None,
                          self.from_number or hook.credentials.from_number, hook.conn_id)  # fmt: skip
        await asend_each(
            context=context, service="signalwire", recipients=[p.address for p in question.people],
            prepare=sms.to, open_sender=hook.rest_sender, ledger_purpose=notification_purpose(context),
            retryable=False, log=self.log,
        )  # fmt: skip


send_whatsapp_hitl_notification = WhatsAppHITLNotifier
send_signalwire_hitl_notification = SignalWireHITLNotifier
