"""Hermetic Airflow settings for every test, set before anything imports Airflow."""

from __future__ import annotations

import os
import pathlib
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
_home = pathlib.Path(tempfile.mkdtemp(prefix="airflow-home-"))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "example_dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
)
for key in list(os.environ):
    if key.startswith("AIRFLOW_CONN_"):
        del os.environ[key]

pytest_plugins = ["tests.conftest_sandbox", "tests.store_backends"]
