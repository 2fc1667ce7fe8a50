"""How every Airflow-facing sender sends: operators, broadcasts and notifiers alike.

One path: the task run's send ledger (when there is a task run), the send engine, the service's
sender. A single send is a small, unpaced broadcast; what differs afterwards is how the outcome
ends the task (:func:`raise_for_undelivered` for single sends and notifications; broadcasts judge
their report themselves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from .core.engine import PreparedSend, SendEngine, Sender, SendStopped, run_blocking
from .core.errors import OutcomeUnknownError, PermanentError, TransientError
from .core.report import SendReport
from .core.rows import Row

if TYPE_CHECKING:
    from airflow.sdk import Context

OpenSender = Callable[[int], AbstractAsyncContextManager[Sender[Any]]]  # (concurrency) -> sender


async def asend_rows(
    *,
    context: Context | None,
    service: str,
    rows: Iterable[Row],
    prepare: Callable[[Row], PreparedSend[Any]],
    open_sender: OpenSender,
    concurrency: int = 4,
    on_unknown: str = "skip",
    force_resend: bool = False,
    ledger_purpose: str = "",
    dedupe_key: str | None = None,
    log: Any = None,
    **engine_options: Any,
) -> SendReport:
    """Send every row once (the ledger of the task run in ``context`` remembers who has it)."""
    from .store.ledger import open_ledger

    ledger = open_ledger(
        context, service, force_resend=force_resend, on_unknown=on_unknown, purpose=ledger_purpose,
        dedupe_key=dedupe_key,
    )  # fmt: skip
    if log is not None:
        if ledger is None:
            log.info("No task run in the context: sends are not recorded in the send ledger")
        else:
            once_per = f"key {ledger.scope.dedupe_key!r}" if ledger.scope.dedupe_key else "this task run"
            log.info(
                "Send ledger: %s (try %d; once per %s)",
                ledger.store.describe(),
                ledger.scope.try_number,
                once_per,
            )
    async with open_sender(concurrency) as sender:
        engine = SendEngine(
            prepare=prepare,
            sender=sender,
            ledger=ledger,
            concurrency=concurrency,
            logger=log,
            **engine_options,
        )
        return await engine.run(rows)


def notification_purpose(context: Context | None) -> str:
    """Ledger scope of a task's notifications: apart from its own sends, once per try."""
    ti = context.get("ti") if context else None
    return f"notify:{getattr(ti, 'try_number', '')}"


def send_rows(**kwargs: Any) -> SendReport:
    """:func:`asend_rows` from sync code (an operator's ``execute``, a notifier's ``notify``)."""
    return run_blocking(lambda: asend_rows(**kwargs))


def recipient_rows(recipients: Iterable[str]) -> Iterator[Row]:
    return (Row(number, {"to": recipient}) for number, recipient in enumerate(recipients, start=1))


async def asend_each(
    *,
    context: Context | None,
    recipients: Sequence[str],
    prepare: Callable[[int, str], PreparedSend[Any]],
    publish: Callable[[SendReport], None] = lambda report: None,
    retryable: bool | None = None,
    **kwargs: Any,
) -> SendReport:
    """Send one message to each recipient (checked beforehand), then end as a single send ends:
    ``publish`` sees the report, and whoever is without the message is named in the error, which is
    retryable (``retryable``, default: inside a task run) only for recipients left unsent by outages."""
    try:
        report = await asend_rows(
            context=context, rows=recipient_rows(recipients), prepare=lambda row: prepare(row.number, row.values["to"]),
            concurrency=1, keep_results=True, **kwargs,  # one at a time: ids come back in the recipients' order
        )  # fmt: skip
    except SendStopped as stopped:
        publish(stopped.report)
        raise stopped.cause from None
    publish(report)
    raise_for_undelivered(
        report, retryable=bool(context and context.get("ti")) if retryable is None else retryable
    )
    return report


def send_each(**kwargs: Any) -> SendReport:
    """:func:`asend_each` from sync code."""
    return run_blocking(lambda: asend_each(**kwargs))


def push_sent(context: Context | None, report: SendReport) -> None:
    """XCom ``messages``: what the service said about each send this try made."""
    ti = context.get("ti") if context else None
    if ti is not None:
        ti.xcom_push(key="messages", value=[r.as_dict() for r in report.results or []])


def raise_for_undelivered(report: SendReport, *, retryable: bool) -> None:
    """End a single send or notification truthfully: name who was refused, not reached, or in doubt.

    A refusal no retry can mend, or a send whose outcome is unknown (it may have arrived), fails
    without retry. Recipients left unsent by rate limits or outages are ``retryable`` only when a
    task run's ledger will keep the others from getting the message twice.
    """
    refused = [f for f in report.failures if not f["retryable"]]
    unreached = [f for f in report.failures if f["retryable"]]
    if not (refused or unreached or report.unknown):
        return
    if report.rows == 1 and report.errors and not report.errors[0].retryable:
        raise report.errors[0]  # one recipient, refused: the service's own error says it all
    parts = [f"{report.accepted + report.already_sent} of {report.rows} recipient(s) have the message"]
    if refused:
        parts.append("refused: " + "; ".join(f"{f['to']}: {f['error']}" for f in refused))
    if unreached:
        parts.append("not sent, the service was unavailable: " + ", ".join(f["to"] for f in unreached))
    if report.unknown:
        parts.append(
            f"outcome unknown (the request left, no answer came; not resent so nobody gets it twice): "
            f"{', '.join(report.unknown_recipients)}"
        )
    text = ". ".join(parts) + "."
    nobody_has_it = report.accepted == report.already_sent == report.unknown == 0
    if unreached and (retryable or nobody_has_it):  # a retry cannot message anyone twice
        raise TransientError(text + " A retry of the task sends only to the recipients without the message.")
    if report.unknown or unreached:
        raise OutcomeUnknownError(text + " The task is not retried so nobody is messaged twice.")
    raise PermanentError(text)
