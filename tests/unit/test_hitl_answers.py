"""Replies turned into Airflow's HITL answers: what is recorded, what is refused, what people are told.

Airflow's REST API is played by a fake behind httpx's MockTransport that keeps one HITL detail;
the store is SQLite, the replies go in as the webhook receiver stores them.
"""

from __future__ import annotations

import itertools
import json
import logging
import time

import pytest

from airflow_provider_messaging.core.events import InboundMessage
from airflow_provider_messaging.core.hitl import ButtonSigner, Person, Question, TaskRef
from airflow_provider_messaging.hitl.airflow_api import AirflowApi, ApiAccount
from airflow_provider_messaging.hitl.responder import Responder
from airflow_provider_messaging.store.hitl import QuestionStore
from airflow_provider_messaging.store.store import MessageStore
from tests.fake_airflow_api import FakeAirflow, fake_api

TASK = TaskRef("deploy", "manual__2026-01-01T00:00:00+00:00", "approve", -1, 1)
ALICE, BOB, STRANGER = "+15550002001", "+15550001001", "+15550002009"
ALICE_PERSON = Person(ALICE, "Alice", "alice")
SIGNER = ButtonSigner("app-secret")
_ids = itertools.count()


class FakeAccess:
    def __init__(self, airflow: FakeAirflow) -> None:
        self.airflow = airflow
        self.sent: list[tuple[str, str]] = []
        self._api = fake_api(airflow)

    def api(self, conn_id: str) -> AirflowApi:
        return self._api

    def signer(self, conn_id: str) -> ButtonSigner:
        return SIGNER

    def send(self, question: Question, to: str, text: str, from_number: str | None) -> None:
        self.sent.append((to, text))


@pytest.fixture
def store(tmp_path):
    store = MessageStore(f"sqlite:///{tmp_path / 'store.db'}")
    yield store
    store.dispose()


@pytest.fixture
def airflow():
    return FakeAirflow(TASK)


@pytest.fixture
def access(airflow):
    return FakeAccess(airflow)


def ask(
    store,
    service="whatsapp",
    task=TASK,
    people=(ALICE_PERSON,),
    sender_param="answered_by",
):
    question = Question(task=task, service=service, conn_id=f"{service}_default", subject="Deploy 1.4.2?",
                        options=("Approve", "Reject"), people=tuple(people), api_conn_id="airflow_api_default",
                        sender_param=sender_param, link="http://airflow/x", created_at=time.time() - 5)  # fmt: skip
    QuestionStore(store).save(question)
    return question


def tap(store, question, option=0, sender=ALICE, button_id=None):
    button_id = button_id or SIGNER.button_id(question, option)
    payload = {"type": "interactive", "interactive": {"type": "button_reply",
               "button_reply": {"id": button_id, "title": question.options[option]}}}  # fmt: skip
    store.record_inbound(InboundMessage("whatsapp", f"wamid.{next(_ids)}", sender.lstrip("+"), "1065",
                                        "interactive", question.options[option], time.time(), payload=payload))  # fmt: skip


def text(store, sender, body, service="whatsapp"):
    kind, who = ("text", sender.lstrip("+")) if service == "whatsapp" else ("sms", sender)
    store.record_inbound(InboundMessage(service, f"m.{next(_ids)}", who, None, kind, body, time.time()))


def test_a_tap_from_the_person_asked_is_recorded_with_who_answered(store, airflow, access):
    question = ask(store)
    tap(store, question, option=0)
    assert Responder(store, access).poll() == 1
    assert airflow.patches == [{"chosen_options": ["Approve"], "params_input": {
        "answered_by": "Alice (alice), WhatsApp +15550002001", "ticket": "OPS-1"}}]  # fmt: skip
    assert access.sent == [(ALICE, 'Thank you: Approve is recorded for "Deploy 1.4.2?".')]
    assert QuestionStore(store).get(question.id).answered_at is not None


