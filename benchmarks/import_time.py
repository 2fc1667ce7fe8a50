"""What importing the provider's modules costs at DAG-parse time, on top of ``import airflow.sdk``.

Each figure is the median of several fresh interpreters: ``airflow.sdk`` is imported first (every
DAG file pays that anyway), then the provider module is timed alone.
"""

from __future__ import annotations

import statistics
import subprocess
import sys

MODULES = [
    "airflow_provider_messaging",
    "airflow_provider_messaging.hooks.signalwire",
    "airflow_provider_messaging.operators.signalwire",
    "airflow_provider_messaging.sensors.signalwire",
    "airflow_provider_messaging.hooks.whatsapp",
    "airflow_provider_messaging.operators.whatsapp",
    "airflow_provider_messaging.sensors.whatsapp",
    "airflow_provider_messaging.operators.broadcast",
    "airflow_provider_messaging.notifications.signalwire",
    "airflow_provider_messaging.notifications.whatsapp",
    "airflow_provider_messaging.notifications.hitl",
    "airflow_provider_messaging.queues.inbound",
]
RUNS = 7

PROBE = """
import time
t0 = time.perf_counter(); import airflow.sdk; t1 = time.perf_counter()
import {module}
t2 = time.perf_counter()
print((t1 - t0) * 1000, (t2 - t1) * 1000)
"""


def measure(module: str) -> tuple[float, float]:
    sdk, own = [], []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, check=True
        )
        a, b = (float(x) for x in out.stdout.split())
        sdk.append(a)
        own.append(b)
    return statistics.median(sdk), statistics.median(own)


def main() -> None:
    print(f"import cost over `import airflow.sdk` (median of {RUNS} fresh interpreters)")
    for module in MODULES:
        sdk, own = measure(module)
        print(f"  {module:<52} {own:7.1f} ms   (airflow.sdk itself: {sdk:.0f} ms)")


if __name__ == "__main__":
    main()
