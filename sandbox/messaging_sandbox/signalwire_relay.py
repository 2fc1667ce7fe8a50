"""SignalWire Relay over WebSocket at the root path, as the real service has it, in both framings.

A connection's first frame says which one it speaks:

- ``signalwire.connect`` (the current framing, ``signalwire-sdk`` 3.x): project and token, the
  contexts to receive on, and on a reconnect the ``protocol`` of the session to resume (its
  contexts are kept); then plain ``messaging.send``, ``signalwire.receive`` / ``unreceive`` and
  ``signalwire.ping``. Events come as ``signalwire.event`` requests the client acknowledges (the
  control API counts the unacknowledged ones), beginning with ``signalwire.authorization.state``.
- ``blade.connect`` (the older framing, the ``signalwire`` 2.x SDKs): ``blade.execute
  signalwire/setup`` (returns the connection's protocol) -> ``blade.subscription add``
  (``notifications``) -> ``blade.execute signalwire.receive`` (contexts); then ``blade.execute
  messaging.send``; events come as ``blade.broadcast``.

Messages sent here follow the same magic numbers as the REST APIs; their ``messaging.state`` events
go to every connection receiving on the message's context, and inbound messages injected through
the control API come as ``messaging.receive``. The server pings each connection in its framing,
and a control knob drops them all (to test reconnects).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from typing import Any

from fastapi import WebSocket, WebSocketDisconnect

from .config import SandboxConfig
from .magic import outcome_for
from .registry import Registry, StoredMessage
from .signalwire_rest import SignalWireRest
from .signalwire_rules import BODY_LIMIT, E164, MEDIA_LIMIT, segments

log = logging.getLogger("messaging_sandbox.relay")
SPACE_ID = "00000000-0000-4000-8000-5a4db0c5a4db"
NODE_ID = "sandbox-node"
BLADE, SIGNALWIRE = "blade", "signalwire"


class RelayConnection:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.framing: str | None = None  # set by the first connect frame
        self.project: str | None = None
        self.protocol: str | None = None
        self.contexts: set[str] = set()
        self.subscribed = False  # Blade: subscribed to notifications
        self.session_restored = False
        self.unacked: set[str] = set()  # current framing: events sent and not yet acknowledged
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_text(json.dumps(frame))

    @property
    def receives_events(self) -> bool:
        if self.framing == BLADE:
            return self.subscribed and self.protocol is not None
        return self.project is not None

    def control_view(self) -> dict[str, Any]:
        return {
            "relay_protocol": self.framing, "protocol": self.protocol, "contexts": sorted(self.contexts),
            "session_restored": self.session_restored, "unacknowledged_events": len(self.unacked),
        }  # fmt: skip


def _result(frame_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "result": result}


def _error(frame_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "error": {"code": code, "message": message}}


def _execute_result(inner: dict[str, Any]) -> dict[str, Any]:
    return {"requester_nodeid": "client", "responder_nodeid": NODE_ID, "result": inner}


def _request(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": method, "params": params}


RECEIVING = "Receiving all inbound related to the requested relay contexts and available scopes"


class RelayServer:
    def __init__(self, config: SandboxConfig, registry: Registry, rest: SignalWireRest) -> None:
        self.config = config
        self.registry = registry
        self.rest = rest
        self.connections: set[RelayConnection] = set()
        self.sessions: dict[str, set[str]] = {}  # current framing: protocol -> its contexts, to resume
        self.drop_after_next_send = False  # accept the next send, then close before answering it
        rest.listeners.append(self._state_changed)

    # -- the socket ------------------------------------------------------------------------

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        conn = RelayConnection(websocket)
        self.connections.add(conn)
        pinger = asyncio.create_task(self._ping(conn))
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    frame = json.loads(text)
                except ValueError:
                    await conn.send(_error(None, -32700, "Parse error"))
                    continue
                if not isinstance(frame, dict):
                    continue
                if "method" in frame:
                    reply = await self._handle(conn, frame)
                    if reply is not None:
                        await conn.send(reply)
                elif "result" in frame:  # an acknowledgement of an event (or a pong)
                    conn.unacked.discard(str(frame.get("id")))
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            pinger.cancel()
            self.connections.discard(conn)

    async def _ping(self, conn: RelayConnection) -> None:
        while True:
            await asyncio.sleep(self.config.relay_ping_interval)
            if conn.framing is None:
                continue
            method = "blade.ping" if conn.framing == BLADE else "signalwire.ping"
            try:
                await conn.send(_request(method, {"timestamp": time.time()}))
            except Exception:
                return

    async def _handle(self, conn: RelayConnection, frame: dict[str, Any]) -> dict[str, Any] | None:
        frame_id, method = frame.get("id"), frame.get("method")
        params = frame.get("params") or {}
        if not isinstance(params, dict):
            return _error(frame_id, -32602, "params must be an object")
        if method in ("blade.ping", "signalwire.ping"):
            return _result(
                frame_id,
                {"timestamp": params.get("timestamp", time.time()), "payload": params.get("payload")}
                if method == "blade.ping"
                else {},
            )
        if method in ("blade.connect", "signalwire.connect"):
            if conn.project is not None:
                return _error(frame_id, -32600, "already connected")
            if method == "blade.connect":
                return self._blade_connect(conn, frame_id, params)
            return await self._connect(conn, frame_id, params)
        if conn.project is None:
            return _error(frame_id, -32000, "Not authenticated: send signalwire.connect first")
        if conn.framing == BLADE:
            if method == "blade.subscription":
                if params.get("protocol") != conn.protocol or params.get("command") != "add":
                    return _error(frame_id, -32602, "Unknown protocol or command")
                conn.subscribed = True
                return _result(frame_id, {"protocol": conn.protocol, "command": "add",
                                          "subscribe_channels": list(params.get("channels") or [])})  # fmt: skip
            if method == "blade.execute":
                return await self._execute(conn, frame_id, params)
        else:
            if method in ("signalwire.receive", "signalwire.unreceive"):
                contexts = {str(c) for c in params.get("contexts") or []}
                if method == "signalwire.receive":
                    conn.contexts |= contexts
                else:
                    conn.contexts -= contexts
                self._remember(conn)
                return _result(frame_id, {"code": "200", "message": RECEIVING})
            if method == "messaging.send":
                return await self._answer_send(conn, _result(frame_id, self._send(params, conn)))
        return _error(frame_id, -32601, f"Method not found: {method}")

    def _authenticated(self, params: dict[str, Any]) -> bool:
        auth = params.get("authentication") or {}
        return isinstance(auth, dict) and (
            auth.get("project") == self.config.signalwire_project
            and auth.get("token") == self.config.signalwire_token
        )

    async def _connect(
        self, conn: RelayConnection, frame_id: Any, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``signalwire.connect``: a new session, or the one named by ``protocol`` resumed."""
        if not self._authenticated(params):
            return _error(frame_id, -32002, "Authentication failed: check the project id and the API token")
        conn.framing, conn.project = SIGNALWIRE, self.config.signalwire_project
        resumed = params.get("protocol")
        if isinstance(resumed, str) and resumed in self.sessions:
            conn.protocol, conn.session_restored = resumed, True
            conn.contexts = set(self.sessions[resumed])
        else:
            conn.protocol = f"signalwire_{uuid.uuid4().hex}"
        conn.contexts |= {str(c) for c in params.get("contexts") or []}
        self._remember(conn)
        await conn.send(_result(frame_id, {
            "protocol": conn.protocol, "identity": f"{uuid.uuid4()}@{NODE_ID}", "session_restored": conn.session_restored,
            "nodeid": NODE_ID, "master_nodeid": "00000000-0000-0000-0000-000000000000",
            "authorization": {"project": conn.project, "scopes": ["calling", "messaging"]},
        }))  # fmt: skip
        state = base64.b64encode(secrets.token_bytes(24)).decode()  # opaque to the client
        await self._event(conn, "signalwire.authorization.state", None, {"authorization_state": state})
        return None  # answered above, before the first event

    def _remember(self, conn: RelayConnection) -> None:
        if conn.framing == SIGNALWIRE and conn.protocol:
            self.sessions[conn.protocol] = set(conn.contexts)

    def _blade_connect(self, conn: RelayConnection, frame_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        if not self._authenticated(params):
            return _error(frame_id, -32002, "Authentication failed: check the project id and the API token")
        conn.framing, conn.project = BLADE, self.config.signalwire_project
        return _result(frame_id, {
            "session_restored": False, "sessionid": str(uuid.uuid4()), "nodeid": f"client-{uuid.uuid4().hex[:8]}",
            "master_nodeid": "00000000-0000-0000-0000-000000000000",
            "authorization": {"project": conn.project, "expires_at": None, "scopes": ["calling", "messaging"],
                              "signature": uuid.uuid4().hex},
            "routes": [], "protocols": [], "subscriptions": [], "authorities": [], "authorizations": [],
            "accesses": [], "protocols_uncertified": ["signalwire"],
        })  # fmt: skip

    async def _execute(
        self, conn: RelayConnection, frame_id: Any, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        protocol, method, inner = params.get("protocol"), params.get("method"), params.get("params") or {}
        if method == "setup" and protocol == "signalwire":
            conn.protocol = f"signalwire_{uuid.uuid4().hex}"
            return _result(frame_id, _execute_result({"protocol": conn.protocol}))
        if protocol != conn.protocol:
            return _error(frame_id, -32602, f"Unknown protocol {protocol!r}: run signalwire setup first")
        if method == "signalwire.receive":
            conn.contexts.update(str(c) for c in inner.get("contexts") or [])
            return _result(frame_id, _execute_result({"code": "200", "message": RECEIVING}))
        if method == "messaging.send":
            return await self._answer_send(conn, _result(frame_id, _execute_result(self._send(inner, conn))))
        return _error(frame_id, -32601, f"Method not found: {method}")

    async def _answer_send(self, conn: RelayConnection, answer: dict[str, Any]) -> dict[str, Any] | None:
        if self.drop_after_next_send:
            self.drop_after_next_send = False
            await conn.websocket.close(code=1011)  # the message went out; its answer never will
            return None
        return answer

    def _send(self, params: dict[str, Any], conn: RelayConnection) -> dict[str, Any]:
        to, sender = str(params.get("to_number") or ""), str(params.get("from_number") or "")
        context, body = params.get("context"), params.get("body")
        media = [str(m) for m in params.get("media") or []]
        problem = None
        if not context:
            problem = "context is required"
        elif not E164.match(to) or not E164.match(sender):
            problem = "to_number and from_number must be E.164 numbers"
        elif not body and not media:
            problem = "body or media is required"
        elif body and len(str(body)) > BODY_LIMIT:
            problem = f"body is longer than {BODY_LIMIT} characters"
        elif len(media) > MEDIA_LIMIT:
            problem = f"at most {MEDIA_LIMIT} media URLs"
        elif outcome_for(to).outcome == "rejected":
            problem = "the recipient has opted out (replied STOP)"
        if problem:
            return {"message": f"Bad request: {problem}", "code": "400"}
        now = time.time()
        message = StoredMessage(
            service="signalwire", sid=str(uuid.uuid4()), to=to, from_number=sender,
            body=str(body) if body else None, media=media, status="queued", status_callback=None,
            num_segments=max(segments(str(body or "")), 1), date_created=now, date_updated=now,
            relay_context=str(context), tags=[str(t) for t in params.get("tags") or []], payload=dict(params),
            channel="relay", relay_framing=conn.framing,
        )  # fmt: skip
        message.history.append({"status": "queued", "at": now})
        self.registry.add(message)
        self.rest.background.spawn(self._state_changed(message))  # the queued event
        self.rest.start(message)
        return {"message": "Message accepted", "code": "200", "message_id": message.sid}

    # -- events ----------------------------------------------------------------------------

    def _message_params(self, message: StoredMessage, direction: str) -> dict[str, Any]:
        params: dict[str, Any] = {
            "message_id": message.sid, "context": message.relay_context, "direction": direction,
            "tags": list(message.tags), "from_number": message.from_number, "to_number": message.to,
            "body": message.body, "media": list(message.media), "segments": message.num_segments,
            "message_state": message.status,
        }  # fmt: skip
        if message.status in ("failed", "undelivered"):
            params["reason"] = message.error_message or message.error_code or message.status
        return params

    async def _broadcast(self, context: str, event_type: str, params: dict[str, Any]) -> None:
        for conn in list(self.connections):
            if context in conn.contexts and conn.receives_events:
                await self._event(conn, event_type, context, params)

    async def _event(
        self, conn: RelayConnection, event_type: str, context: str | None, params: dict[str, Any]
    ) -> None:
        event: dict[str, Any] = {"event_type": event_type, "space_id": SPACE_ID, "project_id": conn.project,
                                 "timestamp": time.time(), "params": params}  # fmt: skip
        if context is not None:
            event["context"] = context
        if conn.framing == BLADE:
            frame = _request("blade.broadcast", {
                "broadcaster_nodeid": NODE_ID, "protocol": conn.protocol, "channel": "notifications",
                "event": "queuing.relay.messaging", "params": {**event, "event_channel": conn.protocol},
            })  # fmt: skip
        else:
            frame = _request("signalwire.event", event)
            conn.unacked.add(frame["id"])
        try:
            await conn.send(frame)
        except Exception as exc:  # a connection going away: it will subscribe again when back
            log.debug("could not deliver %s: %s", event_type, exc)

    async def _state_changed(self, message: StoredMessage) -> None:
        if message.relay_context is not None:
            await self._broadcast(
                message.relay_context, "messaging.state", self._message_params(message, "outbound")
            )

    async def inbound(self, sender: str, to: str, body: str, context: str) -> str:
        """A user texts a number whose messages go to ``context``: ``messaging.receive`` to subscribers."""
        now = time.time()
        message = StoredMessage(
            service="signalwire", sid=str(uuid.uuid4()), to=to, from_number=sender, body=body, media=[],
            status="received", status_callback=None, num_segments=max(segments(body), 1),
            date_created=now, date_updated=now, relay_context=context, channel="relay", direction="inbound",
        )  # fmt: skip
        message.history.append({"status": "received", "at": now})
        self.registry.add(message)  # the message logs show it
        await self._broadcast(context, "messaging.receive", self._message_params(message, "inbound"))
        return message.sid

    def connection_views(self) -> list[dict[str, Any]]:
        return [conn.control_view() for conn in self.connections if conn.framing is not None]

    async def drop_connections(self) -> int:
        """Close every Relay socket (clients should reconnect and run setup again)."""
        dropped = 0
        for conn in list(self.connections):
            try:
                await conn.websocket.close(code=1012)
                dropped += 1
            except Exception:
                pass
            self.connections.discard(conn)
        return dropped
