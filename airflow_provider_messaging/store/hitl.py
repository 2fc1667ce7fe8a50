"""Human-in-the-loop questions asked by message, and which inbound messages were handled as answers.

Two tables beside the status store's own (same database, created on first use): the questions the
notifiers sent (so a reply can be matched to its task, and a button's signature checked), and one
row per inbound message taken as an answer, claimed before it is handled, so that several
processes reading the same store (api-server workers, a receiver of its own) answer each message
once. Whether a task was answered is Airflow's to say; ``answered_at`` here only notes what this
provider recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

from sqlalchemy import Column, Float, MetaData, String, Table, Text, and_, delete, or_, select, update
from sqlalchemy.engine import RowMapping

from ..core.events import InboundMessage
from ..core.hitl import Question
from .store import MessageStore, inbound_from_row, inbound_messages, insert_for

hitl_metadata = MetaData()

questions = Table(
    "messaging_hitl_questions",
    hitl_metadata,
    Column("id", String(32), primary_key=True),
    Column("service", String(32), nullable=False),
    Column("created_at", Float, nullable=False, index=True),
    Column("answered_at", Float),
    Column("question", Text, nullable=False),  # the question as JSON
)

answers = Table(
    "messaging_hitl_answers",
    hitl_metadata,
    Column("service", String(32), primary_key=True),
    Column("message_id", Text, primary_key=True),
    Column("question_id", String(32)),
    Column("state", String(16), nullable=False),  # claimed, done
    Column("outcome", Text),
    Column("updated_at", Float, nullable=False),
)

TAPPED_KINDS = ("interactive", "button")  # WhatsApp taps on a button, a list row, a template quick reply


class QuestionStore:
    def __init__(self, store: MessageStore) -> None:
        self.store = store
        self._ready = False

    def ensure_schema(self) -> None:
        if not self._ready:
            self.store.ensure_schema()
            hitl_metadata.create_all(self.store.engine, checkfirst=True)
            self._ready = True

    def save(self, question: Question) -> bool:
        """Keep ``question``; False when it was kept already (the same try asked again)."""
        self.ensure_schema()
        with self.store.engine.begin() as conn:
            found = conn.execute(
                insert_for(self.store.engine, questions)
                .values(
                    id=question.id,
                    service=question.service,
                    created_at=question.created_at,
                    question=json.dumps(question.as_dict(), sort_keys=True),
                )
                .on_conflict_do_nothing(index_elements=["id"])
                .returning(questions.c.id)
            )
            return found.first() is not None

    def get(self, question_id: str) -> Question | None:
        self.ensure_schema()
        with self.store.engine.connect() as conn:
            row = conn.execute(select(questions).where(questions.c.id == question_id)).mappings().first()
        return None if row is None else _question(row)

    def recent(self, since: float) -> list[Question]:
        """Questions asked at or after ``since`` (epoch seconds), newest first."""
        self.ensure_schema()
        query = (
            select(questions).where(questions.c.created_at >= since).order_by(questions.c.created_at.desc())
        )
        with self.store.engine.connect() as conn:
            return [_question(row) for row in conn.execute(query).mappings()]

    def asked_since(self, since: float) -> list[tuple[str, float | None]]:
        """(id, answered_at) of the questions asked at or after ``since``, newest first: a light look
        for callers that keep the questions they already read."""
        self.ensure_schema()
        c = questions.c
        query = select(c.id, c.answered_at).where(c.created_at >= since).order_by(c.created_at.desc())
        with self.store.engine.connect() as conn:
            return [(row.id, row.answered_at) for row in conn.execute(query)]

    def get_many(self, ids: Sequence[str]) -> dict[str, Question]:
        self.ensure_schema()
        found: dict[str, Question] = {}
        with self.store.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                query = select(questions).where(questions.c.id.in_(list(ids[start : start + 500])))
                found.update((row["id"], _question(row)) for row in conn.execute(query).mappings())
        return found

    def mark_answered(self, question_id: str) -> None:
        self.ensure_schema()
        with self.store.engine.begin() as conn:
            conn.execute(
                update(questions).where(questions.c.id == question_id).values(answered_at=time.time())
            )

    # -- inbound messages taken as answers -----------------------------------------------------------

    def inbound(
        self, service: str, since: float, senders: Sequence[str], *, after: tuple[float, str] | None = None,
        limit: int = 500,
    ) -> list[tuple[float, InboundMessage]]:  # fmt: skip
        """Inbound messages received after ``since`` that may answer a question: taps, and messages
        from ``senders``; with when each was received, oldest first, and the message as received.
        ``after`` (received_at, message id) of the last row read pages on through the same second."""
        self.ensure_schema()
        c = inbound_messages.c
        query = (
            select(inbound_messages)
            .where(c.service == service, c.received_at > since)
            .where(or_(c.kind.in_(TAPPED_KINDS), c.sender.in_(list(senders))))
            .order_by(c.received_at, c.message_id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                or_(c.received_at > after[0], and_(c.received_at == after[0], c.message_id > after[1]))
            )
        with self.store.engine.connect() as conn:
            return [(float(r["received_at"]), inbound_from_row(r)) for r in conn.execute(query).mappings()]

    def claim(self, service: str, message_id: str, stale_after: float = 60.0) -> bool:
        """Take ``message_id`` to handle it; False when another process has it or handled it. A claim
        left unfinished for ``stale_after`` seconds (its process died) may be taken over."""
        self.ensure_schema()
        now = time.time()
        with self.store.engine.begin() as conn:
            taken = conn.execute(
                insert_for(self.store.engine, answers)
                .values(service=service, message_id=message_id, state="claimed", updated_at=now)
                .on_conflict_do_nothing(index_elements=["service", "message_id"])
                .returning(answers.c.message_id)
            ).first()
            if taken is not None:
                return True
            c = answers.c
            stale = conn.execute(
                update(answers)
                .where(c.service == service, c.message_id == message_id, c.state == "claimed")
                .where(c.updated_at < now - stale_after)
                .values(updated_at=now)
            )
            return stale.rowcount == 1

    def finish(self, service: str, message_id: str, question_id: str | None, outcome: str) -> None:
        self.ensure_schema()
        c = answers.c
        with self.store.engine.begin() as conn:
            conn.execute(
                update(answers)
                .where(c.service == service, c.message_id == message_id)
                .values(state="done", question_id=question_id, outcome=outcome, updated_at=time.time())
            )

    def release(self, service: str, message_id: str) -> None:
        """Give a claim back, so the message is handled again (Airflow could not be reached)."""
        self.ensure_schema()
        c = answers.c
        with self.store.engine.begin() as conn:
            conn.execute(delete(answers).where(c.service == service, c.message_id == message_id,
                                               c.state == "claimed"))  # fmt: skip

    def outcome(self, service: str, message_id: str) -> str | None:
        """What handling ``message_id`` came to (tests, the demo)."""
        self.ensure_schema()
        c = answers.c
        with self.store.engine.connect() as conn:
            return conn.execute(
                select(c.outcome).where(c.service == service, c.message_id == message_id)
            ).scalar()


def _question(row: RowMapping) -> Question:
    data = json.loads(row["question"])
    data["answered_at"] = row["answered_at"]
    return Question.from_dict(data)
