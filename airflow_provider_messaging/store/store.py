"""The status store: SQLAlchemy Core tables for delivery states and inbound messages.

One schema on SQLite (default, one machine) or PostgreSQL (several machines), created on first use.
Writes are single atomic upserts, so parallel webhook deliveries cannot move a message's state
down: the row changes only when the new event outranks it (``core.states`` rank, then timestamp).
Every distinct raw event is kept once; a webhook delivered twice is recognised by its fingerprint.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
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
    create_engine,
    event,
    func,
    select,
    text,
)
from sqlalchemy.engine import Engine

from ..core.delivery import Observation
from ..core.errors import ConfigurationError
from ..core.events import InboundMessage, StatusEvent, to_json
from ..core.states import MessageState
from .errors import keep_data_out_of_errors

log = logging.getLogger(__name__)
metadata = MetaData()

# Ids, numbers, statuses and codes come from the services and have no length we control (a
# business-scoped user id is up to 131 characters, a message id is whatever the service makes it):
# they are Text, so no real value can fail a row. Tables created by earlier versions with VARCHAR
# columns are widened when a process first uses the store (``ensure_schema``, PostgreSQL only:
# SQLite does not enforce lengths).
message_status = Table(
    "messaging_message_status",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("message_id", Text, primary_key=True),
    Column("state", String(16), nullable=False),
    Column("rank", Integer, nullable=False),
    Column("event_ts", Float, nullable=False),
    Column("raw_status", Text, nullable=False),
    Column("recipient", Text),
    Column("error_code", Text),
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
    Column("fingerprint", String(64), nullable=False),  # our own SHA-256 hex digest
    Column("service", String(32), nullable=False),
    Column("message_id", Text, nullable=False, index=True),
    Column("raw_status", Text, nullable=False),
    Column("event_ts", Float, nullable=False),
    Column("payload", Text),
    Column("received_at", Float, nullable=False),
    UniqueConstraint("fingerprint", name="uq_messaging_status_events_fingerprint"),
)

inbound_messages = Table(
    "messaging_inbound_messages",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("message_id", Text, primary_key=True),
    Column("sender", Text, nullable=False, index=True),
    Column("recipient", Text),
    Column("kind", Text, nullable=False),
    Column("text", Text),
    Column("context_id", Text),
    Column("sent_at", Float, nullable=False),
    Column("received_at", Float, nullable=False, index=True),
    Column("payload", Text),
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
    Column("recipient", Text, nullable=False),
    Column("state", String(16), nullable=False),  # pending, accepted, failed, unknown
    Column("try_number", Integer, nullable=False),
    Column("message_id", Text),
    Column("error_code", Text),  # SignalWire's native API names its codes (up to 52 characters)
    Column("updated_at", Float, nullable=False),
    Index("ix_messaging_send_ledger_task", "dag_id", "task_id", "run_id", "map_index"),
)

# Which webhook receivers write this store, and when each was last alive: a sensor waiting on
# webhooks that never come can tell "no receiver writes here" from "no event yet".
receivers = Table(
    "messaging_receivers",
    metadata,
    Column("service", String(32), primary_key=True),
    Column("receiver", Text, primary_key=True),
    Column("last_seen", Float, nullable=False),
)

# Columns earlier versions created as VARCHAR, widened to TEXT on PostgreSQL (see above).
WIDENED = {
    "messaging_message_status": ("message_id", "raw_status", "recipient", "error_code"),
    "messaging_status_events": ("message_id", "raw_status"),
    "messaging_inbound_messages": ("message_id", "sender", "recipient", "kind", "context_id"),
    "messaging_send_ledger": ("recipient", "message_id", "error_code"),
}


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


# -- rows as the database takes them -------------------------------------------------------------


@dataclass
class WriteResult:
    """What a batch write kept: the new status events (fingerprints), the new inbound messages
    (service, id), and each event skipped with the reason."""

    new_statuses: set[str] = field(default_factory=set)
    new_inbound: set[tuple[str, str]] = field(default_factory=set)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)

    def keep(self, statuses: set[str], inbound: set[tuple[str, str]]) -> None:
        self.new_statuses |= statuses
        self.new_inbound |= inbound

    def skip(self, kind: str, message_id: Any, reason: str) -> None:
        self.skipped.append((kind, str(message_id), reason))


def store_text(value: Any) -> str | None:
    """Text every database takes: PostgreSQL refuses NUL characters and neither database takes
    the lone surrogates JSON can carry (``"\\ud800"``); both are replaced, never the row refused."""
    if value is None:
        return None
    value = value if isinstance(value, str) else str(value)
    if value.isascii():
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def _required_text(value: Any, name: str) -> str:
    found = store_text(value)
    if not found:
        raise ValueError(f"no {name}")
    return found


def _finite(value: Any, name: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} is not a finite number")
    return number


def _status_event_row(ev: StatusEvent, now: float) -> dict[str, Any]:
    return {
        "fingerprint": ev.fingerprint,
        "service": ev.service,
        "message_id": _required_text(ev.message_id, "message id"),
        "raw_status": _required_text(ev.raw_status, "status"),
        "event_ts": _finite(ev.timestamp, "timestamp"),
        "payload": json.dumps(ev.payload, separators=(",", ":"), default=str) if ev.payload else None,
        "received_at": now,
    }


def _status_row(ev: StatusEvent, now: float) -> dict[str, Any]:
    return {
        "service": ev.service,
        "message_id": store_text(ev.message_id),
        "state": ev.state.value,
        "rank": ev.state.rank,
        "event_ts": ev.timestamp,
        "raw_status": store_text(ev.raw_status),
        "recipient": store_text(ev.recipient),
        "error_code": store_text(ev.error_code),
        "error_title": store_text(ev.error_title),
        "error_details": store_text(ev.error_details),
        "correlation": store_text(ev.correlation),
        "updated_at": now,
    }


def _inbound_row(message: InboundMessage, now: float) -> dict[str, Any]:
    return {
        "service": message.service,
        "message_id": _required_text(message.message_id, "message id"),
        "sender": store_text(message.sender) or "",
        "recipient": store_text(message.recipient),
        "kind": store_text(message.kind) or "unknown",
        "text": store_text(message.text),
        "context_id": store_text(message.context_id),
        "sent_at": _finite(message.timestamp, "timestamp"),
        "received_at": now,
        "payload": _inbound_payload(message),
    }


def _unstorable(exc: BaseException) -> bool:
    """The database refused a value (too long, not allowed, a constraint), as opposed to the
    store being unreachable or locked; only the first kind is a reason to skip an event."""
    from sqlalchemy.exc import DataError, IntegrityError

    return isinstance(exc, (DataError, IntegrityError))


DEADLOCK_ATTEMPTS = 3


def _deadlocked(exc: BaseException) -> bool:
    """PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in ("40P01", "40001")


