"""The send ledger: each recipient of a task run gets a given message once, across retries and crashes.

Before a send, its key (task run + recipient + content digest) is *claimed* with an atomic insert;
after the service answers, the outcome is recorded. A later try of the same task finds:

- ``accepted``: skipped, and its message id reused (the recipient already has it);
- ``pending`` (claimed, no outcome: the worker died mid-request) or ``unknown`` (the request left
  but no answer came back): skipped, because a resend could message the recipient twice, unless
  the operator asks for ``on_unknown="resend"``;
- ``failed`` (the service refused or was unavailable) or ``withdrawn`` (claimed, then the task
  was stopped, by its timeout or a kill, before the request left): sent again.

``force_resend`` sends again what an earlier try sent. Within one try a key is never sent twice, so
a recipient listed twice with the same content gets one message.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, select, update

from ..core.claims import Action, Decision, EntryState, Outcome
from .store import MessageStore, insert_for, send_ledger

if TYPE_CHECKING:
    from airflow.sdk import Context


@dataclass(frozen=True)
class LedgerScope:
    """The task run a ledger entry belongs to."""

    service: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    dedupe_key: str | None = None  # set: keys span every run that uses the same key

    @classmethod
    def from_context(
        cls, context: Context | None, service: str, purpose: str = "", dedupe_key: str | None = None
    ) -> LedgerScope | None:
        ti = context.get("ti") if context else None
        names = [getattr(ti, name, None) for name in ("dag_id", "task_id", "run_id")]
        if not all(names):  # not a task run (a callback test, a script)
            return None
        return cls(
            service=service,
            dag_id=str(names[0]),
            task_id=f"{names[1]}#{purpose}" if purpose else str(names[1]),
            run_id=str(names[2]),
            map_index=_int(getattr(ti, "map_index", None), -1),
            try_number=_int(getattr(ti, "try_number", None), 1),
            dedupe_key=dedupe_key or None,
        )

    def key(self, recipient: str, digest: str) -> str:
        # by default a send is once per task run; a dedupe key makes it once per key, across runs
        span = ("key", self.dedupe_key) if self.dedupe_key else (self.run_id, str(self.map_index))
        raw = "\x1f".join((self.service, self.dag_id, self.task_id, *span, recipient, digest))
        return hashlib.sha256(raw.encode()).hexdigest()


_CLAIM_COLUMNS = ("key", "service", "dag_id", "task_id", "run_id", "map_index", "recipient", "state",
                  "try_number", "updated_at")  # fmt: skip
_SQLITE_CLAIM = (
    f"INSERT INTO {send_ledger.name} ({', '.join(_CLAIM_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _CLAIM_COLUMNS)}) ON CONFLICT (key) DO NOTHING"
)
_RECORD_PARAMS = ("state", "message_id", "error_code", "updated_at", "k")
_SQLITE_RECORD = (
    f"UPDATE {send_ledger.name} SET state = ?, message_id = ?, error_code = ?, updated_at = ? WHERE key = ?"
)


def _int(value: Any, default: int) -> int:
    return default if value is None else int(value)


_DIGEST_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def content_digest(content: Any) -> str:
    """A stable digest of what is sent (JSON-able), so changed content counts as a new message."""
    return hashlib.sha256(_DIGEST_ENCODER.encode(content).encode()).hexdigest()[:32]


class SendLedger:
    """The ledger of one task run (``scope``) in ``store``; see the module docstring."""

    def __init__(
        self,
        store: MessageStore,
        scope: LedgerScope,
        *,
        force_resend: bool = False,
        resend_unknown: bool = False,
    ) -> None:
        self.store = store
        self.scope = scope
        self.force_resend = force_resend
        self.resend_unknown = resend_unknown

    @property
    def writes_are_local(self) -> bool:
        return self.store.engine.dialect.name == "sqlite"

    def key(self, recipient: str, content: Any) -> str:
        return self.scope.key(recipient, content_digest(content))

    def claim(self, items: Sequence[tuple[str, str]]) -> dict[str, Decision]:
        """Claim ``(key, recipient)`` pairs in one transaction; says per key whether to send."""
        self.store.ensure_schema()
        if not items:
            return {}
        s, now = self.scope, time.time()
        rows = [
            {
                "key": key, "service": s.service, "dag_id": s.dag_id, "task_id": s.task_id,
                "run_id": s.run_id, "map_index": s.map_index, "recipient": recipient[:64],
                "state": EntryState.PENDING.value, "try_number": s.try_number, "updated_at": now,
            }
            for key, recipient in dict(items).items()
        ]  # fmt: skip
        if self.writes_are_local and self._claim_all_sqlite(rows):
            return {str(row["key"]): Decision(Action.SEND) for row in rows}
        decisions: dict[str, Decision] = {}
        c = send_ledger.c
        with self.store.engine.begin() as conn:
            inserted = conn.execute(  # executemany: one cached statement whatever the group size
                insert_for(self.store.engine, send_ledger)
                .on_conflict_do_nothing(index_elements=["key"])
                .returning(c.key),
                rows,
            )
            for (key,) in inserted:
                decisions[key] = Decision(Action.SEND)
            taken = [row["key"] for row in rows if row["key"] not in decisions]
            if not taken:
                return decisions
            existing = conn.execute(
                select(c.key, c.state, c.run_id, c.try_number, c.message_id).where(c.key.in_(taken))
            ).all()
            for key, state, run_id, try_number, message_id in existing:
                decision = self._decide(state, run_id, try_number, message_id)
                if decision.action is Action.SEND:
                    # take it over only if nobody else did since we looked
                    changed = conn.execute(
                        update(send_ledger)
                        .where(and_(c.key == key, c.state == state, c.try_number == try_number))
                        .values(state=EntryState.PENDING.value, run_id=s.run_id, try_number=s.try_number,
                                message_id=None, error_code=None, updated_at=now)
                    ).rowcount  # fmt: skip
                    decision = decision if changed == 1 else Decision(Action.DUPLICATE)  # another worker won
                decisions[key] = decision
        return decisions

    def _claim_all_sqlite(self, rows: list[dict[str, object]]) -> bool:
        """Claim every row with one plain ``executemany``, or change nothing and return False.

        The common case (no key claimed before) without SQLAlchemy's per-row statement work, which
        was most of a send's ledger cost: the driver inserts, and the count of inserted rows says
        whether every key was new. If one was not, the transaction is rolled back and the general
        path decides key by key.
        """
        params = [tuple(row[c] for c in _CLAIM_COLUMNS) for row in rows]
        with self.store.engine.connect() as conn, conn.begin() as transaction:
            if conn.exec_driver_sql(_SQLITE_CLAIM, params).rowcount == len(rows):
                return True
            transaction.rollback()
        return False

    def _decide(self, state: str, run_id: str, try_number: int, message_id: str | None) -> Decision:
        if run_id == self.scope.run_id and try_number >= self.scope.try_number:
            return Decision(
                Action.DUPLICATE
            )  # claimed in this try already (a repeated row), or by a later one
        if state == EntryState.ACCEPTED:
            return Decision(Action.SEND) if self.force_resend else Decision(Action.ALREADY_SENT, message_id)
        if state in (EntryState.FAILED, EntryState.WITHDRAWN):
            return Decision(Action.SEND)
        # PENDING or UNKNOWN: the request may have reached the service
        if self.resend_unknown or self.force_resend:
            return Decision(Action.SEND)
        return Decision(Action.OUTCOME_UNKNOWN)

    def record(self, outcomes: Iterable[Outcome]) -> None:
        """Store what the service said, in one transaction."""
        params = [
            {
                "k": o.key,
                "state": o.state.value,
                "message_id": o.message_id,
                "error_code": o.error_code,
                "updated_at": time.time(),
            }
            for o in outcomes
        ]
        if not params:
            return
        if self.writes_are_local:  # one plain executemany: SQLAlchemy's per-row work costs more
            with self.store.engine.begin() as conn:
                conn.exec_driver_sql(_SQLITE_RECORD, [tuple(p[c] for c in _RECORD_PARAMS) for p in params])
            return
        from sqlalchemy import bindparam

        c = send_ledger.c
        stmt = (
            update(send_ledger)
            .where(c.key == bindparam("k"))
            .values(
                state=bindparam("state"),
                message_id=bindparam("message_id"),
                error_code=bindparam("error_code"),
                updated_at=bindparam("updated_at"),
            )
        )
        with self.store.engine.begin() as conn:
            conn.execute(stmt, params)

    def counts(self) -> dict[str, int]:
        """Entries of this task run per state (all tries)."""
        self.store.ensure_schema()
        from sqlalchemy import func

        c, s = send_ledger.c, self.scope
        query = (
            select(c.state, func.count())
            .where(c.dag_id == s.dag_id, c.task_id == s.task_id, c.run_id == s.run_id)
            .where(c.map_index == s.map_index, c.service == s.service)
            .group_by(c.state)
        )
        with self.store.engine.connect() as conn:
            return {state: int(n) for state, n in conn.execute(query).all()}


def open_ledger(
    context: Context | None,
    service: str,
    *,
    force_resend: bool = False,
    on_unknown: str = "skip",
    purpose: str = "",
    dedupe_key: str | None = None,
    store: MessageStore | None = None,
) -> SendLedger | None:
    """The ledger for the task run in ``context``; None outside a task run (nothing to dedupe against).

    ``purpose`` keeps apart sends of one task that are not the task's own, e.g. ``notify:3`` for the
    notifications of its third try; ``dedupe_key`` makes a send once per key across runs.
    """
    if on_unknown not in ("skip", "resend"):
        raise ValueError(f"on_unknown must be 'skip' or 'resend', got {on_unknown!r}")
    scope = LedgerScope.from_context(context, service, purpose, dedupe_key)
    if scope is None:
        return None
    return SendLedger(
        store or MessageStore(), scope, force_resend=force_resend, resend_unknown=on_unknown == "resend"
    )
