"""Questions asked by message: typed answers, signed buttons, what the messages say and look like."""

from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import ConfigurationError, ValidationError
from airflow_provider_messaging.core.events import InboundMessage
from airflow_provider_messaging.core.hitl import (
    ButtonSigner,
    Person,
    Question,
    TaskRef,
    parse_choice,
    question_id,
    read_button_id,
    split_code,
)
from airflow_provider_messaging.core.hitl_texts import question_text
from airflow_provider_messaging.whatsapp.credentials import WhatsAppCredentials
from airflow_provider_messaging.whatsapp.hitl import (
    check_quick_replies,
    question_message,
    question_template,
    reply_id,
    signer_for,
)
from airflow_provider_messaging.whatsapp.messages import Buttons, ListMessage, Text
from airflow_provider_messaging.whatsapp.templates import parse_template

TASK = TaskRef("deploy", "manual__2026-01-01T00:00:00+00:00", "approve", -1, 1)


def question(options=("Approve", "Reject"), multiple=False, link="http://airflow/x", task=TASK, **kwargs):
    return Question(task=task, service="whatsapp", conn_id="whatsapp_default", subject="Deploy 1.4.2?",
                    options=tuple(options), people=(Person("+15550002001", "Alice", "alice"),),
                    api_conn_id="airflow_api_default", multiple=multiple, link=link, **kwargs)  # fmt: skip


@pytest.mark.parametrize(
    ("text", "multiple", "chosen"),
    [
        ("2", False, ["Reject"]),
        (" approve ", False, ["Approve"]),
        ("REJECT", False, ["Reject"]),
        ("1,2", True, ["Approve", "Reject"]),
        ("1 2", True, ["Approve", "Reject"]),
        ("1,2", False, None),  # one answer is asked for
        ("1,1", True, None),
        ("3", False, None),
        ("0", False, None),
        ("yes please", False, None),
        ("", False, None),
    ],
)
def test_typed_answers_name_options_by_number_or_name(text, multiple, chosen):
    assert parse_choice(text, ["Approve", "Reject"], multiple) == chosen


def test_an_option_with_spaces_is_found_by_its_whole_name():
    assert parse_choice("run it again", ["Run it again", "Stop"]) == ["Run it again"]


def test_the_code_of_a_question_is_taken_out_of_the_answer():
    assert split_code("2 k7qd", ["K7QD", "M2XA"]) == ("K7QD", "2")
    assert split_code("2", ["K7QD"]) == (None, "2")


def test_a_question_id_is_stable_for_a_try_and_new_for_the_next():
    assert question_id(TASK, "whatsapp") == question_id(TaskRef(*vars(TASK).values()), "whatsapp")
    assert question_id(TASK, "whatsapp") != question_id(
        TaskRef("deploy", TASK.run_id, "approve", -1, 2), "whatsapp"
    )
    assert question_id(TASK, "whatsapp") != question_id(TASK, "signalwire")  # asked both ways: two questions
    assert question().code == question().id[:4].upper()


def test_a_signed_button_verifies_and_any_change_is_refused():
    signer, q = ButtonSigner("app-secret"), question()
    tap = read_button_id(signer.button_id(q, 1))
    assert tap is not None and tap.option == 1 and signer.verify(q, tap)
    assert not ButtonSigner("another-secret").verify(q, tap)
    assert not signer.verify(q, type(tap)(tap.question_id, 0, tap.tag))  # another option, same signature
    next_try = question(task=TaskRef(TASK.dag_id, TASK.run_id, TASK.task_id, -1, 2), id=q.id)
    assert not signer.verify(next_try, tap)  # the same id for another try
    assert read_button_id("hitl1.only-two.parts") is None
    assert read_button_id("approve:run42") is None


def test_a_person_is_matched_the_way_reply_filters_match_senders():
    person = Person("+15550002001", "Alice")
    inbound = InboundMessage("whatsapp", "wamid.1", "15550002001", None, "text", "1", 0.0)
    assert person.sent(inbound)
    assert not person.sent(InboundMessage("whatsapp", "wamid.2", "15550002009", None, "text", "1", 0.0))


def test_the_question_text_fits_its_limit_and_keeps_options_code_and_link():
    q = question()
    text = question_text(q, "x" * 2000, 480)
    assert len(text) <= 480
    assert text.startswith("Airflow needs your answer: Deploy 1.4.2?")
    assert f"Reply 1 for Approve or 2 for Reject. (ref {q.code})" in text
    assert text.endswith("Or answer in Airflow: http://airflow/x")
    assert "Reply with one or more numbers, e.g. 1,2: 1 for Approve, 2 for Reject." in question_text(
        question(multiple=True), None, 480
    )


def test_whatsapp_asks_with_buttons_a_list_or_numbered_text():
    signer = ButtonSigner("s")
    buttons = question_message(question(), "Build passed.", signer)
    assert isinstance(buttons, Buttons)
    assert [b.title for b in buttons.buttons] == ["Approve", "Reject"]
    assert buttons.footer == f"Airflow, ref {question().code}"
    long_option = question_message(question(("Approve and deploy now", "Reject")), None, signer)
    assert isinstance(long_option, ListMessage)
    five = question_message(question(tuple(f"Option {i}" for i in range(5))), None, signer)
    assert isinstance(five, ListMessage) and len(five.sections[0].rows) == 5
    assert isinstance(question_message(question(multiple=True), None, signer), Text)
    assert isinstance(question_message(question(tuple(str(i) for i in range(11))), None, signer), Text)


def test_a_template_answers_with_one_quick_reply_per_option():
    q, signer = question(), ButtonSigner("s")
    template = question_template(q, signer, "hitl_question", "en_US", ["Deploy 1.4.2?"])
    payloads = [
        c["parameters"][0]["payload"] for c in template.content()["components"] if c["type"] == "button"
    ]
    assert [read_button_id(p).option for p in payloads] == [0, 1]  # type: ignore[union-attr]
    info = parse_template({"name": "hitl_question", "language": "en_US", "status": "APPROVED", "components": [
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Yes"}]}]})  # fmt: skip
    with pytest.raises(ValidationError, match="1 quick-reply button"):
        check_quick_replies(q, info)


def test_buttons_need_the_app_secret():
    creds = WhatsAppCredentials(access_token="t", phone_number_id="1", conn_id="whatsapp_default")
    with pytest.raises(
        ConfigurationError, match=r"connection 'whatsapp_default': App secret \(extra app_secret\)"
    ):
        signer_for(creds)


@pytest.mark.parametrize(
    ("message", "found"),
    [
        (
            {
                "type": "interactive",
                "interactive": {"type": "button_reply", "button_reply": {"id": "b1", "title": "A"}},
            },
            "b1",
        ),
        (
            {
                "type": "interactive",
                "interactive": {"type": "list_reply", "list_reply": {"id": "r2", "title": "B"}},
            },
            "r2",
        ),
        ({"type": "button", "button": {"payload": "p3", "text": "Approve"}}, "p3"),
        ({"type": "text", "text": {"body": "1"}}, None),
    ],
)
def test_a_tap_is_read_from_the_documented_inbound_shapes(message, found):
    assert reply_id(message) == found
