"""The receiver accepts exactly the webhook signatures SignalWire's official validators accept.

``signalwire`` 2.1.1's ``RequestValidator`` and ``signalwire-sdk`` 3.x's ``webhook_validator``, each
in its own virtualenv, first *make* signatures for a set of requests (with their own signing
functions, over every URL variant and field shape they use, and with a wrong key), then say which
of all those signatures they accept. The provider must accept a signature exactly when one of
them does: no genuine variant refused, nothing else let in.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from airflow_provider_messaging.signalwire.webhooks import verify_signature

pytestmark = pytest.mark.integration
KEY = "PSK_7TruNcSNTxp4zNrykMj4EPzF"

FORM = urlencode([("MessageSid", "0a059168"), ("MessageStatus", "undelivered"), ("ErrorCode", "30003"),
                  ("Body", "Nightly backup finished ✓"), ("NumMedia", "0"), ("ErrorMessage", "")])  # fmt: skip
REPEATED = urlencode(
    [("MessageSid", "0a059168"), ("MediaUrl", "https://e.com/b.png"), ("MediaUrl", "https://e.com/a.png")]
)
NATIVE = json.dumps({"id": "c2d3e4f5", "status": "delivered", "error_code": None, "number_of_segments": 1,
                     "custom_variables": {"order": "12345"}})  # fmt: skip
FLAT_JSON = json.dumps({"MessageSid": "0a059168", "MessageStatus": "delivered"})
BODIES = [FORM, REPEATED, NATIVE, FLAT_JSON, "{}", "null", "[]", '""', "0", "", "not a form or JSON"]
URLS = [
    "https://example.com/messaging/signalwire/sw",
    "https://example.com:443/messaging/signalwire/sw?run=1",
    "http://127.0.0.1:8788/signalwire/signalwire_default",
    "http://localhost/hook?x=1&x=2",
    "https://Example.COM/hook",
]


def requests_to_check():
    found = [{"url": url, "body": body} for url in URLS for body in BODIES]
    for body in (NATIVE, FLAT_JSON, ""):  # JSON posted to a Compatibility URL that carries the body's hash
        digest = hashlib.sha256(body.encode()).hexdigest()
        found += [{"url": f"https://example.com/cb?bodySHA256={digest}", "body": body},
                  {"url": f"https://example.com:443/cb?bodySHA256={'0' * 64}", "body": body}]  # fmt: skip
    return found


# Each script reads {"key", "mode", "requests"} and writes one list per request: in "sign" mode the
# signatures its SDK's own signing functions make, in "check" mode one verdict per signature in "signatures".
VALIDATOR_2X = r"""
import json, sys
from urllib.parse import parse_qsl, urlparse
from signalwire.request_validator import RequestValidator
from twilio.request_validator import add_port, remove_port

job = json.load(sys.stdin)
validator = RequestValidator(job["key"])

def document(body):
    try:
        return json.loads(body), True
    except ValueError:
        return None, False

out = []
for request in job["requests"]:
    url, body = request["url"], request["body"]
    doc, is_json = document(body)
    if job["mode"] == "sign":
        made, parsed = set(), urlparse(url)
        for candidate in {url, add_port(parsed), remove_port(parsed)}:
            made.add(validator.build_signature(candidate, body))
            for fields in (dict(parse_qsl(body, keep_blank_values=True)), {}, doc if isinstance(doc, dict) else {}):
                try:
                    made.add(validator.build_signature_with_compatibility(candidate, fields))
                except TypeError:
                    pass
        out.append(sorted(made))
    else:  # a receiver hands over the raw body of a JSON post, the parsed fields of a form post
        given = body if is_json else dict(parse_qsl(body, keep_blank_values=True))
        verdicts = []
        for signature in request["signatures"]:
            try:
                verdicts.append(bool(validator.validate(url, given, signature)))
            except Exception:
                verdicts.append(False)
        out.append(verdicts)
json.dump(out, sys.stdout)
"""

VALIDATOR_3X = r"""
import json, sys
from signalwire.core.security import webhook_validator as wv

