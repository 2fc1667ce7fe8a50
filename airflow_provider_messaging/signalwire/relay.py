"""SignalWire Relay over websocket-client, in either wire framing (:mod:`.relay_framing`).

Threads, not asyncio: a *supervisor* thread connects, runs the setup sequence and keeps the
connection alive; a *reader* thread per connection dispatches answers to waiting requests and
events to callbacks. Callers (a sync operator, or a trigger via ``asyncio.to_thread``) use
:meth:`RelayClient.send` from any thread; a lock serialises writes to the socket. Callbacks run on
the reader thread, so keep them short.

On every (re)connect the framing authenticates and subscribes the contexts (``signalwire.connect``,
or the Blade sequence ``blade.connect`` -> ``setup`` -> ``blade.subscription`` ->
``signalwire.receive``); then the client is ready. A ping goes out every ``ping_interval`` seconds;
an unanswered ping closes the socket. A lost connection is re-opened with backoff and the setup
runs again. A send waits for the connection to be ready; if the socket drops after the send
request left, its outcome is unknown and it is **not** resent (``OutcomeUnknownError``), so no one
gets a message twice.

A frame the client cannot read (not JSON, not a JSON object, an answer whose ``result`` or ``error``
has an unexpected shape) is logged and skipped: the reader goes on. When it answers a waiting
request, that request fails with what was wrong, and a connection that never becomes ready says
why. Error texts name a bad value's JSON type, never the value (a server may echo a token back).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from ..core.engine import SendResult
from ..core.errors import (
    AuthenticationError,
    OutcomeUnknownError,
    PermanentError,
    ServiceUnavailableError,
    sentence,
)
from ..core.events import InboundMessage, StatusEvent
from .credentials import RELAY_HOST, SignalWireCredentials
from .errors import SIGNALWIRE_ERRORS
from .relay_framing import framing_for
from .statuses import state_of

log = logging.getLogger("airflow_provider_messaging.relay")

FINAL_STATES = frozenset({"delivered", "undelivered", "failed"})


@dataclass(frozen=True)
class RelayMessage:
    """A message as Relay events describe it (``messaging.state`` and ``messaging.receive``)."""

    message_id: str
    context: str | None
    direction: str
    state: str
    from_number: str
    to_number: str
    body: str | None = None
    media: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    segments: int | None = None
    reason: str | None = None
    timestamp: float | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> RelayMessage:
        p = event.get("params") or {}
        return cls(
            message_id=str(p.get("message_id", "")), context=p.get("context") or event.get("context"),
            direction=str(p.get("direction", "")), state=str(p.get("message_state", "")),
            from_number=str(p.get("from_number", "")), to_number=str(p.get("to_number", "")),
            body=p.get("body"), media=list(p.get("media") or []), tags=list(p.get("tags") or []),
            segments=p.get("segments"), reason=p.get("reason"), timestamp=event.get("timestamp"),
        )  # fmt: skip

    def as_status_event(self) -> StatusEvent:
        """A ``messaging.state`` event as the status store keeps it."""
        return StatusEvent(
            "signalwire", self.message_id, state_of(self.state), self.state,
            self.timestamp or time.time(), recipient=self.to_number, error_details=self.reason,
            correlation=self.context, same_event_key=f"relay:{self.message_id}:{self.state}",
        )  # fmt: skip

    def as_inbound(self) -> InboundMessage:
        """A ``messaging.receive`` message in the provider's inbound shape (as the store keeps it)."""
        return InboundMessage(
            service="signalwire", message_id=self.message_id, sender=self.from_number, recipient=self.to_number,
            kind="mms" if self.media else "sms", text=self.body, timestamp=self.timestamp or time.time(),
            payload={"context": self.context, "tags": self.tags, "media": self.media},
        )  # fmt: skip


class RelayError(PermanentError):
    """A JSON-RPC error answer; ``rpc_code`` is None when the server's code is not an integer."""

    def __init__(self, code: Any, message: str) -> None:
        shown = f"Relay error {code}" if code not in (None, "") else "Relay error"
        super().__init__(f"{shown}: {sentence(message)}", service="signalwire", code=code)
        self.rpc_code = code if isinstance(code, int) and not isinstance(code, bool) else None


class _ConnectionLost(Exception):
    pass


class _NotSent(_ConnectionLost):
    """The frame never left (no socket, or the write failed): safe to send again once reconnected."""


