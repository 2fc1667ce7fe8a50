"""The real receiver over loopback, fed what a hostile or merely unusual sender sends: nothing valid
is lost, nothing answers 5xx except a store that is down, every refusal is logged with its reason."""

from __future__ import annotations

import json
import logging
import socket
import time

import httpx
import pytest

from airflow_provider_messaging.core.states import MessageState
from airflow_provider_messaging.signalwire.webhooks import form_signature, json_signature
from airflow_provider_messaging.webhooks.receiver import AirflowConnections, create_webhook_app, forwarded
from airflow_provider_messaging.whatsapp.webhooks import signature as whatsapp_signature
from messaging_sandbox.server import BackgroundServer
from tests.webhook_credentials import resolver, signalwire, whatsapp

pytestmark = pytest.mark.integration

APP_SECRET, SIGNING_KEY = "app-secret-hostile", "signing-key-hostile"
SECRETS = {
    "wa": whatsapp(APP_SECRET, "verify"),
    "sw": signalwire(SIGNING_KEY),
    "wa_no_secret": whatsapp(None),
}
BSUID = "DE." + "7" * 128  # 131 characters, the longest Meta documents


@pytest.fixture
def receiver(store):
    """The receiver in uvicorn on a loopback port, writing to SQLite and to PostgreSQL in turn."""
    app = create_webhook_app(store=store, credentials=resolver(SECRETS), max_body_bytes=64 * 1024,
                             name="hostile-test")  # fmt: skip
    with BackgroundServer(app) as server:
        yield server


def status(wamid, state="delivered", ts="1754038501", **extra):
    return {"id": wamid, "status": state, "timestamp": ts, "recipient_id": "4915112345678", **extra}


def envelope(*statuses, messages=()):
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": "1065"},
             "statuses": list(statuses), "messages": list(messages)}  # fmt: skip
    return {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": value}]}]}  # fmt: skip


def post(server, body, *, conn="wa", secret=APP_SECRET, headers=None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"Content-Type": "application/json", **(headers or {})}
    if secret:
        sent.setdefault("X-Hub-Signature-256", whatsapp_signature(secret, raw))
    return httpx.post(f"{server.url}/whatsapp/{conn}", content=raw, headers=sent, timeout=30)


MALFORMED = {
    "errors as an object": status("wamid.E1", "failed", errors={"code": 131026, "title": "undeliverable"}),
    "errors as text": status("wamid.E2", "failed", errors="broken"),
    "recipient_id as an object": status("wamid.R1", recipient_id={"wa_id": "49151"}),
    "nan timestamp": status("wamid.T1", ts="nan"),
    "infinite timestamp": status("wamid.T2", ts="-inf"),
    "a BSUID of 131 characters": status("wamid.B1", recipient_id=None, recipient_user_id=BSUID),
    "a long message id": status("wamid." + "HBgM" * 100),
    "NUL and a lone surrogate": status("wamid.N1\u0000", "failed", errors=[{"code": 1, "message": "a\u0000\ud800"}]),
    "a huge integer": status("wamid.I1", errors=[{"code": "HUGE-INTEGER"}]),
    "correlation as a list": status("wamid.C1", biz_opaque_callback_data=["x"]),
}  # fmt: skip
UNSTORABLE = {
    "no id": {"status": "sent", "timestamp": "1"},
    "id as an object": {"id": {"x": 1}, "status": "sent"},
    "status as a list": {"id": "wamid.L1", "status": ["sent"]},
    "not an object": "status",
}


def test_one_malformed_event_costs_the_others_nothing(receiver, store):
    good = [status(f"wamid.G{i}") for i in range(3)]
    body = envelope(good[0], *MALFORMED.values(), good[1], *UNSTORABLE.values(), good[2])
    body["entry"][0]["changes"][0]["value"]["messages"] = [
        {"from": "49151", "id": "wamid.IN1", "timestamp": "1", "type": "image", "image": {"id": "m", "caption": ["a"]}},
        {"from": {"x": 1}, "from_user_id": BSUID, "id": "wamid.IN2", "timestamp": "nan", "type": "text", "text": "flat"},
    ]  # fmt: skip
    raw = json.dumps(body).encode().replace(b'"HUGE-INTEGER"', b"9" * 5000)  # more digits than Python reads
    answer = post(receiver, raw)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"statuses": 3 + len(MALFORMED), "inbound": 2, "skipped": len(UNSTORABLE)}
    ids = ["wamid.G0", "wamid.G1", "wamid.G2", "wamid.E1", "wamid.R1", "wamid.T1", "wamid.B1", "wamid.C1"]
    found = store.get_statuses("whatsapp", ids)
    assert set(found) == set(ids)
    assert (found["wamid.E1"].state, found["wamid.E1"].error_code) == (MessageState.FAILED, "131026")
    assert found["wamid.B1"].recipient == BSUID and found["wamid.R1"].recipient is None
    inbound = store.inbound_since("whatsapp", since=0)
    assert {(m.message_id, m.sender, m.text) for m in inbound} == {
        ("wamid.IN1", "49151", None),
        ("wamid.IN2", BSUID, None),
    }
    # delivered again (Meta retries what it did not see answered): nothing new, still 200
    assert post(receiver, raw).json() == {"statuses": 0, "inbound": 0, "skipped": len(UNSTORABLE)}