job = json.load(sys.stdin)
key = job["key"]
out = []
for request in job["requests"]:
    url, body = request["url"], request["body"]
    if job["mode"] == "sign":
        made = set()
        for candidate in wv._candidate_urls(url):
            made.add(wv._hex_hmac_sha1(key, candidate + body))
            for fields in (wv._parse_form_body(body), []):
                made.add(wv._b64_hmac_sha1(key, candidate + wv._sorted_concat_params(fields)))
        out.append({"sha1": sorted(made), "sha256": [wv._hex_hmac_sha256(key, url + body)]})
    else:
        out.append({
            "sha1": [wv.validate_webhook_signature(key, s, url, body) for s in request["signatures"]],
            "sha256": [wv.validate_webhook_signature_sha256(key, s, url, body) for s in request["sha256"]],
        })
json.dump(out, sys.stdout)
"""


@pytest.fixture(scope="module")
def verdicts(request):
    """For every request: each signature either SDK made, and which SDK accepts it."""
    from tests.official_sdks import _start

    sdk2, sdk3 = _start("signalwire2").ready(), _start("signalwire3").ready()
    requests = requests_to_check()
    made = [set() for _ in requests]
    made256 = [set() for _ in requests]
    for key in (KEY, "a-wrong-key"):
        job = {"key": key, "mode": "sign", "requests": requests}
        for i, signatures in enumerate(json.loads(sdk2.run(VALIDATOR_2X, stdin=job))):
            made[i] |= set(signatures)
        for i, signatures in enumerate(json.loads(sdk3.run(VALIDATOR_3X, stdin=job))):
            made[i] |= set(signatures["sha1"])
            made256[i] |= set(signatures["sha256"])
    checks = [
        {**r, "signatures": sorted(m), "sha256": sorted(m256)}
        for r, m, m256 in zip(requests, made, made256, strict=True)
    ]
    job = {"key": KEY, "mode": "check", "requests": checks}
    by_2x = json.loads(sdk2.run(VALIDATOR_2X, stdin=job))
    by_3x = json.loads(sdk3.run(VALIDATOR_3X, stdin=job))
    return checks, by_2x, by_3x, (sdk2.version, sdk3.version)


@pytest.mark.official_sdk("signalwire2")
@pytest.mark.official_sdk("signalwire3")
def test_a_signature_is_accepted_exactly_when_an_official_validator_accepts_it(verdicts):
    checks, by_2x, by_3x, versions = verdicts
    assert versions[0] == "2.1.1" and versions[1].startswith("3.")
    disagreements, accepted = [], 0
    for check, ok2, ok3 in zip(checks, by_2x, by_3x, strict=True):
        body = check["body"].encode()
        for signature, official2, official3 in zip(check["signatures"], ok2, ok3["sha1"], strict=True):
            official = official2 or official3
            accepted += official
            if verify_signature(KEY, signature, check["url"], body) is not official:
                disagreements.append((check["url"], check["body"][:30], signature, official2, official3))
        for signature, official in zip(check["sha256"], ok3["sha256"], strict=True):
            if verify_signature(KEY, None, check["url"], body, sha256_signature=signature) is not official:
                disagreements.append((check["url"], check["body"][:30], "sha256", signature, official))
    assert not disagreements, disagreements
    assert accepted > 3 * len(checks)  # the set holds genuine signatures, not only forgeries


@pytest.mark.official_sdk("signalwire2")
@pytest.mark.official_sdk("signalwire3")
def test_the_variant_only_2x_accepts_a_json_body_signed_over_its_fields(verdicts):
    checks, by_2x, by_3x, _ = verdicts
    only_2x = [
        (check["url"], check["body"])
        for check, ok2, ok3 in zip(checks, by_2x, by_3x, strict=True)
        for official2, official3 in zip(ok2, ok3["sha1"], strict=True)
        if official2 and not official3
    ]
    assert (URLS[0], FLAT_JSON) in only_2x