def _shut(ws: Any) -> None:
    """Close a websocket so that a thread blocked reading it wakes now.

    Closing the socket alone does not wake another thread's read on Linux; shutting it down does.
    """
    with contextlib.suppress(Exception):
        ws.abort()
    with contextlib.suppress(Exception):
        ws.close(timeout=1)


class _NoAnswer(FutureTimeout):
    """A request got no answer in time (its text names the method)."""


class _UnreadableAnswer(Exception):
    """The server answered a request with a frame the client cannot read."""


def json_kind(value: Any) -> str:
    """How error texts name a JSON value the client did not expect: its type, never the value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    kinds = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return kinds.get(type(value), type(value).__name__)


def answer_of(frame: dict[str, Any]) -> dict[str, Any]:
    """The ``result`` of an answer frame; a JSON-RPC ``error`` raises :class:`RelayError` (whatever
    the type of its code) and an answer of another shape raises :class:`_UnreadableAnswer`."""
    if "error" in frame:
        error = frame["error"]
        if isinstance(error, dict):
            data = error.get("data")
            reason = data.get("signalwire_error_code") if isinstance(data, dict) else None  # AUTH_REQUIRED
            message = str(error.get("message") or "no message")
            raise RelayError(error.get("code"), f"{message} ({reason})" if reason else message)
        if isinstance(error, str) and error:
            raise RelayError(None, error)
        raise _UnreadableAnswer(f"an error answer that is {json_kind(error)}, not a JSON object")
    result = frame.get("result")
    if result is None:
        return {}
    if not isinstance(result, dict):
        raise _UnreadableAnswer(f"an answer whose result is {json_kind(result)}, not a JSON object")
    return result


def relay_url(host: str) -> str:
    """``wss://{host}`` for a Space (or relay) host; a ``ws://``/``wss://`` URL is kept (the sandbox)."""
    host = host.strip().rstrip("/")
    if host.startswith(("ws://", "wss://")):
        return host
    if host.startswith(("http://", "https://")):
        return "ws" + host[len("http") :]
    return f"wss://{host or RELAY_HOST}"


