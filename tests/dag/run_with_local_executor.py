"""Run a DAG file's ``dag`` with ``dag.test(use_executor=True)`` and print its final state.

Usage: ``python -m tests.dag.run_with_local_executor path/to/dag_file.py ['{"run": "conf"}']``

A deferred task waits for a triggerer that runs beside it (``dag.test`` runs none in this mode).

Airflow's ``LocalExecutor.end()`` sends one stop message per live worker and then joins each
without a time limit. Now and then one forked worker misses its stop message and sits idle
forever, so ``dag.test`` never returns although every task has finished. Here the join is bounded
and a worker still idle after it is terminated; the DAG run's outcome is unaffected.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any


def _end_with_bounded_join(self: Any, join_seconds: float = 15.0) -> None:
    for proc in self.workers.values():
        if proc.is_alive():
            self.activity_queue.put(None)
    for proc in self.workers.values():
        proc.join(join_seconds)
        if proc.is_alive():
            print(f"worker {proc.pid} missed its stop message; terminated", file=sys.stderr)
            proc.terminate()
            proc.join()
    self._read_results()


def main(path: str, conf: str | None = None) -> None:
    from airflow.executors.local_executor import LocalExecutor

    LocalExecutor.end = _end_with_bounded_join  # type: ignore[method-assign]
    spec = importlib.util.spec_from_file_location("dag_under_test", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run_conf = json.loads(conf) if conf else None
    print("STATE", module.dag.test(use_executor=True, run_conf=run_conf).state, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
