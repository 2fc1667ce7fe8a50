"""What every delivery sensor shares: the id list, the gate, poke and deferrable modes, the report.

Subclasses say how to look at messages in poke mode (``observe``) and which trigger does the same
in deferrable mode (``trigger``); both feed one :class:`~airflow_provider_messaging.core.delivery.DeliveryTracker`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from ..core.delivery import DeliveryGate

TRIGGER_TIMEOUT_GRACE = 120  # seconds the deferral outlives the trigger's own timeout

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..core.delivery import DeliveryTracker, Observation
    from ..store.liveness import SilenceWatch
    from ..store.store import MessageStore
    from ..triggers.delivery import DeliveryTrigger


class DeliverySensor(BaseSensorOperator):
    """Succeeds when every message reached a success state; fails at once on a failure state.

    :param min_success_fraction: the share of messages that must succeed (default 1.0: all); the
        sensor fails as soon as too many failed for that share to be reached.
    :param deferrable: wait in the triggerer instead of holding a worker slot (default
        ``[operators] default_deferrable``). ``timeout`` applies in both modes.
    :param poll_interval: seconds between looks in deferrable mode (poke mode uses ``poke_interval``).
    :param on_timeout: ``"fail"`` (default) or ``"pass_if_sent"``: when ``timeout`` is reached,
        count messages that reached ``sent`` as successes (SignalWire MMS and Relay sends may never
        get a delivery receipt) and pass if that makes the required share.
    :param send_report: the report of the send being gated (a broadcast's XCom ``report``). When
        ``message_ids`` is a broadcast's output it is read from that task by itself: the gate then
        judges everyone the broadcast tried to reach, counting the recipients it refused or could
        not be sure of as failures, not only the messages whose ids came back.
    :param receiver_grace: sensors that read the status store: seconds after which, if none of the
        messages has a status yet, the task log says why (no webhook receiver writes to this store,
        or its callback URL is wrong) and what to check (default 300).
    :param fail_without_receiver: fail at that point, instead of waiting out ``timeout``, when no
        webhook receiver has written to this store recently (default False).

    The return value (XCom) is a report: ``outcome``, ``counts`` per state, ``succeeded`` and
    ``required``, ``failed`` (each failed message with its error code) and ``messages`` (every id
    with its state, recipient and error).
    """

    def __init__(
        self,
        *,
        message_ids: str | Sequence[str],
        success_states: Sequence[str],
        failure_states: Sequence[str],
        min_success_fraction: float = 1.0,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 10.0,
        on_timeout: str = "fail",
        send_report: dict[str, Any] | None = None,
        receiver_grace: float = 300.0,
        fail_without_receiver: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.send_report = send_report
        self.receiver_grace = receiver_grace
        self.fail_without_receiver = fail_without_receiver
        self._silence: SilenceWatch | None = None
        self._wait_began: float | None = None
        # message_ids=broadcast.output: the broadcast's own report says whom it did not reach
        source = (
            getattr(message_ids, "operator", None)
            if getattr(message_ids, "key", None) == "return_value"
            else None
        )
        self.send_task_id: str | None = getattr(source, "task_id", None)
        if on_timeout not in ("fail", "pass_if_sent"):
            raise ValueError(f"on_timeout must be 'fail' or 'pass_if_sent', got {on_timeout!r}")
        self.on_timeout = on_timeout
        self.message_ids = message_ids
        self.success_states = tuple(success_states)
        self.failure_states = tuple(failure_states)
        self.deferrable = deferrable
        self.poll_interval = poll_interval
        self._tracker: DeliveryTracker | None = None
        # Built here so that a misspelt state fails at DAG parse time, not an hour into a run.
        self.min_success_fraction = min_success_fraction
        self.gate = DeliveryGate.of(self.success_states, self.failure_states, min_success_fraction)

    def observe(self, pending: list[str]) -> dict[str, Observation]:
        """The latest known state of each pending id (ids with nothing known yet may be left out)."""
        raise NotImplementedError

    def trigger(self, message_ids: list[str], timeout_at: float | None) -> DeliveryTrigger:
        raise NotImplementedError

    def receiver_store(self) -> tuple[str, MessageStore] | None:
        """Sensors fed by the webhook receiver: its service and the store it should write to."""
        return None

    def trigger_kwargs(self, message_ids: list[str], timeout_at: float | None) -> dict[str, Any]:
        """What every trigger takes from its sensor."""
        return {
            "message_ids": message_ids,
            "success_states": self.success_states,
            "failure_states": self.failure_states,
            "poll_interval": self.poll_interval,
            "min_success_fraction": self.min_success_fraction,
            "timeout_at": timeout_at,
            "on_timeout": self.on_timeout,
            "send_report": self.send_report,
            "receiver_grace": self.receiver_grace,
            "fail_without_receiver": self.fail_without_receiver,
            "wait_began": self._wait_began,
        }

    def _read_send_report(self, context: Context) -> None:
        """The report of the send task that gave ``message_ids``, when there is one (broadcasts)."""
        from ..core.delivery import compact_report

        report: Any = self.send_report
        if report is None and self.send_task_id and context and context.get("ti"):
            report = context["ti"].xcom_pull(task_ids=self.send_task_id, key="report")
        if isinstance(report, (list, tuple)):  # a mapped broadcast: one report per shard
            from ..core.report import merge_reports

            report = merge_reports(report)
        if report is not self.send_report:  # pulled or merged here: keep what a gate needs
            self.send_report = compact_report(report)
        if self.send_report:
            self.log.info(
                "The gated send did not reach %s recipient(s) (refused or outcome unknown); they count as failed",
                int(self.send_report.get("failed") or 0) + int(self.send_report.get("unknown") or 0),
            )

    def _ids(self) -> list[str]:
        from ..core.errors import ValidationError

        ids = [self.message_ids] if isinstance(self.message_ids, str) else list(self.message_ids or [])
        # a mapped broadcast's output: one list of ids per shard
        ids = [i for item in ids for i in (item if isinstance(item, (list, tuple)) else [item])]
        ids = [str(i).strip() for i in ids if i is not None and str(i).strip()]
        if not ids and not self.send_report:  # a send that reached nobody is judged by its report
            raise ValidationError(
                "message_ids",
                "no message id given",
                "Pass the XCom of the send task, e.g. `message_ids=send.output`",
            )
        return list(dict.fromkeys(ids))

    def _tracker_for(self, ids: list[str]) -> DeliveryTracker:
        from ..core.delivery import DeliveryTracker

        if self._tracker is None or self._tracker.message_ids != ids:
            self._tracker = DeliveryTracker(ids, self.gate, self.send_report)
        return self._tracker

    def poke(self, context: Context) -> PokeReturnValue:
        from ..core.delivery import failure_summary
        from ..core.errors import DeliveryFailedError
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            tracker = self._tracker_for(self._ids())
            pending = tracker.pending()
            if pending:
                tracker.update(self.observe(pending))
            verdict = tracker.verdict()
            if verdict.gate_failed:
                raise DeliveryFailedError(failure_summary(verdict.failed, tracker.total, verdict.required))
            if not verdict.done:
                self._speak_of_silence(tracker)
            self.log.info(
                "%d of %d settled %s; %d succeeded, %d needed",
                tracker.total - len(verdict.pending), tracker.total, tracker.counts(),
                verdict.succeeded_count, verdict.required,
            )  # fmt: skip
            if not verdict.done:
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=tracker.report(verdict))

    def _speak_of_silence(self, tracker: DeliveryTracker) -> None:
        """After the grace period with nothing heard, say why (and fail if the user asked to)."""
        from airflow.sdk.exceptions import AirflowFailException

        from ..store.liveness import SilenceWatch, explain_silence

        fed = self.receiver_store()
        if fed is None:
            return
        if self._silence is None:
            self._silence = SilenceWatch(self._wait_began or time.time(), self.receiver_grace)
        if not self._silence.due(tracker):
            return
        service, store = fed
        silence = explain_silence(
            store, service, len(tracker.pending()), time.time() - self._silence.wait_began
        )
        if silence.no_receiver and self.fail_without_receiver:
            raise AirflowFailException(f"{silence.message}. Failing now because fail_without_receiver=True")
        self.log.warning("%s", silence.message)

    def _wait_start(self, context: Context) -> float:
        """When this wait began: in reschedule mode, at the first of its reschedules."""
        ti = context.get("ti") if context else None
        if self.reschedule and ti is not None:
            with contextlib.suppress(Exception):  # no reschedule yet, or a context without the API
                first = ti.get_first_reschedule_date(context)
                if first is not None:
                    return float(first.timestamp())
        return time.time()

    def execute(self, context: Context) -> Any:
        from airflow.sdk.exceptions import AirflowSensorTimeout

        self._wait_began = self._wait_start(context)
        self._read_send_report(context)
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout:
                return self._timed_out()
        first = self.poke(context)  # often already settled: no need to defer
        if first.is_done:
            return first.xcom_value
        # The trigger ends the wait itself at the timeout (so on_timeout can decide); the deferral
        # timeout is a backstop in case the triggerer is not running.
        self.defer(
            trigger=self.trigger(self._ids(), time.time() + self.timeout),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout + TRIGGER_TIMEOUT_GRACE),
        )

    def _timed_out(self) -> dict[str, Any]:
        """Poke or reschedule mode: time is up; look once more, then pass or fail per on_timeout."""
        from airflow.sdk.exceptions import AirflowSensorTimeout

        tracker = self._tracker_for(self._ids())
        pending = tracker.pending()
        if pending:
            tracker.update(self.observe(pending))
        verdict = tracker.on_timeout(self.on_timeout == "pass_if_sent")
        if not verdict.passed:
            raise AirflowSensorTimeout(tracker.timeout_summary(verdict))
        self.log.warning("%s; passing because on_timeout='pass_if_sent'", tracker.timeout_summary(verdict))
        return tracker.report(verdict)

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout

        report: dict[str, Any] = event.get("report") or {}
        status = event.get("status")
        if status == "timeout":
            raise AirflowSensorTimeout(event.get("message") or "delivery gate timed out")
        if status != "success":
            raise AirflowFailException(event.get("message") or f"delivery gate failed: {event}")
        if report.get("outcome") == "passed_on_timeout":
            self.log.warning("%s; passing because on_timeout='pass_if_sent'", event.get("message"))
        self.log.info("Delivery gate passed: %s", report.get("counts"))
        return report