def _db_error_name(exc: BaseException) -> str:
    """The driver's error class, never its text: that can quote the values (numbers, messages)."""
    return type(getattr(exc, "orig", None) or exc).__name__


def _short(ident: str) -> str:
    return ident if len(ident) <= 80 else ident[:77] + "..."


# A batch goes to the database as one JSON document and one statement of constant text, whatever
# its size: ``json_to_recordset`` on PostgreSQL, ``json_each`` on SQLite, the document made by the
# C JSON encoder. Measured slower: SQLAlchemy's multi-row VALUES (a new statement for every batch
# size, parsed in Python by the driver and again by the server; per-row parameter processing) and
# PostgreSQL arrays (escaped element by element in Python).
_EVENTS_CONFLICT = "ON CONFLICT (fingerprint) DO NOTHING RETURNING fingerprint"
_INBOUND_CONFLICT = "ON CONFLICT (service, message_id) DO NOTHING RETURNING service, message_id"
_STATUS_UPDATED = ("state", "rank", "event_ts", "raw_status", "error_code", "error_title", "error_details",
                   "recipient", "correlation", "updated_at")  # fmt: skip
_STATUS_CONFLICT = (
    "ON CONFLICT (service, message_id) DO UPDATE SET "
    + ", ".join(f"{c} = EXCLUDED.{c}" for c in _STATUS_UPDATED)
    + " WHERE EXCLUDED.rank > messaging_message_status.rank OR (EXCLUDED.rank = messaging_message_status.rank"
    " AND EXCLUDED.event_ts >= messaging_message_status.event_ts)"
)
_PG_TYPE = {Float: "double precision", Integer: "integer"}
_recordset_sql: dict[tuple[str, str, tuple[str, ...], str], Any] = {}


