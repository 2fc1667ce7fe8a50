"""Wait until SignalWire messages reach a delivered (or failed) state."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from ..core.delivery import DeliveryGate
from ..hooks.signalwire import SignalWireHook

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..core.delivery import Observation


class SignalWireMessageSensor(BaseSensorOperator):
    """Gate a pipeline on the delivery of SignalWire messages, polling their status over REST.

    Succeeds when every message reached one of ``success_states`` and returns (XCom) a mapping of
    message id to its final state, status and error code. Fails without retry as soon as one
    message reaches one of ``failure_states``, naming the service's error code and what it means.

    Carriers do not always report delivery, and MMS never gets a delivery receipt: to gate MMS,
    use ``success_states=("sent",)``.

    :param message_ids: one message id or a list (e.g. the XCom of
        :class:`~airflow_provider_messaging.operators.signalwire.SignalWireSendMessageOperator`).
    :param success_states: states that count as success (``queued``, ``sent``, ``delivered``).
    :param failure_states: states that fail the task (default ``failed``, ``undelivered``).
    :param signalwire_conn_id: the SignalWire connection to use.
    """

    template_fields: Sequence[str] = ("message_ids", "signalwire_conn_id")
    ui_color = "#e4ecf0"

    def __init__(
        self,
        *,
        message_ids: str | Sequence[str],
        success_states: Sequence[str] = ("delivered",),
        failure_states: Sequence[str] = ("failed", "undelivered"),
        signalwire_conn_id: str = SignalWireHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.message_ids = message_ids
        self.success_states = tuple(success_states)
        self.failure_states = tuple(failure_states)
        self.signalwire_conn_id = signalwire_conn_id
        self._observed: dict[str, Observation] = {}
        # Built here so that a misspelt state fails at DAG parse time, not an hour into a run.
        self.gate = DeliveryGate.of(self.success_states, self.failure_states)

    @cached_property
    def hook(self) -> SignalWireHook:
        return SignalWireHook(signalwire_conn_id=self.signalwire_conn_id)

    def _ids(self) -> list[str]:
        from ..core.errors import ValidationError

        ids = [self.message_ids] if isinstance(self.message_ids, str) else list(self.message_ids or [])
        ids = [str(i).strip() for i in ids if str(i).strip()]
        if not ids:
            raise ValidationError(
                "message_ids",
                "no message id given",
                "Pass the XCom of the send task, e.g. \"{{ ti.xcom_pull('send') }}\"",
            )
        return list(dict.fromkeys(ids))

    def poke(self, context: Context) -> PokeReturnValue:
        from ..core.delivery import failure_summary
        from ..core.errors import DeliveryFailedError, TransientError
        from ..task_errors import fail_permanently_on_permanent_errors

        with fail_permanently_on_permanent_errors():
            ids = self._ids()
            for message_id in ids:
                known = self._observed.get(message_id)
                if known is not None and self.gate.is_settled(known.state):
                    continue
                try:
                    self._observed[message_id] = self.hook.client.fetch_message(message_id).observation()
                except TransientError as exc:
                    self.log.warning("Could not fetch %s this time (%s); will look again", message_id, exc)
            verdict = self.gate.evaluate(ids, self._observed)
            if verdict.failed:
                raise DeliveryFailedError(failure_summary(verdict.failed, len(ids)))
            states = {i: self._observed[i].state.value for i in ids if i in self._observed}
            self.log.info("States: %s; waiting for %d of %d", states, len(verdict.pending), len(ids))
            if not verdict.done:
                return PokeReturnValue(is_done=False)
            self.hook.close()
            return PokeReturnValue(is_done=True, xcom_value={i: self._observed[i].as_dict() for i in ids})
