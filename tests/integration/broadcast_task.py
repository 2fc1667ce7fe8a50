"""One try of a broadcast task in a process of its own, so a test can SIGKILL or SIGTERM it mid-run.

SIGTERM calls the operator's ``on_kill``, as Airflow's task runner does in a task process.

Usage: ``python -m tests.integration.broadcast_task TRY_NUMBER CSV_PATH RATE|none [TIMEOUT [INDEX/COUNT]]``
(the last: one shard of a mapped broadcast, run as map index INDEX); the connection and the store
come from the environment, as on a worker. Prints the report as JSON.
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any

from airflow_provider_messaging.operators.broadcast import SignalWireBroadcastOperator


class TaskInstance:
    dag_id, task_id, run_id, map_index = "chaos", "broadcast", "manual__1", -1

    def __init__(self, try_number: int, map_index: int = -1) -> None:
        self.try_number = try_number
        self.map_index = map_index
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def main(
    try_number: int, csv_path: str, rate: float | None, timeout: float = 30.0, shard: str | None = None
) -> None:
    ti = TaskInstance(try_number, int(shard.split("/")[0]) if shard else -1)
    operator = SignalWireBroadcastOperator(
        task_id="broadcast",
        csv_path=csv_path,
        body="Hi {name}, your code is {code}",
        rate=rate,
        pacing=rate is not None,
        concurrency=32,
        request_timeout=timeout,
        progress_interval=1.0,
        shard=shard,
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: operator.on_kill())
    try:
        operator.execute({"ti": ti})  # type: ignore[typeddict-item]
    finally:
        print("REPORT " + json.dumps(ti.xcom.get("report")), flush=True)


if __name__ == "__main__":
    rate = None if sys.argv[3] == "none" else float(sys.argv[3])
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 30.0
    main(int(sys.argv[1]), sys.argv[2], rate, timeout, sys.argv[5] if len(sys.argv) > 5 else None)
