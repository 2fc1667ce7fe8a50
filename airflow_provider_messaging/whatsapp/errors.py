"""WhatsApp Cloud API error codes: what they mean, what to do, and how a sender reacts to them.

Logic keys on ``error.code`` only; Meta's titles are slated for removal and HTTP statuses vary
between versions. An ``is_transient`` flag in an error payload overrides the table's answer to
"may a retry help" (the client reads it). The same codes arrive later in failed status webhooks.
"""

from __future__ import annotations

from ..core.errors import (
    AccountError,
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    ErrorTable,
    PermanentError,
    RateLimitedError,
    RecipientError,
    Scope,
    ServiceUnavailableError,
    TemplateError,
    WindowClosedError,
)

_E = ErrorCode
PAIR_RATE_LIMIT = "131056"  # too many messages to one user: only that user waits


def _permission_range(code: str) -> ErrorCode | None:
    if code.isdigit() and 200 <= int(code) < 300:
        return _E(code, "API permission error", "grant the token's app the needed permissions",
                  AuthenticationError)  # fmt: skip
    return None


WHATSAPP_ERRORS = ErrorTable(
    "whatsapp",
    "WhatsApp",
    [
        # the token and the app
        _E(
            "0",
            "the access token could not be authenticated",
            "refresh the access token in the connection",
            AuthenticationError,
        ),
        _E(
            "190",
            "the access token expired or was invalidated",
            "create a new (System User) token and update the connection",
            AuthenticationError,
        ),
        _E(
            "3",
            "the app lacks the capability for this API call",
            "check the app's permissions",
            AuthenticationError,
        ),
        _E(
            "10",
            "permission denied",
            "grant whatsapp_business_messaging to the token's app",
            AuthenticationError,
        ),
        _E(
            "33",
            "the phone number id does not exist or was deleted",
            "check the connection's phone number id",
            ConfigurationError,
        ),
        # slow down: everyone, or only this user
        _E(
            "4",
            "the app hit its API call rate limit",
            "wait and retry; lower the request rate",
            RateLimitedError,
        ),
        _E(
            "80007",
            "the WhatsApp Business Account hit its rate limit",
            "wait and retry later",
            RateLimitedError,
        ),
        _E("130429", "Cloud API throughput exceeded", "send fewer messages per second", RateLimitedError),
        _E(
            PAIR_RATE_LIMIT,
            "too many messages to this recipient in a short time (pair rate limit)",
            "wait before messaging this recipient again",
            RateLimitedError,
            Scope.RECIPIENT,
        ),
        # Meta is down for now
        _E(
            "1",
            "unknown API error (invalid request or a server error)",
            "retry once; if it persists, check the request",
            ServiceUnavailableError,
        ),
        _E("2", "the API is temporarily down or overloaded", "retry later", ServiceUnavailableError),
        _E("131000", "something went wrong at Meta", "retry later", ServiceUnavailableError),
        _E("131016", "the service is temporarily unavailable", "retry later", ServiceUnavailableError),
        _E("133004", "the server is temporarily unavailable", "retry later", ServiceUnavailableError),
        _E(
            "131057",
            "the account is in maintenance mode (for example a throughput upgrade)",
            "retry in a minute or two",
            ServiceUnavailableError,
        ),
        # the business account or number: every further send meets it
        _E(
            "131031",
            "the business account is locked",
            "resolve the lock in Business Manager; stop sending",
            AccountError,
        ),
        _E(
            "368",
            "temporarily blocked for policy violations",
            "stop sending and review the policy notice",
            AccountError,
        ),
        _E(
            "131042",
            "a payment or billing problem",
            "fix the payment method in Business Manager",
            AccountError,
        ),
        _E("131045", "a number registration or certificate error", "re-register the number", AccountError),
        _E(
            "133010",
            "the business phone number is not registered on Cloud API",
            "register the number",
            AccountError,
        ),
        _E(
            "131048",
            "sending is restricted because of spam reports or blocks",
            "stop the campaign and check the number's quality rating",
            AccountError,
        ),
        _E(
            "131037",
            "the number's display name is not approved",
            "get the display name approved in WhatsApp Manager",
            AccountError,
        ),
        _E(
            "131064",
            "the messaging limit is reached because templates were misclassified",
            "review the templates' categories",
            AccountError,
        ),
        # templates
        _E(
            "132001",
            "the template does not exist in this language or is not approved",
            "check the template name and language code in WhatsApp Manager",
            TemplateError,
        ),
        _E("132007", "the template content violates WhatsApp policy", "edit the template", TemplateError),
        _E(
            "132015",
            "the template is paused because of low quality",
            "improve or replace the template, then unpause it",
            TemplateError,
        ),
        _E("132016", "the template is permanently disabled", "create a new template", TemplateError),
        _E(
            "131063",
            "marketing templates are disabled on Cloud API for this account",
            "send marketing templates another way or use a utility template",
            TemplateError,
        ),
        _E(
            "132000",
            "the number of template parameters does not match the template",
            "pass exactly the parameters the template defines",
            TemplateError,
            Scope.RECIPIENT,
        ),
        _E(
            "132005",
            "the template text is too long once the parameters are filled in",
            "shorten the parameters",
            TemplateError,
            Scope.RECIPIENT,
        ),
        _E(
            "132012",
            "a template parameter has the wrong format",
            "match each parameter's type to the template",
            TemplateError,
            Scope.RECIPIENT,
        ),
        _E(
            "132068",
            "the flow is blocked",
            "fix the flow in WhatsApp Manager",
            PermanentError,
            Scope.EVERY_SEND,
        ),
        _E(
            "132069",
            "the flow is throttled (10 messages an hour)",
            "wait before sending the flow again",
            PermanentError,
            Scope.EVERY_SEND,
        ),
        # this message
        _E(
            "131051",
            "unsupported message type",
            "use a supported message type",
            PermanentError,
            Scope.EVERY_SEND,
        ),
        _E(
            "100",
            "an invalid or missing parameter",
            "check the message fields against the Cloud API reference",
        ),
        _E("131008", "a required parameter is missing", "add the missing parameter"),
        _E("131009", "a parameter value is invalid", "check the parameter values"),
        _E("135000", "generic user error", "check the request"),
        _E("131052", "the media could not be downloaded", "check the media"),
        _E(
            "131053",
            "the media could not be uploaded (URL unreachable or unsupported type)",
            "use a public URL with a supported media type",
        ),
        # this recipient
        _E(
            "131026",
            "the message is undeliverable (not a WhatsApp user, old app, blocked or terms not accepted)",
            "reach the recipient another way",
            RecipientError,
        ),
        _E(
            "131047",
            "the 24-hour customer service window is closed",
            "send an approved template instead of a free-form message",
            WindowClosedError,
        ),
        _E(
            "131049",
            "not delivered to protect user engagement (per-user marketing cap)",
            "wait at least 24 hours before sending again",
            RecipientError,
        ),
        _E("131050", "the user stopped accepting marketing messages", "respect the opt-out", RecipientError),
        _E("130472", "the user is part of a Meta marketing experiment", "do not resend", RecipientError),
        _E(
            "130497",
            "the account may not message users in this country",
            "remove these recipients",
            RecipientError,
        ),
        _E("131021", "the recipient is the sender", "send to another number", RecipientError),
        _E(
            "131030",
            "the recipient is not on the test number's allowed list",
            "add the recipient in the app dashboard or use a production number",
            RecipientError,
        ),
        _E(
            "131062",
            "this recipient cannot be reached by business-scoped user id",
            "send to the user's phone number instead",
            RecipientError,
        ),
    ],
    reference="Meta's Cloud API error-code reference",
    fallback=_permission_range,
)
