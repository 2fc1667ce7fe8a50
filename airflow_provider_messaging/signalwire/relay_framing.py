"""The two wire framings SignalWire Relay has spoken, for :class:`~.relay.RelayClient`.

Both are JSON-RPC 2.0 over one WebSocket at the Space's root; they differ in how a connection is
set up, how a request is wrapped, how events arrive and what counts as success:

- ``"signalwire"``, the current one (``signalwire-sdk`` 3.x's ``RelayClient``, signalwire-js
  realtime-api): ``signalwire.connect`` with ``event_acks`` and the contexts; ``messaging.send``
  as a plain method; events as ``signalwire.event`` requests that the client acknowledges; any
  2xx ``code`` is success. A reconnect sends back the session's ``protocol`` and the last
  ``authorization_state`` so the server can resume the session.
- ``"blade"``, the older one (the ``signalwire`` 2.x SDKs): ``blade.connect``, ``blade.execute
  signalwire/setup`` (a new protocol per connection), ``blade.subscription`` to ``notifications``,
  ``blade.execute`` around every method, events as ``blade.broadcast``; success is code ``"200"``.

The client owns the socket, threads, reconnects and the never-resend rule; a framing only says
which frames to write and what the server's frames mean.
"""

from __future__ import annotations

import re
import time
from typing import Any, Protocol

from ..core.errors import ConfigurationError
from ..core.http import USER_AGENT

SIGNALWIRE = "signalwire"
BLADE = "blade"
RELAY_PROTOCOLS = (SIGNALWIRE, BLADE)
# What a Space serves in 2026: signalwire-sdk 3.x and signalwire-js speak only the current
# framing, and SignalWire's documentation describes no other for server SDKs.
DEFAULT_RELAY_PROTOCOL = SIGNALWIRE
_SUCCESS = re.compile(r"^2\d\d$")


def checked_relay_protocol(value: str, field: str = "relay_protocol") -> str:
    if value not in RELAY_PROTOCOLS:
        raise ConfigurationError(
            f"{field}: {value!r} is not a Relay protocol. Use 'signalwire' (the current framing, the default) "
            "or 'blade' (the older framing of the signalwire 2.x SDKs)."
        )
    return value


class RelayLink(Protocol):
    """What a framing needs from the client that owns the connection."""

    contexts: list[str]

    def request(self, method: str, params: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Write a request and wait for its ``result`` (a JSON-RPC ``error`` raises ``RelayError``)."""

    def reply(self, frame_id: Any, result: dict[str, Any]) -> None:
        """Answer a request the server made."""

    def deliver(self, event: dict[str, Any]) -> None:
        """A messaging event: ``{"event_type": ..., "params": {...}, "context": ..., "timestamp": ...}``."""

    def hold_sends(self) -> None:
        """The server is going away: sends wait for the reconnect."""


class Framing(Protocol):
    name: str
    ping_method: str
    protocol: str | None  # the server's name for this session (shown in logs)

    def connect(self, link: RelayLink, project: str, token: str) -> None:
        """Authenticate and subscribe ``link.contexts`` on a fresh socket."""

    def execute(self, link: RelayLink, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call a Relay method (``messaging.send``); its result as the method defines it."""

    def accepted(self, code: str) -> bool: ...

    def ping_params(self) -> dict[str, Any]: ...

    def on_request(self, link: RelayLink, method: str, frame_id: Any, params: dict[str, Any]) -> None:
        """A request the server made: pings, events, a disconnect notice."""


class SignalWireFraming:
    name = SIGNALWIRE
    ping_method = "signalwire.ping"
    version = {"major": 2, "minor": 0, "revision": 0}  # what signalwire-sdk 3.x sends

    def __init__(self) -> None:
        self.protocol: str | None = None
        self.authorization_state: str | None = None

    def connect(self, link: RelayLink, project: str, token: str) -> None:
        params: dict[str, Any] = {
            "version": self.version, "agent": USER_AGENT, "event_acks": True,
            "authentication": {"project": project, "token": token},
        }  # fmt: skip
        if link.contexts:
            params["contexts"] = list(link.contexts)
        if self.protocol:  # resume the session, so events for it keep coming here
            params["protocol"] = self.protocol
        if self.authorization_state:
            params["authorization_state"] = self.authorization_state
        result = link.request("signalwire.connect", params)
        self.protocol = str(result.get("protocol") or self.protocol or "") or None

    def execute(self, link: RelayLink, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return link.request(method, params)

    def accepted(self, code: str) -> bool:
        return bool(_SUCCESS.match(code))

    def ping_params(self) -> dict[str, Any]:
        return {}

    def on_request(self, link: RelayLink, method: str, frame_id: Any, params: dict[str, Any]) -> None:
        if method == "signalwire.event":
            if frame_id is not None:
                link.reply(frame_id, {})  # acknowledged first, as the SDKs do
            if params.get("event_type") == "signalwire.authorization.state":
                state = (params.get("params") or {}).get("authorization_state")
                self.authorization_state = str(state) if state else self.authorization_state
            else:
                link.deliver(params)
        elif method == "signalwire.ping":
            if frame_id is not None:
                link.reply(frame_id, {})
        elif method == "signalwire.disconnect":
            if frame_id is not None:
                link.reply(frame_id, {})
            link.hold_sends()
            if params.get("restart"):  # the next connect starts a new session
                self.protocol = self.authorization_state = None


class BladeFraming:
    name = BLADE
    ping_method = "blade.ping"
    version = {"major": 2, "minor": 3, "revision": 0}  # what signalwire 2.x sends

    def __init__(self) -> None:
        self.protocol: str | None = None

    def connect(self, link: RelayLink, project: str, token: str) -> None:
        link.request("blade.connect", {
            "version": self.version, "authentication": {"project": project, "token": token}, "agent": USER_AGENT,
        })  # fmt: skip
        setup = link.request("blade.execute", {"protocol": "signalwire", "method": "setup", "params": {}})
        self.protocol = str((setup.get("result") or {}).get("protocol"))
        link.request(
            "blade.subscription", {"command": "add", "protocol": self.protocol, "channels": ["notifications"]}
        )
        if link.contexts:
            self.execute(link, "signalwire.receive", {"contexts": list(link.contexts)})

    def execute(self, link: RelayLink, method: str, params: dict[str, Any]) -> dict[str, Any]:
        answer = link.request(
            "blade.execute", {"protocol": self.protocol, "method": method, "params": params}
        )
        return dict(answer.get("result") or {})

    def accepted(self, code: str) -> bool:
        return code == "200"

    def ping_params(self) -> dict[str, Any]:
        return {"timestamp": time.time()}

    def on_request(self, link: RelayLink, method: str, frame_id: Any, params: dict[str, Any]) -> None:
        if method == "blade.ping":
            link.reply(frame_id, {"timestamp": params.get("timestamp"), "payload": params.get("payload")})
        elif method == "blade.disconnect":
            link.hold_sends()
        elif method == "blade.broadcast" and params.get("protocol") == self.protocol:
            link.deliver(params.get("params") or {})


def framing_for(relay_protocol: str) -> Framing:
    checked_relay_protocol(relay_protocol)
    return SignalWireFraming() if relay_protocol == SIGNALWIRE else BladeFraming()
