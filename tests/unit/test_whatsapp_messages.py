from __future__ import annotations

import pytest

from airflow_provider_messaging.core.errors import ValidationError
from airflow_provider_messaging.whatsapp.messages import (
    Buttons,
    Contacts,
    CtaUrl,
    ListMessage,
    ListRow,
    ListSection,
    Location,
    Media,
    Reaction,
    ReplyButton,
    Template,
    TemplateButton,
    Text,
    build_send_payload,
    message_from_dict,
)


def test_text_envelope_matches_the_cloud_api():
    payload = build_send_payload("+49 151 12345678", Text("Report ready", preview_url=True), reply_to="wamid.X",
                                 callback_data="dag=d;run=r")  # fmt: skip
    assert payload == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "4915112345678", "type": "text",
        "text": {"body": "Report ready", "preview_url": True}, "context": {"message_id": "wamid.X"},
        "biz_opaque_callback_data": "dag=d;run=r",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("build", "field"),
    [(lambda: Text("x" * 4097), "text.body"), (lambda: Text(""), "text.body"),
     (lambda: Media("image", link="https://e.com/a.png", caption="c" * 1025), "image.caption"),
     (lambda: Media("audio", link="https://e.com/a.ogg", caption="c"), "audio.caption"),
     (lambda: Media("image"), "image"), (lambda: Media("image", link="ftp://x"), "image.link"),
     (lambda: Media("gif", link="https://e.com/a"), "media.kind"),
     (lambda: Buttons("b", [ReplyButton(str(i), f"t{i}") for i in range(4)]), "interactive.buttons"),
     (lambda: Buttons("b", [ReplyButton("a", "same"), ReplyButton("b", "same")]), "interactive.buttons"),
     (lambda: Buttons("b", [ReplyButton("a", "x" * 21)]), "interactive.buttons[0].title"),
     (lambda: ListMessage("b", "Pick", [ListSection([ListRow(str(i), "t") for i in range(11)])]), "interactive.action.sections"),
     (lambda: CtaUrl("b", "x" * 21, "https://e.com"), "interactive.action.parameters.display_text"),
     (lambda: Location(91, 0), "location.latitude"), (lambda: Contacts([{"name": {}}]), "contacts[0].name.formatted_name"),
     (lambda: Template("t", "en_US", {"Bad-Name": "x"}), "template.body['Bad-Name']")],
)  # fmt: skip
def test_builders_refuse_what_the_api_refuses_naming_the_field(build, field):
    with pytest.raises(ValidationError) as err:
        build()
    assert err.value.field == field


def test_interactive_payloads():
    buttons = Buttons("Deploy?", [ReplyButton("approve:1", "Approve"), ReplyButton("reject:1", "Reject")],
                      header="Approval", footer="Airflow")  # fmt: skip
    assert buttons.content()["action"]["buttons"][0] == {
        "type": "reply",
        "reply": {"id": "approve:1", "title": "Approve"},
    }
    assert buttons.content()["header"] == {"type": "text", "text": "Approval"}
    lst = ListMessage(
        "Pick", "Reports", [ListSection([ListRow("pnl", "P&L", "month to date")], title="Finance")]
    )
    assert lst.content()["action"]["sections"] == [
        {"title": "Finance", "rows": [{"id": "pnl", "title": "P&L", "description": "month to date"}]}
    ]
    assert CtaUrl("Ready", "Open", "https://e.com/d").content()["action"] == {
        "name": "cta_url", "parameters": {"display_text": "Open", "url": "https://e.com/d"}
    }  # fmt: skip


def test_media_location_reaction_payloads():
    assert Media("document", link="https://e.com/r.pdf", caption="Q3", filename="q3.pdf").content() == {
        "link": "https://e.com/r.pdf", "caption": "Q3", "filename": "q3.pdf"
    }  # fmt: skip
    assert Media("audio", media_id="902", voice=True).content() == {"id": "902", "voice": True}
    assert (
        build_send_payload("+15550001001", Media("sticker", link="https://e.com/s.webp"))["type"] == "sticker"
    )
    assert Location(52.52, 13.405, name="W3").content() == {
        "latitude": 52.52,
        "longitude": 13.405,
        "name": "W3",
    }
    assert Reaction("wamid.X", "\u2705").content() == {"message_id": "wamid.X", "emoji": "\u2705"}


def test_template_components_positional_and_named():
    t = Template(
        "order_shipped", "en_US", ["Maria", "EUR 49.90"],
        header_media=Media("document", link="https://e.com/inv.pdf", filename="inv.pdf"),
        buttons=[TemplateButton("quick_reply", 0, "ack:7781"), TemplateButton("url", 1, "7781")],
    )  # fmt: skip
    content = t.content()
    assert content["language"] == {"code": "en_US"}
    assert content["components"][0] == {
        "type": "header", "parameters": [{"type": "document", "document": {"link": "https://e.com/inv.pdf", "filename": "inv.pdf"}}]
    }  # fmt: skip
    assert content["components"][1]["parameters"] == [
        {"type": "text", "text": "Maria"},
        {"type": "text", "text": "EUR 49.90"},
    ]
    assert content["components"][2] == {"type": "button", "sub_type": "quick_reply", "index": "0",
                                        "parameters": [{"type": "payload", "payload": "ack:7781"}]}  # fmt: skip
    named = Template("greet", "de", {"first_name": "Maria"}).content()
    assert named["components"] == [
        {"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Maria"}]}
    ]
    assert Template("hello_world", "en_US").content() == {
        "name": "hello_world",
        "language": {"code": "en_US"},
    }


def test_messages_from_plain_dicts():
    assert message_from_dict({"type": "text", "text": {"body": "hi"}}) == Text("hi")
    assert message_from_dict({"type": "image", "image": {"link": "https://e.com/a.png"}}).type == "image"
    with pytest.raises(ValidationError):
        message_from_dict({"type": "text"})


def test_callback_data_over_512_characters_is_refused():
    with pytest.raises(ValidationError, match="biz_opaque_callback_data"):
        build_send_payload("+15550001001", Text("x"), callback_data="x" * 513)
