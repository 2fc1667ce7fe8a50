"""A header value HTTP does not allow never reaches an error text, and the error says nothing was sent.

The connection checks refuse such tokens when a hook loads them; these tests reach past that check
(a token changed after loading) to show the last line of defence: httpx and h11 refuse to write the
request, and their texts, which quote the header (``Illegal header value b'Bearer EAAG...\\n'``),
are not passed on, nor chained to the error.
"""

from __future__ import annotations

import asyncio
import traceback

import httpx
import pytest

from airflow_provider_messaging.core.errors import ConfigurationError
from airflow_provider_messaging.whatsapp.cloud import AsyncWhatsAppCloudClient, WhatsAppCloudClient
from airflow_provider_messaging.whatsapp.credentials import WhatsAppCredentials
from airflow_provider_messaging.whatsapp.messages import Text

pytestmark = pytest.mark.integration
TOKEN = "EAAG-token-that-must-not-show"


def slipped_past_the_checks(sandbox, suffix: str) -> WhatsAppCredentials:
    credentials = WhatsAppCredentials(access_token=TOKEN, phone_number_id="106500000000001",
                                      base_url=sandbox.url)  # fmt: skip
    object.__setattr__(credentials, "access_token", TOKEN + suffix)
    return credentials


def assert_not_sent_and_not_shown(error: BaseException) -> None:
    assert isinstance(error, ConfigurationError)
    shown = "".join(traceback.format_exception(error))  # what a task log shows, causes included
    assert "was NOT sent" in shown and "may have been sent" not in shown
    assert TOKEN not in shown and "Bearer" not in shown


BAD = ["\n", "\r\nX-Injected: 1", "\x00", " ", "é"]  # h11 refuses the first four, httpx the last


@pytest.mark.parametrize("suffix", BAD)
def test_a_token_http_cannot_carry_is_reported_as_not_sent_without_its_value(sandbox, suffix):
    httpx.post(f"{sandbox.url}/_sandbox/reset").raise_for_status()
    with pytest.raises(ConfigurationError) as refused:  # noqa: SIM117 (the client itself may be refused)
        with WhatsAppCloudClient(slipped_past_the_checks(sandbox, suffix)) as client:
            client.send("+15550001001", Text("hi"))
    assert_not_sent_and_not_shown(refused.value)
    assert httpx.get(f"{sandbox.url}/_sandbox/messages").json()["messages"] == []


@pytest.mark.parametrize("suffix", BAD)
def test_the_async_client_reports_it_the_same_way(sandbox, suffix):
    async def send() -> None:
        async with AsyncWhatsAppCloudClient(slipped_past_the_checks(sandbox, suffix)) as client:
            await client.send("+15550001001", Text("hi"))

    with pytest.raises(ConfigurationError) as refused:
        asyncio.run(send())
    assert_not_sent_and_not_shown(refused.value)


def test_a_media_download_reports_it_the_same_way(sandbox):
    from airflow_provider_messaging.whatsapp.cloud import MediaInfo

    info = MediaInfo("m-1", f"{sandbox.url}/media/m-1", "image/png", None, None)
    with (
        WhatsAppCloudClient(slipped_past_the_checks(sandbox, "\n")) as client,
        pytest.raises(ConfigurationError) as refused,
    ):
        client.download(info, lambda chunk: None)
    assert_not_sent_and_not_shown(refused.value)
