"""What a human-in-the-loop question says by message, and the short answers people get back.

Plain text that fits SMS (no characters outside GSM-7 are added) and WhatsApp alike; every reply
says whether the answer changed anything.
"""

from __future__ import annotations

from collections.abc import Sequence

from .hitl import Question

SUBJECT_IN_REPLY = 60  # characters of the subject quoted in a short reply


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with "..." where it was cut."""
    text = text.strip()
    return text if len(text) <= limit else text[: max(limit - 3, 0)].rstrip() + "..."


def _subject(question: Question) -> str:
    return f'"{clip(question.subject, SUBJECT_IN_REPLY)}"'


def how_to_answer(question: Question) -> str:
    """``Reply 1 for Approve, 2 for Reject.`` (or the numbers, for several answers)."""
    numbered = [f"{i} for {option}" for i, option in enumerate(question.options, start=1)]
    if question.multiple:
        return "Reply with one or more numbers, e.g. 1,2: " + ", ".join(numbered) + "."
    return "Reply " + ", ".join(numbered[:-1]) + (" or " if len(numbered) > 1 else "") + numbered[-1] + "."


def question_text(question: Question, body: str | None, limit: int, *, numbered: bool = True) -> str:
    """The question as one text of at most ``limit`` characters; the body gives way first."""
    head = f"Airflow needs your answer: {question.subject.strip()}"
    tail = [how_to_answer(question) + f" (ref {question.code})"] if numbered else []
    if question.link:
        tail.append(f"Or answer in Airflow: {question.link}")
    fixed = "\n".join([head, *tail])
    room = limit - len(fixed) - 1
    middle = [clip(body, room)] if body and body.strip() and room > 20 else []
    return clip("\n".join([head, *middle, *tail]), limit)


def recorded(question: Question, chosen: Sequence[str]) -> str:
    return f"Thank you: {', '.join(chosen)} is recorded for {_subject(question)}."


def already_answered(question: Question, chosen: Sequence[str] | None, by: str | None) -> str:
    what = f" ({', '.join(chosen)}{f' by {by}' if by else ''})" if chosen else ""
    return f"{_subject(question)} was already answered{what}. Your answer changed nothing."


def not_waiting(question: Question, state: str) -> str:
    return (
        f"{_subject(question)} no longer waits for an answer (the task is {state.replace('_', ' ')}). "
        "Your answer changed nothing."
    )


def asked_again(question: Question) -> str:
    return f"{_subject(question)} was asked again since: answer the newest message. Nothing was changed."


def not_assigned(question: Question) -> str:
    return f"You are not among the people asked to answer {_subject(question)}. Nothing was changed."


def not_verified() -> str:
    return "This answer could not be verified, so it was not recorded. Nothing was changed."


def which_question(questions: Sequence[Question]) -> str:
    listed = "; ".join(f"{q.code}: {_subject(q)}" for q in questions)
    return (
        f"You have {len(questions)} open questions ({listed}). Reply with your answer and the code, "
        f"e.g. '1 {questions[0].code}'."
    )


def hint(question: Question) -> str:
    return f"To answer {_subject(question)}: {how_to_answer(question)} (ref {question.code})"


def could_not_record(question: Question) -> str:
    where = f": {question.link}" if question.link else ""
    return f"Your answer to {_subject(question)} could not be recorded. Please answer in Airflow{where}"
