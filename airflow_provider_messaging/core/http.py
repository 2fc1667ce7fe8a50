"""The request loop every service client shares, sync and async, and nothing else.

A service describes each request as a :class:`Call` (method, path, body, how to read the answer)
and says how to read a failed answer (:meth:`ServiceApi.check`) and what a transport failure means
(:meth:`ServiceApi.transport_error`). :class:`Session` and :class:`AsyncSession` only do the I/O,
as httpx's own ``Client`` and ``AsyncClient`` do. What is retried is decided by the error type
(``TransientError``, raised only where resending cannot duplicate a message) and the policy.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import httpx

from .errors import ConfigurationError, MessagingError
from .retry import RetryPolicy, acall_with_retries, call_with_retries

if TYPE_CHECKING:
    from .aiohttp_io import AiohttpIO

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


ASYNC_CLIENT_ENV = "AIRFLOW__MESSAGING__ASYNC_HTTP_CLIENT"


def async_io() -> str:
    """Which library does the async sessions' I/O: ``aiohttp`` (the default, when installed) or ``httpx``.

    Setting ``AIRFLOW__MESSAGING__ASYNC_HTTP_CLIENT=httpx`` keeps everything on httpx (e.g. to mock
    requests with respx); see :mod:`.aiohttp_io` for why aiohttp is the default.
    """
    if os.environ.get(ASYNC_CLIENT_ENV, "").strip().lower() == "httpx":
        return "httpx"
    return "aiohttp" if importlib.util.find_spec("aiohttp") is not None else "httpx"


class AsyncSession:
    """Non-blocking twin of :class:`Session`: the same calls, the same errors.

    Requests go through aiohttp (:mod:`.aiohttp_io`), or through httpx when a ``transport`` is
    given, the session holds one connection, or :func:`async_io` says so; ``http`` (an
    ``httpx.AsyncClient``) streams downloads.
    """

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
        self._timeout, self._transport, self._max_connections = timeout, transport, max_connections
        self._http: httpx.AsyncClient | None = None
        self._aio: AiohttpIO | None = None
        # one request at a time (a single send, a notification) stays on httpx, imported already:
        # importing aiohttp (0.16 s) pays off only where many requests follow
        if transport is None and max_connections > 1 and async_io() == "aiohttp":
            from .aiohttp_io import AiohttpIO

            self._aio = AiohttpIO(api.client_options(), timeout=timeout, max_connections=max_connections)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            n = self._max_connections
            self._http = httpx.AsyncClient(
                transport=self._transport, timeout=self._timeout,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n), **self.api.client_options(),
            )  # fmt: skip
        return self._http

    async def _request(self, call: Call[Any]) -> httpx.Response:
        if self._aio is not None:
            return await self._aio.request(call)
        return await self.http.request(call.method, call.path, **call.options)

    async def __call__(self, call: Call[T]) -> T:
        async def attempt() -> T:
            try:
                response = await self._request(call)
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
        if self._aio is not None:
            await self._aio.aclose()
        if self._http is not None:
            await self._http.aclose()
            self._http = None


CONNECTIONS_PER_CLIENT = 4


@asynccontextmanager
async def client_shards(
    make: Callable[[int], Awaitable[C]], concurrency: int
) -> AsyncIterator[Callable[[], C]]:
    """Several small async clients used in turn instead of one client with many connections.

    httpx's connection pool costs more CPU per request the more connections it holds (measured:
    one pool of 32 connections sends about a quarter as many messages per second as 8 pools of
    4; see README, Performance), so on httpx many sends in flight are spread over small pools.
    aiohttp's pool has no such cost: there it is one client with ``concurrency`` connections.
    """
    per_client = CONNECTIONS_PER_CLIENT if async_io() == "httpx" else max(1, concurrency)
    count = max(1, -(-concurrency // per_client))
    async with AsyncExitStack() as stack:
        clients: list[C] = []
        for _ in range(count):
            client = await make(per_client)
            clients.append(await stack.enter_async_context(client))  # type: ignore[arg-type]
        turn = itertools.cycle(clients)
        yield lambda: next(turn)
