"""An independent WhatsApp client against the sandbox: pywa 4.5.0, unmodified, sends through it and
parses every status webhook it sends, with pywa's own webhook server checking the signatures."""

from __future__ import annotations

import time
from dataclasses import replace

import httpx
import pytest
from fastapi import FastAPI
from pywa import WhatsApp
from pywa.types import MessageStatus, MessageStatusType
from pywa.types.templates import BodyText, TemplateLanguage

from messaging_sandbox.config import SandboxConfig
from messaging_sandbox.server import BackgroundServer, SandboxServer

pytestmark = pytest.mark.integration


@pytest.fixture
def pywa_with_sandbox():
    """pywa's webhook server (FastAPI) on one loopback port, the sandbox posting to it on another."""
    config = SandboxConfig(port=0, sent_delay=0.05, delivered_delay=0.05, read_delay=0.05)
    app = FastAPI()
    app.add_api_route("/health", lambda: {"status": "ok"})
    statuses: list[MessageStatus] = []
    session = httpx.Client()
    wa = WhatsApp(
        phone_id=config.whatsapp_phone_number_id, token=config.whatsapp_token, session=session, server=app,
        webhook_endpoint="/pywa", verify_token="pywa-verify", app_secret=config.whatsapp_app_secret,
        validate_updates=True, api_version="25.0",
    )  # fmt: skip
    wa.on_message_status()(lambda _, status: statuses.append(status))
    with (
        BackgroundServer(app) as pywa_server,
        SandboxServer(replace(config, webhook_url=f"{pywa_server.url}/pywa")) as sandbox,
    ):
        session.base_url = f"{sandbox.url}/v25.0"  # pywa's Graph API base, pointed at the sandbox
        yield wa, sandbox, statuses
    session.close()


def wait_for_statuses(statuses, message_ids, seconds=15.0):
    deadline = time.monotonic() + seconds
    wanted = {(m, s) for m in message_ids for s in (MessageStatusType.SENT, "delivered", "read")}
    while {(s.id, s.status) for s in statuses} < wanted:
        assert time.monotonic() < deadline, f"pywa parsed only {[(s.id, s.status) for s in statuses]}"
        time.sleep(0.05)


def test_pywa_sends_a_text_and_a_template_and_parses_every_status_webhook(pywa_with_sandbox):
    wa, sandbox, statuses = pywa_with_sandbox
    text = wa.send_message(to="15550002001", text="Report ready", tracker="dag=pywa")
    template = wa.send_template(
        to="15550002007", name="weekly_report", language=TemplateLanguage.ENGLISH_US,
        params=[BodyText.params("data team", "week 32")],
    )  # fmt: skip
    by_user_id = wa.send_message(to="US.15550002008", text="Hello by user id")
    wait_for_statuses(statuses, [text.id, template.id, by_user_id.id])

    attempts = httpx.get(f"{sandbox.url}/_sandbox/callbacks").json()["callbacks"]
    assert attempts and {a["response_status"] for a in attempts} == {200}  # signatures accepted
    seen = [s for s in statuses if s.id in (text.id, template.id, by_user_id.id)]
    assert len(seen) == len(attempts) == 9  # pywa parsed every status webhook the sandbox sent
    for status in seen:
        assert status.pricing is not None and status.pricing.model == "PMP"
        assert status.from_user.bsuid  # the user id from the status webhook's contacts
    assert {s.tracker for s in seen if s.id == text.id} == {"dag=pywa"}
    assert {s.from_user.wa_id for s in seen if s.id == text.id} == {"15550002001"}
    assert {s.from_user.username for s in seen if s.id == template.id} == {None, "sandbox.user7"}
    assert {(s.from_user.wa_id, s.from_user.bsuid) for s in seen if s.id == by_user_id.id} == {
        (None, "US.15550002008")
    }
    sent = httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"]
    assert {m["payload"].get("recipient") for m in sent} >= {"US.15550002008"}