def test_json_nested_ten_thousand_deep_costs_only_that_part(receiver, store):
    deep = "[" * 10_000 + "]" * 10_000
    text = json.dumps(envelope(status("wamid.D1", extra="DEEP"), status("wamid.D2")))
    answer = post(receiver, text.replace('"DEEP"', deep).encode())
    assert answer.status_code == 200 and answer.json()["statuses"] == 2
    assert set(store.get_statuses("whatsapp", ["wamid.D1", "wamid.D2"])) == {"wamid.D1", "wamid.D2"}
    unbalanced = post(receiver, b'{"entry": ' + b"[" * 10_000)
    assert unbalanced.status_code == 400


@pytest.mark.parametrize(
    "body", [b"not json", b"[]", b'{"entry": "x"}', b"\xff\xfe", b'{"entry": [' + b"1" * 5000 + b"]"]
)
def test_unparseable_signed_bodies_get_400(receiver, body):
    assert post(receiver, body).status_code == 400


def test_a_non_ascii_signature_header_is_refused_with_403(receiver, store):
    body = json.dumps(envelope(status("wamid.X1"))).encode()
    for header in ("sha256=\u00e4\u00f6", "sha256=" + "\u00ff" * 64):
        answer = httpx.post(f"{receiver.url}/whatsapp/wa", content=body,
                            headers={"X-Hub-Signature-256": header.encode("latin-1")})  # fmt: skip
        assert answer.status_code == 403
    sw = httpx.post(f"{receiver.url}/signalwire/sw", content=b"MessageSid=s&MessageStatus=sent",
                    headers={"X-SignalWire-Signature": "\u00e4".encode("latin-1"),
                             "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert sw.status_code == 403
    assert store.get_statuses("whatsapp", ["wamid.X1"]) == {}


def _raw_request(server, head: bytes, chunks, *, read_timeout: float = 10.0) -> bytes:
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=read_timeout) as sock:
        sock.sendall(head)
        try:
            for chunk in chunks:
                sock.sendall(chunk)
        except OSError:  # the server stopped reading and closed: what we want
            pass
        return sock.recv(4096)


def test_a_chunked_body_is_read_no_further_than_the_limit(receiver):
    """64 KiB limit; 96 KiB of chunks sent and the body never finished: an answer (413) can only come
    from a receiver that stopped reading at the limit; one that buffers the whole body waits for an
    end that never comes (the read times out)."""
    head = (b"POST /whatsapp/wa HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\nX-Hub-Signature-256: sha256=00\r\n\r\n")  # fmt: skip
    chunk = b"2000\r\n" + b" " * 0x2000 + b"\r\n"
    answer = _raw_request(receiver, head, [chunk] * 12)  # no terminating chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]


def test_every_refusal_is_logged_with_its_reason_and_no_secret_or_body(receiver, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_messaging")
    body = json.dumps(envelope(status("wamid.SECRETBODY"))).encode()
    cases = {
        "no connection named": post(receiver, body, conn="nobody"),
        "no secret to check signatures": post(receiver, body, conn="wa_no_secret", secret="x"),
        "missing X-Hub-Signature-256": post(receiver, body, secret=None),
        "invalid signature": post(receiver, body, secret="forged"),
        "body too large": post(receiver, b" " * (65 * 1024) + body),
        "malformed body": post(receiver, b"not json"),
    }
    assert {reason: a.status_code for reason, a in cases.items()} == {
        "no connection named": 404, "no secret to check signatures": 403, "missing X-Hub-Signature-256": 401,
        "invalid signature": 403, "body too large": 413, "malformed body": 400,
    }  # fmt: skip
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for reason in cases:
        assert reason in logged
    assert APP_SECRET not in logged and "SECRETBODY" not in logged


def test_skipped_events_are_logged_with_why(receiver, caplog):
    caplog.set_level(logging.WARNING, logger="airflow_provider_messaging")
    assert post(receiver, envelope(status("wamid.OK"), {"status": "sent"})).status_code == 200
    assert "status 1: a status without an 'id'" in caplog.text


def test_signalwire_behind_a_proxy_that_sends_rfc_7239_forwarded(receiver, store):
    public = "https://hooks.example.com/signalwire/sw"
    params = [("MessageSid", "sid-fwd"), ("MessageStatus", "delivered"), ("To", "+15550001001")]
    headers = {"Content-Type": "application/x-www-form-urlencoded",
               "X-SignalWire-Signature": form_signature(SIGNING_KEY, public, params),
               "Forwarded": 'for=198.51.100.7;proto=https;host="hooks.example.com", for=10.0.0.1;proto=http'}  # fmt: skip
    answer = httpx.post(f"{receiver.url}/signalwire/sw", content="MessageSid=sid-fwd&MessageStatus=delivered&To=%2B15550001001",
                        headers=headers)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert store.get_statuses("signalwire", ["sid-fwd"])["sid-fwd"].state is MessageState.DELIVERED


def test_forwarded_header_parsing():
    assert forwarded('For="[2001:db8::1]:4711";Proto=HTTPS;host="a.example:8443", for=1.2.3.4') == {
        "for": "[2001:db8::1]:4711", "proto": "HTTPS", "host": "a.example:8443"
    }  # fmt: skip
    assert forwarded("for=1.2.3.4") == {"for": "1.2.3.4"}
    assert forwarded("") == {} and forwarded(None) == {} and forwarded(";;,garbage") == {}


def test_signalwire_json_nulls_are_stored_as_no_value(receiver, store):
    url = f"{receiver.url}/signalwire/sw"
    raw = json.dumps({"MessageSid": "sid-null", "MessageStatus": "delivered", "ErrorCode": None,
                      "ErrorMessage": None, "To": "+15550001001"}).encode()  # fmt: skip
    headers = {
        "Content-Type": "application/json",
        "X-SignalWire-Signature": json_signature(SIGNING_KEY, url, raw),
    }
    assert httpx.post(url, content=raw, headers=headers).status_code == 200
    with store.engine.connect() as conn:
        from sqlalchemy import text

        row = conn.execute(text("SELECT error_code, error_details FROM messaging_message_status "
                                "WHERE message_id = 'sid-null'")).one()  # fmt: skip
    assert tuple(row) == (None, None)


def test_the_receiver_records_itself_alive_per_service(receiver, store):
    deadline = time.monotonic() + 10
    seen = {}
    while len(seen) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # recorded by the writer thread when the receiver starts
        seen = {s: t for s in ("whatsapp", "signalwire") if (t := store.receiver_last_seen(s)) is not None}
    assert set(seen) == {"whatsapp", "signalwire"}
    started = seen["whatsapp"]
    assert time.time() - started < 60


def test_many_concurrent_posts_are_each_stored_once_with_the_right_final_state(receiver, store):
    import asyncio

    order = ["sent", "delivered", "read"]
    bodies = [json.dumps(envelope(status(f"wamid.C{i}", s, ts=str(1000 + k)))).encode()
              for i in range(60) for k, s in enumerate(order)]  # fmt: skip
    bodies += bodies[:30]  # delivered twice

    async def run():
        async with httpx.AsyncClient(timeout=30) as client:
            sem = asyncio.Semaphore(32)

            async def one(raw):
                async with sem:
                    headers = {"X-Hub-Signature-256": whatsapp_signature(APP_SECRET, raw)}
                    return await client.post(f"{receiver.url}/whatsapp/wa", content=raw, headers=headers)

            return await asyncio.gather(*(one(b) for b in reversed(bodies)))

    answers = asyncio.run(run())
    assert {a.status_code for a in answers} == {200}
    assert sum(a.json()["statuses"] for a in answers) == 180
    found = store.get_statuses("whatsapp", [f"wamid.C{i}" for i in range(60)])
    assert {o.state for o in found.values()} == {MessageState.READ} and len(found) == 60
    assert all(len(store.events_for("whatsapp", f"wamid.C{i}")) == 3 for i in range(0, 60, 7))


def test_unknown_connection_ids_do_not_grow_the_cache(monkeypatch):
    connections = AirflowConnections(max_entries=256)
    monkeypatch.setattr(AirflowConnections, "_load", staticmethod(lambda service, conn_id: None))
    for i in range(20_000):
        assert connections("whatsapp", f"random-{i}") is None
    assert len(connections) == 256


def test_connections_are_looked_up_once_at_a_time(monkeypatch):
    """Requests arriving together for an uncached connection: one look-up (the first imports
    Airflow's models, which is not safe from several threads at once), the others use its answer."""
    import threading

    calls, running, most = [], [0], [0]

    def load(service, conn_id):
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        calls.append(conn_id)
        running[0] -= 1
        return whatsapp(APP_SECRET)

    monkeypatch.setattr(AirflowConnections, "_load", staticmethod(load))
    connections = AirflowConnections()
    threads = [threading.Thread(target=connections, args=("whatsapp", "wa")) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["wa"] and most[0] == 1


def test_a_failing_connection_lookup_answers_503_not_500(store, caplog):
    def broken(service, conn_id):
        raise RuntimeError("secrets backend unreachable")

    app = create_webhook_app(store=store, credentials=broken)
    with BackgroundServer(app) as server:
        answer = post(server, envelope(status("wamid.L1")))
    assert answer.status_code == 503
    assert "could not read the connection (RuntimeError)" in caplog.text
