"""The request loop every service client shares: send, turn failures into our errors, retry.

A client says how to read a non-2xx answer (``check``) and what a transport failure means
(``map_transport``); what is retried is decided by the error type (``TransientError``) and the
client's :class:`~airflow_provider_messaging.core.retry.RetryPolicy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from ..core.retry import RetryPolicy, acall_with_retries, call_with_retries

Check = Callable[[httpx.Response, str, str], None]  # (response, method, action): raises on failure
MapTransport = Callable[[httpx.HTTPError, str, str], Exception]  # (error, method, action)


def request_never_left(exc: httpx.HTTPError) -> bool:
    """True for failures that happen before a request's bytes are sent (safe to resend)."""
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    )


class RetryingHttp:
    def __init__(
        self,
        client: httpx.Client,
        policy: RetryPolicy,
        service: str,
        check: Check,
        map_transport: MapTransport,
    ):
        self.client, self.policy, self.service = client, policy, service
        self.check, self.map_transport = check, map_transport

    def request(self, method: str, url: str, action: str, **kwargs: Any) -> httpx.Response:
        def attempt() -> httpx.Response:
            try:
                response = self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self.map_transport(exc, method, action) from exc
            self.check(response, method, action)
            return response

        return call_with_retries(attempt, self.policy, f"{self.service}: {action}")

    def close(self) -> None:
        self.client.close()


class AsyncRetryingHttp:
    def __init__(
        self,
        client: httpx.AsyncClient,
        policy: RetryPolicy,
        service: str,
        check: Check,
        map_transport: MapTransport,
    ):
        self.client, self.policy, self.service = client, policy, service
        self.check, self.map_transport = check, map_transport

    async def request(self, method: str, url: str, action: str, **kwargs: Any) -> httpx.Response:
        async def attempt() -> httpx.Response:
            try:
                response = await self.client.request(method, url, **kwargs)
            except httpx.HTTPError as exc:
                raise self.map_transport(exc, method, action) from exc
            self.check(response, method, action)
            return response

        return await acall_with_retries(attempt, self.policy, f"{self.service}: {action}")

    async def aclose(self) -> None:
        await self.client.aclose()
