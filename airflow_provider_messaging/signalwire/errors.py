"""SignalWire's error codes: what each means, what to do, and how a sender reacts to it.

Codes and meanings follow SignalWire's published Compatibility API error list (Twilio-derived
numbers; SignalWire sends them as strings); the advice is ours. Codes that come back on a create
request decide what a batch does next (see :mod:`airflow_provider_messaging.core.errors`); the
3xxxx delivery codes arrive later, in a message's ``error_code``, and explain a failed state.
"""

from __future__ import annotations

from ..core.errors import (
    AccountError,
    AuthenticationError,
    ConfigurationError,
    ErrorCode,
    ErrorTable,
    MessageNotFoundError,
    PermanentError,
    RateLimitedError,
    RecipientError,
    ServiceUnavailableError,
)

_E = ErrorCode

SIGNALWIRE_ERRORS = ErrorTable(
    "signalwire",
    "SignalWire",
    [
        # credentials, project and Space
        _E(
            "20003",
            "authentication failed",
            "check the Project ID (login) and API Token (password) of the connection, and that the token "
            "has the Messaging scope",
            AuthenticationError,
        ),
        _E(
            "10003",
            "the API token lacks a permission this request needs",
            "give the token the Messaging scope",
            AuthenticationError,
        ),
        _E(
            "10001",
            "the Space is not enabled for this feature",
            "enable messaging for the Space",
            ConfigurationError,
        ),
        _E("10002", "a trial account does not support this feature", "upgrade the account", AccountError),
        _E(
            "10004",
            "the subproject does not belong to the authenticating project",
            "check the connection's Project ID",
            ConfigurationError,
        ),
        _E("10000", "an argument is invalid", "check the request's values", PermanentError),
        _E(
            "20404",
            "resource not found",
            "check the message id and that it belongs to this project",
            MessageNotFoundError,
        ),
        # the service itself
        _E("20429", "too many requests", "slow down; the request may be retried later", RateLimitedError),
        _E("20001", "unknown error at SignalWire", "retry later", ServiceUnavailableError),
        _E("20500", "internal error at SignalWire", "retry later", ServiceUnavailableError),
        _E("20504", "internal error at SignalWire", "retry later", ServiceUnavailableError),
        # the sender: every further send from it meets the same refusal
        _E(
            "21210",
            "the From number is not a number purchased in this project",
            "use a number owned by the project as from_number or the connection's From number",
            AccountError,
        ),
        _E(
            "21212",
            "the From number is invalid",
            "pass from_number in E.164 form, e.g. +15551230001",
            ConfigurationError,
        ),
        _E(
            "21603",
            "the From number is missing",
            "set from_number or the connection's From number",
            ConfigurationError,
        ),
        _E(
            "21606",
            "the From number cannot send messages to this destination (not message-capable)",
            "send from an SMS-capable number of the project",
            AccountError,
        ),
        _E(
            "21611",
            "the From number has too many messages queued",
            "slow down and retry later",
            RateLimitedError,
        ),
        _E("21624", "the ValidityPeriod is invalid", "use 1 to 172800 seconds", ConfigurationError),
        _E(
            "21701",
            "the number group is invalid",
            "check the messaging service / number group id",
            ConfigurationError,
        ),
        _E(
            "21703",
            "the number group has no number able to send this message",
            "add a capable number to the group",
            ConfigurationError,
        ),
        _E(
            "21705",
            "neither a From number nor a number group was given",
            "set from_number or the connection's From number",
            ConfigurationError,
        ),
        _E(
            "21717",
            "the From number is not assigned to an active 10DLC campaign",
            "assign the number to an approved campaign in the SignalWire Dashboard",
            AccountError,
        ),
        _E(
            "4001",
            "the account balance does not cover the operation",
            "top up the SignalWire account",
            AccountError,
        ),
        _E(
            "30002",
            "the account is suspended or out of balance",
            "top up the SignalWire account",
            AccountError,
        ),
        _E(
            "30022",
            "US A2P 10DLC rate limit exceeded",
            "send slower, within your campaign's throughput",
            RateLimitedError,
        ),
        _E(
            "30027",
            "T-Mobile's daily message limit for the brand is reached",
            "wait until the limit resets (midnight US Pacific)",
            AccountError,
        ),
        _E("35125", "the campaign's daily cap is met", "wait until tomorrow or raise the cap", AccountError),
        # this recipient
        _E(
            "21211",
            "the To number is invalid",
            "pass the recipient in E.164 form, e.g. +15551230002",
            RecipientError,
        ),
        _E(
            "21217", "the To number is not a valid phone number", "check the recipient number", RecipientError
        ),
        _E(
            "21219",
            "the To number is not verified for a trial project",
            "verify the number in the SignalWire Dashboard or leave trial mode",
            RecipientError,
        ),
        _E("21601", "the number is not SMS/MMS capable", "send to a mobile number", RecipientError),
        _E("21604", "the To number is missing", "pass at least one recipient", RecipientError),
        _E(
            "21610",
            "the recipient replied STOP and is unsubscribed",
            "do not message this recipient until they opt in again (reply START)",
            RecipientError,
        ),
        _E(
            "21614",
            "the To number is not a valid mobile number",
            "check the recipient number",
            RecipientError,
        ),
        # this message's content
        _E("21602", "the message has no Body and no MediaUrl", "pass a body or media_urls"),
        _E("21612", "unsupported media", "check the media type of every media URL"),
        _E(
            "21617", "the body exceeds the concatenated message limit", "shorten the body to 1,600 characters"
        ),
        _E("21620", "a media URL is invalid", "use public http(s) URLs for media"),
        _E("21623", "too many media URLs", "send at most 8 media URLs per message"),
        _E(
            "11751",
            "the total media size exceeds the carrier's limit",
            "keep all media under 1.2 MB (750 KB toll-free)",
        ),
        _E("53603", "a media URL redirected or could not be processed", "use a direct, public media URL"),
        _E("63019", "a media URL could not be downloaded", "check that every media URL is public"),
        # delivery outcomes, reported later in a message's error_code
        _E(
            "30001",
            "the message expired in the queue (validity period exceeded)",
            "send fewer messages at once or raise the validity period",
            RecipientError,
        ),
        _E(
            "30003",
            "the destination handset is unreachable (switched off or out of coverage)",
            "try again later or reach the recipient another way",
            RecipientError,
        ),
        _E(
            "30004",
            "the message was blocked by the destination carrier or the recipient",
            "check that the recipient opted in",
            RecipientError,
        ),
        _E(
            "30005",
            "the destination number is unknown or no longer exists",
            "check the recipient number",
            RecipientError,
        ),
        _E(
            "30006",
            "the destination is a landline or cannot be reached by SMS",
            "send to a mobile number",
            RecipientError,
        ),
        _E(
            "30007",
            "the carrier filtered the message (spam or policy violation)",
            "review the content and your 10DLC registration",
            RecipientError,
        ),
        _E(
            "30008",
            "unknown error from the carrier",
            "retry later; contact SignalWire support if it persists",
            RecipientError,
        ),
        _E("30009", "the message expired at the carrier", "retry later", RecipientError),
        _E("30010", "the message price exceeds MaxPrice", "raise MaxPrice or leave it unset", RecipientError),
        _E("30011", "the MMS expired, was rejected or failed", "check media size and type", RecipientError),
        _E("30012", "the MMS could not be sent", "check media size and type", RecipientError),
        _E("63011", "the message could not be delivered to the carrier", "retry later", RecipientError),
        # webhook delivery to your server (status callbacks)
        _E("11200", "SignalWire's request to your webhook timed out", "answer status callbacks quickly"),
        _E("11210", "your webhook's host name did not resolve", "check the status callback URL"),
        _E("11215", "your webhook redirected too many times", "use the final URL as the status callback"),
        _E("11217", "your webhook answered with a 4xx or 5xx status", "check the receiver's logs"),
        _E("11220", "the TLS handshake with your webhook failed", "check the receiver's certificate"),
    ],
    reference="https://developer.signalwire.com/rest/compatibility-api/overview/error-codes",
)
