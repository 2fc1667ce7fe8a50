"""SignalWire's error codes: what each means, what to do, and how a sender reacts to it.

The table is ``error_codes.csv`` beside this module. Codes and meanings follow SignalWire's
published Compatibility API error list (Twilio-derived numbers; SignalWire sends them as strings);
the advice is ours. Codes that come back on a create request decide what a batch does next (see
:mod:`airflow_provider_messaging.core.errors`); the 3xxxx delivery codes arrive later, in a
message's ``error_code``, and explain a failed state.
"""

from __future__ import annotations

from pathlib import Path

from ..core.error_table import ErrorTable

SIGNALWIRE_ERRORS = ErrorTable(
    "signalwire",
    "SignalWire",
    Path(__file__).with_name("error_codes.csv"),
    reference="https://developer.signalwire.com/rest/compatibility-api/overview/error-codes",
)