def test_a_forged_button_is_refused_and_changes_nothing(store, airflow, access):
    question = ask(store)
    real = SIGNER.button_id(question, 1)
    tap(store, question, option=0, button_id=real.rsplit(".", 2)[0] + ".0." + real.rsplit(".", 1)[1])
    tap(store, question, option=0, button_id=ButtonSigner("guessed").button_id(question, 0))
    assert Responder(store, access).poll() == 2
    assert airflow.patches == []
    assert [t for _, t in access.sent] == [
        "This answer could not be verified, so it was not recorded. Nothing was changed."
    ] * 2


def test_a_tap_from_someone_not_asked_changes_nothing(store, airflow, access):
    question = ask(store)
    tap(store, question, sender=STRANGER)
    Responder(store, access).poll()
    assert airflow.patches == []
    assert access.sent == [
        (STRANGER, 'You are not among the people asked to answer "Deploy 1.4.2?". Nothing was changed.')
    ]


def test_a_task_already_answered_or_no_longer_waiting_is_left_alone(store, airflow, access):
    question = ask(store)
    airflow.detail.update(response_received=True, chosen_options=["Reject"],
                          params_input={"answered_by": "Bob (bob), SMS +15550001001"})  # fmt: skip
    tap(store, question)
    responder = Responder(store, access)
    responder.poll()
    airflow.detail.update(response_received=False)
    airflow.detail["task_instance"]["state"] = "failed"  # timed out without defaults
    tap(store, question)
    responder.poll()
    airflow.detail["task_instance"].update(state="awaiting_input", try_number=2)
    tap(store, question)
    responder.poll()
    assert airflow.patches == []
    assert [t for _, t in access.sent] == [
        '"Deploy 1.4.2?" was already answered (Reject by Bob (bob), SMS +15550001001). Your answer changed nothing.',
        '"Deploy 1.4.2?" no longer waits for an answer (the task is failed). Your answer changed nothing.',
        '"Deploy 1.4.2?" was asked again since: answer the newest message. Nothing was changed.',
    ]


def test_a_second_tap_after_the_answer_meets_airflows_409(store, airflow, access):
    question = ask(store)
    tap(store, question, option=0)
    responder = Responder(store, access)
    responder.poll()
    airflow.stale_reads = True  # another answer lands between the check and the PATCH
    tap(store, question, option=1)
    responder.poll()
    assert [p["chosen_options"] for p in airflow.patches] == [["Approve"], ["Reject"]]
    assert airflow.detail["chosen_options"] == ["Approve"]
    assert access.sent[-1][1].startswith('"Deploy 1.4.2?" was already answered (Approve by Alice (alice)')


def test_an_sms_answer_by_number_or_name_is_recorded(store, airflow, access):
    ask(store, service="signalwire", people=(Person(BOB, BOB),), sender_param=None)
    text(store, BOB, "thanks, will look", service="signalwire")
    text(store, BOB, " Reject ", service="signalwire")
    Responder(store, access).poll()
    assert airflow.patches == [{"chosen_options": ["Reject"], "params_input": {}}]
    assert access.sent[0] == (BOB, 'To answer "Deploy 1.4.2?": Reply 1 for Approve or 2 for Reject. (ref '
                              f"{access.sent[0][1][-5:-1]})")  # fmt: skip
    text(store, BOB, "thanks!", service="signalwire")  # once answered, an ordinary message
    Responder(store, access).poll()
    assert len(access.sent) == 2


def test_with_two_open_questions_the_code_says_which(store, airflow, access):
    first = ask(store)
    other = ask(store, task=TaskRef("deploy", "manual__2", "approve", -1, 1))
    text(store, ALICE, "1")
    responder = Responder(store, access)
    responder.poll()
    assert airflow.patches == []
    assert access.sent[0][1].startswith("You have 2 open questions")
    assert first.code in access.sent[0][1] and other.code in access.sent[0][1]
    text(store, ALICE, f"1 {first.code.lower()}")
    responder.poll()
    assert airflow.patches[0]["chosen_options"] == ["Approve"]


