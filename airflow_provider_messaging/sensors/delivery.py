"""What every delivery sensor shares: the id list, the gate, the failure text and the XCom report.

Subclasses only say how to look at messages (``observe``): poll a service, or read the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from ..core.delivery import DeliveryGate

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..core.delivery import Observation


class DeliverySensor(BaseSensorOperator):
    """Succeeds when every message reached a success state; fails at once on a failure state."""

    def __init__(
        self,
        *,
        message_ids: str | Sequence[str],
        success_states: Sequence[str],
        failure_states: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.message_ids = message_ids
        self.success_states = tuple(success_states)
        self.failure_states = tuple(failure_states)
        self._observed: dict[str, Observation] = {}
        # Built here so that a misspelt state fails at DAG parse time, not an hour into a run.
        self.gate = DeliveryGate.of(self.success_states, self.failure_states)

    def observe(self, pending: list[str]) -> dict[str, Observation]:
        """The latest known state of each pending id (ids with nothing known yet may be left out)."""
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

    def poke(self, context: Context) -> PokeReturnValue:
        from ..core.delivery import failure_summary
        from ..core.errors import DeliveryFailedError
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            ids = self._ids()
            pending = [
                i for i in ids if i not in self._observed or not self.gate.is_settled(self._observed[i].state)
            ]
            if pending:
                self._observed.update(self.observe(pending))
            verdict = self.gate.evaluate(ids, self._observed)
            if verdict.failed:
                raise DeliveryFailedError(failure_summary(verdict.failed, len(ids)))
            states = {i: self._observed[i].state.value for i in ids if i in self._observed}
            self.log.info("States: %s; waiting for %d of %d", states, len(verdict.pending), len(ids))
            if not verdict.done:
                return PokeReturnValue(is_done=False)
            return PokeReturnValue(is_done=True, xcom_value={i: self._observed[i].as_dict() for i in ids})
