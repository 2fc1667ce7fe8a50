"""The loop that turns replies into answers: it reads the inbound messages the webhook receiver
stored, hands each possible answer to :class:`~.answers.Answerer`, and sends its reply back.

It runs beside the receiver, in a thread of its own: in ``airflow api-server`` (started with the
mounted receiver) and in ``airflow-messaging webhooks``. It never touches a request: it reads the
store once a second, and only while questions asked in the last ``max_age`` seconds exist. Each
message is claimed in the store before it is handled, so several processes answer it once; when
Airflow's API cannot be reached the claim is given back and the message tried again with backoff.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

from ..core.errors import MessagingError, TransientError
from ..core.events import InboundMessage
from ..core.hitl import ButtonSigner, Question
from ..core.hitl_texts import could_not_record
from ..core.inbound import InboundFilter
from ..store.hitl import QuestionStore
from ..store.store import MessageStore
from ..store.watcher import OVERLAP
from .airflow_api import AirflowApi, load_account
from .answers import Access, Answerer, Outcome, reply_address

log = logging.getLogger("airflow_provider_messaging.hitl")

POLL_INTERVAL = 1.0
PAGE = 500  # inbound messages read per query
MAX_AGE = 7 * 86400.0  # seconds a question stays answerable by message
GIVE_UP_AFTER = 600.0  # seconds of Airflow being unreachable before the person is told to use the UI


class ConnectionAccess:
    """Airflow connections as answering needs them, read when first needed and kept."""

    def __init__(self) -> None:
        self._apis: dict[str, AirflowApi] = {}
        self._signers: dict[str, ButtonSigner] = {}

    def api(self, conn_id: str) -> AirflowApi:
        if conn_id not in self._apis:
            self._apis[conn_id] = AirflowApi(load_account(conn_id))
        return self._apis[conn_id]

    def signer(self, conn_id: str) -> ButtonSigner:
        if conn_id not in self._signers:
            from ..hooks.whatsapp import WhatsAppHook
            from ..whatsapp.hitl import signer_for

            self._signers[conn_id] = signer_for(WhatsAppHook(whatsapp_conn_id=conn_id).credentials)
        return self._signers[conn_id]

    def send(self, question: Question, to: str, text: str, from_number: str | None) -> None:
        from ..sending import send_each

        if question.service == "whatsapp":
            from ..hooks.whatsapp import WhatsAppHook
            from ..whatsapp.messages import Text
            from ..whatsapp.sender import prepared

            whatsapp = WhatsAppHook(whatsapp_conn_id=question.conn_id)
            send_each(context=None, service="whatsapp", recipients=[to], retryable=False,
                      prepare=lambda row, r: prepared(row, r, Text(text)), open_sender=whatsapp.message_sender)  # fmt: skip
            return
        from ..hooks.signalwire import SignalWireHook
        from ..signalwire.sender import Sms

        signalwire = SignalWireHook(signalwire_conn_id=question.conn_id)
        sms = Sms.checked(text, None, from_number or signalwire.credentials.from_number, question.conn_id)
        send_each(context=None, service="signalwire", recipients=[to], retryable=False, prepare=sms.to,
                  open_sender=signalwire.rest_sender)  # fmt: skip


@dataclass
class _Retry:
    message: InboundMessage
    received_at: float
    next_try: float
    delay: float


class Responder:
    def __init__(
        self,
        store: MessageStore,
        access: Access | None = None,
        *,
        interval: float = POLL_INTERVAL,
        max_age: float = MAX_AGE,
    ) -> None:
        self.questions = QuestionStore(store)
        self.access = access or ConnectionAccess()
        self.answerer = Answerer(self.questions, self.access)
        self.interval, self.max_age = interval, max_age
        self._since: dict[str, float] = {}  # service -> received_at read up to
        self._seen: deque[tuple[str, str]] = deque(maxlen=10_000)
        self._retries: dict[tuple[str, str], _Retry] = {}
        self._known: dict[str, Question] = {}  # id -> question, newest first
        self._sender_forms: dict[frozenset[str], list[str]] = {}
        self._stop = threading.Event()

    def _asked(self) -> list[Question]:
        """The questions of the last ``max_age`` seconds, newest first; each read from the store once."""
        looked = self.questions.asked_since(time.time() - self.max_age)
        new = [qid for qid, _ in looked if qid not in self._known]
        self._known.update(self.questions.get_many(new) if new else {})
        for qid, answered_at in looked:
            if self._known[qid].answered_at != answered_at:
                self._known[qid] = dataclasses.replace(self._known[qid], answered_at=answered_at)
        self._known = {qid: self._known[qid] for qid, _ in looked}
        return list(self._known.values())

    def _senders(self, asked: list[Question]) -> list[str]:
        """Every form in which the store may hold the senders the questions were asked of."""
        key = frozenset(q.id for q in asked)
        if key not in self._sender_forms:
            self._sender_forms = {key: sorted({form for q in asked for p in q.people
                                               for form in InboundFilter((p.address,)).store_senders()})}  # fmt: skip
        return self._sender_forms[key]

    def poll(self) -> int:
        """Handle what arrived since the last look; returns how many messages were handled."""
        asked = self._asked()
        handled = 0
        for service in sorted({q.service for q in asked}):
            of_service = [q for q in asked if q.service == service]
            senders = self._senders(asked)
            since = self._since.get(service, min(q.created_at for q in of_service))
            after: tuple[float, str] | None = None
            while True:
                found = self.questions.inbound(service, since - OVERLAP, senders, after=after, limit=PAGE)
                for received_at, message in found:
                    if (service, message.message_id) not in self._seen:
                        self._seen.append((service, message.message_id))
                        handled += self._take(message, received_at, of_service)
                if found:
                    after = (found[-1][0], found[-1][1].message_id)
                if len(found) < PAGE:
                    break
            self._since[service] = max(since, after[0] if after else since)
        for key, retry in list(self._retries.items()):
            if retry.next_try <= time.time():
                del self._retries[key]
                of_service = [q for q in asked if q.service == key[0]]
                handled += self._take(retry.message, retry.received_at, of_service, retry)
        return handled

    def _take(
        self, message: InboundMessage, received_at: float, asked: list[Question], retry: _Retry | None = None
    ) -> int:
        service, message_id = message.service, message.message_id
        if not self.answerer.may_answer(message, received_at, asked) or not self.questions.claim(
            service, message_id
        ):
            return 0
        try:
            outcome = self.answerer.handle(message, received_at, asked)
        except TransientError as exc:
            return self._later(message, received_at, asked, retry, exc)
        except MessagingError as exc:  # a connection that cannot be read, an account that is refused
            log.error("Could not handle the reply %s from %s: %s", message_id, message.sender, exc)
            outcome = _failed(message, asked, exc)
        if outcome is None:
            self.questions.finish(service, message_id, None, "not an answer")
            return 0
        self._reply(outcome, message)
        self.questions.finish(
            service, message_id, outcome.question.id if outcome.question else None, outcome.note
        )
        return 1

    def _later(
        self, message: InboundMessage, received_at: float, asked: list[Question], retry: _Retry | None,
        exc: TransientError,
    ) -> int:  # fmt: skip
        key = (message.service, message.message_id)
        self.questions.release(*key)
        if time.time() - received_at > GIVE_UP_AFTER:
            log.error("Gave up on the reply %s from %s: %s", message.message_id, message.sender, exc)
            outcome = _failed(message, asked, exc)
            if self.questions.claim(*key):
                self._reply(outcome, message)
                self.questions.finish(*key, outcome.question.id if outcome.question else None, outcome.note)
            return 1
        delay = min((retry.delay * 2) if retry else 1.0, 60.0)
        log.warning("Reply %s from %s not handled yet (%s); trying again in %.0f s",
                    message.message_id, message.sender, exc, delay)  # fmt: skip
        self._retries[key] = _Retry(message, received_at, time.time() + delay, delay)
        return 0

    def _reply(self, outcome: Outcome, message: InboundMessage) -> None:
        if not (outcome.reply and outcome.to and outcome.question):
            return
        try:
            self.access.send(outcome.question, outcome.to, outcome.reply, message.recipient)
        except Exception as exc:
            log.warning("Could not send the reply to %s (%s): %s", outcome.to, outcome.note, exc)

    def run(self) -> None:
        """Poll until :meth:`stop`; a failed look (the store down) is logged and tried again."""
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:
                log.exception("Reading replies to human-in-the-loop questions failed; trying again")
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()


def _failed(message: InboundMessage, asked: list[Question], exc: Exception) -> Outcome:
    """The answer could not be recorded: whoever was asked is told to answer in the UI."""
    mine = [q for q in asked if q.person_for(message)]
    return Outcome(f"failed: {exc}"[:500], could_not_record(mine[0]) if mine else None,
                   reply_address(message), mine[0] if mine else None)  # fmt: skip


_started: dict[str, Responder] = {}
_lock = threading.Lock()


def start_responder(store: MessageStore | None = None) -> Responder:
    """The responder for ``store`` (default: ``[messaging] store_url``), started once per process."""
    store = store or MessageStore()
    with _lock:
        if store.url not in _started:
            responder = Responder(store)
            threading.Thread(target=responder.run, name="messaging-hitl-replies", daemon=True).start()
            _started[store.url] = responder
        return _started[store.url]
