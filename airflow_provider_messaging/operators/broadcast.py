"""Broadcast operators: one message per row of a list, an XCom or a CSV file, paced and never twice.

Both services send through the one send engine (streaming, pacing, ledger, report); the classes
here only say how a row becomes a message and which sender sends it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from ..core.shards import Shard, shards
from ..hooks.signalwire import SignalWireHook, checked_rest_api
from ..hooks.whatsapp import WhatsAppHook
from .stopping import StopsSendsOnKill

__all__ = ["SignalWireBroadcastOperator", "WhatsAppTemplateBroadcastOperator", "shards"]

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from airflow.sdk import Context

    from ..core.engine import PreparedSend, Sender
    from ..core.report import SendReport
    from ..core.rows import Row
    from ..store.rate_budget import SharedRateBudget
    from ..whatsapp.messages import Media
    from ..whatsapp.sender import TemplateRows


class _BroadcastOperator(StopsSendsOnKill, BaseOperator):
    """What both broadcast operators share; see the service classes for the parameters."""

    service = ""
    default_rate: float | None = None

    def __init__(
        self,
        *,
        recipients: Iterable[Any] | str | None = None,
        csv_path: str | None = None,
        to_column: str = "to",
        rate: float | None = None,
        concurrency: int | None = None,
        on_unknown: str = "skip",
        force_resend: bool = False,
        progress_interval: float = 10.0,
        request_timeout: float = 30.0,
        pacing: bool = True,
        max_failed_fraction: float | None = None,
        dedupe_key: str | None = None,
        shard: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.shard = shard
        if max_failed_fraction is not None and not 0.0 <= max_failed_fraction <= 1.0:
            raise ValueError(
                f"max_failed_fraction must be between 0 and 1, e.g. 0.05, got {max_failed_fraction!r}"
            )
        self.max_failed_fraction = max_failed_fraction
        self.dedupe_key = dedupe_key
        if on_unknown not in ("skip", "resend"):
            raise ValueError(f"on_unknown must be 'skip' or 'resend', got {on_unknown!r}")
        self.recipients = recipients
        self.csv_path = csv_path
        self.to_column = to_column
        self.rate = rate
        self.concurrency = concurrency
        self.on_unknown = on_unknown
        self.force_resend = force_resend
        self.progress_interval = progress_interval
        self.request_timeout = request_timeout
        self.pacing = pacing

    # service faces fill these in
    def before_sending(self) -> None:
        """Checks that need the service, run once before the first send."""

    def prepare_row(self, row: Row) -> PreparedSend[Any]:
        raise NotImplementedError

    def open_sender(self, concurrency: int) -> AbstractAsyncContextManager[Sender[Any]]:
        raise NotImplementedError

    def sender_id(self) -> str:
        """The sending number (or id) whose rate budget the sends take; after ``before_sending``."""
        raise NotImplementedError

    def recipient(self, row: Row) -> str:
        from ..core.phone import normalize_e164

        return normalize_e164(row.values.get(self.to_column), f"{self.to_column} (row {row.number})")

    def _checked_recipient(self, row: Row) -> str:
        """:meth:`recipient`, read once per row although the shard filter and ``prepare_row`` ask."""
        cached = getattr(self, "_last_recipient", None)
        if cached is not None and cached[0] is row:
            if isinstance(cached[1], Exception):
                raise cached[1]
            return str(cached[1])
        try:
            value: str | Exception = self.recipient(row)
        except Exception as exc:
            value = exc
        self._last_recipient = (row, value)
        if isinstance(value, Exception):
            raise value
        return value

    def _rows_of_shard(self, rows: Iterable[Row], shard: Shard) -> Iterator[Row]:
        """The rows this shard sends: by recipient, so the split is the same on every try."""
        from ..core.errors import ValidationError

        for row in rows:
            try:
                mine = not row.problem and shard.owns(self._checked_recipient(row))
            except ValidationError:  # reported as invalid by one shard: by row number
                mine = shard.owns_row(row.number)
            else:
                mine = mine or (bool(row.problem) and shard.owns_row(row.number))
            if mine:
                yield row

    def _rate_budget(self, rate: float | None) -> SharedRateBudget | None:
        """Paced sends take their slots from the sender's budget in the status store, shared with
        every other shard and task sending from the same number."""
        if rate is None:
            return None
        from ..store.rate_budget import open_rate_budget

        return open_rate_budget(self.service, self.sender_id())

    @property
    def effective_rate(self) -> float | None:
        if not self.pacing:
            return None
        return self.rate if self.rate is not None else self.default_rate

    def execute(self, context: Context) -> list[str]:
        from ..core.engine import SendStopped
        from ..core.rows import count_rows, iter_rows
        from ..sending import send_rows
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            shard = Shard.of(self.shard)
            self.before_sending()
        rate = self.effective_rate
        # unpaced: 64 in flight; more sends per turn of the event loop and larger ledger groups
        # cost less CPU per message (measured, 8 -> 64: 0.73-0.92 -> 0.56-0.67 ms)
        concurrency = self.concurrency or (64 if rate is None else min(64, max(4, int(rate // 2))))
        try:
            total = count_rows(self.recipients, self.csv_path)
        except OSError as exc:
            raise FileNotFoundError(f"csv_path: cannot read {self.csv_path!r}: {exc}") from None
        self.log.info(
            "Broadcasting to %s row(s)%s at %s, %d at a time",
            "?" if total is None else total,
            f" ({shard}: the rows whose recipient falls to it)" if shard else "",
            "no rate limit" if rate is None else f"{rate:g} msg/s",
            concurrency,
        )
        rows: Iterable[Row] = iter_rows(self.recipients, self.csv_path, to_column=self.to_column)
        if shard is not None:
            rows = self._rows_of_shard(rows, shard)
            total = None if total is None else -(-total // shard.count)  # about: for the ETA
        budget = self._rate_budget(rate)
        if budget is not None:
            self.log.info(
                "Rate budget of %s shared through %s with every task sending from it",
                budget.sender, budget.store.describe(),
            )  # fmt: skip
        try:
            report = send_rows(
                context=context, service=self.service, rows=rows,
                prepare=self.prepare_row, open_sender=self.open_sender, concurrency=concurrency,
                on_unknown=self.on_unknown, force_resend=self.force_resend, dedupe_key=self.dedupe_key,
                rate=rate, total=total, rate_budget=budget,
                progress_interval=self.progress_interval, to_column=self.to_column, log=self.log,
            )  # fmt: skip
        except SendStopped as stopped:
            self._publish(context, stopped.report)
            with fail_permanently_on_permanent_errors():
                raise stopped.cause from None
        except BaseException as exc:
            if isinstance(exc.__cause__, SendStopped):  # the task timed out mid-send: say what was sent
                self._publish(context, exc.__cause__.report)
            raise
        finally:
            if budget is not None:
                budget.close()
        self._publish(context, report)
        self._judge(report)
        return report.message_ids

    def _judge(self, report: SendReport) -> None:
        """Fail the task when too many rows were not reached: retryably when a retry can reach them."""
        attempted = report.accepted + report.already_sent + report.failed + report.unknown
        unreached = report.failed + report.unknown
        if not attempted or not unreached:
            return
        limit = self.max_failed_fraction
        too_many = (
            unreached / attempted > limit if limit is not None else report.accepted + report.already_sent == 0
        )
        if report.retryable_failed:
            from airflow.sdk.exceptions import AirflowException

            raise AirflowException(
                f"{report.retryable_failed} recipient(s) could not be sent to because the service was "
                "unavailable or kept rate limiting; a retry of this task sends only to them (the ledger "
                "skips everyone already sent)."
            )
        if too_many:
            from airflow.sdk.exceptions import AirflowFailException

            codes = ", ".join(f"{code} x{n}" for code, n in report.failed_by_code.most_common()) or "none"
            allowed = "none reached" if limit is None else f"more than {limit:.0%} allowed"
            raise AirflowFailException(
                f"{unreached} of {attempted} recipient(s) were not reached ({allowed}): {report.failed} refused "
                f"(error codes: {codes}), {report.unknown} with an unknown outcome. XCom 'report' lists them."
            )

    def _publish(self, context: Context, report: SendReport) -> None:
        self.log.info("Broadcast done: %s", report.summary())
        if report.failed_by_code:
            self.log.info("Failed by error code: %s", dict(report.failed_by_code))
        if report.unknown:
            self.log.warning(
                "%d send(s) have an unknown outcome and were not resent (XCom 'report' lists them); "
                "check the service's message log, or rerun with on_unknown='resend'",
                report.unknown,
            )
        ti = context.get("ti") if context else None
        if ti is not None:
            ti.xcom_push(key="report", value=report.as_xcom())


class SignalWireBroadcastOperator(_BroadcastOperator):
    """Send an SMS/MMS to every row of a list, an XCom or a CSV file, at the sender's rate, once each.

    Each row is a number or a mapping with a ``to`` column and any columns the body uses: ``body``
    may hold ``{column}`` placeholders, e.g. ``"Hi {name}, your code is {code}"`` (Jinja templating
    runs first, once for the task). Rows with a bad number, a missing column or a body over 1,600
    characters are reported and skipped; the others are sent.

    Sends are paced to ``rate`` messages per second (default 4, the US 10DLC per-number rate;
    SignalWire queues what goes over the account's MPS, up to 10,000 messages). Every accepted
    send is recorded in the send ledger, so a retry of the task sends only to the rest; a request
    whose outcome is unknown (sent, no answer) is not resent unless ``on_unknown="resend"``.

    Returns (XCom ``return_value``) the message ids, for
    :class:`~airflow_provider_messaging.sensors.signalwire.SignalWireMessageSensor`; XCom ``report``
    holds the counts (accepted, already sent, invalid, failed by error code, unknown) and examples.

    :param recipients: numbers or row mappings: a list, a comma-separated string or an XCom.
    :param csv_path: a CSV file with a header line, read row by row (instead of ``recipients``).
    :param body: the text, with optional ``{column}`` placeholders.
    :param media_urls: up to 8 http(s) URLs (MMS); placeholders allowed too.
    :param from_number: the sender; defaults to the connection's "Default From number".
    :param status_callback: URL SignalWire calls on every status change (default: the connection's
        Status callback URL).
    :param api: ``"rest"`` (default: the Compatibility REST API) or ``"native"`` (SignalWire's own
        Messaging API; gate its messages with ``SignalWireMessageSensor(source="store")``).
    :param custom_variables: up to 20 text pairs echoed in every status callback; ``api="native"`` only.
    :param to_column: the column holding the number (default ``to``).
    :param rate: messages per second for this sender (up to 1,000).
    :param concurrency: requests in flight at once (default: half the rate, 4 to 64; 64 with
        ``pacing=False``).
    :param on_unknown: ``"skip"`` (default) or ``"resend"`` sends whose outcome an earlier try lost.
    :param force_resend: send again to recipients an earlier try already sent to.
    :param progress_interval: seconds between progress lines in the task log.
    :param request_timeout: seconds to wait for each answer; a send with no answer in time is
        recorded as outcome unknown and not resent.
    :param pacing: False sends as fast as ``concurrency`` allows (a sandbox, a benchmark); a 429
        still pauses every sender.
    :param max_failed_fraction: the share of rows that may go unreached (refused, or outcome
        unknown) before the task fails without retry, e.g. ``0.05``; by default the task fails only
        when no row was reached at all. Invalid rows do not count; rows left unsent by outages fail
        the task retryably whatever this says.
    :param dedupe_key: send each recipient a given message once per key, across runs: e.g.
        ``"week-{{ macros.datetime.now().strftime('%G-W%V') }}"`` keeps a manual run beside the
        scheduled one from messaging the same people again that week. By default the key is the task run.
    :param shard: ``(index, count)``: send only this shard's rows, for a broadcast split over several
        workers by dynamic task mapping: ``.partial(...).expand(shard=shards(4))``. Rows go to shards
        by recipient, the same way on every try. Paced sends of all shards (and of any other
        broadcast from the same number) share the sender's rate through the status store.
    """

    service = "signalwire"
    default_rate = 4.0
    template_fields: Sequence[str] = (
        "recipients", "csv_path", "body", "media_urls", "from_number", "status_callback", "signalwire_conn_id",
        "custom_variables",
        "dedupe_key",
    )  # fmt: skip
    template_fields_renderers = {"body": "txt", "recipients": "json"}
    ui_color = "#f0e4ec"

    def __init__(
        self,
        *,
        body: str | None = None,
        media_urls: Sequence[str] | None = None,
        from_number: str | None = None,
        status_callback: str | None = None,
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        api: str = "rest",
        custom_variables: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.api = checked_rest_api(api, custom_variables)
        self.custom_variables = custom_variables
        self.body = body
        self.media_urls = media_urls
        self.from_number = from_number
        self.status_callback = status_callback
        self.signalwire_conn_id = signalwire_conn_id
        self._sender = ""

    def before_sending(self) -> None:
        from ..core.errors import ValidationError
        from ..signalwire.sender import checked_sender

        if not self.body and not self.media_urls:
            raise ValidationError("body", "neither a body nor media_urls given", "Pass body= or media_urls=")
        self.hook = SignalWireHook(signalwire_conn_id=self.signalwire_conn_id, timeout=self.request_timeout)
        self._sender = checked_sender(
            self.from_number or self.hook.credentials.from_number, self.signalwire_conn_id
        )

    def prepare_row(self, row: Row) -> PreparedSend[Any]:
        from ..core.rows import fill
        from ..signalwire.sender import Sms
        from ..signalwire.sms import validate_content

        to = self._checked_recipient(row)
        body = fill(self.body, row.values, "body", row.number) if self.body else None
        media = [fill(url, row.values, "media_urls", row.number) for url in self.media_urls or ()]
        return Sms(self._sender, *validate_content(body, media)).to(row.number, to)

    def sender_id(self) -> str:
        return self._sender

    def open_sender(self, concurrency: int) -> AbstractAsyncContextManager[Sender[Any]]:
        if self.api == "native":
            return self.hook.native_sender(concurrency, self.status_callback, self.custom_variables)
        return self.hook.rest_sender(concurrency, self.status_callback)


class WhatsAppTemplateBroadcastOperator(_BroadcastOperator):
    """Send an approved WhatsApp template to every row of a list, an XCom or a CSV file, once each.

    Each row is a recipient (a phone number or a business-scoped user id such as
    ``US.13491208655302741918``) or a mapping with a ``to`` column and the row's parameters:

    - a ``parameters`` value (a list for positional templates, a mapping for named ones), as in
      rows from an XCom; or
    - columns: ``parameter_columns=["name", "amount"]`` takes positional parameters from those
      columns; for a named template the columns named after its parameters are used by default;
    - optional ``template_name`` and ``language`` columns send another template to that row.

    Before the first send (with a WABA id on the connection) the template is checked: it exists,
    is APPROVED, and each row's parameters match it; a row that does not match is reported and
    skipped, a missing or paused template stops the task before anything is sent.

    Pacing: ``rate`` messages per second (default 80, WhatsApp's standard throughput per number;
    up to 1,000) and at most one message per 6 seconds to the same user (the pair rate limit).

    Returns the wamids (XCom ``return_value``), for
    :class:`~airflow_provider_messaging.sensors.whatsapp.WhatsAppMessageSensor`; XCom ``report``
    holds the counts. Retries send only to recipients not yet sent (the send ledger).

    :param recipients: numbers or row mappings: a list, a comma-separated string or an XCom.
    :param csv_path: a CSV file with a header line, read row by row (instead of ``recipients``).
    :param template_name: the template's name.
    :param language: its language code, exactly as approved (``en_US``, ``de``...).
    :param parameter_columns: the columns giving positional parameters, in order; or a mapping from
        parameter name to column for named templates.
    :param header_text: the header's text parameter; ``{column}`` placeholders allowed.
    :param header_media: a media header, e.g. ``{"type": "document", "link": "https://.../a.pdf"}``.
    :param media_path: the media header's file instead (a local path, an ``ObjectStoragePath`` or
        its URL): uploaded once, after the template check, and sent by the same media id to every row.
    :param media_kind: the header's kind when the file's type does not say it.
    :param buttons: button parameters, e.g. ``[{"sub_type": "url", "index": 0, "value": "{order}"}]``.
    :param check_template: set False to skip the pre-flight check.
    :param correlation_id: ``biz_opaque_callback_data``; by default names the DAG, run and task.

    ``to_column``, ``rate``, ``concurrency``, ``on_unknown``, ``force_resend``,
    ``progress_interval``, ``request_timeout``, ``pacing``, ``max_failed_fraction``, ``dedupe_key``
    and ``shard`` work as for :class:`SignalWireBroadcastOperator`.
    """

    service = "whatsapp"
    default_rate = 80.0
    template_fields: Sequence[str] = (
        "recipients", "csv_path", "template_name", "language", "parameter_columns", "header_text",
        "header_media", "media_path", "buttons", "correlation_id", "whatsapp_conn_id", "dedupe_key",
    )  # fmt: skip
    template_fields_renderers = {"recipients": "json", "header_media": "json", "buttons": "json"}
    ui_color = "#dcf8c6"

    def __init__(
        self,
        *,
        template_name: str,
        language: str,
        parameter_columns: Sequence[str] | Mapping[str, str] | None = None,
        header_text: str | None = None,
        header_media: Mapping[str, Any] | None = None,
        media_path: Any = None,
        media_kind: str | None = None,
        buttons: Sequence[Mapping[str, Any]] = (),
        check_template: bool = True,
        correlation_id: str | None = None,
        whatsapp_conn_id: str = WhatsAppHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.template_name = template_name
        self.language = language
        self.parameter_columns = parameter_columns
        self.header_text = header_text
        self.header_media = header_media
        self.media_path = media_path
        self.media_kind = media_kind
        self.buttons = buttons
        self.check_template = check_template
        self.correlation_id = correlation_id
        self.whatsapp_conn_id = whatsapp_conn_id
        self._correlation: str | None = None

    def execute(self, context: Context) -> list[str]:
        from .whatsapp import default_correlation

        self._correlation = self.correlation_id or default_correlation(context)
        return super().execute(context)

    def before_sending(self) -> None:
        from ..core.errors import ValidationError
        from ..hooks.whatsapp import storage_path
        from ..whatsapp.media import TEMPLATE_HEADER_KINDS, media_file
        from ..whatsapp.sender import TemplateRows
        from ..whatsapp.templates import check_template, find_template

        media = None
        if self.media_path is not None:
            if self.header_media:
                raise ValidationError(
                    "media_path", "both media_path and header_media given", "A template has one header"
                )
            media = media_file(storage_path(self.media_path), self.media_kind, allowed=TEMPLATE_HEADER_KINDS)
        self.hook = WhatsAppHook(whatsapp_conn_id=self.whatsapp_conn_id, timeout=self.request_timeout)
        templates = None
        if not self.check_template:
            pass
        elif not self.hook.credentials.waba_id:
            self.log.warning(
                "No WABA id on connection %r: templates are not checked before sending", self.whatsapp_conn_id
            )
        else:
            found = self.hook.templates()
            self.hook.close()
            templates = {(t.name, t.language): t for t in found}
            info = find_template(found, self.template_name, self.language)  # missing: stop before sending
            if info.status != "APPROVED":
                from ..whatsapp.messages import Template

                check_template(Template(info.name, info.language), info)  # raises: names the status
            self.log.info("Template %s (%s) is %s", info.name, info.language, info.status)
            if media is not None and info.header_kind() != media.kind:  # before the upload, not per row
                raise ValidationError(
                    "media_path", f"template {info.name!r} needs a {info.header_kind() or 'no'} header, "
                    f"and {media.filename} is sent as {media.kind}", "Pass the file its header takes",
                )  # fmt: skip
        header: Mapping[str, Any] | Media | None = self.header_media
        if media is not None:
            header = self.hook.upload(media)  # one upload, sent by its id to every row
            self.hook.close()
        self._rows: TemplateRows = TemplateRows(
            self.template_name, self.language, parameter_columns=self.parameter_columns,
            header_text=self.header_text, header_media=header, buttons=self.buttons, templates=templates,
        )  # fmt: skip

    def recipient(self, row: Row) -> str:
        from ..whatsapp.recipients import whatsapp_recipient

        return whatsapp_recipient(row.values.get(self.to_column), f"{self.to_column} (row {row.number})")

    def prepare_row(self, row: Row) -> PreparedSend[Any]:
        return self._rows.prepare(row, self._checked_recipient(row))

    def sender_id(self) -> str:
        return str(self.hook.credentials.phone_number_id)

    def open_sender(self, concurrency: int) -> AbstractAsyncContextManager[Sender[Any]]:
        return self.hook.message_sender(concurrency, callback_data=self._correlation)