def test_replies_are_answered_once_by_several_processes(store, airflow, access):
    question = ask(store)
    tap(store, question)
    responders = [Responder(store, access), Responder(store, FakeAccess(airflow))]
    assert sum(r.poll() for r in responders) == 1
    assert len(airflow.patches) == 1


def test_when_airflow_cannot_be_reached_the_reply_is_tried_again(store, airflow, access, monkeypatch):
    question = ask(store)
    tap(store, question)
    airflow.down = 1
    responder = Responder(store, access)
    assert responder.poll() == 0
    assert airflow.patches == []
    monkeypatch.setattr(time, "time", lambda real=time.time: real() + 2)  # the backoff has passed
    assert responder.poll() == 1
    assert len(airflow.patches) == 1


def test_an_account_airflow_refuses_is_logged_with_the_fix(store, airflow, access, caplog):
    question = ask(store)
    airflow.patch_status = 403
    tap(store, question)
    with caplog.at_level(logging.ERROR, logger="airflow_provider_messaging.hitl"):
        Responder(store, access).poll()
    assert "add the account's user id to them" in caplog.text
    assert access.sent == [(ALICE, 'Your answer to "Deploy 1.4.2?" could not be recorded. Please answer in '
                                   "Airflow: http://airflow/x")]  # fmt: skip


def test_an_expired_token_is_renewed_once(airflow, access):
    api = access.api("x")
    assert api.hitl_detail(TASK).status_code == 200
    airflow.valid_tokens.clear()
    assert api.hitl_detail(TASK).status_code == 200
    assert airflow.sign_ins == 2


def test_a_token_from_airflow_that_no_header_can_carry_is_not_sent_nor_shown(airflow, access):
    import traceback

    from airflow_provider_messaging.core.errors import ConfigurationError

    api = access.api("x")
    api._token = "tök-from-a-broken-sign-in"  # as if Airflow had answered the sign-in with it
    with pytest.raises(ConfigurationError, match="was NOT sent") as refused:
        api.hitl_detail(TASK)
    assert "tök-from" not in "".join(traceback.format_exception(refused.value))


def test_the_api_account_reads_a_connection_and_keeps_its_secrets_out_of_repr():
    account = ApiAccount.from_connection("airflow_api_default", host="airflow", schema="https", port=8443,
                                         login="messaging", password="pw-secret", extras={})  # fmt: skip
    assert account.base_url == "https://airflow:8443"
    assert "pw-secret" not in repr(account)
    assert ApiAccount.from_connection("a", host="http://x:8080/", schema=None, port=None, login=None,
                                      password=None, extras={"token": "jwt"}).base_url == "http://x:8080"  # fmt: skip
    from airflow_provider_messaging.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="connection 'a': Host is empty"):
        ApiAccount.from_connection("a", host="", schema=None, port=None, login="u", password="p", extras={})
    with pytest.raises(ConfigurationError, match="neither a token"):
        ApiAccount.from_connection("a", host="x", schema=None, port=None, login="u", password=None, extras={})


def test_a_tap_behind_a_thousand_other_taps_of_the_same_moment_is_found(store, airflow, access):
    from airflow_provider_messaging.store.store import inbound_messages

    question = ask(store)
    QuestionStore(store).ensure_schema()
    now = time.time()
    other = {
        "type": "interactive",
        "interactive": {"type": "button_reply", "button_reply": {"id": "x", "title": "x"}},
    }
    rows = [dict(service="whatsapp", message_id=f"wamid.a{i:04d}", sender="15550009999", recipient=None,
                 kind="interactive", text="x", context_id=None, sent_at=now, received_at=now,
                 payload=json.dumps(other)) for i in range(1100)]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(inbound_messages.insert(), rows)
    tap(store, question)  # received a moment later, read after 1,100 rows of one received_at
    assert Responder(store, access).poll() == 1
    assert len(airflow.patches) == 1
