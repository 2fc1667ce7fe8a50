"""WhatsApp Cloud API error codes: what they mean, what to do, and how a sender reacts to them.

The table is ``error_codes.csv`` beside this module. Logic keys on ``error.code`` only; Meta's
titles are slated for removal and HTTP statuses vary between versions. An ``is_transient`` flag in
an error payload overrides the table's answer to "may a retry help" (the client reads it). The same
codes arrive later in failed status webhooks.
"""

from __future__ import annotations

from pathlib import Path

from ..core.error_table import ErrorCode, ErrorTable
from ..core.errors import AuthenticationError


def _permission_range(code: str) -> ErrorCode | None:
    """Meta documents 200-299 as one range of API permission errors."""
    if len(code) == 3 and code.isdigit() and 200 <= int(code) < 300:  # (a code of 5,000 digits is no int)
        return ErrorCode(code, "API permission error", "grant the token's app the needed permissions",
                         AuthenticationError)  # fmt: skip
    return None


WHATSAPP_ERRORS = ErrorTable(
    "whatsapp",
    "WhatsApp",
    Path(__file__).with_name("error_codes.csv"),
    reference="Meta's Cloud API error-code reference",
    fallback=_permission_range,
)
