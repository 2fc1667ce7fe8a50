"""One try of a broadcast task in a process of its own, so a test can SIGKILL it mid-run.

Usage: ``python -m tests.integration.broadcast_task TRY_NUMBER CSV_PATH RATE|none [TIMEOUT]``; the
connection and the store come from the environment, as on a worker. Prints the report as JSON.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator


class TaskInstance:
    dag_id, task_id, run_id, map_index = "chaos", "broadcast", "manual__1", -1

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def main(try_number: int, csv_path: str, rate: float | None, timeout: float = 30.0) -> None:
    ti = TaskInstance(try_number)
    operator = SignalWireBroadcastOperator(
        task_id="broadcast",
        csv_path=csv_path,
        body="Hi {name}, your code is {code}",
        rate=rate,
        pacing=rate is not None,
        concurrency=32,
        request_timeout=timeout,
        progress_interval=1.0,
    )
    try:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    finally:
        print("REPORT " + json.dumps(ti.xcom.get("report")), flush=True)


if __name__ == "__main__":
    rate = None if sys.argv[3] == "none" else float(sys.argv[3])
    main(int(sys.argv[1]), sys.argv[2], rate, *(float(a) for a in sys.argv[4:5]))
