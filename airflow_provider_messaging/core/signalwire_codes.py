"""What SignalWire's Compatibility error codes mean and what to do about them.

Codes and meanings follow SignalWire's published error-code list; the advice is ours.
"""

from __future__ import annotations

# code -> (meaning, what to do)
SIGNALWIRE_ERROR_CODES: dict[str, tuple[str, str]] = {
    "20003": (
        "authentication failed",
        "check the Project ID (login) and API Token (password) of the "
        "connection, and that the token has the Messaging scope",
    ),
    "20404": ("resource not found", "check the message id and that it belongs to this project"),
    "20429": ("too many requests", "slow down; the request may be retried later"),
    "20001": ("unknown error at SignalWire", "retry later"),
    "20504": ("internal error at SignalWire", "retry later"),
    "21210": (
        "the From number is not a number purchased in this project",
        "use a number owned by the project as from_number or the connection's From number",
    ),
    "21211": ("the To number is invalid", "pass the recipient in E.164 form, e.g. +15551230002"),
    "21212": ("the From number is invalid", "pass from_number in E.164 form, e.g. +15551230001"),
    "21217": ("the To number is not valid", "check the recipient number"),
    "21219": (
        "the To number is not verified for a trial project",
        "verify the number in the SignalWire Dashboard or leave trial mode",
    ),
    "21601": ("the number is not SMS/MMS capable", "send to a mobile number"),
    "21602": ("the message has no Body and no MediaUrl", "pass a body or media_urls"),
    "21603": ("the From number is missing", "set from_number or the connection's From number"),
    "21604": ("the To number is missing", "pass at least one recipient"),
    "21606": ("the To number is not a mobile number", "send to a mobile number"),
    "21610": (
        "the recipient replied STOP and is unsubscribed",
        "do not message this recipient until they opt in again (reply START)",
    ),
    "21611": ("the From number has too many queued messages", "slow down and retry later"),
    "21612": ("unsupported media", "check the media type of every media URL"),
    "21614": ("the To number is not a valid mobile number", "check the recipient number"),
    "21617": ("the body exceeds the concatenated message limit", "shorten the body to 1,600 characters"),
    "21620": ("a media URL is invalid", "use public http(s) URLs for media"),
    "21623": ("too many media URLs", "send at most 8 media URLs per message"),
    "21717": (
        "the From number is not assigned to an active 10DLC campaign",
        "assign the number to an approved campaign in the SignalWire Dashboard",
    ),
    "30001": (
        "the message expired in the queue (validity period exceeded)",
        "send fewer messages at once or raise the validity period",
    ),
    "30002": ("the account is suspended or out of balance", "top up the SignalWire account"),
    "30003": (
        "the destination handset is unreachable (switched off or out of coverage)",
        "try again later or reach the recipient another way",
    ),
    "30004": (
        "the message was blocked by the destination carrier or the recipient",
        "check that the recipient opted in",
    ),
    "30005": ("the destination number is unknown or no longer exists", "check the recipient number"),
    "30006": ("the destination is a landline or cannot be reached by SMS", "send to a mobile number"),
    "30007": (
        "the carrier filtered the message (spam or policy violation)",
        "review the content and your 10DLC registration",
    ),
    "30008": ("unknown error from the carrier", "retry later; contact SignalWire support if it persists"),
    "30009": ("the message expired at the carrier", "retry later"),
    "30010": ("the message price exceeds MaxPrice", "raise MaxPrice or leave it unset"),
    "30011": ("the MMS expired, was rejected or failed", "check media size and type"),
    "30012": ("the MMS could not be sent", "check media size and type"),
    "30022": ("US A2P 10DLC rate limit exceeded", "send slower, within your campaign's throughput"),
    "30027": ("T-Mobile daily message limit reached", "wait until the limit resets (midnight US Pacific)"),
    "35125": ("the campaign's daily cap is met", "wait until tomorrow or raise the cap"),
    "11751": ("the total media size exceeds the maximum", "keep all media under 1.2 MB (750 KB toll-free)"),
    "63019": ("a media URL could not be downloaded", "check that every media URL is public"),
}


def describe_signalwire_code(code: str | int | None) -> str:
    """``"30003 (the destination handset is unreachable …): try again later …"`` or a generic text."""
    if code is None or str(code) == "":
        return "no error code given"
    meaning = SIGNALWIRE_ERROR_CODES.get(str(code))
    if meaning is None:
        return f"SignalWire error {code}: see https://developer.signalwire.com for its meaning"
    return f"SignalWire error {code} ({meaning[0]}): {meaning[1]}"
