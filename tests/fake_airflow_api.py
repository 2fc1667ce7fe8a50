"""Airflow's REST API as the responder sees it, for tests: sign-in and one task's HITL detail."""

from __future__ import annotations

import json
from typing import Any

import httpx

from airflow_provider_messaging.core.hitl import TaskRef
from airflow_provider_messaging.hitl.airflow_api import AirflowApi, ApiAccount, hitl_path


class FakeAirflow:
    """One task's HITL detail behind ``/auth/token`` and ``.../hitlDetails``, as the api-server answers."""

    def __init__(self, task: TaskRef) -> None:
        self.task = task
        self.detail: dict[str, Any] = {
            "response_received": False, "chosen_options": None, "params_input": {}, "responded_by_user": None,
            "params": {"answered_by": {"value": "", "schema": {}, "description": None},
                       "ticket": {"value": "OPS-1", "schema": {}, "description": None}},
            "task_instance": {"state": "awaiting_input", "try_number": 1},
        }  # fmt: skip
        self.patches: list[dict[str, Any]] = []
        self.sign_ins = 0
        self.valid_tokens: set[str] = set()
        self.patch_status: int | None = None  # answer every PATCH with this instead
        self.down = 0  # fail this many requests with a connection error
        self.stale_reads = False  # GET does not show the answer yet (a race with another answer)

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            self.down -= 1
            raise httpx.ConnectError("refused", request=request)
        if request.url.path == "/auth/token":
            assert json.loads(request.content) == {"username": "messaging", "password": "pw"}
            self.sign_ins += 1
            token = f"tok-{self.sign_ins}"
            self.valid_tokens.add(token)
            return httpx.Response(201, json={"access_token": token})
        assert request.url.raw_path.decode().startswith(hitl_path(self.task))
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid_tokens:
            return httpx.Response(401, json={"detail": "Invalid JWT"})
        if request.method == "GET":
            return httpx.Response(
                200, json={**self.detail, "response_received": False} if self.stale_reads else self.detail
            )
        body = json.loads(request.content)
        self.patches.append(body)
        if self.patch_status:
            return httpx.Response(self.patch_status, json={"detail": "User=messaging is not a respondent"})
        if self.detail["response_received"]:
            return httpx.Response(409, json={"detail": "already updated"})
        self.detail.update(response_received=True, chosen_options=body["chosen_options"],
                           params_input=body["params_input"], responded_by_user={"id": "messaging", "name": "messaging"})  # fmt: skip
        return httpx.Response(200, json={})


def fake_api(airflow: FakeAirflow) -> AirflowApi:
    """The client the responder would build, talking to ``airflow``."""
    return AirflowApi(
        ApiAccount("http://airflow", "messaging", "pw"),
        client=httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(airflow.handle)),
    )
