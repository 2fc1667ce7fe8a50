"""The async sessions' I/O over aiohttp: what a request costs the client decides how fast a broadcast goes.

Measured against a server that costs nothing (README, Performance): httpx's own async transport
spends about 1.2 ms of CPU per request (most of it in anyio and httpcore's per-call machinery),
httpx over an aiohttp transport about 0.37 ms, aiohttp alone 0.13-0.16 ms. So the async session
sends through aiohttp, and keeps httpx's request and response model around it: a call's body is
encoded the way httpx encodes it, the answer is handed back as an ``httpx.Response`` and a
transport failure as the ``httpx`` error it would have been, so every service's ``check``,
``parse`` and ``transport_error`` read the same things whichever I/O ran.

aiohttp is imported when the first async session is made, never at DAG-parse time.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

    from .http import Call

_JSON = {"Content-Type": "application/json"}
_READ = httpx.ByteStream(b"")  # stands in for a body aiohttp has read
_DROPPED = frozenset({"host", "content-length"})  # aiohttp writes these itself


# as httpx 0.28 encodes ``json=``: compact, UTF-8, no NaN (one encoder: json.dumps with options makes one per call)
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _json_bytes(value: Any) -> bytes:
    return _ENCODER.encode(value).encode()


class AiohttpIO:
    """One aiohttp connection pool with a service's base URL, headers and basic auth.

    ``options`` are the service's ``httpx`` client options (``base_url``, ``headers``, ``auth``).
    The aiohttp session is made on first use, inside the event loop that uses it.
    """

    def __init__(self, options: dict[str, Any], *, timeout: float, max_connections: int) -> None:
        self.base_url = str(options.get("base_url") or "").rstrip("/")
        headers = {str(k): str(v) for k, v in (options.get("headers") or {}).items()}
        auth = options.get("auth")
        if auth is not None:
            user, password = auth
            token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {token}"
        self.headers = headers
        self._unwritable = _unwritable_header(headers)
        self.timeout = timeout
        self.max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            import aiohttp

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=self.timeout, sock_connect=self.timeout, sock_read=self.timeout
                ),
                headers=self.headers,
                cookie_jar=aiohttp.DummyCookieJar(),
                proxy=_proxy_for(self.base_url),
            )
        return self._session

    def _encode(self, call: Call[Any]) -> tuple[str, bytes | None, dict[str, str] | None]:
        url = call.path if "://" in call.path else self.base_url + call.path
        options = call.options
        if not options:
            return url, None, None
        if len(options) == 1 and "json" in options:  # every message send takes this way
            return url, _json_bytes(options["json"]), _JSON
        request = httpx.Request(call.method, url, **options)  # forms, files, params: httpx encodes them
        body = request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _DROPPED}
        return str(request.url), body or None, headers

    async def request(self, call: Call[Any]) -> httpx.Response:
        """Send ``call`` once; the answer as an ``httpx.Response``, failures as ``httpx`` errors."""
        import aiohttp

        if self._unwritable is not None:  # aiohttp would send it; httpx and h11 refuse, and so do we
            raise self._unwritable
        url, body, headers = self._encode(call)
        try:
            async with self._client().request(
                call.method, url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                content = await answer.read()
                status, raw_headers = answer.status, answer.raw_headers
        except aiohttp.ClientError as exc:
            raise _as_httpx_error(exc, call.method, url) from exc
        except asyncio.TimeoutError as exc:  # an older aiohttp's read timeout
            raise httpx.ReadTimeout(f"no answer within {self.timeout:g} s") from exc
        # the body is read and decoded already: the response is made around it (a quarter of the
        # cost of httpx.Response(content=...), which would encode and read it again)
        response = httpx.Response(status, headers=raw_headers, stream=_READ)
        response._content = content
        response.is_stream_consumed = response.is_closed = True
        if not 200 <= status < 300:  # error texts may name the request
            response.request = httpx.Request(call.method, url)
        return response

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _unwritable_header(headers: dict[str, str]) -> httpx.LocalProtocolError | None:
    """A header httpx would refuse to write (non-ASCII, control characters, whitespace at either
    end: h11's rule for field values), as the error httpx raises; the text never holds the value."""
    for name, value in headers.items():
        if not value.isascii() or value != value.strip() or any(c < " " or c == "\x7f" for c in value):
            return httpx.LocalProtocolError(f"the {name} header holds a character HTTP cannot carry")
    return None


def _proxy_for(base_url: str) -> str | None:
    """The proxy the environment names for ``base_url`` (``HTTPS_PROXY``, ``NO_PROXY``...), as httpx
    would use it; looked up once per pool (aiohttp's ``trust_env`` looks per request, in a thread)."""
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(base_url)
    if not parts.hostname or urllib.request.proxy_bypass(parts.hostname):
        return None
    return urllib.request.getproxies().get(parts.scheme) or None


def _as_httpx_error(exc: Exception, method: str, url: str) -> httpx.HTTPError:
    """The httpx error for an aiohttp failure: whether the request's bytes can have left is kept."""
    import aiohttp

    text = f"{type(exc).__name__}: {exc}"
    request = httpx.Request(method, url)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):  # no connection (or none free) in time
        return httpx.ConnectTimeout(text, request=request)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, unreachable, TLS handshake
        return httpx.ConnectError(text, request=request)
    if isinstance(exc, aiohttp.InvalidURL):  # nothing was sent
        return httpx.UnsupportedProtocol(text, request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):  # connected and sent; the answer did not come
        return httpx.ReadTimeout(text, request=request)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text, request=request)
    return httpx.ReadError(text, request=request)  # the request may have left: never resent blindly
