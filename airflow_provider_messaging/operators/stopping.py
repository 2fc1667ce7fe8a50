"""What a send operator does when Airflow stops its task mid-send."""

from __future__ import annotations


class StopsSendsOnKill:
    """``on_kill``: Airflow calls it on SIGTERM (the task was marked failed or cleared while it
    ran, or its worker is shutting down). The sends under way finish and are recorded, no further
    request leaves, and the task fails with what was sent; a retry sends only to the rest.
    (A timeout needs no hook: ``execution_timeout`` stops the sends the same way.)"""

    def on_kill(self) -> None:
        from ..core.engine import interrupt_sends

        interrupt_sends("the task was asked to stop (SIGTERM)")
