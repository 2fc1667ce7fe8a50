"""What both notifiers share: the connection read in the caller's thread, then the one send path."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

if TYPE_CHECKING:
    from airflow.sdk import Context

    from ..hooks.base import MessagingHook


class MessagingNotifier(BaseNotifier):
    """Subclasses build their hook and send; ``notify`` and ``async_notify`` differ only in how they
    read the connection (task callbacks run ``notify``, deadline alerts in the triggerer ``async_notify``)."""

    def make_hook(self) -> MessagingHook[Any, Any, Any]:
        raise NotImplementedError

    async def send(self, context: Context, hook: Any) -> None:
        raise NotImplementedError

    def notify(self, context: Context) -> None:
        from ..core.engine import run_blocking

        with self._said_when_it_fails():
            hook = self.make_hook()
            hook.credentials  # noqa: B018 - read here, in the caller's thread, where the connection API is
            run_blocking(lambda: self.send(context, hook))

    async def async_notify(self, context: Context) -> None:
        with self._said_when_it_fails():
            hook = self.make_hook()
            await hook.aget_credentials()
            await self.send(context, hook)

    @contextmanager
    def _said_when_it_fails(self) -> Iterator[None]:
        """Airflow reports a failed callback only as "Failed to run task callback": say why first."""
        from ..core.errors import MessagingError

        try:
            yield
        except MessagingError as exc:
            self.log.error("%s: the notification was not sent: %s", type(self).__name__, exc)
            raise
