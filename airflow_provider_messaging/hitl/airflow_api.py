"""Airflow's public REST API, as the account that records the answers people give by message.

Only two calls: ``GET`` and ``PATCH /api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/
{map_index}/hitlDetails``. The account signs in with ``POST /auth/token`` (user name and password;
SimpleAuthManager and FAB answer there) and signs in again once when a token has expired; or the
connection holds a token (a JWT) that is used as it is. The password and token are secrets: they
never reach a log line, an error text or an XCom.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from ..core.credentials import checked, extra_value, in_connection, named_after
from ..core.errors import AuthenticationError, ConfigurationError, ServiceUnavailableError
from ..core.hitl import TaskRef
from ..core.http import REFUSED_LOCALLY, refused_locally

DEFAULT_CONN_ID = "airflow_api_default"
TOKEN_PATH = "/auth/token"


@dataclass(frozen=True)
class ApiAccount:
    """Where Airflow's API is and how the account signs in (a password, or a ready token)."""

    base_url: str
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)
    conn_id: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        checked(self.username, "Login")
        checked(self.password, "Password")
        checked(self.token, "Token (extra token)")
        if not self.token and not (self.username and self.password):
            raise ConfigurationError(
                "neither a token (extra token) nor a login and password: give the account that records "
                "answers given by message, e.g. a user with the 'user' role"
            )

    @property
    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.token) if s]

    @classmethod
    def from_connection(
        cls, conn_id: str, *, host: str | None, schema: str | None, port: int | None, login: str | None,
        password: str | None, extras: Mapping[str, Any],
    ) -> ApiAccount:  # fmt: skip
        """From an Airflow connection: host (``http://airflow:8080`` or a host name with port and
        schema ``https``), login and password, or extra ``token``."""
        with in_connection(conn_id):
            text = (host or "").strip().rstrip("/")
            if not text:
                raise ConfigurationError(
                    "Host is empty: give the URL of Airflow's API server, e.g. http://airflow-api-server:8080"
                )
            if "://" not in text:
                scheme = "https" if (schema or "").lower() == "https" else "http"
                text = f"{scheme}://{text}{f':{port}' if port else ''}"
            token = extra_value(extras, "http", "token")
            return cls(text, (login or "").strip() or None, password or None,
                       str(token) if token else None, conn_id)  # fmt: skip


def hitl_path(task: TaskRef) -> str:
    """The task instance's HITL detail in the public API (every part quoted: run ids hold ':' and '+')."""
    parts = [quote(task.dag_id, safe=""), quote(task.run_id, safe=""), quote(task.task_id, safe="")]
    return f"/api/v2/dags/{parts[0]}/dagRuns/{parts[1]}/taskInstances/{parts[2]}/{task.map_index}/hitlDetails"


class AirflowApi:
    """The HITL detail of a task instance: read it, and answer it."""

    def __init__(
        self, account: ApiAccount, *, timeout: float = 10.0, client: httpx.Client | None = None
    ) -> None:
        self.account = account
        self._client = client or httpx.Client(base_url=account.base_url, timeout=timeout)
        self._token = account.token

    def close(self) -> None:
        self._client.close()

    def _sign_in(self) -> str:
        answer = self._send(
            "POST", TOKEN_PATH, json={"username": self.account.username, "password": self.account.password}
        )
        if answer.status_code in (200, 201):
            token = answer.json().get("access_token")
            if token:
                return str(token)
        raise AuthenticationError(
            f"{named_after(self.account.conn_id)}: Airflow at {self.account.base_url} refused the sign-in of "
            f"{self.account.username!r} (HTTP {answer.status_code} on {TOKEN_PATH}): check the login and password",
            http_status=answer.status_code,
        )

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            answer = self._client.request(method, path, **kwargs)
        except REFUSED_LOCALLY as exc:  # a token Airflow gave back that cannot go into a header
            raise refused_locally("Airflow's API", f"{method} {path}", exc) from None
        except httpx.HTTPError as exc:
            raise ServiceUnavailableError(
                f"Airflow's API at {self.account.base_url} could not be reached ({type(exc).__name__})"
            ) from None
        if answer.status_code >= 500:
            raise ServiceUnavailableError(
                f"Airflow's API at {self.account.base_url} answered HTTP {answer.status_code} to {method} {path}",
                http_status=answer.status_code,
            )
        return answer

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call with the account's token; a token that expired is renewed once (password accounts)."""
        for attempt in (1, 2):
            if self._token is None:
                self._token = self._sign_in()
            answer = self._send(method, path, headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
            if answer.status_code != 401 or attempt == 2 or self.account.token:
                return answer
            self._token = None
        raise AssertionError("unreachable")

    def hitl_detail(self, task: TaskRef) -> httpx.Response:
        return self.request("GET", hitl_path(task))

    def respond(self, task: TaskRef, chosen: list[str], params_input: Mapping[str, Any]) -> httpx.Response:
        return self.request(
            "PATCH", hitl_path(task), json={"chosen_options": chosen, "params_input": dict(params_input)}
        )


def load_account(conn_id: str) -> ApiAccount:
    """The account of Airflow connection ``conn_id``, its secrets registered with the masker."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        env = "AIRFLOW_CONN_" + conn_id.upper()
        raise ConfigurationError(
            f"No Airflow connection named {conn_id!r}: answers given by message are recorded through "
            f"Airflow's REST API with its account. Create it (any type; host: the API server's URL, login "
            f"and password of a user allowed to answer), e.g. {env}='http://messaging:<password>@airflow:8080'"
        ) from None
    account = ApiAccount.from_connection(
        conn_id, host=conn.host, schema=conn.schema, port=conn.port, login=conn.login,
        password=conn.password, extras=conn.extra_dejson or {},
    )  # fmt: skip
    for secret in account.secrets:
        mask_secret(secret)
    return account
