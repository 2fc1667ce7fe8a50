"""SignalWire Relay v2 ("Blade" framing) over WebSocket at the root path, as the real service has it.

The sequence a Relay 2.x client runs on every connection: ``blade.connect`` (project and token) ->
``blade.execute signalwire/setup`` (returns the connection's protocol) -> ``blade.subscription add``
(channel ``notifications``) -> ``blade.execute signalwire.receive`` (contexts) -> ready; then
``blade.execute messaging.send``. Messages sent here follow the same magic numbers as the REST API
and their states come back as ``blade.broadcast`` ``messaging.state`` events to every connection
subscribed to the message's context; inbound messages injected through the control API come as
``messaging.receive``. The server pings each connection, and a control knob drops them all (to
test reconnects).
"""

from __future__ import annotations

import asyncio
import json
import logging
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


class RelayConnection:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.project: str | None = None
        self.protocol: str | None = None
        self.contexts: set[str] = set()
        self.subscribed = False
        self._lock = asyncio.Lock()

    async def send(self, frame: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_text(json.dumps(frame))


def _result(frame_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "result": result}


def _error(frame_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "error": {"code": code, "message": message}}


def _execute_result(inner: dict[str, Any]) -> dict[str, Any]:
    return {"requester_nodeid": "client", "responder_nodeid": NODE_ID, "result": inner}


class RelayServer:
    def __init__(self, config: SandboxConfig, registry: Registry, rest: SignalWireRest) -> None:
        self.config = config
        self.registry = registry
        self.rest = rest
        self.connections: set[RelayConnection] = set()
        self.drop_after_next_send = False  # accept the next send, then close before answering
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
                if isinstance(frame, dict) and "method" in frame:
                    reply = await self._handle(conn, frame)
                    if reply is not None:
                        await conn.send(reply)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            pinger.cancel()
            self.connections.discard(conn)

    async def _ping(self, conn: RelayConnection) -> None:
        while True:
            await asyncio.sleep(self.config.relay_ping_interval)
            ping = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": "blade.ping",
                    "params": {"timestamp": time.time()}}  # fmt: skip
            try:
                await conn.send(ping)
            except Exception:
                return

    async def _handle(self, conn: RelayConnection, frame: dict[str, Any]) -> dict[str, Any] | None:
        frame_id, method = frame.get("id"), frame.get("method")
        params = frame.get("params") or {}
        if method == "blade.ping":
            return _result(
                frame_id,
                {"timestamp": params.get("timestamp", time.time()), "payload": params.get("payload")},
            )
        if method == "blade.connect":
            return self._connect(conn, frame_id, params)
        if conn.project is None:
            return _error(frame_id, -32000, "Not authenticated: send blade.connect first")
        if method == "blade.subscription":
            if params.get("protocol") != conn.protocol or params.get("command") != "add":
                return _error(frame_id, -32602, "Unknown protocol or command")
            conn.subscribed = True
            return _result(frame_id, {"protocol": conn.protocol, "command": "add",
                                      "subscribe_channels": list(params.get("channels") or [])})  # fmt: skip
        if method == "blade.execute":
            return await self._execute(conn, frame_id, params)
        return _error(frame_id, -32601, f"Method not found: {method}")

    def _connect(self, conn: RelayConnection, frame_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        auth = params.get("authentication") or {}
        if (
            auth.get("project") != self.config.signalwire_project
            or auth.get("token") != self.config.signalwire_token
        ):
            return _error(frame_id, -32002, "Authentication failed: check the project id and the API token")
        conn.project = str(auth["project"])
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
            return _result(frame_id, _execute_result({
                "code": "200",
                "message": "Receiving all inbound related to the requested relay contexts and available scopes",
            }))  # fmt: skip
        if method == "messaging.send":
            answer = _result(frame_id, _execute_result(self._send(inner)))
            if self.drop_after_next_send:
                self.drop_after_next_send = False
                await conn.websocket.close(code=1011)  # the message went out; its answer never will
                return None
            return answer
        return _error(frame_id, -32601, f"Method not found: {method}")

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
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
            if context not in conn.contexts or not conn.subscribed or conn.protocol is None:
                continue
            frame = {"jsonrpc": "2.0", "id": str(uuid.uuid4()), "method": "blade.broadcast", "params": {
                "broadcaster_nodeid": NODE_ID, "protocol": conn.protocol, "channel": "notifications",
                "event": "queuing.relay.messaging",
                "params": {"event_type": event_type, "space_id": SPACE_ID, "project_id": conn.project,
                           "context": context, "timestamp": time.time(), "params": params,
                           "event_channel": conn.protocol},
            }}  # fmt: skip
            try:
                await conn.send(frame)
            except Exception as exc:  # a connection going away: it will re-subscribe when back
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
            date_created=now, date_updated=now, relay_context=context,
        )  # fmt: skip
        message.history.append({"status": "received", "at": now})
        await self._broadcast(context, "messaging.receive", self._message_params(message, "inbound"))
        return message.sid

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