def _recordset(conn: Any, table: Table, rows: list[dict[str, Any]], conflict: str) -> list[Any]:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in one statement; what ``conflict``
    returns."""
    columns = tuple(rows[0])
    dialect = conn.dialect.name
    key = (dialect, table.name, columns, conflict)
    stmt = _recordset_sql.get(key)
    if stmt is None:
        names = ", ".join(columns)
        if dialect == "postgresql":
            types = ", ".join(f"{c} {_PG_TYPE.get(type(table.c[c].type), 'text')}" for c in columns)
            source = f"SELECT {names} FROM json_to_recordset(CAST(:rows AS json)) AS r({types})"
        else:  # SQLite: rows as arrays; "WHERE true" tells its parser the SELECT ends before ON CONFLICT
            values = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
            source = f"SELECT {values} FROM json_each(:rows) WHERE true"
        stmt = _recordset_sql[key] = text(f"INSERT INTO {table.name} ({names}) {source} {conflict}")
    document = rows if dialect == "postgresql" else [list(row.values()) for row in rows]
    result = conn.execute(stmt, {"rows": json.dumps(document, separators=(",", ":"))})
    return list(result.all()) if result.returns_rows else []


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
        # the commit that fills the WAL copies it into the database and syncs both, inside that
        # commit: at 1,000 pages (the default) a busy receiver's batches met it every few
        # commits and waited; at 10,000 (40 MB of WAL) the receiver's slowest answers at 3,000
        # webhooks/s fell from 1.8-4.3 s to 0.4-0.5 s (p99, benchmarks/receiver.py)
        cursor.execute("PRAGMA wal_autocheckpoint=10000")
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
            if self._schema_ready:
                return
            for attempt in range(5):
                try:
                    metadata.create_all(self.engine, checkfirst=True)
                    self._widen_old_columns()
                    break
                except DatabaseError:
                    if attempt == 4:
                        raise
                    time.sleep(0.05 * (attempt + 1))
            self._schema_ready = True

    def _widen_old_columns(self) -> None:
        """Tables created by earlier versions have VARCHAR(32/64/255) columns that real values
        overflow (a 131-character user id fails its row): make them TEXT. On PostgreSQL changing
        VARCHAR to TEXT rewrites neither the table nor its indexes; SQLite never enforced lengths."""
        if self.engine.dialect.name != "postgresql":
            return
        query = text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND data_type = 'character varying' "
            "AND table_name = ANY(:tables)"
        )
        with self.engine.begin() as conn:
            narrow = [
                (table, column)
                for table, column in conn.execute(query, {"tables": list(WIDENED)}).all()
                if column in WIDENED[table]
            ]
            for table, column in narrow:
                conn.execute(text(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE TEXT'))
        if narrow:
            log.info("Widened %d store columns from VARCHAR to TEXT: %s", len(narrow),
                     ", ".join(f"{t}.{c}" for t, c in narrow))  # fmt: skip

    def describe(self) -> str:
        """The URL with any password hidden (for logs)."""
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.url)

    # -- statuses and inbound messages, in batches ---------------------------------------------

    def record_status(self, status_event: StatusEvent) -> bool:
        return self.record_statuses([status_event]) == 1

    def record_statuses(self, events: Iterable[StatusEvent]) -> int:
        """Store events in one transaction; returns how many were new (not duplicates)."""
        return len(self.write(list(events), []).new_statuses)

    def record_inbound(self, message: InboundMessage) -> bool:
        """Store an inbound message once; returns False for a duplicate delivery."""
        return bool(self.write([], [message]).new_inbound)

    def write(self, statuses: Sequence[StatusEvent], inbound: Sequence[InboundMessage]) -> WriteResult:
        """Store status events and inbound messages in one transaction (a few statements whatever
        their number). An event the database cannot hold is skipped and named in the result, so it
        never costs the others their place; this raises only when the store itself cannot be
        written (unreachable, locked, out of space), and then nothing of the batch is kept."""
        self.ensure_schema()
        result = WriteResult()
        now = time.time()
        status_rows: list[tuple[StatusEvent, dict[str, Any]]] = []
        inbound_rows: list[tuple[InboundMessage, dict[str, Any]]] = []
        for ev in statuses:
            try:
                status_rows.append((ev, _status_event_row(ev, now)))
            except (ValueError, TypeError, RecursionError) as exc:
                result.skip("status", ev.message_id, str(exc) or type(exc).__name__)
        for message in inbound:
            try:
                inbound_rows.append((message, _inbound_row(message, now)))
            except (ValueError, TypeError, RecursionError) as exc:
                result.skip("inbound message", message.message_id, str(exc) or type(exc).__name__)
        if not status_rows and not inbound_rows:
            return result
        try:
            kept = self._insert_retrying(status_rows, inbound_rows, now)
            result.keep(*kept)
        except Exception as exc:
            if not _unstorable(exc):
                raise
            # a row was refused: find it by writing each event on its own, and keep the others
            singles: list[tuple[Any, Any, Any]] = [(ev, [(ev, r)], []) for ev, r in status_rows]
            singles += [(m, [], [(m, r)]) for m, r in inbound_rows]
            for item, statuses_of_one, inbound_of_one in singles:
                try:
                    with self.engine.begin() as conn:
                        kept = self._insert(conn, statuses_of_one, inbound_of_one, now)
                    result.keep(*kept)
                except Exception as single:
                    if not _unstorable(single):
                        raise
                    kind = "status" if statuses_of_one else "inbound message"
                    result.skip(kind, item.message_id, f"the database refused it ({_db_error_name(single)})")
        for kind, ident, reason in result.skipped:
            log.warning("Skipped a %s event for message %r: %s", kind, _short(ident), reason)
        return result

    def _insert_retrying(
        self,
        status_rows: Sequence[tuple[StatusEvent, dict[str, Any]]],
        inbound_rows: Sequence[tuple[InboundMessage, dict[str, Any]]],
        now: float,
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """One transaction, tried again when the database chose it as a deadlock's victim."""
        for attempt in range(DEADLOCK_ATTEMPTS):
            try:
                with self.engine.begin() as conn:
                    return self._insert(conn, status_rows, inbound_rows, now)
            except Exception as exc:
                if attempt == DEADLOCK_ATTEMPTS - 1 or not _deadlocked(exc):
                    raise
        raise AssertionError("unreachable")

    def _insert(
        self,
        conn: Any,
        status_rows: Sequence[tuple[StatusEvent, dict[str, Any]]],
        inbound_rows: Sequence[tuple[InboundMessage, dict[str, Any]]],
        now: float,
    ) -> tuple[set[str], set[tuple[str, str]]]:
        """Insert in the open transaction; the fingerprints and inbound keys that were new."""
        new: set[str] = set()
        new_inbound: set[tuple[str, str]] = set()
        if status_rows:
            # rows in key order: two writers (receiver workers) then lock rows in the same order
            # and cannot deadlock each other on PostgreSQL
            rows = sorted({row["fingerprint"]: row for _, row in reversed(status_rows)}.values(),
                          key=lambda row: row["fingerprint"])  # fmt: skip
            new.update(f for (f,) in _recordset(conn, status_events, rows, _EVENTS_CONFLICT))
            # only new events move states; of several for one message the best is written: the
            # upsert keeps the higher (rank, timestamp) anyway, and one statement may not touch a
            # row twice
            best: dict[tuple[str, str], StatusEvent] = {}
            for ev, row in status_rows:
                if row["fingerprint"] not in new:
                    continue
                key = (ev.service, row["message_id"])
                held = best.get(key)
                if held is None or (ev.state.rank, ev.timestamp) >= (held.state.rank, held.timestamp):
                    best[key] = ev
            if best:
                _recordset(
                    conn,
                    message_status,
                    [_status_row(best[key], now) for key in sorted(best)],
                    _STATUS_CONFLICT,
                )
        if inbound_rows:
            unique = {(r["service"], r["message_id"]): r for _, r in reversed(inbound_rows)}
            rows = [unique[key] for key in sorted(unique)]
            new_inbound.update((s, m) for s, m in _recordset(conn, inbound_messages, rows, _INBOUND_CONFLICT))
        return new, new_inbound

    # -- receivers -------------------------------------------------------------------------

    def record_receiver_seen(self, service: str, *, at: float | None = None, receiver: str = "") -> None:
        """Note that a webhook receiver for ``service`` writing this store was alive ``at`` (epoch
        seconds, default now): one row per service and receiver, never moved back in time."""
        self.ensure_schema()
        stmt = insert_for(self.engine, receivers).values(
            service=service, receiver=receiver, last_seen=time.time() if at is None else float(at)
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["service", "receiver"],
            set_={"last_seen": stmt.excluded.last_seen},
            where=stmt.excluded.last_seen > receivers.c.last_seen,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def receiver_last_seen(self, service: str) -> float | None:
        """When any receiver for ``service`` writing this store was last alive; None if never."""
        self.ensure_schema()
        query = select(func.max(receivers.c.last_seen)).where(receivers.c.service == service)
        with self.engine.connect() as conn:
            found = conn.execute(query).scalar()
        return None if found is None else float(found)

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

    def dispose(self) -> None:
        self.engine.dispose()
