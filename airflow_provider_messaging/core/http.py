"""The request loop every service client shares, sync and async, and nothing else.

A service describes each request as a :class:`Call` (method, path, body, how to read the answer)
and says how to read a failed answer (:meth:`ServiceApi.check`) and what a transport failure means
(:meth:`ServiceApi.transport_error`). :class:`Session` and :class:`AsyncSession` only do the I/O,
as httpx's own ``Client`` and ``AsyncClient`` do. What is retried is decided by the error type
(``TransientError``, raised only where resending cannot duplicate a message) and the policy.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import httpx

from .errors import ConfigurationError, MessagingError
from .retry import RetryPolicy, acall_with_retries, call_with_retries

T = TypeVar("T")
C = TypeVar("C")
USER_AGENT = "airflow-provider-messaging"


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, built without I/O: what to send and how to read a successful answer."""

    method: str
    path: str
    action: str  # for error texts: "send a message to +15551230002"
    parse: Callable[[httpx.Response], T]
    options: dict[str, Any] = field(default_factory=dict)  # json=, params=, content=, headers=


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: Call[Page[T]] | None  # the call for the next page, None on the last


class ServiceApi(Protocol):
    label: str  # "SignalWire", "WhatsApp"

    def client_options(self) -> dict[str, Any]:
        """``httpx.Client`` keyword arguments: base URL, auth, headers."""

    def check(self, response: httpx.Response, call: Call[Any]) -> None:
        """Raise the service's error when ``response`` is not a success."""

    def transport_error(self, exc: httpx.HTTPError, call: Call[Any]) -> MessagingError:
        """The error for a request that got no answer."""


def request_never_left(exc: httpx.HTTPError) -> bool:
    """True for failures that happen before a request's bytes are sent (safe to resend)."""
    return isinstance(
        exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)
    )


# httpx (a non-ASCII header value) and h11 (whitespace or a control character in one) refuse to
# write such a request: nothing left. Their texts quote the header, often "Bearer <token>".
REFUSED_LOCALLY = (httpx.LocalProtocolError, UnicodeEncodeError)


def refused_locally(label: str, action: str, exc: Exception) -> ConfigurationError:
    """The error for a request httpx or h11 would not write: it says nothing was sent and names the
    exception's type only. Raise it ``from None``: the original text would show the header value."""
    return ConfigurationError(
        f"{label}: the request to {action} was NOT sent: the HTTP client refused to write it "
        f"({type(exc).__name__}; a header value, such as the token, holds whitespace, a control "
        "character or a non-ASCII character). Check the connection's credentials",
    )


def http_client(make: Callable[..., C], label: str, **options: Any) -> C:
    """``httpx.Client`` or ``AsyncClient``; a header value it cannot encode is refused without its text."""
    try:
        return make(**options)
    except UnicodeEncodeError as exc:
        raise refused_locally(label, "start a client", exc) from None


class Session:
    """Blocking I/O for a service's calls, one connection pool; ``with`` closes it."""

    def __init__(
        self,
        api: ServiceApi,
        policy: RetryPolicy,
        *,
        timeout: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api, self.policy = api, policy
        self.http = http_client(
            httpx.Client, api.label, transport=transport, timeout=timeout, **api.client_options()
        )

    def __call__(self, call: Call[T]) -> T:
        def attempt() -> T:
            try:
                response = self.http.request(call.method, call.path, **call.options)
            except REFUSED_LOCALLY as exc:
                raise refused_locally(self.api.label, call.action, exc) from None
            except httpx.HTTPError as exc:
                raise self.api.transport_error(exc, call) from exc
            self.api.check(response, call)
            return call.parse(response)

        return call_with_retries(attempt, self.policy, f"{self.api.label}: {call.action}")

    def pages(self, first: Call[Page[T]]) -> Iterator[T]:
        call: Call[Page[T]] | None = first
        while call is not None:
            page = self(call)
            yield from page.items
            call = page.next

    def close(self) -> None:
        self.http.close()


class AsyncSession:
    """Non-blocking twin of :class:`Session`."""

    def __init__(
        self,
        api: ServiceApi,
        policy: RetryPolicy,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 100,
    ) -> None:
        self.api, self.policy = api, policy
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self.http = http_client(httpx.AsyncClient, api.label, transport=transport, timeout=timeout,
                                limits=limits, **api.client_options())  # fmt: skip

    async def __call__(self, call: Call[T]) -> T:
        async def attempt() -> T:
            try:
                response = await self.http.request(call.method, call.path, **call.options)
            except REFUSED_LOCALLY as exc:
                raise refused_locally(self.api.label, call.action, exc) from None
            except httpx.HTTPError as exc:
                raise self.api.transport_error(exc, call) from exc
            self.api.check(response, call)
            return call.parse(response)

        return await acall_with_retries(attempt, self.policy, f"{self.api.label}: {call.action}")

    async def pages(self, first: Call[Page[T]]) -> AsyncIterator[T]:
        call: Call[Page[T]] | None = first
        while call is not None:
            page = await self(call)
            for item in page.items:
                yield item
            call = page.next

    async def aclose(self) -> None:
        await self.http.aclose()


CONNECTIONS_PER_CLIENT = 4


@asynccontextmanager
async def client_shards(
    make: Callable[[int], Awaitable[C]], concurrency: int
) -> AsyncIterator[Callable[[], C]]:
    """Several small async clients used in turn instead of one client with many connections.

    httpx's connection pool costs more CPU per request the more connections it holds (measured:
    one pool of 32 connections sends about a quarter as many messages per second as 8 pools of
    4; see README, Performance), so many sends in flight are spread over small pools.
    """
    count = max(1, -(-concurrency // CONNECTIONS_PER_CLIENT))
    async with AsyncExitStack() as stack:
        clients: list[C] = []
        for _ in range(count):
            client = await make(CONNECTIONS_PER_CLIENT)
            clients.append(await stack.enter_async_context(client))  # type: ignore[arg-type]
        turn = itertools.cycle(clients)
        yield lambda: next(turn)
