"""Files from the DAG: checked against Meta's limits before any request, uploaded, sent by id;
received files downloaded and checked."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import respx
from airflow.sdk import ObjectStoragePath
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_messaging.core.errors import PermanentError, ValidationError
from airflow_provider_messaging.core.retry import RetryPolicy
from airflow_provider_messaging.hooks.whatsapp import WhatsAppHook
from airflow_provider_messaging.operators.whatsapp import (
    WhatsAppSendMessageOperator,
    WhatsAppSendTemplateOperator,
)
from airflow_provider_messaging.whatsapp.cloud import WhatsAppCloudClient, WhatsAppCredentials
from airflow_provider_messaging.whatsapp.media import TEMPLATE_HEADER_KINDS, media_file
from airflow_provider_messaging.whatsapp.sender import prepared

GRAPH = "https://graph.facebook.com/v25.0"
CREDS = WhatsAppCredentials(access_token="EAAG-secret", phone_number_id="1065")
PDF = b"%PDF-1.4\n" + b"report " * 100


@pytest.fixture
def pdf(tmp_path):
    path = tmp_path / "weekly report.pdf"
    path.write_bytes(PDF)
    return path


def sized(tmp_path, name, size):
    path = tmp_path / name
    with open(path, "wb") as handle:
        handle.truncate(size)  # sparse: the size is all that is checked
    return path


def test_the_kind_follows_the_files_type(pdf, tmp_path):
    assert (media_file(pdf).kind, media_file(pdf).mime_type) == ("document", "application/pdf")
    assert media_file(sized(tmp_path, "chart.png", 10)).kind == "image"
    assert media_file(sized(tmp_path, "clip.mp4", 10)).kind == "video"
    assert media_file(sized(tmp_path, "note.ogg", 10)).kind == "audio"
    assert media_file(sized(tmp_path, "smile.webp", 10)).kind == "sticker"
    assert media_file(sized(tmp_path, "data.xlsx", 10)).kind == "document"


@pytest.mark.parametrize(
    ("name", "size", "kind", "field", "problem"),
    [
        ("chart.png", 10, "gif", "media_kind", "'gif' is not a WhatsApp media kind"),
        ("chart.png", 5 * 1024 * 1024 + 1, None, "media_path", "5.0 MB limit for image"),
        (
            "clip.mp4",
            17 * 1024 * 1024,
            None,
            "media_path",
            "17.0 MB, over WhatsApp's 16.0 MB limit for video",
        ),
        ("big.pdf", 101 * 1024 * 1024, None, "media_path", "100.0 MB limit for document"),
        ("smile.webp", 501 * 1024, None, "media_path", "500 KB limit for sticker"),
        ("chart.png", 10, "video", "media_path", "image/png, which WhatsApp does not take as video"),
        ("tool.exe", 10, None, "media_path", "which WhatsApp does not take"),
        ("empty.pdf", 0, None, "media_path", "is empty"),
    ],
)
def test_bad_files_are_refused_naming_the_field_and_the_limit(tmp_path, name, size, kind, field, problem):
    with pytest.raises(ValidationError) as err:
        media_file(sized(tmp_path, name, size), kind)
    assert err.value.field == field and problem in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ValidationError, match=r"media_path: .*nowhere\.pdf does not exist"):
        media_file(tmp_path / "nowhere.pdf")
    with pytest.raises(ValidationError, match="does not exist"):
        media_file(ObjectStoragePath(f"file://{tmp_path}/nowhere.pdf"))


def test_a_template_header_document_must_be_a_pdf(tmp_path):
    with pytest.raises(ValidationError, match="Send application/pdf as document"):
        media_file(sized(tmp_path, "notes.docx", 10), allowed=TEMPLATE_HEADER_KINDS)
    with pytest.raises(ValidationError, match="sticker cannot be used here"):
        media_file(sized(tmp_path, "smile.webp", 10), allowed=TEMPLATE_HEADER_KINDS)


def test_object_storage_paths_are_read_like_local_files(pdf):
    checked = media_file(ObjectStoragePath(f"file://{pdf}"))
    assert (checked.filename, checked.size, checked.kind) == ("weekly report.pdf", len(PDF), "document")
    with checked.open() as handle:
        assert handle.read() == PDF


@respx.mock
def test_an_upload_is_multipart_and_a_retry_sends_the_whole_file_again(pdf):
    route = respx.post(f"{GRAPH}/1065/media").mock(
        side_effect=[httpx.Response(503), httpx.Response(200, json={"id": "4490709327384033"})]
    )
    policy = RetryPolicy(max_attempts=3, initial_backoff=0.0, max_backoff=0.0)
    with WhatsAppCloudClient(CREDS, retry_policy=policy) as client:
        assert client.upload_media(media_file(pdf)) == "4490709327384033"
    for call in route.calls:  # both attempts carry the full file
        body = call.request.content
        assert call.request.headers["content-type"].startswith("multipart/form-data")
        assert (
            b'name="messaging_product"\r\n\r\nwhatsapp' in body
            and b'name="type"\r\n\r\napplication/pdf' in body
        )
        assert b'filename="weekly report.pdf"' in body and PDF in body


@respx.mock
def test_a_download_follows_the_url_with_the_token_and_checks_the_file():
    info = {"url": "https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=77", "mime_type": "application/pdf",
            "sha256": hashlib.sha256(PDF).hexdigest(), "file_size": len(PDF), "id": "77", "messaging_product": "whatsapp"}  # fmt: skip
    respx.get(f"{GRAPH}/77").respond(200, json=info)
    download = respx.get(info["url"]).respond(200, content=PDF)
    with WhatsAppCloudClient(CREDS) as client:
        found, chunks = client.get_media("77"), []
        client.download(found, chunks.append)
        assert b"".join(chunks) == PDF and found.mime_type == "application/pdf"
        assert download.calls.last.request.headers["authorization"] == "Bearer EAAG-secret"
        download.respond(200, content=PDF.replace(b"report", b"forged"))
        with pytest.raises(PermanentError, match="does not match its SHA-256"):
            client.download(found, chunks.append)


def set_conn(monkeypatch):
    conn = {"conn_type": "whatsapp", "password": "EAAG-secret", "extra": {"phone_number_id": "1065"}}
    monkeypatch.setenv("AIRFLOW_CONN_WHATSAPP_DEFAULT", json.dumps(conn))


@respx.mock
def test_the_hook_downloads_to_a_path_or_object_storage(monkeypatch, tmp_path):
    set_conn(monkeypatch)
    info = {"url": "https://lookaside.fbsbx.com/a?mid=77", "mime_type": "application/pdf",
            "sha256": hashlib.sha256(PDF).hexdigest(), "file_size": len(PDF), "id": "77"}  # fmt: skip
    respx.get(f"{GRAPH}/77").respond(200, json=info)
    respx.get(info["url"]).respond(200, content=PDF)
    hook = WhatsAppHook()
    assert hook.download_media("77", tmp_path / "in" / "scan.pdf").read_bytes() == PDF
    written = hook.download_media("77", f"file://{tmp_path}/bucket/")  # a folder: named after the id
    assert isinstance(written, ObjectStoragePath) and written.name == "77.pdf" and written.read_bytes() == PDF
    respx.get(info["url"]).respond(200, content=PDF[:-1])
    with pytest.raises(Exception, match="cut short"):
        hook.download_media("77", tmp_path / "cut.pdf")
    assert not (tmp_path / "cut.pdf").exists()  # a file that fails the check is not left behind


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"media_path": "/no/such/report.pdf"}, "media_path: /no/such/report.pdf does not exist"),
        ({"media_path": "REPORT", "media_kind": "gif"}, "'gif' is not a WhatsApp media kind"),
        ({"to": "US.1349-12", "text": "hi"}, "is not a business-scoped user id"),
        ({"text": "hi", "caption": "x"}, "a caption or filename needs media_path"),
    ],
)
def test_bad_input_fails_the_task_before_any_request(monkeypatch, pdf, options, problem):
    set_conn(monkeypatch)
    options = {"to": "+4915112345678", **options}
    if options.get("media_path") == "REPORT":
        options["media_path"] = str(pdf)
    with respx.mock(assert_all_called=False) as service:
        any_request = service.route().respond(500)
        with pytest.raises(AirflowFailException, match=problem):
            WhatsAppSendMessageOperator(task_id="send", **options).execute({})
    assert not any_request.called


def test_a_template_header_file_is_checked_before_any_request(monkeypatch, tmp_path):
    set_conn(monkeypatch)
    operator = WhatsAppSendTemplateOperator(task_id="send", to="+4915112345678", template_name="order_shipped",
                                            language="en_US", media_path=sized(tmp_path, "huge.pdf", 101 * 1024 * 1024))  # fmt: skip
    with respx.mock(assert_all_called=False) as service:
        any_request = service.route().respond(500)
        with pytest.raises(AirflowFailException, match=r"100\.0 MB limit for document"):
            operator.execute({})
    assert not any_request.called


@respx.mock
def test_a_file_is_uploaded_then_sent_by_id_as_a_document_with_its_name(monkeypatch, pdf):
    set_conn(monkeypatch)
    respx.post(f"{GRAPH}/1065/media").respond(200, json={"id": "4490709327384033"})
    send = respx.post(f"{GRAPH}/1065/messages").respond(
        200, json={"contacts": [{"input": "US.1", "user_id": "US.1"}], "messages": [{"id": "wamid.D"}]}
    )
    ids = WhatsAppSendMessageOperator(
        task_id="send", to="US.1", media_path=str(pdf), caption="Week 32"
    ).execute({})
    payload = json.loads(send.calls.last.request.content)
    assert ids == ["wamid.D"] and payload["recipient"] == "US.1" and payload["type"] == "document"
    assert payload["document"] == {
        "id": "4490709327384033",
        "caption": "Week 32",
        "filename": "weekly report.pdf",
    }


def test_the_send_ledger_knows_an_uploaded_file_by_the_file_not_by_its_fresh_id(pdf):
    first = prepared(1, "US.1", media_file(pdf).message("111"))
    retry = prepared(1, "US.1", media_file(pdf).message("222"))  # a retry uploads again: a new id
    assert first.content == retry.content and "111" not in json.dumps(first.content)
