"""The status store: SQLAlchemy Core tables for delivery states and inbound messages.

One schema on SQLite (default, one machine) or PostgreSQL (several machines), created on first use.
Writes are single atomic upserts, so parallel webhook deliveries cannot move a message's state
down: the row changes only when the new event outranks it (``core.states`` rank, then timestamp).
Every distinct raw event is kept once; a webhook delivered twice is recognised by its fingerprint.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    create_engine,
    event,
    or_,
    select,
)
from sqlalchemy.engine import Engine

from ..core.delivery import Observation
from ..core.errors import ConfigurationError
from ..core.events import InboundMessage, StatusEvent, to_json
from ..core.states import MessageState
from .errors import keep_data_out_of_errors

metadata = MetaData()

message_status = Table(
    "messaging_message_status",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("event_ts", Float, nullable=False),
    Column("raw_status", String(32), nullable=False),
    Column("recipient", String(64)),
    Column("error_code", String(64)),  # SignalWire's native API names its codes (up to 52 characters)
    Column("error_title", Text),
    Column("error_details", Text),
    Column("correlation", Text),
    Column("updated_at", Float, nullable=False),
    Index("ix_messaging_message_status_updated", "service", "updated_at"),
)

status_events = Table(
    "messaging_status_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fingerprint", String(64), nullable=False),
    Column("service", String(32), nullable=False),
    Column("message_id", String(255), nullable=False, index=True),
    Column("raw_status", String(32), nullable=False),
    Column("event_ts", Float, nullable=False),
    Column("payload", Text),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("fingerprint", name="uq_messaging_status_events_fingerprint"),
)

inbound_messages = Table(
    "messaging_inbound_messages",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("message_id", String(255), primary_key=True),
    Column("sender", String(64), nullable=False, index=True),
    Column("recipient", String(64)),
    Column("kind", String(32), nullable=False),
    Column("text", Text),
    Column("context_id", String(255)),
    Column("sent_at", Float, nullable=False),
    Column("received_at", Float, nullable=False, index=True),
    Column("payload", Text),
)

# Each running webhook receiver records here that it is alive, so that a wait can tell "no status
# yet" from "nobody is writing statuses to this store" (see store.liveness).
receivers = Table(
    "messaging_receivers",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("receiver", String(255), primary_key=True),  # e.g. host and process id
    Column("seen_at", Float, nullable=False),
)

send_ledger = Table(
    "messaging_send_ledger",
    metadata,
    Column("key", String(64), primary_key=True),  # digest of task run, recipient and content
    Column("service", String(32), nullable=False),
    Column("dag_id", String(250), nullable=False),
    Column("task_id", String(250), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("map_index", Integer, nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("state", String(16), nullable=False),  # pending, accepted, failed, unknown
    Column("try_number", Integer, nullable=False),
    Column("message_id", String(255)),
    Column("error_code", String(64)),  # SignalWire's native API names its codes (up to 52 characters)
    Column("updated_at", Float, nullable=False),
    Index("ix_messaging_send_ledger_task", "dag_id", "task_id", "run_id", "map_index"),
)


def _describe(service: str, code: str) -> str:
    from ..signalwire.errors import SIGNALWIRE_ERRORS
    from ..whatsapp.errors import WHATSAPP_ERRORS

    return (WHATSAPP_ERRORS if service == "whatsapp" else SIGNALWIRE_ERRORS).describe(code)


def _observation(service: str, row: Any) -> Observation:
    code = row["error_code"]
    return Observation(
        message_id=row["message_id"],
        state=MessageState(row["state"]),
        status=row["raw_status"],
        recipient=row["recipient"],
        error_code=code,
        error_message=row["error_details"] or row["error_title"],
        error_meaning=_describe(service, code) if code else row["error_title"],
    )


def _inbound_payload(message: InboundMessage) -> str | None:
    """The message as received, and what was read out of it (kept in one column: no migration)."""
    if not message.payload and not message.details:
        return None
    return to_json({"received": message.payload, "details": message.details})


def inbound_from_row(row: Any) -> InboundMessage:
    """An inbound message as stored: the payload as received, and what was read out of it."""
    try:
        stored = json.loads(row["payload"]) if row["payload"] else {}
    except ValueError:
        stored = {}
    stored = stored if isinstance(stored, dict) else {}
    kept_apart = (
        "received" in stored or "details" in stored
    )  # rows written before details: the payload itself
    received, details = (stored.get("received"), stored.get("details")) if kept_apart else (stored, None)
    return InboundMessage(
        service=row["service"], message_id=row["message_id"], sender=row["sender"], recipient=row["recipient"],
        kind=row["kind"], text=row["text"], timestamp=row["sent_at"], context_id=row["context_id"],
        payload=received if isinstance(received, dict) else {}, details=details if isinstance(details, dict) else {},
    )  # fmt: skip


def default_store_url() -> str:
    """``[messaging] store_url`` (env ``AIRFLOW__MESSAGING__STORE_URL``), else SQLite in AIRFLOW_HOME."""
    url = os.environ.get("AIRFLOW__MESSAGING__STORE_URL", "")
    if not url:
        try:
            from airflow.configuration import conf

            url = conf.get("messaging", "store_url", fallback="") or ""
        except Exception:  # outside an Airflow install: fall back to the default
            url = ""
    if url:
        return url
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return f"sqlite:///{home / 'messaging_store.db'}"


def insert_for(engine: Engine, table: Table) -> Any:
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif engine.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise ConfigurationError(
            f"[messaging] store_url uses {engine.dialect.name}; the store supports sqlite and postgresql"
        )
    return insert(table)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the webhook writer
        # WAL + NORMAL: a commit survives the process being killed; only an OS crash or power
        # loss can drop the last commits, and a commit no longer waits for an fsync
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


class MessageStore:
    """Status and inbound messages, safe to share between threads and processes."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None) -> None:
        self.url = url or default_store_url()
        self.engine = engine or self._make_engine(self.url)
        self._schema_ready = False
        self._lock = threading.Lock()

    @staticmethod
    def _make_engine(url: str) -> Engine:
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        if url.startswith("sqlite:///"):
            Path(url[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
        # phone numbers and message texts stay out of error texts (store.errors)
        engine = create_engine(url, pool_pre_ping=True, future=True, hide_parameters=True)
        keep_data_out_of_errors(engine)
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine)
        return engine

    def ensure_schema(self) -> None:
        """Create the tables once. Another process may be creating them at the same moment (the
        webhook receiver and a sensor on first use): losing that race is fine, so try again."""
        if self._schema_ready:
            return
        from sqlalchemy.exc import DatabaseError

        with self._lock:
            for attempt in range(5):
                try:
                    metadata.create_all(self.engine, checkfirst=True)
                    break
                except DatabaseError:
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            self._schema_ready = True

    def describe(self) -> str:
        """The URL with any password hidden (for logs)."""
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    # -- statuses --------------------------------------------------------------------------

    def record_status(self, status_event: StatusEvent) -> bool:
        return self.record_statuses([status_event]) == 1

    def record_statuses(self, events: Iterable[StatusEvent]) -> int:
        """Store events in one transaction; returns how many were new (not duplicates)."""
        self.ensure_schema()
        new = 0
        now = time.time()
        with self.engine.begin() as conn:
            for ev in events:
                inserted = conn.execute(
                    insert_for(self.engine, status_events)
                    .values(
                        fingerprint=ev.fingerprint,
                        service=ev.service,
                        message_id=ev.message_id,
                        raw_status=ev.raw_status,
                        event_ts=ev.timestamp,
                        payload=to_json(ev.payload) if ev.payload else None,
                        received_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["fingerprint"])
                    .returning(status_events.c.id)
                )
                if inserted.first() is None:  # a duplicate delivery of an event already kept
                    continue
                new += 1
                conn.execute(self._status_upsert(ev, now))
        return new

    def _status_upsert(self, ev: StatusEvent, now: float) -> Any:
        stmt = insert_for(self.engine, message_status).values(
            service=ev.service,
            message_id=ev.message_id,
            state=ev.state.value,
            rank=ev.state.rank,
            event_ts=ev.timestamp,
            raw_status=ev.raw_status,
            recipient=ev.recipient,
            error_code=ev.error_code,
            error_title=ev.error_title,
            error_details=ev.error_details,
            correlation=ev.correlation,
            updated_at=now,
        )
        current, new = message_status.c, stmt.excluded
        outranks = or_(
            new.rank > current.rank, and_(new.rank == current.rank, new.event_ts >= current.event_ts)
        )
        return stmt.on_conflict_do_update(
            index_elements=["service", "message_id"],
            set_={
                "state": new.state,
                "rank": new.rank,
                "event_ts": new.event_ts,
                "raw_status": new.raw_status,
                "error_code": new.error_code,
                "error_title": new.error_title,
                "error_details": new.error_details,
                "recipient": new.recipient,
                "correlation": new.correlation,
                "updated_at": new.updated_at,
            },
            where=outranks,
        )

    def get_statuses(self, service: str, message_ids: Sequence[str]) -> dict[str, Observation]:
        """What is known about each id; ids with no event yet are absent."""
        self.ensure_schema()
        found: dict[str, Observation] = {}
        c = message_status.c
        with self.engine.connect() as conn:
            for start in range(0, len(message_ids), 500):
                chunk = list(message_ids[start : start + 500])
                rows = conn.execute(
                    select(message_status).where(c.service == service, c.message_id.in_(chunk))
                )
                for row in rows.mappings():
                    found[row["message_id"]] = _observation(service, row)
        return found

    def changed_since(self, service: str, since: float) -> list[tuple[float, Observation]]:
        """State rows changed at or after ``since`` (epoch seconds): when, and what they say now."""
        self.ensure_schema()
        c = message_status.c
        query = select(message_status).where(c.service == service, c.updated_at >= since)
        with self.engine.connect() as conn:
            return [
                (float(row["updated_at"]), _observation(service, row))
                for row in conn.execute(query).mappings()
            ]

    def events_for(self, service: str, message_id: str) -> list[dict[str, Any]]:
        self.ensure_schema()
        c = status_events.c
        query = (
            select(c.raw_status, c.event_ts)
            .where(c.service == service, c.message_id == message_id)
            .order_by(c.id)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # -- inbound ---------------------------------------------------------------------------

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store an inbound message once; returns False for a duplicate delivery."""
        self.ensure_schema()
        with self.engine.begin() as conn:
            result = conn.execute(
                insert_for(self.engine, inbound_messages)
                .values(
                    service=message.service,
                    message_id=message.message_id,
                    sender=message.sender,
                    recipient=message.recipient,
                    kind=message.kind,
                    text=message.text,
                    context_id=message.context_id,
                    sent_at=message.timestamp,
                    received_at=time.time(),
                    payload=_inbound_payload(message),
                )
                .on_conflict_do_nothing(index_elements=["service", "message_id"])
                .returning(inbound_messages.c.message_id)
            )
            return result.first() is not None

    def inbound_since(
        self, service: str, *, since: float, senders: Sequence[str] | None = None, limit: int = 1000
    ) -> list[InboundMessage]:
        """Inbound messages received after ``since`` (epoch seconds), oldest first."""
        self.ensure_schema()
        c = inbound_messages.c
        query = select(inbound_messages).where(c.service == service, c.received_at > since)
        if senders:
            query = query.where(c.sender.in_(list(senders)))
        query = query.order_by(c.received_at, c.message_id).limit(limit)
        with self.engine.connect() as conn:
            return [inbound_from_row(r) for r in conn.execute(query).mappings()]

    # -- receivers -------------------------------------------------------------------------

    def record_receiver_seen(self, service: str, *, at: float | None = None, receiver: str = "") -> None:
        """A webhook receiver for ``service`` is alive and writes to this store."""
        self.ensure_schema()
        stmt = insert_for(self.engine, receivers).values(
            service=service, receiver=receiver, seen_at=time.time() if at is None else at
        )
        with self.engine.begin() as conn:
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["service", "receiver"], set_={"seen_at": stmt.excluded.seen_at}
                )
            )

    def receiver_last_seen(self, service: str) -> float | None:
        """When a receiver for ``service`` last recorded itself here (epoch seconds), if ever."""
        from sqlalchemy import func

        self.ensure_schema()
        with self.engine.connect() as conn:
            last = conn.execute(
                select(func.max(receivers.c.seen_at)).where(receivers.c.service == service)
            ).scalar()
        return None if last is None else float(last)

    def dispose(self) -> None:
        self.engine.dispose()
