"""WhatsApp Cloud API error codes: what they mean, what to do, and whether retrying helps.

Logic keys on ``error.code`` only; Meta's titles are slated for removal and HTTP statuses vary
between versions. An ``is_transient`` flag in the payload overrides the table.
"""

from __future__ import annotations

# code -> (meaning, what to do)
WHATSAPP_ERROR_CODES: dict[int, tuple[str, str]] = {
    0: ("the access token could not be authenticated", "refresh the access token in the connection"),
    190: (
        "the access token expired or was invalidated",
        "create a new (System User) token and update the connection",
    ),
    3: ("the app lacks the capability for this API call", "check the app's permissions"),
    10: ("permission denied", "grant whatsapp_business_messaging to the token's app"),
    4: ("the app hit its API call rate limit", "wait and retry; lower the request rate"),
    80007: ("the WhatsApp Business Account hit its rate limit", "wait and retry later"),
    130429: ("Cloud API throughput exceeded", "send fewer messages per second"),
    131056: (
        "too many messages to this recipient in a short time (pair rate limit)",
        "wait before messaging this recipient again",
    ),
    131048: (
        "sending is restricted because of spam reports or blocks",
        "stop the campaign and check the number's quality rating",
    ),
    131049: (
        "not delivered to protect user engagement (per-user marketing cap)",
        "wait at least 24 hours before sending again",
    ),
    131026: (
        "the message is undeliverable (not a WhatsApp user, old app, blocked or terms not accepted)",
        "reach the recipient another way",
    ),
    131047: (
        "the 24-hour customer service window is closed",
        "send an approved template instead of a free-form message",
    ),
    131051: ("unsupported message type", "use a supported message type"),
    131052: ("the media could not be downloaded", "check the media"),
    131053: (
        "the media could not be uploaded (URL unreachable or unsupported type)",
        "use a public URL with a supported media type",
    ),
    131000: ("something went wrong at Meta", "retry later"),
    1: (
        "unknown API error (invalid request or a server error)",
        "retry once; if it persists, check the request",
    ),
    2: ("the API is temporarily down or overloaded", "retry later"),
    131016: ("the service is temporarily unavailable", "retry later"),
    133004: ("the server is temporarily unavailable", "retry later"),
    131057: (
        "the account is in maintenance mode (for example a throughput upgrade)",
        "retry in a minute or two",
    ),
    100: ("an invalid or missing parameter", "check the message fields against the Cloud API reference"),
    131008: ("a required parameter is missing", "add the missing parameter"),
    131009: ("a parameter value is invalid", "check the parameter values"),
    135000: ("generic user error", "check the request"),
    33: ("the phone number id does not exist or was deleted", "check the connection's phone number id"),
    132000: (
        "the number of template parameters does not match the template",
        "pass exactly the parameters the template defines",
    ),
    132001: (
        "the template does not exist in this language or is not approved",
        "check the template name and language code in WhatsApp Manager",
    ),
    132005: ("the template text is too long once the parameters are filled in", "shorten the parameters"),
    132007: ("the template content violates WhatsApp policy", "edit the template"),
    132012: ("a template parameter has the wrong format", "match each parameter's type to the template"),
    132015: (
        "the template is paused because of low quality",
        "improve or replace the template, then unpause it",
    ),
    132016: ("the template is permanently disabled", "create a new template"),
    133010: ("the business phone number is not registered on Cloud API", "register the number"),
    131031: ("the business account is locked", "resolve the lock in Business Manager; stop sending"),
    368: ("temporarily blocked for policy violations", "stop sending and review the policy notice"),
    130497: ("the account may not message users in this country", "remove these recipients"),
    131042: ("a payment or billing problem", "fix the payment method in Business Manager"),
    131045: ("a number registration or certificate error", "re-register the number"),
    131021: ("the recipient is the sender", "send to another number"),
    131030: (
        "the recipient is not on the test number's allowed list",
        "add the recipient in the app dashboard or use a production number",
    ),
    131050: ("the user stopped accepting marketing messages", "respect the opt-out"),
    130472: ("the user is part of a Meta marketing experiment", "do not resend"),
}

TRANSIENT_CODES = frozenset({1, 2, 4, 80007, 130429, 131000, 131016, 131056, 131057, 133004})
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131056})
AUTH_CODES = frozenset({0, 190, 3, 10, *range(200, 300)})
TEMPLATE_CODES = frozenset({132000, 132001, 132005, 132007, 132012, 132015, 132016})


def describe_whatsapp_code(code: int | str | None) -> str:
    if code is None or str(code) == "":
        return "no error code given"
    try:
        key = int(code)
    except ValueError:
        return f"WhatsApp error {code}"
    meaning = WHATSAPP_ERROR_CODES.get(key)
    if meaning is None and 200 <= key < 300:
        meaning = ("API permission error", "grant the token's app the needed permissions")
    if meaning is None:
        return f"WhatsApp error {code}: see Meta's Cloud API error-code reference"
    return f"WhatsApp error {code} ({meaning[0]}): {meaning[1]}"


def is_transient(code: int | None, flagged: bool | None = None) -> bool:
    """Whether retrying the same request may succeed; the payload's ``is_transient`` wins."""
    if flagged is not None:
        return bool(flagged)
    return code in TRANSIENT_CODES