class RelayClient:
    """A Relay connection for ``credentials``' project, subscribed to ``contexts``.

    ``relay_protocol`` is the wire framing, ``"signalwire"`` (current) or ``"blade"`` (the 2.x SDKs');
    default: the connection's ``relay_protocol`` extra, else ``"signalwire"``.
    """

    def __init__(
        self,
        credentials: SignalWireCredentials,
        *,
        contexts: Sequence[str] = (),
        on_state: Callable[[RelayMessage], object] | None = None,
        on_receive: Callable[[RelayMessage], object] | None = None,
        request_timeout: float = 10.0,
        ping_interval: float = 10.0,
        max_reconnect_delay: float = 10.0,
        relay_protocol: str | None = None,
    ) -> None:
        self.project, self._token = credentials.project_id, credentials.api_token
        self.framing = framing_for(relay_protocol or credentials.relay_protocol)
        self.url = relay_url(credentials.relay_host)
        self.contexts = list(dict.fromkeys(contexts))
        self.on_state, self.on_receive = on_state, on_receive
        self.request_timeout, self.ping_interval = request_timeout, ping_interval
        self.max_reconnect_delay = max_reconnect_delay
        self.connections = 0  # how many times the setup sequence completed (reconnects + 1)
        self._ws: Any = None
        self._send_lock = threading.Lock()
        self._pending: dict[str, Future[dict[str, Any]]] = {}
        self._pending_lock = threading.Lock()
        self._ready = threading.Event()
        self._closing = threading.Event()
        self._lost = threading.Event()
        self._fatal: Exception | None = None
        self._failure: str | None = None  # why the last connection attempt failed, for connect()'s error
        self._bad_frame: str | None = None  # the last frame skipped on this connection
        self._supervisor: threading.Thread | None = None
        self._reader: threading.Thread | None = None

    @property
    def protocol(self) -> str | None:
        """The server's name for the current session (Blade: new on every connection)."""
        return self.framing.protocol

    @property
    def relay_protocol(self) -> str:
        return self.framing.name

    @property
    def is_ready(self) -> bool:
        """Connected and set up; sends made while not ready wait for the reconnect."""
        return self._ready.is_set()

    def __repr__(self) -> str:  # never the token
        return (
            f"RelayClient(project={self.project!r}, url={self.url!r}, contexts={self.contexts!r}, "
            f"relay_protocol={self.framing.name!r})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def connect(self, timeout: float | None = None) -> RelayClient:
        """Start, and wait until the first setup sequence has completed."""
        if self._supervisor is None:
            self._supervisor = threading.Thread(target=self._supervise, name="relay-supervisor", daemon=True)
            self._supervisor.start()
        self._wait_ready(timeout if timeout is not None else self.request_timeout * 3)
        return self

    def close(self) -> None:
        self._closing.set()
        self._ready.clear()
        ws = self._ws
        if ws is not None:
            _shut(ws)
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
        reader = self._reader
        if reader is not None:
            reader.join(timeout=5)

    def __enter__(self) -> RelayClient:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._fatal is not None:
                raise self._fatal
            if time.monotonic() > deadline:
                cause = self._failure or self._bad_frame
                raise ServiceUnavailableError(
                    f"Relay at {self.url} did not become ready within {timeout:.0f} s: {cause}"
                    if cause
                    else f"Relay at {self.url} did not become ready within {timeout:.0f} s; check the Space "
                    "URL and the network",
                    service="signalwire",
                )

    def _supervise(self) -> None:
        import websocket  # websocket-client

        delay = 0.5
        while not self._closing.is_set():
            self._bad_frame = None
            try:
                self._ws = websocket.create_connection(
                    self.url, timeout=self.request_timeout, enable_multithread=True
                )
                self._ws.settimeout(None)
                self._lost.clear()
                self._reader = threading.Thread(
                    target=self._read, args=(self._ws,), name="relay-reader", daemon=True
                )
                self._reader.start()
                self._setup()
                self.connections += 1
                delay = 0.5
                self._failure = None
                self._ready.set()
                self._keep_alive()
            except AuthenticationError as exc:
                self._fatal = exc
                self._closing.set()
            except Exception as exc:
                if not self._closing.is_set():
                    self._failure = self._failure_text(exc)
                    log.warning(
                        "Relay connection to %s lost or failed (%s); reconnecting", self.url, self._failure
                    )
            finally:
                self._ready.clear()
                self._drop_socket()
            if self._closing.wait(delay * (0.9 + random.random() / 5)):
                break
            delay = min(delay * 2, self.max_reconnect_delay)

    def _failure_text(self, exc: Exception) -> str:
        """Why a connection attempt failed, with the last frame the client skipped when that explains it."""
        text = str(exc) if isinstance(exc, _ConnectionLost | _NoAnswer | _UnreadableAnswer) else ""
        text = text or f"{type(exc).__name__}: {exc}".rstrip(": ")
        if self._bad_frame and self._bad_frame not in text:
            text += f" (before that, {self._bad_frame})"
        return text

    def _drop_socket(self) -> None:
        ws, self._ws = self._ws, None
        if ws is not None:
            _shut(ws)
        self._fail_pending()

    def _fail_pending(self) -> None:
        """Requests waiting for an answer get none: the connection is gone."""
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(_ConnectionLost("the connection closed before the answer came"))

    def _setup(self) -> None:
        try:
            self.framing.connect(self, self.project, self._token)
        except RelayError as exc:
            raise AuthenticationError(
                f"SignalWire Relay refused the credentials ({exc.message}): check the Project ID (login) and "
                "API Token (password) of the connection",
                service="signalwire",
            ) from None

    def _keep_alive(self) -> None:
        while not self._closing.is_set():
            if self._lost.wait(self.ping_interval):
                raise _ConnectionLost("the server closed the connection")
            try:
                self._request(
                    self.framing.ping_method, self.framing.ping_params(), timeout=self.ping_interval
                )
            except (FutureTimeout, _ConnectionLost) as exc:
                raise _ConnectionLost(f"ping unanswered: {exc}") from None

    # -- frames ----------------------------------------------------------------------------

    def _write(self, frame: dict[str, Any]) -> None:
        ws = self._ws
        if ws is None:
            raise _NotSent("not connected")
        try:
            with self._send_lock:
                ws.send(json.dumps(frame))
        except Exception as exc:  # a frame cut short is never processed by the server
            raise _NotSent(str(exc)) from None

    def _request(self, method: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        frame_id = str(uuid.uuid4())
        future: Future[dict[str, Any]] = Future()
        with self._pending_lock:
            self._pending[frame_id] = future
        wait = timeout if timeout is not None else self.request_timeout
        try:
            self._write({"jsonrpc": "2.0", "id": frame_id, "method": method, "params": params})
            try:
                return future.result(wait)
            except FutureTimeout:
                raise _NoAnswer(f"no answer to {method} within {wait:g} s") from None
            except _UnreadableAnswer as exc:
                raise _UnreadableAnswer(f"the server answered {method} with {exc}") from None
        finally:
            with self._pending_lock:
                self._pending.pop(frame_id, None)

    # what a framing uses (RelayLink)
    request = _request

    def reply(self, frame_id: Any, result: dict[str, Any]) -> None:
        with contextlib.suppress(_ConnectionLost):
            self._write({"jsonrpc": "2.0", "id": frame_id, "result": result})

    def deliver(self, event: dict[str, Any]) -> None:
        self._event(event)

    def hold_sends(self) -> None:
        self._ready.clear()

    def _read(self, ws: Any) -> None:
        try:
            while True:
                text = ws.recv()
                if not text:
                    break
                self._take(text)
        except Exception as exc:
            if not self._closing.is_set():
                log.info("Relay reader stopped: %s", exc)
        finally:
            self._lost.set()
            self._ready.clear()
            self._fail_pending()

    def _take(self, text: str | bytes) -> None:
        """One frame from the server. A frame the client cannot read is logged and skipped, so that
        one bad frame never stops the reader (and every answer and event after it)."""
        try:
            frame = json.loads(text)
        except ValueError:
            return self._skip("a frame that is not JSON")
        if not isinstance(frame, dict):
            return self._skip(f"a frame that is {json_kind(frame)}, not a JSON object")
        try:
            self._dispatch(frame)
        except Exception as exc:  # an event or server request of a shape the framing does not expect
            self._skip(
                f"a {str(frame.get('method'))[:60]!r} frame the client could not read ({type(exc).__name__})"
            )

    def _skip(self, what: str) -> None:
        self._bad_frame = f"the server sent {what}"
        log.warning("Relay at %s: %s; skipped", self.url, self._bad_frame)

    def _dispatch(self, frame: dict[str, Any]) -> None:
        method = frame.get("method")
        if method is None:  # an answer to one of our requests
            with self._pending_lock:
                future = self._pending.get(str(frame.get("id")))
            if future is None or future.done():
                return
            try:
                future.set_result(answer_of(frame))
            except (RelayError, _UnreadableAnswer) as exc:
                future.set_exception(exc)
            return
        params = frame.get("params")
        if not isinstance(params, dict | None):
            raise TypeError(f"params is {json_kind(params)}")
        self.framing.on_request(self, str(method), frame.get("id"), params or {})

    def _event(self, event: dict[str, Any]) -> None:
        kind = event.get("event_type")
        callback = {"messaging.state": self.on_state, "messaging.receive": self.on_receive}.get(str(kind))
        if callback is None:
            return
        try:
            callback(RelayMessage.from_event(event))
        except Exception:
            log.exception("A Relay %s callback failed", kind)

    # -- messaging -------------------------------------------------------------------------

    def send(
        self,
        context: str,
        to_number: str,
        from_number: str,
        body: str | None = None,
        media: Sequence[str] = (),
        tags: Sequence[str] = (),
        region: str | None = None,
    ) -> SendResult:
        """``messaging.send``; the state events then arrive on ``on_state`` for ``context``. A refusal
        raises the error SignalWire's table gives for its code."""
        if context not in self.contexts:
            raise PermanentError(
                f"context: {context!r} is not one of this client's contexts {self.contexts}; its state events "
                "would not arrive. Create the client with that context."
            )
        params: dict[str, Any] = {"context": context, "to_number": to_number, "from_number": from_number}
        if body:
            params["body"] = body
        if media:
            params["media"] = list(media)
        if tags:
            params["tags"] = list(tags)
        if region:
            params["region"] = region
        for attempt in range(5):
            self._wait_ready(self.request_timeout * 3)  # not (re)connected yet: nothing has left
            try:
                result = self.framing.execute(self, "messaging.send", params)
                break
            except _NotSent:
                if attempt == 4:
                    raise ServiceUnavailableError(
                        f"Relay at {self.url} kept dropping the connection; the message to {to_number} was not sent",
                        service="signalwire",
                    ) from None
            except (_ConnectionLost, FutureTimeout, _UnreadableAnswer) as exc:
                raise OutcomeUnknownError(
                    f"The Relay send to {to_number} left but no usable answer came back ({exc or type(exc).__name__}). "
                    "It may or may not have been sent; it was not resent to avoid a duplicate.",
                    service="signalwire",
                ) from None
        code = str(result.get("code", ""))
        if self.framing.accepted(code) and result.get("message_id"):
            return SendResult(
                str(result["message_id"]), to_number, "queued", {"context": context, "tags": list(tags)}
            )
        raise SIGNALWIRE_ERRORS.error(
            code or None,
            f"SignalWire Relay refused the message to {to_number}: {code} {result.get('message')}",
        )
