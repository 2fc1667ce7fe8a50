"""What every delivery sensor shares: the id list, the gate, poke and deferrable modes, the report.

Subclasses say how to look at messages in poke mode (``observe``) and which trigger does the same
in deferrable mode (``trigger``); both feed one :class:`~airflow_provider_messaging.core.delivery.DeliveryTracker`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue, conf

from ..core.delivery import DeliveryGate

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..core.delivery import DeliveryTracker, Observation
    from ..triggers.delivery import DeliveryTrigger


class DeliverySensor(BaseSensorOperator):
    """Succeeds when every message reached a success state; fails at once on a failure state.

    :param min_success_fraction: the share of messages that must succeed (default 1.0: all); the
        sensor fails as soon as too many failed for that share to be reached.
    :param deferrable: wait in the triggerer instead of holding a worker slot (default
        ``[operators] default_deferrable``). ``timeout`` applies in both modes.
    :param poll_interval: seconds between looks in deferrable mode (poke mode uses ``poke_interval``).
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
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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

    def trigger(self, message_ids: list[str]) -> DeliveryTrigger:
        raise NotImplementedError

    def _ids(self) -> list[str]:
        from ..core.errors import ValidationError

        ids = [self.message_ids] if isinstance(self.message_ids, str) else list(self.message_ids or [])
        ids = [str(i).strip() for i in ids if str(i).strip()]
        if not ids:
            raise ValidationError(
                "message_ids",
                "no message id given",
                "Pass the XCom of the send task, e.g. `message_ids=send.output`",
            )
        return list(dict.fromkeys(ids))

    def _tracker_for(self, ids: list[str]) -> DeliveryTracker:
        from ..core.delivery import DeliveryTracker

        if self._tracker is None or self._tracker.message_ids != ids:
            self._tracker = DeliveryTracker(ids, self.gate)
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
                raise DeliveryFailedError(
                    failure_summary(verdict.failed, len(tracker.message_ids), verdict.required)
                )
            counts = dict(sorted(Counter(tracker.states().values()).items()))
            self.log.info(
                "%d of %d settled %s; %d succeeded, %d needed",
                len(tracker.message_ids) - len(verdict.pending), len(tracker.message_ids), counts,
                verdict.succeeded_count, verdict.required,
            )  # fmt: skip
            if not verdict.done:
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value=tracker.report())

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        first = self.poke(context)  # often already settled: no need to defer
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=self.trigger(self._ids()),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        if event.get("status") != "success":
            raise AirflowFailException(event.get("message") or f"delivery gate failed: {event}")
        states: dict[str, Any] = event.get("states") or {}
        self.log.info("Delivered: %s", {k: v.get("state") for k, v in states.items()})
        return states
